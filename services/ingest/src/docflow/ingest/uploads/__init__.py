"""File uploads: streaming size limit, type detection from the bytes, text extraction."""
