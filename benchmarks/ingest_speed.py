"""Ingest throughput beside raw embedding throughput (torch 1 vs 2 threads), and warm search latency.

    .venv/bin/python benchmarks/ingest_speed.py [--notes 400] [--threads 1,2] [--queries 500]

Notes: the first N Zoomcamp FAQ records as Markdown notes (as in benchmarks/zoomcamp.py), or, when
../shared/eval/zoomcamp is absent, the seed notes in knowledge/ copied into enough folders.
For each thread count: a full ingest with the project's Indexer into a fresh data directory
(load, chunk, embed, write to Chroma, manifest), then the bare model embedding the same chunk texts
in batches of 32 (what the indexer asks for); the gap between the two is the pipeline's own cost.
Then warm search latency (Retriever.search, k=5, one query at a time, embedding included) over the
Zoomcamp questions, with and without the course scope, on the full Zoomcamp index when
benchmarks/zoomcamp.py has built it, otherwise on the index just built.
The machine may be shared: the load average is printed beside the figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import load_avg, percentile  # noqa: E402

DEFAULT_EVAL = Path(__file__).resolve().parents[2] / "shared/eval/zoomcamp"
OUT = ROOT / "benchmarks/out/ingest_speed"
ZOOMCAMP_OUT = ROOT / "benchmarks/out/zoomcamp"


def set_threads(n: int) -> None:
    import torch

    from assistant.index import embeddings

    torch.set_num_threads(n)
    if hasattr(embeddings, "_BULK_THREADS"):  # the embedder picks its own count for big batches
        embeddings._BULK_THREADS = n


def make_notes(eval_dir: Path, n: int, notes: Path) -> str:
    if notes.exists():
        shutil.rmtree(notes)
    corpus = eval_dir / "documents-with-ids.json"
    if corpus.exists():
        from zoomcamp import write_notes

        records = json.loads(corpus.read_text(encoding="utf-8"))[:n]
        write_notes(records, notes)
        return f"{len(records)} Zoomcamp FAQ notes"
    seed = [p for p in (ROOT / "knowledge").rglob("*") if p.is_file()]
    copies = 0
    while copies * len(seed) < n:
        for p in seed:
            target = notes / f"copy-{copies:03d}" / p.relative_to(ROOT / "knowledge")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(p, target)
        copies += 1
    return f"the {len(seed)} seed notes x {copies} copies"


def latency(retriever, questions: list[tuple[str, str]], scoped: bool) -> tuple[float, float]:
    for q, course in questions[:20]:  # warm-up: caches, lazy imports, Chroma segments
        retriever.search(q + " warm", k=5, scope=f"{course}/" if scoped else None)
    times = []
    for q, course in questions:
        started = time.perf_counter()
        retriever.search(q, k=5, scope=f"{course}/" if scoped else None)
        times.append(time.perf_counter() - started)
    return percentile(times, 50) * 1000, percentile(times, 95) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL)
    parser.add_argument("--notes", type=int, default=400, help="how many notes to ingest")
    parser.add_argument("--threads", default="1,2", help="torch thread counts to compare")
    parser.add_argument("--queries", type=int, default=500, help="questions for the latency run")
    args = parser.parse_args()

    from assistant.core.config import Settings
    from assistant.index.embeddings import default_embedder
    from assistant.index.ingestion import Indexer
    from assistant.index.retrieval import Retriever
    from assistant.index.store import VectorStore

    notes = OUT / "notes"
    what = make_notes(args.eval_dir, args.notes, notes)
    embedder = default_embedder()
    embedder.embed(["warm up the model"] * 40)
    print(f"corpus: {what}; {os.cpu_count()} cores; {load_avg()}")
    # Reading and chunking alone (no model, no Chroma): the part of the pipeline before embedding.
    from assistant.index.chunking import Chunker
    from assistant.index.ingestion import scan
    from assistant.index.loaders import load

    started = time.perf_counter()
    chunker = Chunker(embedder.count_tokens)
    files, _ = scan(notes)
    n_chunks = sum(len(chunker.chunk(rel, load(path, rel).sections)) for rel, path in files)
    chunk_s = time.perf_counter() - started
    print(f"load + chunk only: {len(files)} files -> {n_chunks} chunks in {chunk_s:.1f} s "
          f"({n_chunks / chunk_s:.0f} chunks/s)")

    print(f"\n{'threads':>7} {'chunks':>7} {'ingest s':>9} {'ingest chunks/s':>16} "
          f"{'embed-only s':>13} {'embed chunks/s':>15} {'not embedding':>14}")
    rows = {}
    for n in [int(x) for x in args.threads.split(",")]:
        set_threads(n)
        # A fresh folder per run: Chroma keeps clients per path alive inside the process.
        data = OUT / f"data-{n}-threads"
        if data.exists():
            shutil.rmtree(data)
        settings = Settings.from_env(environ={}, knowledge_dir=notes, data_dir=data)
        store = VectorStore(settings)
        started = time.perf_counter()
        Indexer(notes, data, store, embedder).run()
        ingest_s = time.perf_counter() - started
        texts = [c.embedding_text() for c in store.all_chunks()]
        started = time.perf_counter()
        embedder.embed(texts, batch_size=32)
        embed_s = time.perf_counter() - started
        rows[n] = (len(texts) / ingest_s, len(texts) / embed_s)
        print(f"{n:>7} {len(texts):>7} {ingest_s:>9.1f} {len(texts) / ingest_s:>16.1f} "
              f"{embed_s:>13.1f} {len(texts) / embed_s:>15.1f} {1 - embed_s / ingest_s:>13.0%}",
              flush=True)
    if 1 in rows and 2 in rows:
        print(f"2 threads vs 1: ingest x{rows[2][0] / rows[1][0]:.2f}, "
              f"embedding x{rows[2][1] / rows[1][1]:.2f}   ({load_avg()})")

    # Warm search latency, with the default thread settings restored.
    set_threads(min(2, os.cpu_count() or 1))
    questions_file = args.eval_dir / "ground-truth-data.clean.csv"
    if questions_file.exists():
        with open(questions_file, newline="", encoding="utf-8") as fh:
            questions = [(r["question"], r["course"]) for r in csv.DictReader(fh)]
    else:
        questions = [(line, "") for line in ("attention cost", "few-shot prompting", "BM25")] * 50
    random.Random(0).shuffle(questions)
    questions = questions[: args.queries]
    full = ZOOMCAMP_OUT / "data"
    index_dir = full if (full / "chroma").exists() else data
    settings = Settings.from_env(environ={}, knowledge_dir=notes, data_dir=index_dir)
    retriever = Retriever(VectorStore(settings), embedder)
    print(f"\nwarm search latency, {len(questions)} questions one at a time, k=5, "
          f"index {index_dir.relative_to(ROOT)} ({len(retriever.chunks)} chunks; {load_avg()})")
    for scoped in (True, False):
        if scoped and not questions[0][1]:
            continue
        p50, p95 = latency(retriever, questions, scoped)
        print(f"  {'scope=course' if scoped else 'no scope':<14} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
