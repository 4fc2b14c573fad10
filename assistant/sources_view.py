"""What the Sources tab shows: the status line and tree, the note or chunk view, search results, and
the outcome of re-indexing and uploads, each as HTML for a gr.HTML component. No gradio here."""

from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path, PurePosixPath

from .errors import AssistantError
from .note_render import Highlight, NoteText, chunk_highlight, highlight_terms, read_note, render_note_body, snippet
from .notes_folder import IndexStatus, SourceError, current_status, note_file_state, save_uploaded_file
from .schema import Chunk, Hit
from .source_tree import build_tree, render_tree, section_chunks, section_highlight, status_badge
from .wording import ago, plural, shorten

KIND_LABEL = {
    ".md": "Markdown", ".markdown": "Markdown", ".mdx": "MDX", ".txt": "Text", ".text": "Text",
    ".pdf": "PDF", ".html": "HTML page", ".htm": "HTML page",
}


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
        root = Path(runtime.settings.knowledge_dir)
        record = runtime.store.files().get(source)
        state, _ = note_file_state(root, source, record)
        chunks = file_chunks(runtime, source)
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
    try:
        report = runtime.ingest(progress=progress)
    except AssistantError as exc:
        return f'<span class="error">{html.escape(str(exc))}</span>'
    except Exception as exc:  # shown as a sentence; the trace goes to the terminal
        logging.getLogger(__name__).exception("re-indexing failed")
        return (f'<span class="error">Re-indexing failed ({html.escape(type(exc).__name__)}: '
                f"{html.escape(shorten(str(exc), 120))}); see the terminal for details.</span>")
    return render_report(report)


def upload_files(runtime, paths: Iterable[str], folder: str | None = "") -> tuple[str, int]:
    """Save uploaded files (temporary paths named as the learner's files) into the knowledge folder.

    Returns (one sentence per file as HTML, how many new notes were saved).
    """
    root = Path(runtime.settings.knowledge_dir)
    max_mb = getattr(runtime.settings, "max_upload_mb", None)
    lines: list[str] = []
    saved = 0
    for p in paths or []:
        try:
            result = save_uploaded_file(root, Path(p), folder, max_mb)
        except SourceError as exc:
            lines.append(f'<li class="error">{html.escape(str(exc))}</li>')
            continue
        saved += result.new
        lines.append(f"<li>{html.escape(result.message)}</li>")
    return (f'<ul class="upload-result">{"".join(lines)}</ul>' if lines else ""), saved


# --- lookups in the index -------------------------------------------------------------------


def file_chunks(runtime, rel: str) -> list[Chunk]:
    return sorted((c for c in runtime.retriever.chunks if c.source == rel),
                  key=lambda c: (c.page or 0, c.start))


def find_chunk(runtime, chunk_id: str) -> Chunk | None:
    """A chunk by id; tolerates a '#nonce' suffix, which lets the same citation be opened twice."""
    chunk_id = (chunk_id or "").strip().split("#", 1)[0].strip()
    if not chunk_id or not re.fullmatch(r"[0-9A-Za-z_-]{1,128}", chunk_id):
        return None
    got = runtime.store.get([chunk_id])
    return got[0] if got else None


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
