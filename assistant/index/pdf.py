"""PDF notes: pages reflowed into sentences, and sections found where the PDF itself marks them.

A PDF has no headings, only text in fonts. Its authors mark a section the way a reader sees it: a
short line in a larger (or bold) font than the body ("5. Batching and scheduling", a slide's title).
Those lines cut the pages into sections named by them, so a question is answered from its section
and the passage is named as the reader knows it; a section that runs onto the next page keeps its
name there. A PDF in one font throughout falls back to one section per page, named by the page's
first line when it reads as a title.
"""

from __future__ import annotations

import io
import logging
import re
from collections import Counter

from ..core.schema import Section
from ..core.text import sentence_spans, spaced_cells, spaced_tables
from .loaders import Document, Unreadable

_PAGE_NUMBER = re.compile(r"^\s*(?:page\s+)?\d+\s*(?:(?:/|of)\s*\d+)?\s*$", re.I)
_PDF_ITEM = re.compile(r"^\s*(?:[-*\u2022\u2013]|\d+[.)])\s")
_BULLET = re.compile(r"^\s*[-*\u2022\u2013]\s")
_NUMBERED_HEADING = re.compile(r"^\s*\d+(?:\.\d+)*\.?\s+\S")
_BOLD = re.compile(r"bold|black|heavy|semibold|demi", re.I)
# A heading's font is at least this much larger than the body's (body 12.5 pt, headings 15 pt and
# up in a typical export; slide titles 26 pt over 17 pt bullets).
HEADING_SCALE = 1.15


def load_pdf(data: bytes, stem: str) -> Document:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # it warns loudly on harmless quirks
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    raise Unreadable("encrypted PDF; save an unprotected copy to index it")
            except Unreadable:
                raise
            except Exception:
                raise Unreadable("encrypted PDF; save an unprotected copy to index it") from None
        title = _title(reader, stem)
        pages = [_read_page(page) for page in reader.pages]
    except Unreadable:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise Unreadable(f"broken PDF ({exc}); re-export it and index again") from None
    except Exception as exc:
        raise Unreadable(f"PDF could not be read ({type(exc).__name__}); re-export it") from None
    headings = _heading_lines(pages)
    texts = [(number, reflow_pdf_page(raw, headings)) for number, (raw, _) in enumerate(pages, start=1)]
    texts = [(number, text) for number, text in _mend_page_breaks(texts) if text]
    if not texts:
        raise Unreadable("PDF has no extractable text (scanned images?); add a text version")
    sections = _by_headings(title, texts, headings) if headings else _by_pages(title, texts)
    return Document(title, sections, pages=tuple(texts))


def _title(reader, stem: str) -> str:
    try:
        if reader.metadata and reader.metadata.title and reader.metadata.title.strip():
            return reader.metadata.title.strip()
    except Exception:
        pass
    return stem


def _read_page(page) -> tuple[str, list[tuple[str, float, bool]]]:
    """The page's text, its tables as Markdown rows, and its text runs with their font size and weight."""
    runs: list[tuple[str, float, bool]] = []

    def visit(text, cm, tm, font, size):
        if text and text.strip():
            scale = abs(tm[3] * cm[3]) or 1.0
            name = str((font or {}).get("/BaseFont", ""))
            runs.append((text, round(float(size or 0) * scale, 1), bool(_BOLD.search(name))))

    text = page.extract_text(visitor_text=visit) or ""
    try:
        layout = (page.extract_text(extraction_mode="layout") or "") if text.strip() else ""
    except Exception:  # the layout reading is younger in pypdf than the plain one: its tables are a bonus
        layout = ""
    return with_tables(text, layout), runs


def with_tables(text: str, layout: str) -> str:
    """The page's text with each row of its tables as a Markdown row ("| Flat | Exact, linear scan |
    ..."), the header ruled off. Plain extraction runs a row's cells together ("Flat Exact, linear
    scan Full vectors ..."), so neither a row nor its header could be told apart; the layout
    extraction keeps the gaps between columns, so a table is the lines it splits into cells."""
    rows: dict[str, str] = {}
    lines = {_norm(line) for line in text.splitlines()}
    columns = layout.splitlines()
    for table in spaced_tables(columns):
        block = {_norm(columns[i]): spaced_cells(columns[i]) for i in table}  # a row as plain text reads it
        if not all(line in lines for line in block):
            continue  # the two extractions disagree on a row: the page is left as read
        for i, (line, cells) in enumerate(block.items()):
            row = "| " + " | ".join(cells) + " |"
            rows[line] = row + ("\n|" + " --- |" * len(cells) if i == 0 else "")
    if not rows:
        return text
    return "\n".join(rows.get(_norm(line), line) for line in text.splitlines())


def _heading_lines(pages: list[tuple[str, list]]) -> frozenset[str]:
    """Lines set in a font larger than the body's (the size most characters use), or in bold at the
    body's size when the body is not bold, that read as titles."""
    sizes: Counter = Counter()
    bold_body: Counter = Counter()
    for _, runs in pages:
        for text, size, bold in runs:
            sizes[size] += len(text)
            bold_body[bold] += len(text)
    if not sizes:
        return frozenset()
    body = sizes.most_common(1)[0][0]
    body_bold = bold_body.most_common(1)[0][0]
    found = set()
    for raw, runs in pages:
        lines = {_norm(line) for line in raw.splitlines()}
        for text, size, bold in runs:
            line = _norm(text)
            larger = size >= body * HEADING_SCALE
            bolder = bold and not body_bold and size >= body and line in lines  # a whole line in bold
            if (larger or bolder) and is_title(line) and not _BULLET.match(line):
                found.add(line)
    return frozenset(found)


def _norm(line: str) -> str:
    return " ".join(line.split())


def _mend_page_breaks(texts: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """A sentence a page break cut ("... The NVIDIA H100" / "supports FP8 arithmetic ...") is put
    back together on the page where it starts: passages never cross pages, so each half would be
    a fragment of its own. The next page goes on in lower case where the last one stopped without
    a full stop; its words up to the end of that sentence move back."""
    out = list(texts)
    for i in range(1, len(out)):
        (before_page, before), (number, text) = out[i - 1], out[i]
        if not text[:1].islower() or not before or before.rstrip().endswith((".", "!", "?", ":", ";")):
            continue
        first_line, newline, rest = text.partition("\n")
        spans = sentence_spans(first_line)
        cut = spans[0][1] if spans else len(first_line)
        out[i - 1] = (before_page, f"{before.rstrip()} {first_line[:cut].strip()}")
        out[i] = (number, (first_line[cut:].strip() + newline + rest).strip())
    return out


def _by_headings(title: str, texts: list[tuple[int, str]], headings: frozenset[str]) -> list[Section]:
    """Sections cut at the heading lines; offsets are into the page's text."""
    sections: list[Section] = []
    current = None  # the last heading seen: text at the top of a page continues its section
    for number, text in texts:
        starts = [0]
        pos = 0
        for line in text.split("\n"):
            if _norm(line) in headings and pos:
                starts.append(pos)
            pos += len(line) + 1
        for start, end in zip(starts, starts[1:] + [len(text)]):
            raw = text[start:end]
            piece = raw.strip()
            if not piece:
                continue
            start += len(raw) - len(raw.lstrip())
            first = _norm(piece.split("\n", 1)[0])
            if first in headings:
                current = first
            name = current or f"Page {number}"
            sections.append(Section(f"{title} > {name}", piece, start, page=number))
    return sections


def _by_pages(title: str, texts: list[tuple[int, str]]) -> list[Section]:
    sections = []
    for number, text in texts:
        heading = f"{title} > Page {number}"
        slide = _page_title(text)
        sections.append(Section(f"{heading}: {slide}" if slide else heading, text, 0, page=number))
    return sections


def reflow_pdf_page(text: str, headings: frozenset[str] = frozenset()) -> str:
    """A page's extracted text with its line wraps undone, so a sentence is one line again, and
    its page-number footer ("6 / 22", "Page 7") dropped. A line is joined to the next when it
    fills the page's width or the next goes on in lower case; list items and heading lines keep
    their lines."""
    lines = [ln.rstrip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln.strip() and not _PAGE_NUMBER.match(ln)]
    if not lines:
        return ""
    full = 0.75 * max(len(ln) for ln in lines)
    out = [lines[0]]
    for line in lines[1:]:
        prev = out[-1]
        continues = line[:1].islower()
        # A full line wraps into the next, except after a list item: a capital there starts a note.
        wrapped = len(prev) >= full and not prev.rstrip().endswith(":") and not _PDF_ITEM.match(prev)
        title = len(out) == 1 and is_title(prev)  # a slide's title line stays on its own
        own_line = _norm(prev) in headings or _norm(line) in headings or "|" in (prev[:1], line[:1])
        if not _PDF_ITEM.match(line) and (wrapped or continues) and not title and not own_line:
            out[-1] = f"{prev} {line.strip()}"
        else:
            out.append(line)
    return "\n".join(out).strip()


def is_title(line: str) -> bool:
    """Short, unpunctuated, and starting with a capital or a section number ("5. Batching")."""
    words = line.split()
    starts_like_one = line.strip()[:1].isupper() or bool(_NUMBERED_HEADING.match(line))
    return (0 < len(words) <= 12 and len(line) <= 80 and starts_like_one
            and not line.rstrip().endswith((".", ",", ";", ":")))


def _page_title(text: str) -> str | None:
    """A slide's title: the page's first line when it reads as one (short, capitalised, unpunctuated)."""
    first = text.split("\n", 1)[0].strip()
    return first if is_title(first) and not _PDF_ITEM.match(first) else None
