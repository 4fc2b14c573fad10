"""Scale: ~100k generated chunks in Chroma, embedded PersistentClient vs a `chroma run` server.

    .venv/bin/python benchmarks/scale.py [--chunks 100000] [--distinct 2000] [--queries 200]
                                         [--no-server] [--no-embedded]

Embedding 100k chunks with the bundled model takes ~1.5 h on this machine, so the vectors are not
all computed: `--distinct` texts (built from the words of the seed notes) are embedded for real,
and each generated chunk takes one of them with a few words changed and its vector with a little
Gaussian noise (sigma 0.02 per dimension, then renormalised). Chroma's HNSW and BM25 therefore see
100k distinct vectors and texts; the search queries are embedded for real, one at a time.

For each back end (the embedded store in a data directory, then a server started here with
`.venv/bin/chroma run --path DIR --host 127.0.0.1 --port N` and stopped at the end): add
throughput through the project's VectorStore.upsert, Retriever start-up (reading every chunk and
building BM25, then a second start loading the saved BM25), hybrid search latency p50/p95 through Retriever.search (k=5; unscoped and scoped
to one folder of 5% of the files), and the index size on disk. Scratch data goes to
benchmarks/out/scale/ and is deleted at the start of each run.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from common import (  # benchmarks/ is on sys.path
    free_port,
    load_avg,
    percentile,
    wait_until_serving,
)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "benchmarks/out/scale"
CHUNKS_PER_FILE = 100
FOLDERS = 20


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def vocabulary() -> list[str]:
    words: list[str] = []
    for path in sorted((ROOT / "knowledge").rglob("*")):
        if path.is_file() and path.suffix.lower() in {".md", ".markdown", ".mdx", ".txt", ".html"}:
            words += re.findall(r"[A-Za-z][A-Za-z0-9-]{2,}", path.read_text(errors="ignore"))
    words += [f"term{i}" for i in range(3000)]  # a long tail of rare words, like names in notes
    return words


def generate(n: int, distinct: int, embedder, rng: random.Random):
    """n chunks and their vectors: `distinct` real texts and embeddings, varied."""
    from assistant.core.schema import Chunk
    from assistant.index.chunking import content_hash

    words = vocabulary()
    base = [" ".join(rng.choice(words) for _ in range(rng.randint(60, 140))) for _ in range(distinct)]
    started = time.perf_counter()
    base_vectors = embedder.embed(base, batch_size=32)
    embed_s = time.perf_counter() - started
    noise = np.random.default_rng(0)
    chunks, vectors = [], np.empty((n, base_vectors.shape[1]), dtype=np.float32)
    for i in range(n):
        b = i % distinct
        tokens = base[b].split()
        for _ in range(5):
            tokens[rng.randrange(len(tokens))] = rng.choice(words)
        text = " ".join(tokens)
        file_no = i // CHUNKS_PER_FILE
        source = f"topic-{file_no % FOLDERS:02d}/note-{file_no:05d}.md"
        heading = f"Note {file_no} > Section {(i % CHUNKS_PER_FILE) // 4 + 1}"
        h = content_hash(heading, text)
        chunks.append(Chunk(id=f"c{i:07d}", source=source, heading=heading, text=text,
                            start=(i % CHUNKS_PER_FILE) * 1000, end=(i % CHUNKS_PER_FILE) * 1000 + len(text),
                            content_hash=h))
        v = base_vectors[b] + noise.normal(0, 0.02, base_vectors.shape[1]).astype(np.float32)
        vectors[i] = v / np.linalg.norm(v)
    queries = []
    for _ in range(200):
        tokens = rng.choice(base).split()
        start = rng.randrange(max(1, len(tokens) - 8))
        queries.append(" ".join(tokens[start : start + rng.randint(3, 8)]))
    return chunks, vectors, queries, distinct / embed_s


def start_server(path: Path, port: int) -> subprocess.Popen:
    chroma = Path(sys.executable).with_name("chroma")
    proc = subprocess.Popen(
        [str(chroma), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    if wait_until_serving(f"http://127.0.0.1:{port}/api/v2/heartbeat", proc, 60):
        return proc
    proc.kill()
    raise SystemExit("chroma run did not start within 60 s")


def run_backend(name: str, settings, chunks, vectors, queries, embedder, disk: Path) -> dict:
    from assistant.index.retrieval import Retriever
    from assistant.index.store import VectorStore

    store = VectorStore(settings)
    step = 10_000
    started = time.perf_counter()
    for i in range(0, len(chunks), step):
        part = chunks[i : i + step]
        store.upsert(part, vectors[i : i + step], ["generated"] * len(part))
        done = min(i + step, len(chunks))
        print(f"  {name}: {done:>7} chunks added, {done / (time.perf_counter() - started):6.0f}/s",
              flush=True)
    add_s = time.perf_counter() - started
    # First start builds the keyword index and saves it; the next start loads it.
    keyword_cache = settings.data_dir / "keyword-index"
    shutil.rmtree(keyword_cache, ignore_errors=True)
    started = time.perf_counter()
    Retriever(store, embedder, cache_dir=keyword_cache)
    startup_s = time.perf_counter() - started
    started = time.perf_counter()
    retriever = Retriever(store, embedder, cache_dir=keyword_cache)
    warm_s = time.perf_counter() - started
    folder = "topic-03/"
    result = {"add/s": len(chunks) / add_s, "startup s": startup_s, "warm start s": warm_s}
    for label, scope in (("no scope", None), (f"scope {folder}", folder)):
        for q in queries[:10]:
            retriever.search(q + " warm", k=5, scope=scope)
        times = []
        for q in queries:
            t = time.perf_counter()
            retriever.search(q, k=5, scope=scope)
            times.append(time.perf_counter() - t)
        result[label] = (percentile(times, 50) * 1000, percentile(times, 95) * 1000)
    result["disk MB"] = du(disk) / 2**20
    result["count"] = store.count()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--distinct", type=int, default=2000, help="texts embedded for real")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--no-server", action="store_true", help="skip the chroma run back end")
    parser.add_argument("--no-embedded", action="store_true", help="skip the embedded back end")
    args = parser.parse_args()

    from assistant.core.config import Settings
    from assistant.index.embeddings import default_embedder

    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    embedder = default_embedder()
    rng = random.Random(42)
    started = time.perf_counter()
    chunks, vectors, queries, embed_rate = generate(args.chunks, min(args.distinct, args.chunks),
                                                    embedder, rng)
    queries = (queries * (args.queries // len(queries) + 1))[: args.queries]
    files = len({c.source for c in chunks})
    print(f"generated {len(chunks)} chunks in {files} files ({FOLDERS} folders) in "
          f"{time.perf_counter() - started:.0f} s: {min(args.distinct, args.chunks)} distinct texts "
          f"embedded for real ({embed_rate:.0f} texts/s), the rest reuse them with 5 words changed "
          f"and vector noise sigma 0.02 (NOT embedded); {os.cpu_count()} cores, {load_avg()}")

    results = {}
    if not args.no_embedded:
        data = OUT / "embedded"
        settings = Settings.from_env(environ={}, data_dir=data)
        results["embedded (PersistentClient)"] = run_backend(
            "embedded", settings, chunks, vectors, queries, embedder, data)
    if not args.no_server:
        path = OUT / "server"
        port = free_port()
        proc = start_server(path, port)
        try:
            settings = Settings.from_env(environ={}, data_dir=OUT / "server-client",
                                         chroma_host="127.0.0.1", chroma_port=port)
            results[f"chroma run (HTTP, 127.0.0.1:{port})"] = run_backend(
                "server", settings, chunks, vectors, queries, embedder, path)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    print(f"\n{len(chunks)} chunks, {args.queries} queries, hybrid search k=5 through Retriever.search "
          f"(query embedding included); {load_avg()}")
    print(f"{'back end':<34} {'add chunks/s':>12} {'start-up s':>10} {'warm s':>7} {'p50 ms':>7} "
          f"{'p95 ms':>7} {'scoped p50':>10} {'scoped p95':>10} {'disk MB':>8}")
    for name, r in results.items():
        scoped = [v for k, v in r.items() if k.startswith("scope ")][0]
        print(f"{name:<34} {r['add/s']:>12.0f} {r['startup s']:>10.1f} {r['warm start s']:>7.1f} "
              f"{r['no scope'][0]:>7.1f} {r['no scope'][1]:>7.1f} {scoped[0]:>10.1f} {scoped[1]:>10.1f} "
              f"{r['disk MB']:>8.0f}")
    print("(start-up = Retriever() reading every chunk from Chroma and building BM25, which it saves; "
          "warm = the next start, loading the saved BM25; scoped = one folder, 5% of the files)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
