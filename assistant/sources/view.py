"""How the Sources tab's parts look: the status line, the note or chunk view, search results and the
outcome of re-indexing, each as HTML for a gr.HTML component. Pure functions; no gradio here."""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Sequence
from pathlib import PurePosixPath

from ..core.schema import Chunk, Hit
from ..core.wording import ago, plural
from .folder import IndexStatus
from .render import Highlight, NoteText, render_note_body
from .snippets import highlight_terms, snippet
from .tree import status_badge

KIND_LABEL = {
    ".md": "Markdown", ".markdown": "Markdown", ".mdx": "MDX", ".txt": "Text", ".text": "Text",
    ".pdf": "PDF", ".html": "HTML page", ".htm": "HTML page",
}


EMPTY_VIEW = ("Pick a note or a section on the left, search your notes, or click a citation in an "
              "answer to see its passage here.")


# --- the note view and the chunk view -------------------------------------------------------


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
    meta = [KIND_LABEL.get(PurePosixPath(rel).suffix.lower(), "Note"), plural(chunks, "chunk")]
    if indexed_at:
        meta.append(f'<span title="{_stamp(indexed_at)}">indexed {ago(now - indexed_at)}</span>')
    badge = status_badge(status)
    if badge:
        meta.append(badge)
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
    head = title or f"{plural(len(hits), 'passage')} for “{html.escape(query)}”"
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
        line += (f'<div class="stale">{plural(len(items), "note")} changed on disk since: {shown}{more}. '
                 "Re-index to bring search up to date.</div>")
    elif status.files:
        line += ' <span class="fresh">— search is up to date with the notes folder.</span>'
    out = [f'<div class="src-status"><div class="facts">{line}</div>']
    if status.skipped:
        items = "".join(f"<li>{html.escape(p)}: {html.escape(r)}</li>" for p, r in sorted(status.skipped.items()))
        out.append(f'<details class="skipped"><summary>{plural(len(status.skipped), "file")} cannot be '
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
