"""What the Sources tab and the CLI call: the tree and status, a note or passage in view, search,
uploads, deletes and re-indexing, answered as HTML fragments or one sentence."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.errors import AssistantError
from ..core.logins import TEACHER
from ..core.schema import Chunk, Hit
from ..core.wording import plural, shorten
from .folder import (
    IndexStatus,
    SourceError,
    index_status,
    note_file_state,
    resolve_note,
    save_uploaded_file,
)
from .render import chunk_highlight, read_note
from .tree import build_tree, render_tree, section_chunks, section_highlight
from .view import (
    EMPTY_VIEW,
    note_meta,
    render_chunks,
    render_hits,
    render_message,
    render_note_view,
    render_report,
    render_status,
)

if TYPE_CHECKING:
    from ..index.store import VectorStore
    from ..services import Admin

log = logging.getLogger(__name__)

LEARNER_REFUSED = ("Only a teacher can add, delete or re-index notes; you are signed in as a learner, "
                   "so the notes are read-only for you.")


class Sources:
    """`store`: the VectorStore, or a call that opens it on first use (the app shows its page first).
    `role`: a login name's role (assistant/core/logins.py); the tab asks `may_change` before any
    upload, delete or re-index."""

    def __init__(self, knowledge_dir: Path, store: VectorStore | Callable[[], VectorStore], *,
                 chunks: Callable[[], list[Chunk]], role: Callable[[str | None], str] = lambda login: TEACHER,
                 search: Callable[..., list[Hit]], admin: Admin,
                 token_counter: Callable[[], Callable[[str], int] | None] = lambda: None,
                 max_upload_mb: float | None = None):
        self.root = Path(knowledge_dir)
        self._open_store = store
        self._chunks = chunks
        self._role = role
        self._search = search
        self._admin = admin
        self._token_counter = token_counter
        self.max_upload_mb = max_upload_mb

    @property
    def _store(self) -> VectorStore:
        return self._open_store() if callable(self._open_store) else self._open_store

    # --- looking -------------------------------------------------------------------------

    def generation(self) -> int:
        """The library's generation: it moves whenever any run (another process, another
        instance) changed the library, so a page can tell that its view is out of date."""
        from ..index.library import Library

        return Library(self._store).generation()

    def status(self) -> IndexStatus:
        return index_status(self.root, self._store.files(), self._store.count())

    def overview(self, message: str = "", selected: str | None = None) -> tuple[str, str]:
        """(status HTML, tree HTML) from one look at the folder and the index. An index that cannot
        be read is one sentence above the notes folder's files, which stay browsable."""
        try:
            status, chunks = self.status(), self._chunks()
        except AssistantError as exc:
            status, chunks = index_status(self.root, {}, 0), []
            message = " ".join(filter(None, [f'<span class="error">{html.escape(str(exc))}</span>', message]))
        states = {**status.stale, **{p: "skipped" for p in status.skipped}}
        extra = [p for p, s in states.items() if s in ("new", "skipped")]
        tree = render_tree(build_tree(chunks, states, extra), selected)
        return render_status(status, message=message), tree

    def open_view(self, source: str | None = None, heading: str | None = None,
                  chunk_id: str | None = None, mode: str = "note") -> tuple[str, str | None]:
        """The right-hand view for a chunk (highlighted), a section (in view) or a whole note.

        Returns (HTML, the note's path or None). `mode` is "note" (rendered) or "chunks".
        """
        focus = None
        try:
            if chunk_id:
                focus = self.find_chunk(chunk_id)
                if focus is None:
                    return render_message("That passage is no longer in the index (the note was edited or "
                                          "deleted); search for it again."), None
                source = focus.source
            if not source:
                return render_message(EMPTY_VIEW), None
            try:
                record, chunks = self._store.files().get(source), self.file_chunks(source)
            except AssistantError:  # an index that cannot be read: the note is still shown
                record, chunks = None, []
            state, _ = note_file_state(self.root, source, record)
            meta = note_meta(source, len(chunks), record.indexed_at if record and record.sha256 else None, state)
            section = section_chunks(chunks, source, heading) if heading and not focus else []
            if mode == "chunks":
                selected = focus.id if focus else (section[0].id if section else None)
                return render_chunks(source, chunks, meta, selected, self._token_counter()), source
            hl = chunk_highlight(focus) if focus else section_highlight(section)
            return render_note_view(read_note(self.root, source), meta, hl, focus), source
        except AssistantError as exc:  # a note that cannot be read, or an index that cannot be
            return render_message(str(exc)), source

    def search(self, query: str, k: int = 8, scope: str | None = None) -> list[Hit]:
        return self._search(query, k, scope) if query.strip() else []

    def search_view(self, query: str) -> str:
        try:
            return render_hits(query, self.search(query))
        except AssistantError as exc:  # e.g. the notes could not be loaded for searching
            return render_message(str(exc))

    def file_chunks(self, rel: str) -> list[Chunk]:
        return sorted((c for c in self._chunks() if c.source == rel), key=lambda c: (c.page or 0, c.start))

    def find_chunk(self, chunk_id: str) -> Chunk | None:
        """A chunk by id; tolerates a '#nonce' suffix, which lets the same citation be opened twice."""
        chunk_id = (chunk_id or "").strip().split("#", 1)[0].strip()
        if not chunk_id or not re.fullmatch(r"[0-9A-Za-z_-]{1,128}", chunk_id):
            return None
        got = self._store.get([chunk_id])
        return got[0] if got else None

    # --- changing ------------------------------------------------------------------------

    def may_change(self, login: str | None) -> bool:
        """Whether this login may upload, delete and re-index (a teacher, or the local user)."""
        return self._role(login) == TEACHER

    def reindex(self, progress: Callable[[int, int], None] | None = None) -> str:
        """Run an incremental ingest; returns what changed (HTML) or the one-sentence reason it did not."""
        try:
            report = self._admin.ingest(progress=progress)
        except AssistantError as exc:
            return f'<span class="error">{html.escape(str(exc))}</span>'
        except Exception as exc:  # shown as a sentence; the trace goes to the terminal
            log.exception("re-indexing failed")
            return (f'<span class="error">Re-indexing failed ({html.escape(type(exc).__name__)}: '
                    f"{html.escape(shorten(str(exc), 120))}); see the terminal for details.</span>")
        return render_report(report)

    def upload(self, paths: Iterable[str], folder: str | None = "") -> tuple[str, int]:
        """Save uploaded files (temporary paths named as the learner's files) into the knowledge folder.

        Returns (one sentence per file as HTML, how many new notes were saved).
        """
        lines: list[str] = []
        saved = 0
        for p in paths or []:
            try:
                result = save_uploaded_file(self.root, Path(p), folder, self.max_upload_mb)
            except SourceError as exc:
                lines.append(f'<li class="error">{html.escape(str(exc))}</li>')
                continue
            saved += result.new
            lines.append(f"<li>{html.escape(result.message)}</li>")
        return (f'<ul class="upload-result">{"".join(lines)}</ul>' if lines else ""), saved

    def delete(self, rel: str) -> str:
        """Delete a note from the knowledge folder and its chunks from the index; returns a sentence.
        IndexBusy while an ingest runs; SourceError for a path that is not a note."""
        path = resolve_note(self.root, rel, must_exist=False)

        def delete_file() -> bool:
            if not (path.is_file() or path.is_symlink()):
                return False
            try:
                path.unlink()
            except OSError as exc:
                raise SourceError(f"{rel} could not be deleted ({exc.strerror}); "
                                  "check the folder's permissions.") from None
            return True

        try:
            removed = self._admin.remove(rel, delete_file)
        except KeyError:
            raise SourceError(f"{rel} is not in your notes; nothing was deleted.") from None
        return f"Deleted {rel}: removed from the notes folder and {plural(removed, 'chunk')} from the index."
