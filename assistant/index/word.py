"""Word documents (.docx) as notes: headings, paragraphs, lists and tables, as the author styled them.

mammoth reads a .docx by its styles (a "Heading 1" paragraph is a heading, a "List Bullet" one a
list item) into plain HTML, which the HTML loader turns into Markdown; images and comments are
left out. A document's "Title" paragraph is its top heading, so its "Heading 1" sections sit
under it.
"""

from __future__ import annotations

import io
import zipfile

from .loaders import Unreadable, html_to_markdown

_STYLES = """
p[style-name='Title'] => h1:fresh
p[style-name='Heading 1'] => h2:fresh
p[style-name='Heading 2'] => h3:fresh
p[style-name='Heading 3'] => h4:fresh
p[style-name='Heading 4'] => h5:fresh
"""


def docx_to_markdown(data: bytes) -> str:
    """A Word document's text as Markdown. Raises Unreadable when it is not a readable .docx."""
    import mammoth

    if not zipfile.is_zipfile(io.BytesIO(data)):
        # An old binary .doc renamed, or a password-protected .docx (stored encrypted, not zipped).
        raise Unreadable("not a readable Word document (.docx): it may be an old .doc file or password-protected")
    try:
        result = mammoth.convert_to_html(io.BytesIO(data), style_map=_STYLES,
                                         convert_image=mammoth.images.img_element(lambda image: {}))
    except Exception:  # a zip that is not a Word document, or one whose XML is broken
        raise Unreadable("not a readable Word document (.docx): its content could not be read") from None
    return html_to_markdown(_first_rows_as_headers(result.value))


def _first_rows_as_headers(html: str) -> str:
    """Word has no header cells; a table's first row is its header, so each row is read with it."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(f"<html><body>{html}</body></html>", "html.parser")
    for table in soup.find_all("table"):
        first = table.find("tr")
        for cell in first.find_all("td") if first else []:
            cell.name = "th"
    return str(soup)
