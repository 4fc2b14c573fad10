"""Hybrid search: dense (Chroma + MiniLM) and keyword (BM25 via bm25s), fused by score (fusion.py).

Dense search finds paraphrases; BM25 finds rare exact terms (names, numbers, acronyms) and
phrases that a small embedding model blurs. The BM25 index is saved between starts
(KeywordIndex.cached): building it is most of a start-up with many notes.

One generation at a time: a Snapshot is the library's chunks, their keyword index and their
passages as of one generation (index/library.py), and searches only those: dense hits come live
from Chroma, so a hit the snapshot does not hold (written by a run in progress, or after it was
loaded) is dropped. The Retriever reads the library's generation before each use and loads a new
snapshot when it moved; an answer takes one snapshot for all its searches (`current()`), so it
never mixes two versions of the notes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import bm25s
import numpy as np
from cachetools import LRUCache

from ..core.schema import Chunk, Hit
from ..core.text import STEMMER, quotes_any
from .fusion import SearchConfig, fuse
from .library import Library

if TYPE_CHECKING:
    from .embeddings import Embedder
    from .store import VectorStore


log = logging.getLogger(__name__)
# How much an earlier question weighs, against the follow-up's own words, in what a follow-up means.
CONTEXT_WEIGHT = 0.5
# Part of a saved keyword index's fingerprint: bump it when tokenisation changes, so old saved
# indexes are rebuilt instead of loaded.
_KEYWORD_FORMAT = 1


def _tokenize(texts: list[str]) -> list[list[str]]:
    # bm25s's own short stop-word list: the longer one of core/text.py (which drops "more", "use",
    # "not") scores a little lower on the Zoomcamp benchmark (README, "Retrieval").
    return bm25s.tokenize(
        texts, stopwords="en", stemmer=STEMMER, return_ids=False, show_progress=False
    )


def _with_bigrams(tokens: list[str]) -> list[str]:
    # Pairs of neighbouring terms once stop words are gone ("port of docker" -> "port docker").
    return tokens + [f"{a} {b}" for a, b in zip(tokens, tokens[1:])]


class KeywordIndex:
    """BM25 over heading path + text of every chunk: stemmed words, and optionally word pairs."""

    def __init__(self, chunks: list[Chunk], bigrams: bool = False, bm25: bm25s.BM25 | None = None):
        self.size = len(chunks)
        self.bigrams = bigrams
        self._bm25 = bm25 or bm25s.BM25()
        if chunks and bm25 is None:
            corpus = _tokenize([c.embedding_text() for c in chunks])
            if bigrams:
                corpus = [_with_bigrams(tokens) for tokens in corpus]
            self._bm25.index(corpus, show_progress=False)
        self._vocab = self._bm25.vocab_dict if chunks else {}

    @classmethod
    def cached(cls, chunks: list[Chunk], bigrams: bool, cache_dir: Path | None) -> KeywordIndex:
        """The index of `chunks` (in this order), loaded from `cache_dir` when it was saved there
        for exactly these chunks, else built and saved. Tokenising is most of a start-up at scale
        (~40 s at 100k chunks); loading a saved index takes a fraction of that. A missing,
        stale or broken cache only means building; a cache that cannot be written is skipped."""
        if cache_dir is None or not chunks:
            return cls(chunks, bigrams)
        digest = hashlib.sha256(f"{_KEYWORD_FORMAT}|{bigrams}|".encode())
        for chunk in chunks:  # ids change whenever a chunk's text or heading does
            digest.update(chunk.id.encode() + b"\n")
        saved = cache_dir / digest.hexdigest()[:32]
        if saved.is_dir():
            try:
                return cls(chunks, bigrams, bm25s.BM25.load(str(saved), mmap=False, show_progress=False))
            except Exception as exc:  # a cache written by another version, or damaged
                log.warning("Rebuilding the keyword index: the saved one could not be read (%s).", exc)
        index = cls(chunks, bigrams)
        index._save(saved)
        return index

    def _save(self, target: Path) -> None:
        """Written beside the target and renamed into place, so a reader never sees half an
        index; older saved indexes are removed."""
        tmp = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=".writing-", dir=target.parent))
            self._bm25.save(str(tmp), show_progress=False)
            try:
                os.rename(tmp, target)
                tmp = None
            except OSError:  # another process saved the same index first
                pass
            for old in target.parent.iterdir():
                # Another process may be writing right now; a writer dead for an hour is not.
                writing = old.name.startswith(".writing-") and time.time() - old.stat().st_mtime < 3600
                if old != target and old != tmp and not writing:
                    shutil.rmtree(old, ignore_errors=True)
        except OSError as exc:  # read-only or full disk: the index works, it is just not saved
            log.warning("The keyword index was not saved (%s); it will be rebuilt next start.", exc)
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)

    def known_terms(self, text: str) -> set[str]:
        return {t for t in _tokenize([text])[0] if t in self._vocab}

    def unknown_terms(self, text: str) -> set[str]:
        return {t for t in _tokenize([text])[0] if t not in self._vocab}

    def search(self, query: str, k: int, mask: np.ndarray | None = None, context: str | None = None,
               context_weight: float = 1.0) -> list[tuple[int, float]]:
        """The k best rows for `query`, each of `context`'s words counting `context_weight` as much
        as one of the query's."""
        if not self.size:
            return []
        scores = None
        for text, weight in ((query, 1.0), (context, context_weight)):
            tokens = _tokenize([text])[0] if text else []
            if self.bigrams:
                tokens = _with_bigrams(tokens)
            tokens = [t for t in tokens if t in self._vocab]
            if tokens:
                found = weight * self._bm25.get_scores(tokens)
                scores = found if scores is None else scores + found
        if scores is None:
            return []
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        k = min(k, self.size)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]


class Snapshot:
    """Search over the library as of one generation; never changes once built."""

    def __init__(self, store: VectorStore, embedder: Embedder, config: SearchConfig, chunks: list[Chunk],
                 generation: int, cache_dir: Path | None = None):
        self.store = store
        self.embedder = embedder
        self.config = config
        self.generation = generation
        chunks = sorted(chunks, key=lambda c: (c.source, c.start, c.id))
        self.chunks = chunks
        self._ids = frozenset(c.id for c in chunks)
        self._keyword = KeywordIndex.cached(chunks, config.bigrams, cache_dir)
        self._sources = np.array([c.source for c in chunks], dtype=object)
        self._entries: dict[tuple[str, str], list[Chunk]] = {}
        for chunk in chunks:  # in reading order
            self._entries.setdefault((chunk.source, chunk.heading), []).append(chunk)
        # scope -> (mask over chunks, sources in scope), computed once per scope.
        self._scopes: LRUCache[str, tuple[np.ndarray, list[str]]] = LRUCache(maxsize=64)
        self._lock = threading.Lock()

    def entry_of(self, chunk: Chunk) -> list[Chunk]:
        """Every chunk of `chunk`'s entry (same note, same heading path), in reading order."""
        return self._entries.get((chunk.source, chunk.heading)) or [chunk]

    def sources(self, scope: str | None = None) -> list[str]:
        names = sorted({c.source for c in self.chunks})
        return [s for s in names if in_scope(s, scope)]

    def search(self, query: str, k: int = 5, scope: str | None = None, context: str | None = None,
               points_back: bool = False) -> list[Hit]:
        """The k best passages for `query`. `context` is earlier conversation the query leans on
        ("and its K?" after "What is k-means?"): in meaning it counts half as much as the query,
        so a follow-up stays about its own words. So do its words in keyword search, unless the
        query `points_back` to what was said ("Will that work for German?"): its own words then
        say little, and the context's count fully."""
        query = " ".join(query.split())
        if not context or not query:
            return self.search_batch([query], k, scope)[0]
        context = " ".join(context.split())
        keywords = (query, context, 1.0 if points_back else CONTEXT_WEIGHT)
        return self._search([(self._vector(query, context), keywords)], k, scope)[0]

    def _vector(self, query: str, context: str | None) -> np.ndarray:
        vector = self.embedder.embed_one(query)
        if context:
            vector = vector + CONTEXT_WEIGHT * self.embedder.embed_one(context)
        return (vector / np.linalg.norm(vector)).astype(np.float32)

    def containing(self, lines: list[str], k: int = 20) -> list[Chunk]:
        """Chunks holding one of `lines` word for word (bold marks and spacing aside): the passages
        an earlier answer quoted. Keyword search proposes the candidates."""
        rows = self._keyword.search(" ".join(lines), k)
        return [self.chunks[r] for r, _ in rows if quotes_any(self.chunks[r].text, lines)]

    def scored(self, chunks: list[Chunk], query: str, context: str | None = None) -> list[Hit]:
        """`chunks` as hits for `query` (read with `context` as `search` reads it), closest first."""
        vector = self._vector(" ".join(query.split()), " ".join((context or "").split()))
        vectors = self.store.vectors([c.id for c in chunks])
        similarity = {cid: float(v @ vector) for cid, v in vectors.items()}
        hits = [Hit(c, similarity[c.id], similarity[c.id]) for c in chunks if c.id in similarity]
        return sorted(hits, key=lambda h: -h.similarity)

    def search_batch(self, queries: list[str], k: int = 5, scope: str | None = None) -> list[list[Hit]]:
        """`search` for many queries at once: the model embeds them in one batch."""
        queries = [" ".join(q.split()) for q in queries]
        todo = list(dict.fromkeys(q for q in queries if q))
        if len(todo) == 1:  # embed_one: the embedder remembers recent questions
            vectors = {todo[0]: self.embedder.embed_one(todo[0])}
        else:
            vectors = dict(zip(todo, self.embedder.embed(todo))) if todo else {}
        return self._search([(vectors[q], (q, None, 0.0)) if q else (None, ("", None, 0.0)) for q in queries],
                            k, scope)

    def _search(self, queries: list[tuple[np.ndarray | None, tuple[str, str | None, float]]], k: int,
                scope: str | None) -> list[list[Hit]]:
        """Each query is its vector and its keywords: (text, context, the context's weight)."""
        cfg = self.config
        scoped = None
        mask = None
        if scope:
            with self._lock:
                scoped_here = self._scopes.get(scope)
            if scoped_here is None:
                in_it = np.array([in_scope(s, scope) for s in self._sources], dtype=bool)
                scoped_here = (in_it, sorted(set(self._sources[in_it].tolist())))
                with self._lock:
                    self._scopes[scope] = scoped_here
            mask, scoped = scoped_here
            if not scoped:
                return [[] for _ in queries]

        results: list[list[Hit]] = []
        for vector, (text, context, context_weight) in queries:
            if vector is None:
                results.append([])
                continue
            dense = self._dense(vector, scoped) if cfg.dense_weight else []
            sparse = (self._keyword.search(text, cfg.keyword_k, mask, context, context_weight)
                      if cfg.keyword_weight else [])
            candidates = {c.id for c, _ in dense} | {self.chunks[row].id for row, _ in sparse}
            vectors = self.store.vectors(list(candidates))
            results.append(fuse(cfg, vector, dense, sparse, self.chunks, vectors, k))
        return results

    def _dense(self, vector: np.ndarray, scoped: list[str] | None) -> list[tuple[Chunk, float]]:
        """The nearest chunks of this generation. Chroma answers live; chunks it holds beyond this
        snapshot (a run in progress, a newer generation) are dropped, and when they took places
        the search is asked once more, deeper."""
        k = self.config.dense_k
        found = self.store.query(vector, k, scoped)
        ours = [(c, s) for c, s in found if c.id in self._ids]
        if len(ours) < len(found):
            ours = [(c, s) for c, s in self.store.query(vector, 3 * k, scoped) if c.id in self._ids]
        return ours[:k]

    def known_terms(self, text: str) -> set[str]:
        """Terms of `text` that occur somewhere in the notes (stemmed, stop words dropped)."""
        return self._keyword.known_terms(text)

    def unknown_terms(self, text: str) -> set[str]:
        """Terms of `text` that occur nowhere in the notes (stemmed, stop words dropped)."""
        return self._keyword.unknown_terms(text)


class Retriever:
    """The library's current snapshot, followed as other runs change the library. Each call below
    checks the generation first (one small read); `current()` gives one snapshot to use throughout."""

    def __init__(self, store: VectorStore, embedder: Embedder, config: SearchConfig | None = None,
                 cache_dir: Path | None = None):
        self.store = store
        self.embedder = embedder
        self.config = config or SearchConfig()
        self.cache_dir = cache_dir  # where the keyword index is saved between starts; None: never
        self.library = Library(store)
        self._reloading = threading.Lock()
        self._snapshot: Snapshot | None = None
        self.refresh()

    def current(self) -> Snapshot:
        """The snapshot of the library's latest generation, loaded first when it moved."""
        generation = self.library.generation()
        snapshot = self._snapshot
        if snapshot is not None and snapshot.generation == generation:
            return snapshot
        with self._reloading:  # one thread reloads; the others wait for its snapshot
            if self._snapshot is None or self._snapshot.generation != generation:
                self._load(generation)
            return self._snapshot

    def refresh(self) -> None:
        """Reload from the store now (after this process re-indexed)."""
        with self._reloading:
            self._load(self.library.generation())

    def _load(self, generation: int) -> None:
        if self._snapshot is not None:
            self.store.catch_up()  # another process may have written: let our vector index see it
        # Read after the generation: a run committing meanwhile only makes this snapshot newer
        # than its number, and the next call loads again.
        chunks = self.store.committed_chunks()
        self._snapshot = Snapshot(self.store, self.embedder, self.config, chunks, generation, self.cache_dir)
        log.info("Loaded generation %d of library '%s': %d chunks.", generation, self.library.name, len(chunks))

    @property
    def generation(self) -> int:
        return self.current().generation

    @property
    def chunks(self) -> list[Chunk]:
        return self.current().chunks

    def entry_of(self, chunk: Chunk) -> list[Chunk]:
        return self.current().entry_of(chunk)

    def sources(self, scope: str | None = None) -> list[str]:
        return self.current().sources(scope)

    def search(self, query: str, k: int = 5, scope: str | None = None, context: str | None = None,
               points_back: bool = False) -> list[Hit]:
        return self.current().search(query, k, scope, context, points_back)

    def search_batch(self, queries: list[str], k: int = 5, scope: str | None = None) -> list[list[Hit]]:
        return self.current().search_batch(queries, k, scope)

    def containing(self, lines: list[str], k: int = 20) -> list[Chunk]:
        return self.current().containing(lines, k)

    def scored(self, chunks: list[Chunk], query: str, context: str | None = None) -> list[Hit]:
        return self.current().scored(chunks, query, context)

    def known_terms(self, text: str) -> set[str]:
        return self.current().known_terms(text)

    def unknown_terms(self, text: str) -> set[str]:
        return self.current().unknown_terms(text)


def in_scope(source: str, scope: str | None) -> bool:
    """A scope is a folder or file prefix of the source path ("course-a/", "notes/rag")."""
    if not scope:
        return True
    scope = scope.strip().lstrip("./")
    return source.startswith(scope)
