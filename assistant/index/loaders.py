"""Reading note files into text split by heading: Markdown, MDX, plain text, PDF, HTML, Word
documents and Jupyter notebooks.

Every loader returns a `Document` of sections; anything that cannot be read raises `Unreadable`
with a reason a person understands, and the caller skips that file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt

from ..core.schema import Section
from ..core.text import split_front_matter

MARKDOWN = {".md", ".markdown"}
MDX = {".mdx"}
TEXT = {".txt", ".text"}
PDF = {".pdf"}
HTML = {".html", ".htm"}
NOTEBOOK = {".ipynb"}
WORD = {".docx"}
SUPPORTED = MARKDOWN | MDX | TEXT | PDF | HTML | NOTEBOOK | WORD

# A single note beyond this is almost certainly an export or a dump, and would take an hour to
# embed on a laptop; it is skipped with a sentence saying so.
MAX_FILE_BYTES = 20 * 1024 * 1024


class Unreadable(Exception):
    """A file that is skipped; the message is the reason shown to the user."""


@dataclass(frozen=True)
class Document:
    title: str
    sections: list[Section]
    # PDFs: (page number, the page's text) — sections cut pages at their headings, and their
    # offsets point into these texts.
    pages: tuple[tuple[int, str], ...] = ()


def load(path: Path, rel: str) -> Document:
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise Unreadable(f"unsupported file type '{suffix or path.name}'")
    try:
        size = path.stat().st_size
        if size == 0:
            raise Unreadable("empty file")
        if size > MAX_FILE_BYTES:
            raise Unreadable(
                f"file is {size / 2**20:.0f} MB, over the {MAX_FILE_BYTES // 2**20} MB limit "
                "for one note; split it into smaller notes"
            )
        data = path.read_bytes()
    except PermissionError:
        raise Unreadable("permission denied; make the file readable to index it") from None
    except OSError as exc:
        raise Unreadable(f"cannot be read ({exc.strerror or exc})") from None

    stem = Path(rel).stem
    if suffix in PDF:
        from .pdf import load_pdf  # pypdf is imported only when there is a PDF to read

        return load_pdf(data, stem)
    if suffix in WORD:
        # mammoth is imported only when there is a document to read.
        from .word import docx_to_markdown

        return markdown_document(docx_to_markdown(data), stem)
    text = decode(data)
    if suffix in HTML:
        return markdown_document(html_to_markdown(text), stem)
    if suffix in NOTEBOOK:
        # nbformat is imported only when there is a notebook to read.
        from .notebooks import notebook_to_markdown

        return markdown_document(notebook_to_markdown(text), stem)
    if suffix in MDX:
        text = strip_mdx(text)
    if suffix in TEXT:
        return text_document(text, stem)
    return markdown_document(text, stem)


def decode(data: bytes) -> str:
    """UTF-8 when it is; otherwise the detected legacy encoding (cp1252, latin-1, ...)."""
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise Unreadable("binary content, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        raise Unreadable("text encoding could not be detected")
    # On short texts the detector ranks exotic code pages level with Windows-1252; notes written
    # in a legacy encoding are overwhelmingly Western, so prefer it whenever it is a candidate.
    for match in matches:
        if match.encoding in ("cp1252", "latin_1", "iso8859_15"):
            return str(match)
    return str(matches[0])


# --- Markdown -------------------------------------------------------------------------------

_md = MarkdownIt("commonmark")
_RULE_LINES = re.compile(r"(\n\s*(?:-{3,}|\*{3,}|_{3,})\s*)+\Z")


def markdown_document(text: str, fallback_title: str) -> Document:
    """Split Markdown into sections, one per heading, each carrying its full heading path.

    Offsets refer to `text` as given, so a section can be found again in the file.
    """
    meta, body_start = split_front_matter(text)
    title = str(meta.get("title") or "").strip() or fallback_title

    line_starts = [0]
    for m in re.finditer(r"\n", text):
        line_starts.append(m.end())
    line_starts.append(len(text))

    headings: list[tuple[int, int, int, str]] = []  # (level, first_line, end_line, text)
    tokens = _md.parse(text[body_start:])
    first_line = text.count("\n", 0, body_start)
    for i, tok in enumerate(tokens):
        # A heading inside a list item ("- ## Planning", an outliner's heading bullet) heads only
        # that item, which the entries read as an outline topic (entries.py); it is no section.
        if tok.type == "heading_open" and tok.map and tok.level == 0:
            level = int(tok.tag[1])
            inline = tokens[i + 1].content.strip() if i + 1 < len(tokens) else ""
            headings.append(
                (level, tok.map[0] + first_line, tok.map[1] + first_line, _plain(inline))
            )

    # A leading level-1 heading names the document rather than a section under it.
    if headings and headings[0][0] == 1 and not text[body_start : line_starts[headings[0][1]]].strip():
        if not [h for h in headings[1:] if h[0] == 1]:
            title = headings[0][3] or title

    sections: list[Section] = []
    stack: list[tuple[int, str]] = []

    def add(heading_path: str, start: int, end: int) -> None:
        raw = text[start:end]
        lead = len(raw) - len(raw.lstrip())
        body = _RULE_LINES.sub("", raw.strip())  # drop "---" separators that close a section
        if body.strip():
            sections.append(Section(heading_path, body, start + lead))

    prev_end = body_start
    prev_path = title
    for level, first, last, name in headings:
        add(prev_path, prev_end, line_starts[first])
        while stack and stack[-1][0] >= level:
            stack.pop()
        if not (level == 1 and name == title and not stack):
            stack.append((level, name))
        prev_path = " > ".join([title] + [n for _, n in stack])
        prev_end = line_starts[min(last, len(line_starts) - 1)]
    add(prev_path, prev_end, len(text))
    return Document(title, sections)


def _plain(inline_markdown: str) -> str:
    """Heading text without emphasis, code or link markup."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", inline_markdown)
    return re.sub(r"[*_`]+", "", text).strip()


# --- plain text -----------------------------------------------------------------------------

# The topic lines plain-text notes are written with, each standing apart from its text: a title
# underlined with === or ---, a line in capitals ("CHUNKING"), a numbered topic ("7) Reranking")
# or a short line ending in a colon ("Fine-tuning vs prompting:").
_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)\s*$")
_CAPITALS = re.compile(r"^(?=(?:[^a-z]*[A-Z]){3})[^a-z]{3,60}$")
_NUMBERED_TOPIC = re.compile(r"^\d{1,2}[.)]\s+\S[^\n]{0,55}$")
_COLON_TOPIC = re.compile(r"^\S[^\n]{0,48}:$")
_TITLE_LINE = re.compile(r"^\S[^\n]{0,79}(?<![.!?,;:])$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+•o>]|\d+[.)]|[a-z][.)]|[-=]>)\s")


def text_document(text: str, fallback_title: str) -> Document:
    """Plain text split at its topic lines, as Markdown is at its headings; an underlined first
    line is the document's title. Topic lines are left out of the sections' text, as headings are,
    and offsets point into `text` as given."""
    lines = text.split("\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    blank = [not line.strip() for line in lines] + [True]
    topics: list[tuple[int, int, str]] = []  # (first line, line after, name)
    for i, line in enumerate(lines):
        if blank[i] or i > 0 and not blank[i - 1] or line != line.lstrip():
            continue  # a topic line stands apart, at the margin
        name = line.strip()
        # A numbered topic has blank lines around it; a numbered step does not.
        item = bool(_LIST_ITEM.match(line)) and not (blank[i + 1] and _NUMBERED_TOPIC.match(name))
        if item:
            continue
        if i + 1 < len(lines) and _UNDERLINE.match(lines[i + 1]):
            topics.append((i, i + 2, name))
        elif blank[i + 1] and (_CAPITALS.match(name) or not name.endswith((".", "!", "?", ";", ",")) and (
                _NUMBERED_TOPIC.match(name) or _COLON_TOPIC.match(name))):
            topics.append((i, i + 1, name.rstrip(":").strip()))
    title, position = fallback_title, 0
    first_line = next((i for i, b in enumerate(blank) if not b), 0)
    if topics and topics[0][0] == first_line and topics[0][1] - topics[0][0] == 2:
        _, after, title = topics.pop(0)
        position = starts[min(after, len(lines))]
    elif _TITLE_LINE.match(lines[first_line]) and not _LIST_ITEM.match(lines[first_line]) and not (
            topics and topics[0][0] == first_line) and (len(lines[first_line]) <= 60 or blank[first_line + 1]):
        # A short first line that ends no sentence names the note ("RAG notes - retrieval ..."); a
        # long one may be prose the margin cut.
        title, position = lines[first_line].strip(), starts[first_line + 1]
    sections: list[Section] = []

    def add(heading: str, start: int, end: int) -> None:
        raw = text[start:end]
        if raw.strip():
            sections.append(Section(heading, raw.strip(), start + len(raw) - len(raw.lstrip())))

    heading = title
    for first, after, name in topics:
        add(heading, position, starts[first])
        heading, position = f"{title} > {name}", starts[min(after, len(lines))]
    add(heading, position, len(text))
    return Document(title, sections)


# --- MDX ------------------------------------------------------------------------------------

_MDX_ESM = re.compile(r"^(?:import|export)\b.*?(?:;\s*$|$)", re.M)
_JSX_TAG = re.compile(r"</?[A-Z][\w.]*(?:\s+[^<>]*?)?\s*/?>")
_JSX_EXPR = re.compile(r"^\s*\{/\*.*?\*/\}\s*$", re.M)  # {/* comments */}


def strip_mdx(text: str) -> str:
    """Drop import/export lines and JSX component tags, keeping the text between tags.

    Lines are blanked rather than removed so that offsets still point into the original file.
    """

    def blank(m: re.Match) -> str:
        return re.sub(r"[^\n]", " ", m.group(0))

    text = _MDX_ESM.sub(blank, text)
    text = _JSX_EXPR.sub(blank, text)
    return _JSX_TAG.sub(blank, text)


# --- HTML -----------------------------------------------------------------------------------


def html_to_markdown(html: str) -> str:
    """The main text of a page as Markdown; scripts, navigation and images dropped, links kept as
    their text. markdownify escapes text that would read as Markdown ("<p># of tokens</p>" stays
    a paragraph, not a heading)."""
    from bs4 import BeautifulSoup
    from markdownify import markdownify

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "nav", "header", "footer", "aside", "form", "img"]):
        tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.body or soup
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    markdown = markdownify(str(root), heading_style="ATX", bullets="-", strip=["a"], escape_misc=True).strip()
    markdown = re.sub(r"\n{3,}", "\n\n", markdown)
    if title and not root.find("h1"):
        markdown = f"# {title}\n\n{markdown}"
    return markdown
