"""Incremental, crash-safe indexing of the knowledge folder.

Files are written in groups of a few hundred chunks. A group's new chunks are embedded and written
first, then its stale chunks are deleted, and only then are its files' manifest records written:
those records are the commit point. A run killed anywhere leaves every file either at its old
version, its new version, or (between the two writes) briefly both, all searchable; the next run
sees the manifest disagree and finishes the job. A handful of store calls per group, not per file,
keeps the pipeline's cost small next to embedding. A run holds its library's lock (in the store,
index/library.py) and, when it changed anything, bumps the library's generation at its end.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.schema import Chunk, IngestReport, Skipped
from .embeddings import count_tokens
from .library import Library
from .loaders import SUPPORTED, Unreadable, load
from .store import FileRecord

if TYPE_CHECKING:
    from .chunking import Chunker
    from .embeddings import Embedder
    from .store import VectorStore

# Files are embedded in groups of at least this many chunks: the model is ~2x faster per chunk in
# full batches than one small file at a time.
_FLUSH_CHUNKS = 256
_EMBED_BATCH = 32

Progress = Callable[[int, int], None]  # (chunks embedded so far, chunks to embed)

# Test hook, for crash tests only: with ASSISTANT_TEST_CRASH_AT=after-chunks (or after-manifest) the
# process ends at once (os._exit(70), like a kill: no cleanup) right after the first group's new chunks
# (or its manifest records) are written, so a test can stop a run at a known point of the commit.
_CRASH_AT = "ASSISTANT_TEST_CRASH_AT"


def _crash_point(name: str) -> None:
    if os.environ.get(_CRASH_AT) == name:
        os._exit(70)


@dataclass
class _Pending:
    rel: str
    sha256: str
    mtime: float
    size: int
    chunks: list[Chunk]
    existing: set[str]
    known: bool  # in the manifest before this run

    @property
    def new(self) -> list[Chunk]:
        """Chunks to embed: not in the index yet."""
        return [c for c in self.chunks if c.id not in self.existing]

    @property
    def kept(self) -> list[Chunk]:
        """Chunks already in the index: only their position may need updating."""
        return [c for c in self.chunks if c.id in self.existing]

    @property
    def gone(self) -> set[str]:
        """Ids in the index that the file no longer has."""
        return self.existing - {c.id for c in self.chunks}


def scan(root: Path) -> tuple[list[tuple[str, Path]], list[Skipped]]:
    """Note files under `root` (relative path, absolute path), and what was passed over and why.

    Hidden files and folders are ignored silently; links are followed only when they stay inside
    the folder, so a link loop or a link to /etc cannot be read through.
    """
    root = root.resolve()
    found: list[tuple[str, Path]] = []
    skipped: list[Skipped] = []

    def onerror(exc: OSError) -> None:
        rel = os.path.relpath(exc.filename, root) if exc.filename else "?"
        skipped.append(Skipped(rel.replace(os.sep, "/"), f"folder cannot be read ({exc.strerror})"))

    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                try:
                    target = path.resolve(strict=True)
                except (OSError, RuntimeError):
                    skipped.append(Skipped(rel, "broken or looping link"))
                    continue
                if not target.is_relative_to(root):
                    skipped.append(Skipped(rel, "link points outside the knowledge folder"))
                    continue
                if not target.is_file():
                    continue
            if path.suffix.lower() not in SUPPORTED:
                skipped.append(Skipped(rel, f"unsupported file type '{path.suffix or name}'"))
                continue
            found.append((rel, path))
    return found, skipped


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Indexer:
    """`embedder`: the model, or a call that loads it. Given a call, the model loads in a thread from
    the first changed file on, while the notes are read and split (the splitter counts tokens with
    the model's tokenizer alone), and not at all when nothing changed. None is fine for `remove`."""

    def __init__(self, knowledge_dir: Path, data_dir: Path, store: VectorStore,
                 embedder: Embedder | Callable[[], Embedder] | None, chunker: Chunker | None = None):
        self.knowledge_dir = Path(knowledge_dir)
        self.data_dir = Path(data_dir)
        self.store = store
        self.library = Library(store)
        self._embedder = embedder
        self._loading: Future | None = None
        self._chunker = chunker

    @property
    def chunker(self) -> Chunker:
        if self._chunker is None:
            # Imported here: it brings in langchain, which listing or showing notes does not need.
            from .chunking import Chunker

            self._chunker = Chunker(count_tokens)
        return self._chunker

    def _start_loading_model(self) -> None:
        if self._loading is None and callable(self._embedder):
            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="load-model")
            self._loading = pool.submit(self._embedder)
            pool.shutdown(wait=False)

    @property
    def embedder(self) -> Embedder:
        if not callable(self._embedder):
            return self._embedder
        self._start_loading_model()
        return self._loading.result()  # waits for the load, or raises what stopped it

    def run(self, reset: bool = False, progress: Progress | None = None) -> IngestReport:
        busy = (f"Another indexing run is already working on library '{self.library.name}' ({{holder}}); "
                "wait for it to finish, then run again.")
        with self.library.locked(busy) as lease:
            if reset:
                self.store.reset()
            report = self._run(progress, lease.check)
            if reset or report.changed_files:
                lease.bump_generation()
            return report

    def remove(self, rel: str, delete_file: Callable[[], bool]) -> int:
        """Take one note out: `delete_file()` removes it from disk (False: it was not there), then
        its chunks and manifest record leave the index. Under the library's lock, so it never races
        a run. Returns how many chunks were removed; KeyError when the note is nowhere."""
        busy = "Indexing is running right now ({holder}); wait for it to finish, then delete the note again."
        with self.library.locked(busy) as lease:
            ids = self.store.ids_for_source(rel)
            in_manifest = rel in self.store.files()
            on_disk = delete_file()
            if not (on_disk or ids or in_manifest):
                raise KeyError(rel)
            self.store.delete(sorted(ids))
            self.store.unmark_file(rel)
            lease.bump_generation()
            return len(ids)

    def _run(self, progress: Progress | None, still_locked: Callable[[], None]) -> IngestReport:
        report = IngestReport()
        files, report.skipped = scan(self.knowledge_dir)
        manifest = self.store.files()
        on_disk = {rel for rel, _ in files}

        # Deleted files leave the index. Before each write, the lock is checked: a run whose lock
        # was taken over (it hung past the timeout) writes nothing more.
        still_locked()
        deleted = sorted(set(manifest) - on_disk)
        for rel, ids in self.store.ids_for_sources(deleted).items():
            self.store.delete(sorted(ids))
            self.store.unmark_file(rel)
            report.removed += len(ids)
            report.changed_files.append(rel)

        pending: list[_Pending] = []
        touched: list[FileRecord] = []
        for rel, path in files:
            try:
                item = self._prepare(rel, path, manifest.get(rel), report, touched)
            except Unreadable as exc:
                self._skip_unreadable(rel, str(exc), manifest.get(rel), report)
                continue
            if item is not None:
                pending.append(item)
        still_locked()
        # Mark new files as started, so that if this run dies and a file is then deleted, the next
        # run still knows to remove the chunks already written for it. One call for all of them.
        self.store.mark_files(touched + [FileRecord(p.rel, "", 0.0, 0, 0, 0.0)
                                         for p in pending if not p.known])
        existing = self.store.ids_for_sources([p.rel for p in pending])
        for p in pending:
            p.existing = existing[p.rel]

        total = sum(len(p.new) for p in pending)
        done = 0
        if progress:
            progress(0, total)
        for group in _groups(pending, _FLUSH_CHUNKS):
            still_locked()
            done = self._commit(group, report, done, total, progress)

        report.files = len(self.store.files())
        report.chunks = self.store.count()
        still_locked()  # what this run reports held only if no other run worked meanwhile
        return report

    def _prepare(self, rel: str, path: Path, record: FileRecord | None, report: IngestReport,
                 touched: list[FileRecord]) -> _Pending | None:
        """Decide whether a file changed; if so, load and chunk it. None means unchanged."""
        try:
            stat = path.stat()
        except OSError as exc:
            raise Unreadable(f"cannot be read ({exc.strerror})") from None
        if record and record.size == stat.st_size and record.mtime == stat.st_mtime:
            report.unchanged += record.chunks  # the fast path: not even hashed
            return None
        try:
            sha = file_sha256(path)
        except OSError as exc:
            raise Unreadable(f"cannot be read ({exc.strerror})") from None
        if record and record.sha256 == sha:
            # Touched but not changed: remember the new mtime so the next run takes the fast path.
            touched.append(FileRecord(rel, sha, stat.st_mtime, stat.st_size, record.chunks,
                                      record.indexed_at))
            report.unchanged += record.chunks
            return None
        document = load(path, rel)
        chunks = self.chunker.chunk(rel, document.sections)
        if not chunks:
            raise Unreadable("no text to index")
        self._start_loading_model()  # likely something to embed: the model loads while the rest is read
        return _Pending(rel, sha, stat.st_mtime, stat.st_size, chunks, set(), known=record is not None)

    def _skip_unreadable(self, rel: str, reason: str, record: FileRecord | None,
                         report: IngestReport) -> None:
        if record and record.sha256 and reason not in ("empty file", "no text to index"):
            # Nothing is lost: a note that turned unreadable keeps its last good version.
            reason += "; the previously indexed version is kept"
            report.unchanged += record.chunks
        elif record:
            ids = self.store.ids_for_source(rel)
            self.store.delete(sorted(ids))
            self.store.unmark_file(rel)
            report.removed += len(ids)
            report.changed_files.append(rel)
        report.skipped.append(Skipped(rel, reason))

    def _commit(self, group: list[_Pending], report: IngestReport, done: int, total: int,
                progress: Progress | None) -> int:
        """Embed and write a group of files with a handful of store calls, then mark them done."""
        fresh = [(p, c) for p in group for c in p.new]
        vectors = []
        if fresh:
            # One call for the group: the embedder batches it by length and keeps every core busy.
            start = done
            vectors = self.embedder.embed([c.embedding_text() for _, c in fresh], batch_size=_EMBED_BATCH,
                                          progress=(lambda n: progress(start + n, total)) if progress else None)
            done += len(fresh)
        kept = [(p, c) for p in group for c in p.kept]
        gone = sorted(cid for p in group for cid in p.gone)
        if fresh:
            self.store.upsert([c for _, c in fresh], vectors, [p.sha256 for p, _ in fresh])
        _crash_point("after-chunks")  # new chunks in, stale ones not yet deleted: the old version is read
        if gone:
            self.store.delete(gone)
        # Kept chunks take the new file hash last, so a reader never finds old and new text of one
        # file under the manifest's hash (VectorStore.committed_chunks).
        if kept:
            self.store.update_metadata([c for _, c in kept], [p.sha256 for p, _ in kept])
        now = time.time()
        self.store.mark_files([FileRecord(p.rel, p.sha256, p.mtime, p.size, len(p.chunks), now)
                               for p in group])
        _crash_point("after-manifest")
        for p in group:
            n_fresh, n_gone = len(p.new), len(p.gone)
            if p.known:
                paired = min(n_fresh, n_gone)
                report.updated += paired
                report.added += n_fresh - paired
                report.removed += n_gone - paired
            else:
                report.added += n_fresh
                report.removed += n_gone  # leftovers of an interrupted first run
            report.unchanged += len(p.chunks) - n_fresh
            report.changed_files.append(p.rel)
        return done


def _groups(items: list[_Pending], min_chunks: int) -> Iterator[list[_Pending]]:
    group: list[_Pending] = []
    size = 0
    for item in items:
        group.append(item)
        size += len(item.new)
        if size >= min_chunks:
            yield group
            group, size = [], 0
    if group:
        yield group
