"""Small real PDF files for the asset checks (a file that only starts with %PDF- is refused)."""

from __future__ import annotations

import io

from pypdf import PdfWriter


def a_pdf(title: str = "A whitepaper", user_password: str | None = None) -> bytes:
    """A one-page PDF; a different title gives different bytes (and so a different asset)."""
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_metadata({"/Title": title})
    if user_password is not None:
        writer.encrypt(user_password=user_password, owner_password="owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
