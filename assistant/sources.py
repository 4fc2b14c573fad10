"""Sources: the note tree, notes rendered safely with a passage highlighted, index status, upload, delete.

The rendering functions are pure (plain data in, an HTML string out) and are what the Sources tab
shows; the functions that touch the disk go through `resolve_note` / `resolve_folder`, which keep
every path inside the knowledge folder (no `..`, no absolute paths, no links out of it).

Notes are untrusted HTML as far as the browser is concerned: Markdown is rendered by markdown-it and
then cleaned by nh3 (ammonia), so a `<script>` or an `onerror=` in a note never runs. Only after
cleaning are our own `<mark>` elements added around the highlighted passage.
"""

from __future__ import annotations

import html
import os
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import nh3
from markdown_it import MarkdownIt

from .errors import AssistantError, IndexBusy
from .loaders import (
    HTML as HTML_TYPES,
    MAX_FILE_BYTES,
    MDX,
    PDF,
    TEXT,
    Unreadable,
    html_to_markdown,
    decode,
    load,
    strip_mdx,
)
from .schema import Chunk, Hit

# What may be uploaded from the browser (the loaders also read `.text`; it is not offered here).
UPLOAD_TYPES = (".md", ".markdown", ".mdx", ".txt", ".pdf", ".html", ".htm")
MAX_UPLOAD_BYTES = MAX_FILE_BYTES
_MAX_NAME = 120  # characters in an uploaded file's name, extension included

KIND_LABEL = {
    ".md": "Markdown", ".markdown": "Markdown", ".mdx": "MDX", ".txt": "Text", ".text": "Text",
    ".pdf": "PDF", ".html": "HTML page", ".htm": "HTML page",
}


class SourceError(AssistantError):
    """A request the Sources tab refuses; the message is one sentence for the learner."""


# --- paths ----------------------------------------------------------------------------------


def _check_rel(rel: str, what: str = "note") -> PurePosixPath:
    if not isinstance(rel, str) or not rel.strip():
        raise SourceError(f"No {what} was chosen; pick one from the list.")
    if "\x00" in rel or "\\" in rel or len(rel) > 1024:
        raise SourceError(f"'{_short(rel)}' is not a valid {what} path; pick one from the list.")
    if rel.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", rel):
        raise SourceError(
            f"'{_short(rel)}' is an absolute path; only notes inside the knowledge folder can be used."
        )
    pure = PurePosixPath(rel)
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise SourceError(
            f"'{_short(rel)}' leaves the knowledge folder or is malformed; "
            "only notes inside it can be used."
        )
    if any(p.startswith(".") for p in parts):
        raise SourceError(f"'{_short(rel)}' is hidden; hidden files are not notes.")
    return pure


def _inside(root: Path, candidate: Path) -> bool:
    try:
        return candidate.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a link loop
        return False


def resolve_note(root: Path, rel: str, must_exist: bool = True) -> Path:
    """The file for `rel` inside `root`, or SourceError. Links are allowed only within the folder.

    Returns the unresolved path, so that deleting a link inside the folder deletes the link itself.
    """
    _check_rel(rel)
    root = Path(root)
    candidate = root / rel
    if not _inside(root, candidate):
        raise SourceError(
            f"'{_short(rel)}' points outside the knowledge folder, so it cannot be opened or changed."
        )
    if must_exist and not candidate.is_file():
        raise SourceError(f"'{_short(rel)}' is no longer in the notes folder; re-index to update the list.")
    return candidate


def resolve_folder(root: Path, folder: str | None) -> Path:
    """A folder inside `root` for uploads: '' (or None) is the top level."""
    root = Path(root)
    folder = (folder or "").strip().strip("/")
    if not folder:
        return root
    _check_rel(folder, "folder")
    candidate = root / folder
    if not _inside(root, candidate):
        raise SourceError(f"'{_short(folder)}' points outside the knowledge folder; choose another folder.")
    if not candidate.is_dir():
        raise SourceError(f"The folder '{_short(folder)}' does not exist; choose one from the list.")
    return candidate


def note_folders(root: Path) -> list[str]:
    """Sub-folders of the knowledge folder (relative, with a trailing slash), hidden ones left out."""
    root = Path(root)
    found: list[str] = []
    for dirpath, dirnames, _ in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for d in dirnames:
            rel = (Path(dirpath) / d).relative_to(root).as_posix()
            found.append(rel + "/")
    return found


def _short(text: str, n: int = 80) -> str:
    text = str(text).replace("\x00", "")
    return text if len(text) <= n else text[: n - 1] + "…"


# --- uploads --------------------------------------------------------------------------------

_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                     *(f"lpt{i}" for i in range(1, 10))}


def safe_filename(name: str) -> str:
    """A file name that is safe to create in the knowledge folder, keeping what the learner typed.

    Directories are dropped, control and path characters become '-', leading dots go (no hidden
    files), the extension is lower-cased and the name is kept under 120 characters.
    """
    name = unicodedata.normalize("NFC", str(name or ""))
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(ch if unicodedata.category(ch)[0] != "C" else "-" for ch in name)
    name = re.sub(r'[<>:"|?*]+', "-", name)
    name = re.sub(r"\s*-(?:\s*-)*\s*", lambda m: " - " if m.group(0).strip(" -") == "" and " " in m.group(0)
                  else "-", name)
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    stem = re.sub(r"\s+", " ", stem)
    stem = re.sub(r"-{2,}", "-", stem).strip(" .-_")
    ext = re.sub(r"[^A-Za-z0-9]", "", ext).lower()
    if not stem:
        stem = "note"
    if stem.split(".")[0].lower() in _WINDOWS_RESERVED:
        stem = f"{stem}-note"
    suffix = f".{ext}" if ext else ""
    stem = stem[: max(1, _MAX_NAME - len(suffix))].rstrip(" .")
    return stem + suffix


def check_type(name: str) -> None:
    """Refuse a file whose extension is not one of the note types."""
    suffix = Path(str(name)).suffix.lower()
    if suffix not in UPLOAD_TYPES:
        raise SourceError(
            f"{_short(Path(str(name)).name, 60)} was not added: only "
            f"{', '.join(t[1:] for t in UPLOAD_TYPES)} files can be notes."
        )


def _too_big(name: str, size: int, limit: int | None = None) -> str:
    limit = limit or MAX_UPLOAD_BYTES
    return (f"{_short(Path(str(name)).name, 60)} was not added: it is {size / 2**20:.1f} MB, over the "
            f"{limit / 2**20:g} MB limit for one note; split it into smaller notes.")


def check_upload(name: str, data: bytes) -> None:
    """Refuse, with one sentence, a file of the wrong type, size or content."""
    check_type(name)
    shown = _short(Path(str(name)).name, 60)
    suffix = Path(str(name)).suffix.lower()
    if not data:
        raise SourceError(f"{shown} was not added: the file is empty.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise SourceError(_too_big(name, len(data)))
    if suffix in PDF:
        if not data.lstrip()[:5].startswith(b"%PDF"):
            raise SourceError(f"{shown} was not added: it is not a PDF file.")
    else:
        try:
            decode(data)
        except Unreadable as exc:
            raise SourceError(f"{shown} was not added: {exc}.") from None


@dataclass(frozen=True)
class Saved:
    rel: str  # where the note now is, relative to the knowledge folder
    message: str
    new: bool  # False when the very same file was already there


def save_upload(root: Path, original_name: str, data: bytes, folder: str | None = "") -> Saved:
    """Write an uploaded note into the knowledge folder without ever replacing an existing file."""
    check_upload(original_name, data)
    Path(root).mkdir(parents=True, exist_ok=True)  # a fresh install may not have the folder yet
    target_dir = resolve_folder(root, folder)
    name = safe_filename(original_name)
    stem, suffix = name[: -len(Path(name).suffix)] or name, Path(name).suffix
    root = Path(root)
    for n in range(1, 1000):
        candidate_name = name if n == 1 else f"{stem}-{n}{suffix}"
        target = target_dir / candidate_name
        rel = target.relative_to(root).as_posix()
        if target.exists() or target.is_symlink():
            try:
                same = target.is_file() and _inside(root, target) and target.read_bytes() == data
            except OSError:
                same = False
            if same:
                return Saved(rel, f"{rel} is already in your notes with the same content; nothing was added.", False)
            continue
        try:
            with open(target, "xb") as fh:  # exclusive: never overwrites, never follows a link
                fh.write(data)
        except FileExistsError:
            continue
        except OSError as exc:
            raise SourceError(
                f"{name} could not be saved in the notes folder ({exc.strerror}); "
                "check that the folder is writable."
            ) from None
        shown = Path(str(original_name)).name
        if n > 1:
            message = f"A different {name} already exists, so this one was saved as {rel}."
        elif candidate_name != shown:
            message = f"Saved {shown} as {rel} (the name was made safe)."
        else:
            message = f"Saved {rel}."
        return Saved(rel, message, True)
    raise SourceError(f"{name} was not added: too many notes share that name; rename it and try again.")


# --- note text ------------------------------------------------------------------------------

_FRONT_MATTER = re.compile(r"\A---\r?\n.*?\r?\n---\r?\n", re.S)


@dataclass(frozen=True)
class NoteText:
    """A note as it was indexed: chunk offsets point into `text` (or into a page's text)."""

    rel: str
    kind: str  # "markdown" | "text" | "pdf"
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
            return NoteText(rel, "pdf", pages=tuple((s.page or 0, s.text) for s in document.sections))
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise Unreadable(f"it is over the {MAX_FILE_BYTES // 2**20} MB limit for one note")
        text = decode(path.read_bytes())
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
    fm = _FRONT_MATTER.match(text)
    return NoteText(rel, "markdown", text, body_start=fm.end() if fm else 0)


# --- rendering: sanitising and highlighting ------------------------------------------------

_md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])

_CLEANER = nh3.Cleaner(
    tags=set(nh3.ALLOWED_TAGS) - {"area", "map", "nav", "header", "footer"},
    clean_content_tags={"script", "style"},
    attributes={
        "a": {"href", "title"},
        "img": {"src", "alt", "title", "width", "height"},
        "ol": {"start"},
        "td": {"align", "colspan", "rowspan"},
        "th": {"align", "colspan", "rowspan", "scope"},
        "abbr": {"title"},
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
    for is_tag, piece in pieces:
        if is_tag:
            for ch in _SENTINELS.findall(piece):  # a sentinel inside an attribute (an image's alt)
                inside = ch == _OPEN
            out.append(_SENTINELS.sub("", piece))
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


def render_markdown(text: str, span: tuple[int, int] | None = None, cls: str = "cited",
                    anchor: str | None = None) -> tuple[str, bool]:
    """Markdown to sanitised HTML, with text[span] wrapped in <mark class=cls>. Returns (html, marked)."""
    text = _SENTINELS.sub("\ufffd", text)  # same length: offsets stay valid
    if span:
        start = _open_position(text, span[0])
        end = max(_close_position(text, span[1]), start)
        text = text[:start] + _OPEN + text[start:end] + _CLOSE + text[end:]
    clean = sanitize(_md.render(text))
    if not span:
        return clean, False
    return _wrap_marked(clean, cls, anchor)


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
            if span:
                span = (max(span[0] - note.body_start, 0), max(span[1] - note.body_start, 0))
            out, marked = render_markdown(body, span, hl.cls if hl else "cited", hl.anchor if hl else None)
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


# --- the note tree --------------------------------------------------------------------------


@dataclass
class HeadingNode:
    path: str  # the full heading path, as stored on chunks
    label: str
    depth: int
    chunks: int = 0  # in this section and its sub-sections


@dataclass
class FileNode:
    source: str
    chunks: int = 0
    headings: list[HeadingNode] = field(default_factory=list)
    status: str = ""  # "", "edited", "new", "deleted", "interrupted", "skipped"


def _split_heading(path: str) -> list[str]:
    return [p.strip() for p in path.split(" > ")] if path else []


def build_tree(chunks: Iterable[Chunk], status: dict[str, str] | None = None,
               extra_files: Iterable[str] = ()) -> list[FileNode]:
    """Files (sorted by path) with their headings in document order and chunk counts per section.

    `status` maps a path to its stale state; `extra_files` are notes on disk not yet indexed.
    """
    by_source: dict[str, list[Chunk]] = {}
    for c in chunks:
        by_source.setdefault(c.source, []).append(c)
    status = status or {}
    nodes: dict[str, FileNode] = {}
    for source, items in by_source.items():
        items.sort(key=lambda c: (c.page or 0, c.start, c.id))
        node = FileNode(source, len(items), status=status.get(source, ""))
        seen: dict[str, HeadingNode] = {}
        for c in items:
            parts = _split_heading(c.heading)
            for depth in range(1, len(parts) + 1):
                key = " > ".join(parts[:depth])
                if key not in seen:
                    seen[key] = HeadingNode(key, parts[depth - 1], depth - 1)
                    node.headings.append(seen[key])
                seen[key].chunks += 1
        # The document title is the root of every path: show it only when it has text of its own.
        if node.headings and node.headings[0].depth == 0:
            root = node.headings[0]
            own = sum(1 for c in items if c.heading == root.path)
            node.headings = [h for h in node.headings if h.depth > 0]
            for h in node.headings:
                h.depth -= 1
            if own:
                node.headings.insert(0, HeadingNode(root.path, root.label, 0, own))
        nodes[source] = node
    for source in extra_files:
        nodes.setdefault(source, FileNode(source, 0, status=status.get(source, "new")))
    return [nodes[k] for k in sorted(nodes, key=_tree_order)]


def _natural(text: str) -> list:
    """'note-2' before 'note-10'."""
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", text)]


def _tree_order(source: str) -> tuple:
    # Top-level notes first, then each folder's notes together, folders and names in natural order.
    parent, _, name = source.rpartition("/")
    return (parent != "", _natural(parent), _natural(name))


_STATUS_BADGE = {
    "edited": ("changed", "Changed on disk since it was indexed; re-index to update it."),
    "new": ("new", "Not indexed yet; re-index to add it to search."),
    "deleted": ("deleted", "Deleted from the notes folder; re-index to remove it from search."),
    "interrupted": ("incomplete", "Indexing of this note was interrupted; re-index to finish it."),
    "skipped": ("skipped", "This file could not be indexed; see the index status for why."),
}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def render_tree(files: Sequence[FileNode], selected: str | None = None) -> str:
    """The tree as HTML: folders, files (with chunk counts and stale badges), headings beneath."""
    if not files:
        return ('<div class="src-empty">No notes yet. Add Markdown, text, PDF or HTML files under '
                "<b>Add notes</b> below, or put them in the knowledge folder and re-index.</div>")
    out = ['<nav class="src-tree" aria-label="Notes">']
    folder = None
    rows = sum(len(f.headings) for f in files)
    many = rows > 30  # a short tree is shown open; a long one opens only the selected note
    for f in files:
        parent, _, name = f.source.rpartition("/")
        if parent != folder:
            folder = parent
            if parent:
                out.append(f'<div class="src-folder">{html.escape(parent)}/</div>')
        indent = " nested" if parent else ""
        src = html.escape(f.source, quote=True)
        badge = ""
        if f.status in _STATUS_BADGE:
            word, tip = _STATUS_BADGE[f.status]
            badge = f' <span class="badge {f.status}" title="{html.escape(tip)}">{word}</span>'
        count = (f'<span class="count" title="{_plural(f.chunks, "chunk")} in the index">{f.chunks}</span>'
                 if f.chunks else "")
        current = " current" if f.source == selected else ""
        is_open = " open" if (f.source == selected or not many) and f.headings else ""
        out.append(f'<details class="src-file{indent}"{is_open}><summary>')
        out.append(
            f'<button type="button" class="file{current}" data-source="{src}" title="{src}">'
            f'<span class="name">{html.escape(name)}</span>{badge}</button>{count}</summary>'
        )
        for h in f.headings:
            out.append(
                f'<button type="button" class="heading d{min(h.depth, 5)}" data-source="{src}" '
                f'data-heading="{html.escape(h.path, quote=True)}" title="{html.escape(h.path)}">'
                f'<span class="name">{html.escape(h.label)}</span>'
                f'<span class="count" title="{_plural(h.chunks, "chunk")}">{h.chunks}</span></button>'
            )
        out.append("</details>")
    out.append("</nav>")
    return "".join(out)


def section_chunks(chunks: Iterable[Chunk], source: str, heading: str) -> list[Chunk]:
    """The chunks of a section and its sub-sections, in document order."""
    picked = [c for c in chunks if c.source == source
              and (c.heading == heading or c.heading.startswith(heading + " > "))]
    return sorted(picked, key=lambda c: (c.page or 0, c.start))


def section_highlight(chunks: Sequence[Chunk]) -> Highlight | None:
    """One span from the first to the last chunk of a section (on the first chunk's page)."""
    if not chunks:
        return None
    first = chunks[0]
    same = [c for c in chunks if c.page == first.page]
    return Highlight(first.start, max(c.end for c in same), "section-start", "section", first.page)


# --- the note view and the chunk view -------------------------------------------------------


def ago(seconds: float) -> str:
    """'just now', '5 minutes ago', '3 hours ago', '2 days ago'."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return "just now"
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = int(seconds // size)
            return f"{_plural(n, unit)} ago"
    return "just now"


def _stamp(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def _crumbs(rel: str) -> str:
    parent, _, name = rel.rpartition("/")
    folder = f'<span class="folder">{html.escape(parent)}/</span>' if parent else ""
    return f"{folder}<b>{html.escape(name)}</b>"


def _head(rel: str, meta: list[str], extra: str = "") -> str:
    return (f'<header class="note-head"><div class="note-path">{_crumbs(rel)}</div>'
            f'<div class="note-meta">{" · ".join(meta)}</div>{extra}</header>')


def note_meta(rel: str, chunks: int, indexed_at: float | None, status: str, now: float | None = None) -> list[str]:
    now = time.time() if now is None else now
    meta = [KIND_LABEL.get(PurePosixPath(rel).suffix.lower(), "Note"), _plural(chunks, "chunk")]
    if indexed_at:
        meta.append(f'<span title="{_stamp(indexed_at)}">indexed {ago(now - indexed_at)}</span>')
    if status in _STATUS_BADGE:
        word, tip = _STATUS_BADGE[status]
        meta.append(f'<span class="badge {status}" title="{html.escape(tip)}">{word}</span>')
    return meta


def render_note_view(note: NoteText, meta: list[str], hl: Highlight | None = None,
                     focus: Chunk | None = None) -> str:
    """The whole right-hand view: the note's path and facts, then its content, highlight marked."""
    extra = ""
    if focus is not None:
        where = f"page {focus.page}" if focus.page else f"characters {focus.start}–{focus.end}"
        extra = (f'<div class="note-focus">Highlighted: {html.escape(focus.heading.replace(" > ", " › "))}'
                 f' <span class="muted">({where}; chunk <code>{html.escape(focus.id)}</code>)</span></div>')
    if note.shown_as:
        extra += f'<div class="note-focus muted">{html.escape(note.shown_as)}</div>'
    body = render_note_body(note, hl)
    return (f'<div class="src-view" data-note="{html.escape(note.rel, quote=True)}">'
            f'{_head(note.rel, meta, extra)}<article class="note-body"><div class="note-top"></div>'
            f"{body}</article></div>")


def render_chunks(rel: str, chunks: Sequence[Chunk], meta: list[str], selected: str | None = None,
                  count_tokens: Callable[[str], int] | None = None) -> str:
    """Every chunk of a note in order, with its boundaries, id and metadata; overlaps noted."""
    chunks = sorted(chunks, key=lambda c: (c.page or 0, c.start))
    cards = []
    prev: Chunk | None = None
    for i, c in enumerate(chunks, start=1):
        where = (f"page {c.page}, characters {c.start}–{c.end}" if c.page
                 else f"characters {c.start}–{c.end}")
        facts = [where, f"{len(c.text)} characters"]
        if count_tokens is not None:
            try:
                facts.append(f"{count_tokens(c.embedding_text())} tokens with heading")
            except Exception:  # a tokenizer problem must not hide the chunk view
                pass
        if prev is not None and prev.page == c.page and c.start < prev.end:
            facts.append(f"overlaps the previous chunk by {prev.end - c.start} characters")
        cls = " cited" if c.id == selected else ""
        ident = f' id="chunk-{html.escape(c.id)}"' if c.id == selected else ""
        cards.append(
            f'<section class="chunk{cls}"{ident}><div class="chunk-head"><span class="chunk-no">#{i}</span> '
            f'<span class="chunk-heading">{html.escape(c.heading.replace(" > ", " › "))}</span></div>'
            f'<div class="chunk-facts">{" · ".join(facts)} · id <code>{html.escape(c.id)}</code> · '
            f'hash <code>{html.escape(c.content_hash)}</code></div>'
            f'<div class="plain chunk-text">{html.escape(c.text)}</div>'
            f'<button type="button" class="linkish" data-chunk="{html.escape(c.id, quote=True)}">'
            "Show in the note</button></section>"
        )
        prev = c
    if not cards:
        cards.append('<p class="notice">This note has no chunks in the index yet; re-index to add it.</p>')
    return (f'<div class="src-view" data-note="{html.escape(rel, quote=True)}">{_head(rel, meta)}'
            f'<article class="note-body chunks"><div class="note-top"></div>{"".join(cards)}</article></div>')


def render_message(text: str, title: str = "") -> str:
    """The view's empty or error state: one sentence (and an optional title)."""
    head = f"<h3>{html.escape(title)}</h3>" if title else ""
    return f'<div class="src-view src-message">{head}<p>{html.escape(text)}</p></div>'


# --- search results -------------------------------------------------------------------------


def _query_stems(query: str) -> set[str]:
    from bm25s.stopwords import STOPWORDS_EN

    from .extractive import stem

    words = re.findall(r"\w+", query.lower())
    return {stem(w) for w in words if w not in STOPWORDS_EN}


def highlight_terms(text: str, query: str) -> str:
    """Escaped text with every word that matches a query term (after stemming) in <mark class=term>."""
    from .extractive import stem

    stems = _query_stems(query)
    out = []
    pos = 0
    for m in re.finditer(r"\w+", text):
        if stem(m.group(0).lower()) in stems:
            out.append(html.escape(text[pos : m.start()]))
            out.append(f'<mark class="term">{html.escape(m.group(0))}</mark>')
            pos = m.end()
    out.append(html.escape(text[pos:]))
    return "".join(out)


def snippet(text: str, query: str, width: int = 320) -> str:
    """About `width` characters of `text` around the first query term, cut at word boundaries."""
    text = re.sub(r"```\w*|\*\*|__|`|^#{1,6}\s+", "", text, flags=re.M)  # Markdown marks read as noise
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    from .extractive import stem

    stems = _query_stems(query)
    first = next((m.start() for m in re.finditer(r"\w+", text)
                  if stem(m.group(0).lower()) in stems), 0)
    start = max(0, first - width // 3)
    if start:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < first else start
    end = min(len(text), start + width)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start else end
    return ("… " if start else "") + text[start:end] + (" …" if end < len(text) else "")


def render_hits(query: str, hits: Sequence[Hit], cited: dict[str, int] | None = None,
                title: str | None = None) -> str:
    """Search results (or an answer's retrieved passages): where, score, snippet with terms marked.

    `cited` maps chunk ids to the citation number they got in an answer; the others are shown as
    retrieved but not cited.
    """
    if not query.strip():
        return ""
    if not hits:
        return (f'<div class="hits"><p class="notice">No passages match “{html.escape(query)}”. '
                "Try other words, or check the note is indexed.</p></div>")
    head = title or f"{_plural(len(hits), 'passage')} for “{html.escape(query)}”"
    out = [f'<div class="hits"><div class="hits-head">{head}</div>']
    for rank, h in enumerate(hits, start=1):
        c = h.chunk
        where = f"{html.escape(c.source)} › {html.escape(c.heading.replace(' > ', ' › '))}"
        if c.page:
            where += f" <span class='muted'>(page {c.page})</span>"
        scores = [f'<span title="Fused rank score: dense and keyword rankings combined; higher is better">'
                  f"score {h.score:.3f}</span>"]
        if h.similarity is not None:
            scores.append(f'<span title="Cosine similarity of meaning between the query and this passage">'
                          f"similarity {h.similarity:.2f}</span>")
        if cited is not None:
            scores.append(f'<span class="badge cited-badge">cited [{cited[c.id]}]</span>' if c.id in cited
                          else '<span class="badge">not cited</span>')
        out.append(
            f'<button type="button" class="hit" data-chunk="{html.escape(c.id, quote=True)}">'
            f'<span class="hit-where"><span class="rank">{rank}</span> {where}</span>'
            f'<span class="hit-text">{highlight_terms(snippet(c.text, query), query)}</span>'
            f'<span class="hit-score">{" · ".join(scores)}</span></button>'
        )
    out.append("</div>")
    return "".join(out)


# --- index status ---------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexStatus:
    files: int
    chunks: int
    last_indexed: float | None
    stale: dict[str, str]  # path -> "new" | "edited" | "deleted" | "interrupted"
    skipped: dict[str, str]  # path -> why it cannot be indexed


_unreadable_cache: dict[tuple[str, int, int], str | None] = {}


def _unreadable(path: Path, rel: str, stat: os.stat_result) -> str | None:
    """Why a note on disk cannot be indexed, or None. Loads the file once per version."""
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _unreadable_cache:
        reason = None
        if stat.st_size == 0:
            reason = "empty file"
        else:
            try:
                if not load(path, rel).sections:
                    reason = "no text to index"
            except Unreadable as exc:
                reason = str(exc)
            except Exception as exc:  # a loader bug must not break the status line
                reason = f"could not be read ({type(exc).__name__})"
        if len(_unreadable_cache) > 4096:
            _unreadable_cache.clear()
        _unreadable_cache[key] = reason
    return _unreadable_cache[key]


def file_state(rel: str, path: Path | None, record) -> tuple[str, str]:
    """(state, reason) of one note: state is "" (indexed and unchanged), "new", "edited",
    "deleted", "interrupted" or "skipped" (cannot be indexed; `reason` says why)."""
    from .ingestion import file_sha256

    if path is None:
        return ("deleted", "") if record is not None else ("", "")
    try:
        stat = path.stat()
    except OSError:
        return "", ""
    if record is not None and not record.sha256:
        return "interrupted", ""
    if record is not None and record.size == stat.st_size and record.mtime == stat.st_mtime:
        return "", ""
    if record is not None:
        try:
            if file_sha256(path) == record.sha256:
                return "", ""  # touched, not changed
        except OSError:
            return "", ""
    reason = _unreadable(path, rel, stat)
    if reason:
        return "skipped", reason + ("; the indexed version is kept" if record is not None else "")
    return ("edited" if record is not None else "new"), ""


def index_status(root: Path, manifest: dict, chunks: int) -> IndexStatus:
    """Compare the manifest (store.files()) with the notes on disk: what is stale and why."""
    from .ingestion import scan

    found, _ = scan(Path(root))
    on_disk = dict(found)
    stale: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for rel in sorted(set(on_disk) | set(manifest)):
        state, reason = file_state(rel, on_disk.get(rel), manifest.get(rel))
        if state == "skipped":
            skipped[rel] = reason
        elif state:
            stale[rel] = state
    complete = [r for r in manifest.values() if r.sha256]
    last = max((r.indexed_at for r in complete), default=None)
    return IndexStatus(len(complete), chunks, last or None, stale, skipped)


def render_status(status: IndexStatus, now: float | None = None, message: str = "") -> str:
    """One line of facts, then what changed on disk since (and what cannot be indexed)."""
    now = time.time() if now is None else now
    facts = [f"<b>{status.files}</b> {'note' if status.files == 1 else 'notes'}",
             f"<b>{status.chunks}</b> {'chunk' if status.chunks == 1 else 'chunks'}"]
    if status.last_indexed:
        facts.append(f'<span title="{_stamp(status.last_indexed)}">last indexed '
                     f"{ago(now - status.last_indexed)}</span>")
    else:
        facts.append("not indexed yet")
    line = " · ".join(facts)
    if status.stale:
        words = {"new": "new", "edited": "changed", "deleted": "deleted", "interrupted": "incomplete"}
        items = sorted(status.stale.items())
        shown = ", ".join(f"{html.escape(p)} ({words.get(s, s)})" for p, s in items[:4])
        more = f" and {len(items) - 4} more" if len(items) > 4 else ""
        line += (f'<div class="stale">{_plural(len(items), "note")} changed on disk since: {shown}{more}. '
                 "Re-index to bring search up to date.</div>")
    elif status.files:
        line += ' <span class="fresh">— search is up to date with the notes folder.</span>'
    out = [f'<div class="src-status"><div class="facts">{line}</div>']
    if status.skipped:
        items = "".join(f"<li>{html.escape(p)}: {html.escape(r)}</li>" for p, r in sorted(status.skipped.items()))
        out.append(f'<details class="skipped"><summary>{_plural(len(status.skipped), "file")} cannot be '
                   f"indexed</summary><ul>{items}</ul></details>")
    if message:
        out.append(f'<div class="message">{message}</div>')
    out.append("</div>")
    return "".join(out)


def render_report(report) -> str:
    """An IngestReport as one sentence; which files changed and which were skipped fold underneath."""
    line = html.escape(report.summary())
    items = []
    changed = sorted(set(report.changed_files))
    if changed:
        items.append("<li>Changed: " + ", ".join(html.escape(f) for f in changed[:20])
                     + (f" and {len(changed) - 20} more" if len(changed) > 20 else "") + "</li>")
    items += [f"<li>Skipped {html.escape(s.path)}: {html.escape(s.reason)}</li>" for s in report.skipped]
    details = (f"<details class='skipped'><summary>What changed</summary><ul>{''.join(items)}</ul></details>"
               if items else "")
    return f"<span class='done'>Re-indexed: {line}.</span>{details}"


# --- actions on the runtime -----------------------------------------------------------------


def file_chunks(runtime, rel: str) -> list[Chunk]:
    return sorted((c for c in runtime.retriever.chunks if c.source == rel),
                  key=lambda c: (c.page or 0, c.start))


def current_status(runtime) -> IndexStatus:
    return index_status(runtime.settings.knowledge_dir, runtime.store.files(), runtime.store.count())


def delete_note(runtime, rel: str) -> str:
    """Delete a note from the knowledge folder and its chunks from the index; returns a sentence.

    Takes the indexing lock, so it never races an ingest run; raises IndexBusy if one is running.
    """
    from filelock import FileLock, Timeout

    root = runtime.settings.knowledge_dir
    path = resolve_note(root, rel, must_exist=False)
    data_dir = Path(runtime.settings.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(data_dir / "ingest.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise IndexBusy("Indexing is running right now; wait for it to finish, then delete the note again.") from None
    try:
        on_disk = path.is_file() or path.is_symlink()
        ids = runtime.store.ids_for_source(rel)
        if not on_disk and not ids and rel not in runtime.store.files():
            raise SourceError(f"{rel} is not in your notes; nothing was deleted.")
        if on_disk:
            try:
                path.unlink()
            except OSError as exc:
                raise SourceError(
                    f"{rel} could not be deleted ({exc.strerror}); check the folder's permissions."
                ) from None
        runtime.store.delete(sorted(ids))
        runtime.store.unmark_file(rel)
    finally:
        lock.release()
    if "retriever" in runtime.__dict__:
        runtime.retriever.refresh()
    return f"Deleted {rel}: removed from the notes folder and {_plural(len(ids), 'chunk')} from the index."


def find_chunk(runtime, chunk_id: str) -> Chunk | None:
    """A chunk by id; tolerates a '#nonce' suffix, which lets the same citation be opened twice."""
    chunk_id = (chunk_id or "").strip().split("#", 1)[0].strip()
    if not chunk_id or not re.fullmatch(r"[0-9A-Za-z_-]{1,128}", chunk_id):
        return None
    got = runtime.store.get([chunk_id])
    return got[0] if got else None


# --- what the Sources tab calls -------------------------------------------------------------

EMPTY_VIEW = ("Pick a note or a section on the left, search your notes, or click a citation in an "
              "answer to see its passage here.")


def overview(runtime, message: str = "", selected: str | None = None) -> tuple[str, str]:
    """(status HTML, tree HTML) from one look at the folder and the index."""
    status = current_status(runtime)
    states = {**status.stale, **{p: "skipped" for p in status.skipped}}
    extra = [p for p, s in states.items() if s in ("new", "skipped")]
    tree = render_tree(build_tree(runtime.retriever.chunks, states, extra), selected)
    return render_status(status, message=message), tree


def open_view(runtime, source: str | None = None, heading: str | None = None,
              chunk_id: str | None = None, mode: str = "note") -> tuple[str, str | None]:
    """The right-hand view for a chunk (highlighted), a section (in view) or a whole note.

    Returns (HTML, the note's path or None). `mode` is "note" (rendered) or "chunks".
    """
    focus = None
    try:
        if chunk_id:
            focus = find_chunk(runtime, chunk_id)
            if focus is None:
                return render_message("That passage is no longer in the index (the note was edited or "
                                      "deleted); search for it again."), None
            source = focus.source
        if not source:
            return render_message(EMPTY_VIEW), None
        _check_rel(source)
        root = Path(runtime.settings.knowledge_dir)
        chunks = file_chunks(runtime, source)
        record = runtime.store.files().get(source)
        path = root / source
        state, _ = file_state(source, path if path.is_file() and _inside(root, path) else None, record)
        meta = note_meta(source, len(chunks), record.indexed_at if record and record.sha256 else None, state)
        section = section_chunks(chunks, source, heading) if heading and not focus else []
        if mode == "chunks":
            selected = focus.id if focus else (section[0].id if section else None)
            return render_chunks(source, chunks, meta, selected, _token_counter(runtime)), source
        hl = chunk_highlight(focus) if focus else section_highlight(section)
        return render_note_view(read_note(root, source), meta, hl, focus), source
    except SourceError as exc:
        return render_message(str(exc)), source


def _token_counter(runtime):
    embedder = runtime.__dict__.get("embedder")
    return embedder.count_tokens if embedder is not None else None


def reindex(runtime, progress: Callable[[int, int], None] | None = None) -> str:
    """Run an incremental ingest; returns what changed (HTML) or the one-sentence reason it did not."""
    import logging

    try:
        report = runtime.ingest(progress=progress)
    except AssistantError as exc:
        return f'<span class="error">{html.escape(str(exc))}</span>'
    except Exception as exc:  # shown as a sentence; the trace goes to the terminal
        logging.getLogger(__name__).exception("re-indexing failed")
        return (f'<span class="error">Re-indexing failed ({html.escape(type(exc).__name__)}: '
                f"{html.escape(_short(str(exc), 120))}); see the terminal for details.</span>")
    return render_report(report)


def upload_files(runtime, paths: Iterable[str], folder: str | None = "") -> tuple[str, int]:
    """Save uploaded files (temporary paths named as the learner's files) into the knowledge folder.

    Returns (one sentence per file as HTML, how many new notes were saved).
    """
    root = Path(runtime.settings.knowledge_dir)
    cap = getattr(runtime.settings, "max_upload_mb", None)
    limit = min(MAX_UPLOAD_BYTES, int(cap * 2**20)) if cap else MAX_UPLOAD_BYTES
    lines: list[str] = []
    saved = 0
    for p in paths or []:
        p = Path(p)
        name = p.name
        try:
            check_type(name)
            size = p.stat().st_size
            if size > limit:  # refused before reading it into memory
                raise SourceError(_too_big(name, size, limit))
            result = save_upload(root, name, p.read_bytes(), folder)
        except SourceError as exc:
            lines.append(f'<li class="error">{html.escape(str(exc))}</li>')
            continue
        except OSError as exc:
            lines.append(f'<li class="error">{html.escape(_short(name, 60))} could not be read '
                         f"({html.escape(exc.strerror or str(exc))}); try uploading it again.</li>")
            continue
        saved += result.new
        lines.append(f"<li>{html.escape(result.message)}</li>")
    return (f'<ul class="upload-result">{"".join(lines)}</ul>' if lines else ""), saved
