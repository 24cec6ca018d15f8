"""Real PDF and DOCX files made on the spot, for every test that uploads one (ingest's, the
end-to-end tests, the soak)."""

from __future__ import annotations

import io

import docx
from reportlab.pdfgen import canvas


def make_pdf(pages: list[str]) -> bytes:
    buffer = io.BytesIO()
    drawing = canvas.Canvas(buffer)
    for text in pages:
        if text:
            drawing.drawString(72, 720, text)
        drawing.showPage()
    drawing.save()
    return buffer.getvalue()


def make_docx(paragraphs: list[str]) -> bytes:
    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
