"""Small files of each allowed document type, and impostors, for the document tests."""

from __future__ import annotations

import hashlib

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(17)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(16) + b"\xff\xd9"
TIFF = b"II*\x00\x08\x00\x00\x00" + bytes(16)
# A Windows executable: what a renamed ``invoice.pdf`` that is really a program starts with.
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(48) + b"PE\x00\x00"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pdf_of_size(size: int) -> bytes:
    """A PDF-looking file of exactly ``size`` bytes (its head is what the type check reads)."""
    head = b"%PDF-1.7\n"
    return head + b"0" * (size - len(head))
