"""Hybrid search: dense (Chroma + MiniLM) and keyword (BM25 via bm25s), fused by reciprocal rank.

Dense search finds paraphrases; BM25 finds rare exact terms (names, numbers, acronyms) that a
small embedding model blurs. Reciprocal rank fusion needs no score calibration between the two.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import bm25s
import numpy as np
import Stemmer

from .embeddings import Embedder
from .schema import Chunk, Hit
from .store import VectorStore


@dataclass(frozen=True)
class SearchConfig:
    # How many candidates each retriever contributes before fusion.
    dense_k: int = 20
    keyword_k: int = 20
    # The RRF constant from Cormack et al. (2009); larger flattens the rank curve.
    rrf_k: int = 60
    dense_weight: float = 1.0
    keyword_weight: float = 1.0
    # Two chunks this similar are the same passage (a copied note, an overlap) and shown once.
    duplicate_cosine: float = 0.98


_stemmer = Stemmer.Stemmer("english")
_WORD = re.compile(r"\W+")


def _tokenize(texts: list[str]) -> list[list[str]]:
    return bm25s.tokenize(
        texts, stopwords="en", stemmer=_stemmer, return_ids=False, show_progress=False
    )


class KeywordIndex:
    """BM25 over heading path + text of every chunk."""

    def __init__(self, chunks: list[Chunk]):
        self.size = len(chunks)
        self._bm25 = bm25s.BM25()
        if chunks:
            self._bm25.index(_tokenize([c.embedding_text() for c in chunks]), show_progress=False)
            self._vocab = self._bm25.vocab_dict
        else:
            self._vocab = {}

    def unknown_terms(self, text: str) -> set[str]:
        return {t for t in _tokenize([text])[0] if t not in self._vocab}

    def search(self, query: str, k: int, mask: np.ndarray | None = None) -> list[tuple[int, float]]:
        if not self.size:
            return []
        tokens = [t for t in _tokenize([query])[0] if t in self._vocab]
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
    def __init__(self, store: VectorStore, embedder: Embedder, config: SearchConfig | None = None):
        self.store = store
        self.embedder = embedder
        self.config = config or SearchConfig()
        self._lock = threading.Lock()
        self.refresh()

    def refresh(self) -> None:
        """Reload the keyword index from the store; call after re-indexing."""
        chunks = self.store.all_chunks()
        chunks.sort(key=lambda c: (c.source, c.start, c.id))
        keyword = KeywordIndex(chunks)
        sources = np.array([c.source for c in chunks], dtype=object)
        with self._lock:
            self.chunks = chunks
            self._keyword = keyword
            self._sources = sources

    def sources(self, scope: str | None = None) -> list[str]:
        names = sorted({c.source for c in self.chunks})
        return [s for s in names if in_scope(s, scope)]

    def search(self, query: str, k: int = 5, scope: str | None = None) -> list[Hit]:
        return self.search_batch([query], k, scope)[0]

    def search_batch(self, queries: list[str], k: int = 5, scope: str | None = None) -> list[list[Hit]]:
        """`search` for many queries at once: the model embeds them in one batch."""
        queries = [" ".join(q.split()) for q in queries]
        with self._lock:
            chunks, keyword, sources = self.chunks, self._keyword, self._sources
        cfg = self.config

        scoped = None
        mask = None
        if scope:
            mask = np.array([in_scope(s, scope) for s in sources], dtype=bool)
            scoped = sorted(set(sources[mask].tolist()))
            if not scoped:
                return [[] for _ in queries]

        todo = [q for q in queries if q]
        vectors = dict(zip(todo, self.embedder.embed(todo))) if todo else {}
        results: list[list[Hit]] = []
        for query in queries:
            if not query:
                results.append([])
                continue
            vector = vectors[query]
            dense = self.store.query(vector, cfg.dense_k, scoped) if cfg.dense_weight else []
            similarity = {c.id: s for c, s in dense}
            by_id = {c.id: c for c, _ in dense}

            fused: dict[str, float] = {}
            for rank, (chunk, _) in enumerate(dense, start=1):
                fused[chunk.id] = fused.get(chunk.id, 0.0) + cfg.dense_weight / (cfg.rrf_k + rank)
            if cfg.keyword_weight:
                for rank, (row, _) in enumerate(keyword.search(query, cfg.keyword_k, mask), start=1):
                    chunk = chunks[row]
                    by_id.setdefault(chunk.id, chunk)
                    fused[chunk.id] = fused.get(chunk.id, 0.0) + cfg.keyword_weight / (cfg.rrf_k + rank)

            ranked = sorted(fused, key=lambda cid: -fused[cid])
            hits = [Hit(by_id[cid], fused[cid], similarity.get(cid)) for cid in ranked]
            results.append(self._collapse(hits, vector, k))
        return results

    def unknown_terms(self, text: str) -> set[str]:
        """Terms of `text` that occur nowhere in the notes (after stemming and stop words)."""
        with self._lock:
            keyword = self._keyword
        return keyword.unknown_terms(text)

    def _collapse(self, hits: list[Hit], query_vector: np.ndarray, k: int) -> list[Hit]:
        """Drop near-duplicates of a better-ranked hit; fill in dense similarity where missing."""
        head = hits[: k * 3]
        vectors = self.store.vectors([h.chunk.id for h in head])
        kept: list[Hit] = []
        kept_vectors: list[np.ndarray] = []
        seen_text: set[str] = set()
        for hit in head:
            key = _WORD.sub(" ", hit.chunk.text.lower()).strip()
            vec = vectors.get(hit.chunk.id)
            if key in seen_text:
                continue
            if vec is not None and any(
                float(vec @ other) >= self.config.duplicate_cosine for other in kept_vectors
            ):
                continue
            seen_text.add(key)
            if vec is not None:
                kept_vectors.append(vec)
                if hit.similarity is None:
                    hit = Hit(hit.chunk, hit.score, float(vec @ query_vector))
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
