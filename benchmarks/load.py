"""Simulated learners against the running app on loopback, through gradio_client.

    python benchmarks/load.py                       # N = 1, 5, 20 learners, 10 questions each
    python benchmarks/load.py --learners 5 --questions 200   # a soak: memory over 1,000 questions

Starts `python app.py` on a free loopback port over a temporary copy of knowledge/, then each
learner (a thread with its own gradio_client session) asks questions, half of them follow-ups
that only make sense with that learner's own history, and every other turn takes a quiz card
(the /quiz and /quiz_answer endpoints: one item, answered right, rated Good). Prints throughput, latency p50/p95, the
server's resident memory before and after, and checks that every reply belongs to the question
its learner sent (no answer goes to the wrong session). All traffic stays on 127.0.0.1 and every
loop is bounded.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import (  # a sibling: benchmarks/ is on sys.path
    free_port,
    wait_until_serving,
)

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

# (question, follow-up, a word the follow-up's answer must contain)
CONVERSATIONS = [
    ("What is the last mile challenge?", "and how long did LinkedIn need for it?", "months"),
    ("Why did AI engineering become a discipline?", "what was the third factor?", "scaling"),
    ("How does self-supervision work?", "what did labelling cost before it?", "50,000"),
    ("How did the AI engineering workflow change?", "and what comes first now?", "Product"),
    ("Which application categories are proven?", "which apps do enterprises deploy first?", "internal"),
]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_app(workdir: Path, port: int) -> subprocess.Popen:
    shutil.copytree(ROOT / "knowledge", workdir / "notes")
    proc = subprocess.Popen(
        [sys.executable, "app.py", "--knowledge", str(workdir / "notes"), "--db", str(workdir / "data"),
         "--port", str(port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    if wait_until_serving(f"http://127.0.0.1:{port}/", proc, 180):
        return proc
    proc.kill()
    sys.exit("the app did not start within 180 s")


def learner(url: str, n_questions: int, seed: int, latencies: list, quiz_latencies: list,
            errors: list) -> None:
    from gradio_client import Client

    client = Client(url, verbose=False)
    history: list[dict] = []
    for i in range(n_questions):
        first, follow, must = CONVERSATIONS[(seed + i // 2) % len(CONVERSATIONS)]
        question = first if i % 2 == 0 else follow
        if i % 2 == 0:
            history = []
        t0 = time.perf_counter()
        try:
            reply = client.predict(question, history, api_name="/ask")
        except Exception as exc:  # a failed request is a finding, reported below
            errors.append(f"learner {seed}: {type(exc).__name__}: {exc}")
            continue
        latencies.append(time.perf_counter() - t0)
        if reply.get("question") != question:
            errors.append(f"learner {seed}: sent {question!r}, got the answer to {reply.get('question')!r}")
        if i % 2 == 1 and must.lower() not in reply.get("answer", "").lower():
            errors.append(f"learner {seed}: follow-up {question!r} lacks {must!r}: {reply.get('answer')[:80]!r}")
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": reply["answer"]}]
        # Every other turn the learner also takes a quiz card: one question, answered right, rated.
        if i % 2 == 1:
            t0 = time.perf_counter()
            try:
                items = client.predict(1, api_name="/quiz")["items"]
                if items:
                    verdict = client.predict(items[0]["id"], items[0]["answer"], 3, api_name="/quiz_answer")
                    if verdict.get("correct") is not True:
                        errors.append(f"learner {seed}: the right answer to {items[0]['id']} was not accepted")
            except Exception as exc:
                errors.append(f"learner {seed}: quiz {type(exc).__name__}: {exc}")
                continue
            quiz_latencies.append(time.perf_counter() - t0)


def run(url: str, learners: int, questions: int) -> dict:
    latencies: list[float] = []
    quiz_latencies: list[float] = []
    errors: list[str] = []
    threads = [threading.Thread(target=learner, args=(url, questions, s, latencies, quiz_latencies, errors))
               for s in range(learners)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=1800)
    wall = time.perf_counter() - t0
    return {"learners": learners, "answers": len(latencies), "throughput": len(latencies) / wall,
            "p50_ms": percentile(latencies, 0.50), "p95_ms": percentile(latencies, 0.95),
            "quiz_cards": len(quiz_latencies), "quiz_p50_ms": percentile(quiz_latencies, 0.50),
            "quiz_p95_ms": percentile(quiz_latencies, 0.95), "errors": errors}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, nargs="*", default=[1, 5, 20])
    parser.add_argument("--questions", type=int, default=10, help="questions per learner")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc = start_app(Path(tmp), port)
        url = f"http://127.0.0.1:{port}/"
        try:
            run(url, 1, 4)  # warm up: model, caches
            before = rss_mb(proc.pid)
            print(f"server RSS after warm-up: {before:.0f} MB")
            print(f"{'learners':>8} {'answers':>8} {'answers/s':>10} {'p50 ms':>8} {'p95 ms':>8} "
                  f"{'cards':>6} {'card p50':>9} {'card p95':>9} {'errors':>7}")
            total = 0
            for n in args.learners:
                r = run(url, n, args.questions)
                total += r["answers"]
                print(f"{n:>8} {r['answers']:>8} {r['throughput']:>10.1f} {r['p50_ms']:>8.0f} "
                      f"{r['p95_ms']:>8.0f} {r['quiz_cards']:>6} {r['quiz_p50_ms']:>9.0f} "
                      f"{r['quiz_p95_ms']:>9.0f} {len(r['errors']):>7}")
                for e in r["errors"][:5]:
                    print(f"    {e}")
            after = rss_mb(proc.pid)
            print(f"server RSS after {total} more answers: {after:.0f} MB ({after - before:+.0f} MB)")
        finally:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    main()
