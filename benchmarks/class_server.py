"""A class on one server (#11): two libraries on one `chroma run`, learners asking while a teacher
re-indexes, measured through the apps' own endpoints.

    python benchmarks/class_server.py                              # ~4 min: 2 min of re-indexing
    python benchmarks/class_server.py --minutes 5 --learners 10    # the issue's setting

Starts a real `chroma run` and two real app instances (`python app.py`) on loopback, each serving
its own library (class-a over knowledge/, class-b over tests/data/notes) with logins. Each library
has a "release" note whose number changes at every re-index, so every re-index replaces a chunk.
Learners (gradio_client sessions, one thread each) ask their library's questions in a loop, one in
three about the current release. After a quiet phase, a teacher re-indexes each library every
--every seconds (half a period apart): class-a through its app's Re-index endpoint (signed in as the
teacher), class-b with `python ingest.py` from another process, which its running app has to
notice. Printed:

- answers citing a deleted chunk: a chunk whose removal was committed before the question was sent
  (target 0);
- answers citing the other library's notes (target 0);
- chunks lost: each library against a clean build of its folder into a scratch library (target 0);
- answer latency p50 / p95 in the quiet phase, while the learner's own library is re-indexed, while
  the other one is.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import free_port, load_avg, percentile, wait_until_serving

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

RELEASE_Q = "Which course release is the current one?"
QUESTIONS_B = ["How does the cost of self-attention grow with sequence length?", "What is reciprocal rank fusion?",
               "How should notes be split into chunks?", "What is mean reciprocal rank?",
               "What does a tokenizer do?", "How does few-shot prompting work?"]
PASSWORD = "class-pw"


def release_note(n: int) -> str:
    return f"# Course release\n\nThe current course release is number {n}, published for cohort {n}.\n"


@dataclass
class Library:
    name: str
    notes: Path
    release: Path
    questions: list[str]
    url: str = ""
    version: int = 0
    # chunk id -> when its removal was committed (the re-index call had returned)
    removed_at: dict[str, float] = field(default_factory=dict)
    windows: list[tuple[float, float]] = field(default_factory=list)  # re-index begin, end


@dataclass
class Reply:
    library: str
    sent: float
    received: float
    cited: list[tuple[str, str]]  # (chunk id, source)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=2.0, help="re-indexing phase (default 2)")
    parser.add_argument("--quiet", type=float, default=30.0, help="seconds of asking without re-indexing first")
    parser.add_argument("--every", type=float, default=20.0, help="seconds between re-indexes of one library")
    parser.add_argument("--learners", type=int, default=5, help="learners per library (default 5)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="class-server-"))
    procs: list[subprocess.Popen] = []
    try:
        return run(args, work, procs)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


def run(args, work: Path, procs: list[subprocess.Popen]) -> int:
    chroma_port = free_port()
    procs.append(subprocess.Popen([str(Path(sys.executable).with_name("chroma")), "run", "--path", str(work / "chroma"),
                                   "--host", "127.0.0.1", "--port", str(chroma_port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    if not wait_until_serving(f"http://127.0.0.1:{chroma_port}/api/v2/heartbeat", procs[-1], 60):
        print("chroma run did not start", file=sys.stderr)
        return 1
    seed = [q["question"] for q in json.loads((ROOT / "benchmarks/data/questions/seed.json").read_text())["questions"]
            if not q.get("off_topic") and not q.get("history")][:12]
    libraries = [Library("class-a", work / "a", work / "a" / "release-a.md", seed),
                 Library("class-b", work / "b", work / "b" / "release-b.md", QUESTIONS_B)]
    shutil.copytree(ROOT / "knowledge", libraries[0].notes)
    shutil.copytree(ROOT / "tests/data/notes", libraries[1].notes)
    users = work / "users.txt"
    users.write_text("teacher:" + PASSWORD + ":teacher\n" +
                     "".join(f"learner{i}:{PASSWORD}\n" for i in range(args.learners)))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANT_", "OPENAI_", "CHROMA_"))}
    env.update(CHROMA_HOST="127.0.0.1", CHROMA_PORT=str(chroma_port), ASSISTANT_USERS_FILE=str(users))
    for lib in libraries:
        lib.release.write_text(release_note(0))
        port = free_port()
        lib.url = f"http://127.0.0.1:{port}/"
        log = open(work / f"{lib.name}.log", "wb")
        procs.append(subprocess.Popen([sys.executable, "app.py", "--knowledge", str(lib.notes), "--db",
                                       str(work / f"data-{lib.name}"), "--port", str(port)], cwd=ROOT, stdout=log,
                                      stderr=subprocess.STDOUT, env={**env, "ASSISTANT_LIBRARY": lib.name}))
    started = time.time()
    for lib in libraries:
        while "Ready to answer" not in (work / f"{lib.name}.log").read_text(errors="replace"):
            if time.time() - started > 600 or any(p.poll() is not None for p in procs):
                print(f"{lib.name}'s app did not load:\n" + (work / f"{lib.name}.log").read_text()[-2000:])
                return 1
            time.sleep(0.5)
    print(f"chroma run + 2 apps ready in {time.time() - started:.0f} s; {args.learners} learners per library; "
          f"{load_avg()}")

    from gradio_client import Client

    from assistant.core.config import Settings
    from assistant.index.store import VectorStore

    stores = {lib.name: VectorStore(Settings.from_env(environ={}, data_dir=work / "bench", chroma_host="127.0.0.1",
                                                      chroma_port=chroma_port, library=lib.name))
              for lib in libraries}
    replies: list[Reply] = []
    stop = threading.Event()
    errors: list[str] = []

    def learner(lib: Library, i: int) -> None:
        client = Client(lib.url, auth=(f"learner{i}", PASSWORD), verbose=False)
        n = i
        while not stop.is_set():
            question = RELEASE_Q if n % 3 == 0 else lib.questions[n % len(lib.questions)]
            n += 1
            sent = time.time()
            try:
                answer = client.predict(question, [], api_name="/ask")
            except Exception as exc:  # counted, and the run goes on
                errors.append(f"{lib.name}: {type(exc).__name__}: {exc}")
                continue
            replies.append(Reply(lib.name, sent, time.time(),
                                 [(c["chunk_id"], c["source"]) for c in answer["citations"]]))

    def reindex(lib: Library, teacher) -> None:
        before = {c.id for c in stores[lib.name].all_chunks()}
        lib.version += 1
        lib.release.write_text(release_note(lib.version))
        begin = time.time()
        if teacher is not None:  # the Sources tab's Re-index, as the signed-in teacher
            status = teacher.predict(api_name="/run_reindex")[0]
            ok = "Re-indexed" in status
        else:  # another process on the same library
            result = subprocess.run([sys.executable, "ingest.py", "--knowledge", str(lib.notes), "--db",
                                     str(work / "teacher-cli")], cwd=ROOT, capture_output=True, text=True,
                                    env={**env, "ASSISTANT_LIBRARY": lib.name})
            ok, status = result.returncode == 0, result.stderr[-300:]
        end = time.time()
        if not ok:
            errors.append(f"re-index of {lib.name} failed: {status}")
        lib.windows.append((begin, end))
        for cid in before - {c.id for c in stores[lib.name].all_chunks()}:
            lib.removed_at.setdefault(cid, end)

    threads = [threading.Thread(target=learner, args=(lib, i), daemon=True)
               for lib in libraries for i in range(args.learners)]
    for t in threads:
        t.start()
    time.sleep(args.quiet)  # the quiet phase: learners only
    quiet_end = time.time()
    deadline = quiet_end + args.minutes * 60

    def teach(lib: Library, offset: float) -> None:  # one teacher per library, half a period apart
        teacher = Client(lib.url, auth=("teacher", PASSWORD), verbose=False) if lib is libraries[0] else None
        due = quiet_end + offset
        while due < deadline:
            time.sleep(max(0.0, due - time.time()))
            reindex(lib, teacher)
            due = max(due + args.every, time.time())  # a run longer than the period starts the next at once

    teachers = [threading.Thread(target=teach, args=(lib, i * args.every / 2)) for i, lib in enumerate(libraries)]
    for t in teachers:
        t.start()
    for t in teachers:
        t.join()
    stop.set()
    for t in threads:
        t.join(timeout=120)
    return report(args, libraries, stores, replies, errors, quiet_end, env, work)


def report(args, libraries, stores, replies, errors, quiet_end, env, work) -> int:
    by_name = {lib.name: lib for lib in libraries}
    sources = {lib.name: {c.source for c in stores[lib.name].all_chunks()} | {lib.release.name}
               for lib in libraries}
    deleted = [r for r in replies if any(by_name[r.library].removed_at.get(cid, float("inf")) < r.sent
                                         for cid, _ in r.cited)]
    foreign = [r for r in replies if any(src not in sources[r.library] for _, src in r.cited)]

    def overlaps(r: Reply, windows) -> bool:
        return any(r.sent < end and r.received > begin for begin, end in windows)

    other = {"class-a": "class-b", "class-b": "class-a"}
    phases = {
        "quiet (no re-index)": [r for r in replies if r.received <= quiet_end],
        "own library re-indexing": [r for r in replies if overlaps(r, by_name[r.library].windows)],
        "other library re-indexing": [r for r in replies if overlaps(r, by_name[other[r.library]].windows)
                                      and not overlaps(r, by_name[r.library].windows)],
    }
    from assistant.index.store import VectorStore

    lost, extra = {}, {}
    for lib in libraries:  # a clean build of the same folder into a scratch library
        check = f"{lib.name}-check"
        subprocess.run([sys.executable, "ingest.py", "--knowledge", str(lib.notes), "--db", str(work / "check")],
                       cwd=ROOT, capture_output=True, env={**env, "ASSISTANT_LIBRARY": check}, check=True)
        clean = {c.id for c in VectorStore(stores[lib.name].settings.with_(library=check)).all_chunks()}
        actual = {c.id for c in stores[lib.name].all_chunks()}
        lost[lib.name], extra[lib.name] = len(clean - actual), len(actual - clean)

    reindexes = sum(len(lib.windows) for lib in libraries)
    print(f"\n{len(replies)} answers ({sum(len(r.cited) > 0 for r in replies)} with citations), "
          f"{reindexes} re-indexes ({', '.join(f'{lib.name} {len(lib.windows)}' for lib in libraries)}), "
          f"{len(errors)} errors; {load_avg()}")
    print("| measure | figure | target |\n|---|---|---|")
    print(f"| answers citing a deleted chunk | {len(deleted)} | 0 |")
    print(f"| answers citing the other library's notes | {len(foreign)} | 0 |")
    print(f"| chunks lost (each library vs a clean build) | {sum(lost.values())} "
          f"({', '.join(f'{k} {v}' for k, v in lost.items())}; extra {sum(extra.values())}) | 0 |")
    for lib in libraries:
        took = [end - begin for begin, end in lib.windows]
        if took:
            how = "Re-index endpoint" if lib is libraries[0] else "python ingest.py"
            print(f"| re-index of {lib.name} ({how}) p50 / max | {percentile(took, 50):.1f} / {max(took):.1f} s | |")
    for name, rs in phases.items():
        latency = [1000 * (r.received - r.sent) for r in rs]
        if latency:
            print(f"| answer p50 / p95, {name} (n={len(rs)}) | {percentile(latency, 50):.0f} / "
                  f"{percentile(latency, 95):.0f} ms | |")
    for line in errors[:5]:
        print("error:", line)
    for lib in libraries:  # the server side of an error: the app's own trace
        log = (work / f"{lib.name}.log").read_text(errors="replace")
        if errors and "Traceback" in log:
            print(f"--- {lib.name}'s app log, last trace:\n" + log[log.rindex("Traceback"):][:3000])
    return 0 if not (deleted or foreign or any(lost.values()) or errors) else 1


if __name__ == "__main__":
    sys.exit(main())
