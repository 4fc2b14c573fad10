"""Notes as safe HTML: a note's text read the way it was indexed, Markdown rendered and sanitised,
passages highlighted, search terms marked, snippets cut. Pure apart from `read_note`.

Notes are untrusted HTML as far as the browser is concerned: Markdown is rendered by markdown-it and
then cleaned by nh3 (ammonia), so a `<script>` or an `onerror=` in a note never runs. Only after
cleaning are our own `<mark>` elements added around the highlighted passages.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import nh3
from latex2mathml.converter import convert as tex_to_mathml
from markdown_it import MarkdownIt
from mdit_py_plugins.dollarmath import dollarmath_plugin

from ..core.schema import Chunk
from ..core.text import (
    HIGHLIGHT,
    WIKI_LINK,
    looks_like_tex,
    split_front_matter,
    wiki_link_text,
)
from ..index.loaders import (
    HTML as HTML_TYPES,
)
from ..index.loaders import (
    MAX_FILE_BYTES,
    MDX,
    NOTEBOOK,
    PDF,
    TEXT,
    WORD,
    Unreadable,
    decode,
    html_to_markdown,
    load,
    strip_mdx,
)
from ..index.notebooks import notebook_to_markdown
from ..index.word import docx_to_markdown
from .folder import SourceError, resolve_note

# --- note text ------------------------------------------------------------------------------

@dataclass(frozen=True)
class NoteText:
    """A note as it was indexed: chunk offsets point into `text` (or into a page's text)."""

    rel: str
    kind: str  # "markdown" (also MDX, HTML, Word and notebooks, as indexed) | "text" | "pdf"
    text: str = ""
    pages: tuple[tuple[int, str], ...] = ()
    body_start: int = 0  # where Markdown front matter ends; it is not rendered
    shown_as: str = ""  # a sentence when the note is shown differently from the file


def read_note(root: Path, rel: str) -> NoteText:
    """Read a note the way the loaders do, so that chunk offsets line up. Raises SourceError."""
    path = resolve_note(root, rel)
    suffix = path.suffix.lower()
    try:
        if suffix in PDF:
            document = load(path, rel)
            return NoteText(rel, "pdf", pages=document.pages)
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise Unreadable(f"it is over the {MAX_FILE_BYTES // 2**20} MB limit for one note")
        if suffix in WORD:
            return NoteText(rel, "markdown", docx_to_markdown(path.read_bytes()),
                            shown_as="Shown as the text that was indexed from this Word document.")
        text = decode(path.read_bytes())
        if suffix in NOTEBOOK:
            return NoteText(rel, "markdown", notebook_to_markdown(text),
                            shown_as="Shown as the text that was indexed from this notebook: its Markdown "
                                     "cells, its code and what the code printed.")
    except Unreadable as exc:
        raise SourceError(f"{rel} cannot be shown: {exc}.") from None
    except OSError as exc:
        raise SourceError(f"{rel} cannot be read ({exc.strerror}); check its permissions.") from None
    if suffix in HTML_TYPES:
        return NoteText(rel, "markdown", html_to_markdown(text),
                        shown_as="Shown as the text that was indexed from this web page.")
    if suffix in TEXT:
        return NoteText(rel, "text", text)
    if suffix in MDX:
        text = strip_mdx(text)  # blanks imports and components in place: offsets stay valid
    return NoteText(rel, "markdown", text, body_start=split_front_matter(text)[1])


# --- rendering: sanitising and highlighting ------------------------------------------------

# A whole note is rendered with its own HTML (then cleaned). A passage cut out of a note may split
# an HTML element, and angle brackets in it are more often text ("<BOS>") than markup, so there raw
# HTML is shown as text.
# Raw HTML in a note is shown as text, never rendered: notes about LLMs are full of literal
# "<BOS/>" or "<think>" that a browser would swallow, and nothing in a note can then run.
# Formulas ($...$ inline by Pandoc's rule, as the chat reads them; $$...$$ as a block) become
# MathML, which browsers typeset themselves: no script, and nothing to load.
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def _formula(tex: str, options: dict) -> str:
    """A formula as MathML; one that is no TeX ("$ and $"), or TeX the converter cannot read, as
    written. A highlight's sentinels inside it (core of render_markdown) go around it."""
    opens = _OPEN if _OPEN in tex else ""
    closes = _CLOSE if _CLOSE in tex else ""
    tex = _SENTINELS.sub("", tex)
    display = bool(options.get("display_mode"))
    as_written = opens + html.escape(f"$${tex}$$" if display else f"${tex}$") + closes
    if not display and not looks_like_tex(tex):
        return as_written
    try:
        mathml = tex_to_mathml(tex, display="block" if display else "inline")
    except Exception:  # a note's broken TeX (an unclosed brace, an unknown command) is shown as written
        return as_written
    return f"{opens}{mathml}{closes}"


_MARKDOWN.use(dollarmath_plugin, allow_space=False, allow_digits=False, renderer=_formula)

# MathML's elements and the attributes latex2mathml writes; nothing in them can run or fetch.
_MATHML = {
    "math": {"display"}, "mrow": set(), "mi": {"mathvariant"}, "mn": set(), "mtext": set(), "mspace": {"width"},
    "mo": {"stretchy", "fence", "separator", "lspace", "rspace", "form", "largeop", "movablelimits", "minsize",
           "maxsize", "symmetric"},
    "msub": set(), "msup": set(), "msubsup": set(), "mfrac": {"linethickness"}, "msqrt": set(), "mroot": set(),
    "munder": {"accentunder"}, "mover": {"accent"}, "munderover": set(), "mstyle": {"displaystyle", "scriptlevel"},
    "mtable": {"columnalign", "rowspacing", "columnspacing", "columnlines", "rowlines", "frame"},
    "mtr": set(), "mtd": {"columnalign"}, "mpadded": {"width", "height", "depth", "lspace", "voffset"},
    "mphantom": set(), "menclose": {"notation"},
}

_CLEANER = nh3.Cleaner(
    tags=set(nh3.ALLOWED_TAGS) - {"area", "map", "nav", "header", "footer"} | set(_MATHML),
    clean_content_tags={"script", "style"},
    attributes={
        "a": {"href", "title"},
        "img": {"src", "alt", "title", "width", "height"},
        "ol": {"start"},
        "td": {"align", "colspan", "rowspan"},
        "th": {"align", "colspan", "rowspan", "scope"},
        "abbr": {"title"},
        **{tag: attrs for tag, attrs in _MATHML.items() if attrs},
    },
    url_schemes={"http", "https", "mailto"},
    url_relative="deny",  # a relative link would navigate the app away; a relative image is a 404
    link_rel="noopener noreferrer",
    set_tag_attribute_values={"a": {"target": "_blank"}},
)


_IMG_WITHOUT_SRC = re.compile(r"<img\b(?![^>]*\ssrc=)[^>]*>")
_ALT = re.compile(r'\salt="([^"]*)"')


def sanitize(fragment: str) -> str:
    """Untrusted HTML to HTML that runs nothing: no scripts, no event handlers, no javascript: URLs.

    An image whose source was dropped (a file next to the note) is shown as its alt text.
    """
    clean = _CLEANER.clean(fragment)

    def alt_text(m: re.Match) -> str:
        alt = _ALT.search(m.group(0))
        label = alt.group(1) if alt and alt.group(1).strip() else "image"
        return f'<span class="img-alt">[{label}]</span>'

    return _IMG_WITHOUT_SRC.sub(alt_text, clean)


# Two rare punctuation characters mark where the highlight opens and closes while the Markdown is
# rendered. Being punctuation, they do not change how `**` and `_` around them are read.
_OPEN = "\u2e3a"  # TWO-EM DASH
_CLOSE = "\u2e3b"  # THREE-EM DASH
_SENTINELS = re.compile(f"[{_OPEN}{_CLOSE}]")

# Lines whose meaning changes if anything is appended or prepended: fences, rules, setext
# underlines, table delimiter rows.
_STRUCTURAL = re.compile(
    r"^ {0,3}(?:`{3,}.*|~{3,}.*|([-*_])(?:[ \t]*\1){2,}[ \t]*|=+[ \t]*|-+[ \t]*"
    r"|\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*)$"
)
# Block markers at the start of a line that must stay first: quotes, list items, headings, tables.
_BLOCK_PREFIX = re.compile(
    r"[ \t]*(?:(?:>[ \t]?)|(?:[-*+][ \t]+)|(?:\d{1,9}[.)][ \t]+)|(?:#{1,6}[ \t]+)|(?:\|[ \t]*))*"
)
_TAG = re.compile(r"<(?:[^>\"']|\"[^\"]*\"|'[^']*')*>")


def _line_bounds(text: str, pos: int) -> tuple[int, int]:
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return start, len(text) if end < 0 else end


def _open_position(text: str, pos: int) -> int:
    """Move a highlight start off block markers, so the Markdown still parses the same way."""
    for _ in range(50):
        line_start, line_end = _line_bounds(text, pos)
        if text[line_start:pos].strip():
            return pos
        if _STRUCTURAL.match(text[line_start:line_end]) and line_end < len(text):
            pos = line_end + 1
            continue
        return _BLOCK_PREFIX.match(text, line_start).end() if pos >= line_start else pos
    return pos


def _close_position(text: str, pos: int) -> int:
    """Move a highlight end off a closing fence, rule or table pipe, for the same reason."""
    for _ in range(50):
        line_start, line_end = _line_bounds(text, pos)
        if text[pos:line_end].strip():
            return pos
        line = text[line_start:line_end]
        if _STRUCTURAL.match(line) and line_start > 0:
            pos = line_start - 1
            while pos > 0 and text[pos - 1] in " \t":
                pos -= 1
            continue
        content = line[: pos - line_start].rstrip()
        if content.endswith("|") and content.lstrip().startswith("|"):
            return line_start + len(content[:-1].rstrip())  # inside the last cell, not after it
        return pos
    return pos


def _wrap_marked(fragment: str, cls: str, anchor: str | None) -> tuple[str, bool]:
    """Replace the sentinels in sanitised HTML by <mark> around every text run between them.

    A passage may cross paragraphs, list items and code blocks, so it is marked piece by piece
    (whitespace between blocks is left alone); the first piece carries the anchor id that the page
    scrolls to. Returns (html, whether anything was marked).
    """
    out: list[str] = []
    inside = False
    marked = False
    pos = 0
    pieces = []
    for m in _TAG.finditer(fragment):
        pieces.append((False, fragment[pos : m.start()]))
        pieces.append((True, m.group(0)))
        pos = m.end()
    pieces.append((False, fragment[pos:]))
    in_math = False
    for is_tag, piece in pieces:
        if is_tag:
            for ch in _SENTINELS.findall(piece):  # a sentinel inside an attribute (an image's alt)
                inside = ch == _OPEN
            # A formula is marked whole, not symbol by symbol (its sentinels sit outside it).
            if piece.startswith("<math") and inside:
                ident = f' id="{html.escape(anchor)}"' if anchor and not marked else ""
                out.append(f'<mark class="{cls}"{ident}>')
                marked = in_math = True
            out.append(_SENTINELS.sub("", piece))
            if piece == "</math>" and in_math:
                out.append("</mark>")
                in_math = False
            continue
        if in_math:
            out.append(piece)
            continue
        for part in re.split(f"([{_OPEN}{_CLOSE}])", piece):
            if part == _OPEN:
                inside = True
            elif part == _CLOSE:
                inside = False
            elif inside and part.strip():
                ident = f' id="{html.escape(anchor)}"' if anchor and not marked else ""
                out.append(f'<mark class="{cls}"{ident}>{part}</mark>')
                marked = True
            else:
                out.append(part)
    return "".join(out), marked


@dataclass(frozen=True)
class Highlight:
    """A passage to highlight: character span in the note text (or in `page`'s text)."""

    start: int
    end: int
    anchor: str  # the id of the first <mark>, e.g. "chunk-<id>"
    cls: str = "cited"  # "cited" for a passage, "section" for a section picked in the tree
    page: int | None = None
    expected: str | None = None  # the passage's text, to find it again if the note was edited


def chunk_highlight(chunk: Chunk, cls: str = "cited") -> Highlight:
    return Highlight(chunk.start, chunk.end, f"chunk-{chunk.id}", cls, chunk.page, chunk.text)


def _locate(text: str, hl: Highlight) -> tuple[int, int] | None:
    """The span to highlight, checked against the passage text; None when it is not in the note."""
    start, end = max(0, hl.start), min(len(text), hl.end)
    if hl.expected is None:
        return (start, end) if start < end else None
    if text[start:end] == hl.expected:
        return start, end
    found = text.find(hl.expected)
    if found >= 0:
        return found, found + len(hl.expected)
    return None


def render_markdown(text: str, spans: Iterable[tuple[int, int]] = (), cls: str = "cited",
                    anchor: str | None = None) -> tuple[str, bool]:
    """Markdown to sanitised HTML, with each text[start:end] of `spans` wrapped in <mark class=cls>;
    the first mark gets id=anchor. HTML in the text is shown as text.
    Returns (html, whether anything was marked)."""
    text = _SENTINELS.sub("\ufffd", text)  # same length: offsets stay valid
    moved = []
    for start, end in spans:
        start = _open_position(text, start)
        moved.append((start, max(_close_position(text, end), start)))
    for start, end in reversed(_merged(moved)):  # from the end, so the earlier offsets stay valid
        text = text[:start] + _OPEN + text[start:end] + _CLOSE + text[end:]
    clean = _obsidian(sanitize(_MARKDOWN.render(_nested_under_first_item(text))))
    if not moved:
        return clean, False
    return _wrap_marked(clean, cls, anchor)


_LEAD_ITEM = re.compile(f"^[{_OPEN}{_CLOSE}]*(?:[-*+]|\\d+[.)])[ \t]")


def _nested_under_first_item(text: str) -> str:
    """A passage cut out of a deep outline ("- **Self-consistency**" with its points under it)
    starts at its first item, whose indentation was cut off with the text before it, while its
    points keep theirs: Markdown would read them as code or run them into one line. When every
    later line is indented and the first is an item, they are moved to nest under the first item,
    keeping their steps."""
    if not _LEAD_ITEM.match(text):
        return text  # most passages and every note open otherwise: nothing to split
    lines = text.split("\n")
    rest = [line for line in lines[1:] if line.strip()]
    if not rest or not _LEAD_ITEM.match(rest[0].lstrip(" \t")) or any(line[:1] not in " \t" for line in rest):
        return text

    def spaced(line: str) -> str:  # Logseq indents with tabs, which Markdown counts as 4 columns
        body = line.lstrip(" \t")
        return line[: len(line) - len(body)].expandtabs(4) + body

    later = [spaced(line) for line in lines[1:]]
    cut = min(len(line) - len(line.lstrip(" ")) for line in later if line.strip()) - 2
    return "\n".join([lines[0], *(line[cut:] if line.strip() else line for line in later)]) if cut > 0 else text


# Obsidian's own syntax, which Markdown shows as typed: a [[Note#Section|alias]] link, an
# ==highlight== (core/text), a callout's "[!tip] Title" marker at the start of its quote.
_CALLOUT = re.compile(f"^([{_OPEN}{_CLOSE}]*)\\[!(\\w+)\\][+-]?[ \\t]*([^\\n]*)")


def _obsidian(fragment: str) -> str:
    """Rendered HTML with Obsidian's syntax read: a link as its text, a highlight in bold, a
    callout's marker as its title. Text outside tags only; a link whose hidden part holds a
    highlight's sentinel is left as typed, so the highlight still opens and closes."""

    def link(m: re.Match) -> str:
        shown = wiki_link_text(m)
        hidden = m.group(0).replace(shown, "", 1)
        return m.group(0) if _SENTINELS.search(hidden) else f'<span class="wikilink">{shown}</span>'

    def callout(m: re.Match) -> str:  # a highlight may open right before the marker
        return f'{m.group(1)}<strong class="callout">{m.group(3) or m.group(2).capitalize()}</strong>'

    out: list[str] = []
    tags = ""  # the tags since the last text: a callout's marker follows "<blockquote><p>"
    pos = 0
    for m in [*_TAG.finditer(fragment), None]:
        piece = fragment[pos: m.start() if m else len(fragment)]
        if piece.strip():
            if tags.endswith("<blockquote><p>"):
                piece = _CALLOUT.sub(callout, piece, count=1)
            piece = HIGHLIGHT.sub(r"<strong>\1</strong>", WIKI_LINK.sub(link, piece))
            tags = ""
        out.append(piece)
        if m:
            out.append(m.group(0))
            tags += m.group(0)
            pos = m.end()
    return "".join(out)


def _merged(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spans in order with overlapping ones joined, so that no mark opens inside another."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def quote_spans(text: str, quotes: Iterable[str]) -> list[tuple[int, int]]:
    """Where each verbatim quote first stands in `text`, for `render_markdown`.

    Emphasis markers at a quote's ends are left out of its span: a quote cut from inside a bold
    passage ("**First." of "**First. Second.**") then marks the words and the passage stays bold.
    """
    spans = []
    for quote in {q.strip("*_ ") for q in quotes}:
        found = text.find(quote) if quote else -1
        if found >= 0:
            spans.append((found, found + len(quote)))
    return spans


def render_plain(text: str, span: tuple[int, int] | None = None, cls: str = "cited",
                 anchor: str | None = None) -> tuple[str, bool]:
    """Plain text, escaped, with line breaks kept (by CSS) and text[span] marked."""
    if not span or span[0] >= span[1]:
        return f'<div class="plain">{html.escape(text)}</div>', False
    s, e = span
    ident = f' id="{html.escape(anchor)}"' if anchor else ""
    body = (html.escape(text[:s]) + f'<mark class="{cls}"{ident}>' + html.escape(text[s:e])
            + "</mark>" + html.escape(text[e:]))
    return f'<div class="plain">{body}</div>', True


# The rule index/pdf.py writes under a PDF table's header ("| --- | --- |"): Markdown for the
# passages, noise on a page shown as its text.
_PDF_TABLE_RULE = re.compile(r"(?m)^\|(?: --- \|)+\n")


def render_note_body(note: NoteText, hl: Highlight | None = None) -> str:
    """The note's content as safe HTML with the highlight; if the passage is no longer in the note,
    the passage itself is shown above it with a sentence saying so."""
    marked = False
    lost = False
    if note.kind == "pdf":
        parts = []
        for number, page_text in note.pages:
            span = None
            if hl and not marked and (hl.page is None or hl.page == number):
                span = _locate(page_text, hl)
            body, did = render_plain(page_text, span, hl.cls if hl else "cited", hl.anchor if hl else None)
            body = _PDF_TABLE_RULE.sub("", body)  # a table the reader found keeps its rows, not the Markdown rule
            marked = marked or did
            parts.append(f'<section class="page"><div class="page-no">Page {number}</div>{body}</section>')
        out = "".join(parts)
        lost = bool(hl) and not marked
    else:
        span = _locate(note.text, hl) if hl else None
        lost = bool(hl) and span is None
        if note.kind == "text":
            out, marked = render_plain(note.text, span, hl.cls if hl else "cited", hl.anchor if hl else None)
        else:
            body = note.text[note.body_start :]
            spans = [(max(span[0] - note.body_start, 0), max(span[1] - note.body_start, 0))] if span else []
            out, marked = render_markdown(body, spans, hl.cls if hl else "cited", hl.anchor if hl else None)
        lost = lost or (bool(hl) and not marked)
    if lost and hl is not None:
        passage = html.escape(hl.expected or "")
        out = (
            '<div class="lost"><p class="notice">This passage is no longer in the note as it is on '
            "disk (the note changed since it was indexed); re-index to update it. The indexed "
            f'passage:</p><blockquote><mark class="{hl.cls}" id="{html.escape(hl.anchor)}">{passage}'
            "</mark></blockquote></div>" + out
        )
    return out
