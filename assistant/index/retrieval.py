"""Hybrid search: dense (Chroma + MiniLM) and keyword (BM25 via bm25s), fused by score.

Dense search finds paraphrases; BM25 finds rare exact terms (names, numbers, acronyms) and
phrases that a small embedding model blurs. The two are combined as cosine + w * BM25 / best BM25
among the candidates (a convex combination, cf. Bruch et al. 2023, "An Analysis of Fusion
Functions for Hybrid Retrieval"); reciprocal rank fusion remains available (`fusion="rrf"`).
The settings were chosen one step at a time on the Zoomcamp FAQ benchmark
(benchmarks/zoomcamp.py), keeping only changes that are general rather than specific to that data.
The BM25 index is saved between starts (KeywordIndex.cached): building it is most of a start-up
with many notes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import bm25s
import numpy as np
from cachetools import LRUCache

from ..core.schema import Chunk, Hit
from ..core.text import STEMMER

if TYPE_CHECKING:
    from .embeddings import Embedder
    from .store import VectorStore


@dataclass(frozen=True)
class SearchConfig:
    # How many candidates each retriever contributes before fusion.
    dense_k: int = 20
    keyword_k: int = 20
    # "score": dense_weight * cosine + keyword_weight * BM25 / (best BM25 among the candidates).
    # "rrf": reciprocal rank fusion, the sum of weight / (rrf_k + rank).
    # Score fusion keeps how much better the best match is, which ranks throw away: +0.001 hit@5
    # and +0.014 MRR over the best-tuned RRF on the benchmark.
    fusion: str = "score"
    dense_weight: float = 1.0
    keyword_weight: float = 0.5
    # The RRF constant (Cormack et al. 2009 use 60); only read when fusion == "rrf".
    rrf_k: int = 60
    # Index adjacent word pairs beside single words, so "docker compose" or "learning rate" as a
    # phrase outranks the two words apart: +0.007 MRR.
    bigrams: bool = True
    # At most this many chunks of one section (same file and heading path) per result list; the
    # others are that passage's continuation and crowd out other passages. 0 = no limit.
    per_section: int = 1
    # Two chunks this similar are the same passage (a copied note, an overlap) and shown once.
    duplicate_cosine: float = 0.98


_WORD = re.compile(r"\W+")
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

    def search(self, query: str, k: int, mask: np.ndarray | None = None) -> list[tuple[int, float]]:
        if not self.size:
            return []
        tokens = _tokenize([query])[0]
        if self.bigrams:
            tokens = _with_bigrams(tokens)
        tokens = [t for t in tokens if t in self._vocab]
        if not tokens:
            return []
        scores = self._bm25.get_scores(tokens)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        k = min(k, self.size)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top])]
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]


class Retriever:
    def __init__(self, store: VectorStore, embedder: Embedder, config: SearchConfig | None = None,
                 cache_dir: Path | None = None):
        self.store = store
        self.embedder = embedder
        self.config = config or SearchConfig()
        self.cache_dir = cache_dir  # where the keyword index is saved between starts; None: never
        self._lock = threading.Lock()
        self.refresh()

    def refresh(self) -> None:
        """Reload the keyword index from the store; call after re-indexing."""
        chunks = self.store.all_chunks()
        chunks.sort(key=lambda c: (c.source, c.start, c.id))
        keyword = KeywordIndex.cached(chunks, self.config.bigrams, self.cache_dir)
        sources = np.array([c.source for c in chunks], dtype=object)
        entries: dict[tuple[str, str], list[Chunk]] = {}
        for chunk in chunks:  # in reading order
            entries.setdefault((chunk.source, chunk.heading), []).append(chunk)
        with self._lock:
            self.chunks = chunks
            self._entries = entries
            self._keyword = keyword
            self._sources = sources
            # scope -> (mask over chunks, sources in scope), computed once per scope per index.
            self._scopes: LRUCache[str, tuple[np.ndarray, list[str]]] = LRUCache(maxsize=64)

    def entry_of(self, chunk: Chunk) -> list[Chunk]:
        """Every chunk of `chunk`'s entry (same note, same heading path), in reading order."""
        with self._lock:
            entries = self._entries
        return entries.get((chunk.source, chunk.heading)) or [chunk]

    def sources(self, scope: str | None = None) -> list[str]:
        names = sorted({c.source for c in self.chunks})
        return [s for s in names if in_scope(s, scope)]

    def search(self, query: str, k: int = 5, scope: str | None = None, context: str | None = None) -> list[Hit]:
        """The k best passages for `query`. `context` is earlier conversation the query leans on
        ("and its K?" after "What is k-means?"): keyword search reads both, and in meaning the
        context counts half as much as the query, so a follow-up stays about its own words."""
        query = " ".join(query.split())
        if not context or not query:
            return self.search_batch([query], k, scope)[0]
        context = " ".join(context.split())
        vector = self.embedder.embed_one(query) + CONTEXT_WEIGHT * self.embedder.embed_one(context)
        vector = (vector / np.linalg.norm(vector)).astype(np.float32)
        return self._search([(vector, f"{query} {context}")], k, scope)[0]

    def search_batch(self, queries: list[str], k: int = 5, scope: str | None = None) -> list[list[Hit]]:
        """`search` for many queries at once: the model embeds them in one batch."""
        queries = [" ".join(q.split()) for q in queries]
        todo = list(dict.fromkeys(q for q in queries if q))
        if len(todo) == 1:  # embed_one: the embedder remembers recent questions
            vectors = {todo[0]: self.embedder.embed_one(todo[0])}
        else:
            vectors = dict(zip(todo, self.embedder.embed(todo))) if todo else {}
        return self._search([(vectors[q], q) if q else (None, "") for q in queries], k, scope)

    def _search(self, queries: list[tuple[np.ndarray | None, str]], k: int, scope: str | None) -> list[list[Hit]]:
        with self._lock:
            chunks, keyword, sources, scopes = self.chunks, self._keyword, self._sources, self._scopes
            scoped_here = scopes.get(scope) if scope else None
        cfg = self.config

        scoped = None
        mask = None
        if scope:
            if scoped_here is None:
                in_it = np.array([in_scope(s, scope) for s in sources], dtype=bool)
                scoped_here = (in_it, sorted(set(sources[in_it].tolist())))
                with self._lock:
                    scopes[scope] = scoped_here
            mask, scoped = scoped_here
            if not scoped:
                return [[] for _ in queries]

        results: list[list[Hit]] = []
        for vector, text in queries:
            if vector is None:
                results.append([])
                continue
            dense = self.store.query(vector, cfg.dense_k, scoped) if cfg.dense_weight else []
            sparse = keyword.search(text, cfg.keyword_k, mask) if cfg.keyword_weight else []
            results.append(self._fuse(vector, dense, sparse, chunks, k))
        return results

    def _fuse(self, vector: np.ndarray, dense: list[tuple[Chunk, float]],
              sparse: list[tuple[int, float]], chunks: list[Chunk], k: int) -> list[Hit]:
        cfg = self.config
        by_id = {c.id: c for c, _ in dense}
        for row, _ in sparse:
            by_id.setdefault(chunks[row].id, chunks[row])
        # Every candidate's vector: the exact similarity of keyword-only finds, and near-duplicates.
        vectors = self.store.vectors(list(by_id))
        similarity = {cid: float(v @ vector) for cid, v in vectors.items()}
        similarity.update({c.id: s for c, s in dense})

        fused: dict[str, float] = {}
        if cfg.fusion == "rrf":
            for rank, (chunk, _) in enumerate(dense, start=1):
                fused[chunk.id] = fused.get(chunk.id, 0.0) + cfg.dense_weight / (cfg.rrf_k + rank)
            for rank, (row, _) in enumerate(sparse, start=1):
                cid = chunks[row].id
                fused[cid] = fused.get(cid, 0.0) + cfg.keyword_weight / (cfg.rrf_k + rank)
        else:
            best = max((score for _, score in sparse), default=0.0)
            floor = min((s for _, s in dense), default=0.0)
            for cid in by_id:
                fused[cid] = cfg.dense_weight * similarity.get(cid, floor) if cfg.dense_weight else 0.0
            for row, score in sparse:
                fused[chunks[row].id] += cfg.keyword_weight * score / best

        ranked = sorted(fused, key=lambda cid: -fused[cid])
        hits = [Hit(by_id[cid], fused[cid], similarity.get(cid)) for cid in ranked]
        return self._collapse(hits, vectors, k)

    def known_terms(self, text: str) -> set[str]:
        """Terms of `text` that occur somewhere in the notes (stemmed, stop words dropped)."""
        with self._lock:
            keyword = self._keyword
        return keyword.known_terms(text)

    def unknown_terms(self, text: str) -> set[str]:
        """Terms of `text` that occur nowhere in the notes (stemmed, stop words dropped)."""
        with self._lock:
            keyword = self._keyword
        return keyword.unknown_terms(text)

    def _collapse(self, hits: list[Hit], vectors: dict[str, np.ndarray], k: int) -> list[Hit]:
        """Drop near-duplicates of a better-ranked hit, and a section's chunks beyond per_section."""
        cfg = self.config
        kept: list[Hit] = []
        kept_vectors: list[np.ndarray] = []
        seen_text: set[str] = set()
        per_section: dict[tuple[str, str], int] = {}
        for hit in hits:
            key = _WORD.sub(" ", hit.chunk.text.lower()).strip()
            if key in seen_text:
                continue
            section = (hit.chunk.source, hit.chunk.heading)
            if cfg.per_section and per_section.get(section, 0) >= cfg.per_section:
                continue
            vec = vectors.get(hit.chunk.id)
            if vec is not None and any(
                float(vec @ other) >= cfg.duplicate_cosine for other in kept_vectors
            ):
                continue
            seen_text.add(key)
            per_section[section] = per_section.get(section, 0) + 1
            if vec is not None:
                kept_vectors.append(vec)
            kept.append(hit)
            if len(kept) == k:
                break
        return kept


def in_scope(source: str, scope: str | None) -> bool:
    """A scope is a folder or file prefix of the source path ("course-a/", "notes/rag")."""
    if not scope:
        return True
    scope = scope.strip().lstrip("./")
    return source.startswith(scope)
