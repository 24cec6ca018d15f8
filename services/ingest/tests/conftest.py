"""Files the ingest tests upload: real PDFs and DOCX files made on the spot."""

from __future__ import annotations

import io
import zipfile

import pytest
from pypdf import PdfReader, PdfWriter

from services.ingest.tests.files import make_docx, make_pdf

PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64


def encrypt_pdf(data: bytes, password: str = "secret") -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=password, owner_password=password + "-owner", algorithm="AES-256")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def make_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


class Files:
    """The builders, handed to tests as one fixture (test modules cannot import conftest)."""

    png = PNG_BYTES
    pdf = staticmethod(make_pdf)
    encrypted_pdf = staticmethod(encrypt_pdf)
    docx = staticmethod(make_docx)
    zip = staticmethod(make_zip)


@pytest.fixture
def files() -> type[Files]:
    return Files
