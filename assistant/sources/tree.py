"""The Sources tab's tree: each note, with its headings beneath in document order and how many
chunks each section has; a section picked in the tree becomes one highlight in the note."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..core.schema import Chunk
from ..core.wording import plural
from .render import Highlight


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


def status_badge(status: str) -> str:
    """A small label for a note the index has not caught up with ("" for an up-to-date one)."""
    if status not in _STATUS_BADGE:
        return ""
    word, tip = _STATUS_BADGE[status]
    return f'<span class="badge {status}" title="{html.escape(tip)}">{word}</span>'


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
        badge = status_badge(f.status)
        badge = f" {badge}" if badge else ""
        count = (f'<span class="count" title="{plural(f.chunks, "chunk")} in the index">{f.chunks}</span>'
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
                f'<span class="count" title="{plural(h.chunks, "chunk")}">{h.chunks}</span></button>'
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

