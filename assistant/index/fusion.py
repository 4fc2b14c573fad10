"""How dense and keyword candidates become one result list: the settings, the fusion, the collapse.

The two are combined as cosine + w * BM25 / best BM25 among the candidates (a convex combination,
cf. Bruch et al. 2023, "An Analysis of Fusion Functions for Hybrid Retrieval"); reciprocal rank
fusion remains available (`fusion="rrf"`). The settings were chosen one step at a time on the
Zoomcamp FAQ benchmark (benchmarks/zoomcamp.py), keeping only changes that are general rather
than specific to that data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..core.schema import Chunk, Hit


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


def fuse(cfg: SearchConfig, vector: np.ndarray, dense: list[tuple[Chunk, float]],
         sparse: list[tuple[int, float]], chunks: list[Chunk], vectors: dict[str, np.ndarray],
         k: int) -> list[Hit]:
    """The k best of the dense hits and the keyword hits (rows of `chunks`); `vectors` holds every
    candidate's vector: the exact similarity of keyword-only finds, and near-duplicates."""
    by_id = {c.id: c for c, _ in dense}
    for row, _ in sparse:
        by_id.setdefault(chunks[row].id, chunks[row])
    similarity = {cid: float(v @ vector) for cid, v in vectors.items() if cid in by_id}
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
    return collapse(cfg, hits, vectors, k)


def collapse(cfg: SearchConfig, hits: list[Hit], vectors: dict[str, np.ndarray], k: int) -> list[Hit]:
    """Drop near-duplicates of a better-ranked hit, and a section's chunks beyond per_section."""
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
        if vec is not None and any(float(vec @ other) >= cfg.duplicate_cosine for other in kept_vectors):
            continue
        seen_text.add(key)
        per_section[section] = per_section.get(section, 0) + 1
        if vec is not None:
            kept_vectors.append(vec)
        kept.append(hit)
        if len(kept) == k:
            break
    return kept
