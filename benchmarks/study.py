"""Study (#12): quiz items made from answers, the time to study mode's check question, and a simulated
learner over 60 days with and without study-mode questions.

    .venv/bin/python benchmarks/study.py [--days 60] [--sets seed,book,glossary,mdx] [--sim-notes seed,book]

1. Items from answers. Each set's notes are indexed in a temporary folder with the project's own
   code (offline). The seed notes (knowledge/) are asked "What do my notes say about <section>?" for
   every section; the other sets ask the in-scope questions of benchmarks/data/questions/<set>.json
   (a set whose notes are missing is skipped with a message). Each answered question gets "quiz me
   on this" (3 items of its cited passages). Printed: questions answered and refused, items, share
   of items whose passage is one the answer cited (must be 100%), share whose answer is in their
   passage ("supported"), duplicates among an answer's items and across the set, and the time from
   question to check question (answer + check question), p50/p95, with the items already made
   (as in the app after its first quiz) and on the first question of a fresh progress store.
2. A simulated learner, `--days` days on a fake clock with the real store and FSRS scheduler. The
   learner's true memory is its own model, not FSRS: each item has a true stability that starts by
   its topic's difficulty (some topics are hard), grows after a success and halves after a failure;
   the chance to recall is exp(-days since last review / stability). Two arms, same seed:
   "reviews only" does the due reviews and up to 20 new items a day; "+ study mode" also asks two
   questions a day on a third of the topics (the ones asked about), each answered after study
   mode's check question (recorded like a review). Printed per arm: reviews spent, FSRS's predicted
   recall and the true recall per topic at the end (asked topics marked), and the rank correlation
   (Spearman) of "what to study now"'s order (due topics, then the weakest) with the true recall.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import load_avg, percentile  # noqa: E402
from quiz_quality import answer_in_source, duplicates  # noqa: E402

DATA = ROOT / "benchmarks/data"
SETS = {  # name -> (notes folder, question file or None for the seed's section questions)
    "seed": (ROOT / "knowledge", None),
    "book": (DATA / "notes/book", DATA / "questions/book.json"),
    "glossary": (DATA / "notes/glossary", DATA / "questions/glossary.json"),
    "mdx": (DATA / "notes/mdx", DATA / "questions/mdx.json"),
    "llm-course": (ROOT.parent / "shared/eval/notes", DATA / "questions/llm-course.json"),
}
CHECK_TARGET_MS = 300.0


# --- 1. items from answers ---------------------------------------------------------------------

def indexed(notes: Path, tmp: Path, embedder):
    from assistant.core.config import Settings
    from assistant.quiz.study import Study
    from assistant.services import Services

    knowledge = tmp / "knowledge"
    shutil.copytree(notes, knowledge)
    services = Services(Settings.from_env(environ={}, knowledge_dir=knowledge, data_dir=tmp / "data"))
    services.__dict__["embedder"] = embedder
    services.admin.ingest()
    return services, Study(services.quiz)


def supported_by_passage(item) -> bool:
    """The item's answer is in its passage, read as the learner reads it (links and emphasis as
    their text: an answer quoting a note's link text is the note's words)."""
    from assistant.quiz.checking import normalize
    from assistant.quiz.reading import plain

    if answer_in_source(item):
        return True
    passage = normalize(plain(item.passage))
    parts = item.answer.split("; ") if item.kind == "list" else [item.answer]
    return all(normalize(plain(p).rstrip(" …")) in passage for p in parts)


def questions_of(name: str, services, question_file: Path | None) -> list[str]:
    if question_file is None:  # the seed notes: one question per section heading
        seen: list[str] = []
        for chunk in services.chunks():
            section = chunk.heading.split(" > ")[-1] if chunk.heading else ""
            if section and section not in seen:
                seen.append(section)
        return [f"What do my notes say about {s}?" for s in seen]
    data = json.loads(question_file.read_text())
    return [q["question"] for q in data["questions"] if not q.get("off_topic") and not q.get("follow_up")]


def measure_items(name: str, notes: Path, question_file: Path | None, embedder) -> dict | None:
    if not notes.exists() or (question_file is not None and not question_file.exists()):
        print(f"\n== {name}: skipped ({notes if not notes.exists() else question_file} not found)")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        services, study = indexed(notes, Path(tmp), embedder)
        questions = questions_of(name, services, question_file)
        ask = services.ask
        ask.ask("warm up the model")  # the first call loads the keyword index: not a learner's wait
        started = time.perf_counter()  # a fresh progress store: the first check makes every item
        first = ask.ask(questions[0])
        if not first.refused:
            study.check_question([c.chunk for c in first.citations], "cold", focus=first.text)
        cold_ms = (time.perf_counter() - started) * 1000
        refused = exact = supported = total = 0
        per_answer_dups = 0
        all_items, check_ms = [], []
        for n, question in enumerate(questions):
            started = time.perf_counter()
            answer = ask.ask(question)
            if answer.refused:
                refused += 1
                continue
            chunks = [c.chunk for c in answer.citations]
            study.check_question(chunks, f"learner-{n}", focus=answer.text)
            check_ms.append((time.perf_counter() - started) * 1000)
            items = study.items_for(chunks, f"learner-{n}", 3, focus=answer.text)
            cited = {c.id for c in chunks}
            total += len(items)
            exact += sum(i.chunk_id in cited for i in items)
            supported += sum(supported_by_passage(i) for i in items)
            per_answer_dups += duplicates(items)
            all_items += [i for i in items if i.id not in {a.id for a in all_items}]
        result = {
            "set": name, "questions": len(questions), "refused": refused, "items": total,
            "from_cited": exact / max(1, total), "supported": supported / max(1, total),
            "dups_in_answer": per_answer_dups, "distinct": len(all_items),
            "dups_across": duplicates(all_items), "cold_ms": cold_ms,
            "p50_ms": percentile(check_ms, 50) if check_ms else 0.0,
            "p95_ms": percentile(check_ms, 95) if check_ms else 0.0,
        }
    return result


def print_items(rows: list[dict]) -> None:
    print(f"\n== items from answers (quiz me on this: 3 per answer), offline; {load_avg()}")
    print(f"  {'set':<11}{'asked':>6}{'refused':>8}{'items':>7}{'cited':>8}{'supported':>10}"
          f"{'dup/ans':>8}{'distinct':>9}{'dup all':>8}{'check p50':>10}{'p95':>8}{'first':>8}")
    for r in rows:
        print(f"  {r['set']:<11}{r['questions']:>6}{r['refused']:>8}{r['items']:>7}{r['from_cited']:>8.0%}"
              f"{r['supported']:>10.1%}{r['dups_in_answer']:>8}{r['distinct']:>9}{r['dups_across']:>8}"
              f"{r['p50_ms']:>8.0f}ms{r['p95_ms']:>6.0f}ms{r['cold_ms']:>6.0f}ms")
    items = sum(r["items"] for r in rows)
    supported = sum(r["supported"] * r["items"] for r in rows) / max(1, items)
    print(f"  all: {items} items, {supported:.1%} supported by their passage (target >= 95%); "
          f"check question p50 target <= {CHECK_TARGET_MS:.0f} ms")


# --- 2. the simulated learner ------------------------------------------------------------------

class TrueMemory:
    """The simulated learner's own memory (not FSRS's model of it)."""

    def __init__(self, rng: random.Random, topics: list[str]):
        self.rng = rng
        # Topic difficulty: the true stability of a first exposure, 0.2-2 days, and how much a
        # success makes it grow (x1.4 on the hardest topics, x2.6 on the easiest).
        self.first = {t: 0.2 * 10 ** rng.random() for t in topics}
        self.growth = {t: 1.4 + 1.2 * (math.log10(self.first[t] / 0.2)) for t in topics}
        self.stability: dict[str, float] = {}
        self.last: dict[str, datetime] = {}

    def recall(self, item, now: datetime) -> float:
        if item.id not in self.last:
            return 0.25  # never seen: a guess, or what the learner happens to know
        days = max(0.0, (now - self.last[item.id]).total_seconds() / 86400)
        return math.exp(-days / self.stability[item.id])

    def answer(self, item, now: datetime) -> bool:
        remembered = self.rng.random() < self.recall(item, now)
        base = self.stability.get(item.id, self.first[item.topic])
        if item.id in self.last:  # a failure, with the answer shown, halves it but not below the first
            grow = self.growth[item.topic] if remembered else 0.5
            self.stability[item.id] = max(self.first[item.topic], base * grow)
        else:
            self.stability[item.id] = base
        self.last[item.id] = now
        return remembered


def simulate(chunks: list, days: int, study_mode: bool, seed: int = 7) -> dict:
    from assistant.quiz.scheduling import ReviewStore
    from assistant.quiz.service import Quiz
    from assistant.quiz.study import Study

    rng = random.Random(seed)
    start = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)
    with tempfile.TemporaryDirectory() as tmp:
        store = ReviewStore(Path(tmp))
        quiz = Quiz(lambda: store, chunks=lambda: chunks, embedder=lambda: None)
        study = Study(quiz)
        quiz.prepare(start)
        store = quiz.store
        topics = list(dict.fromkeys(i.topic for i in store.items()))
        memory = TrueMemory(random.Random(seed), topics)
        asked = topics[::3]  # the learner asks about a third of the topics
        asked_chunks = [c for c in chunks if any(i.topic in asked and i.chunk_id == c.id for i in store.items())]
        reviews = checks = 0
        for day in range(days):
            now = start + timedelta(days=day)
            if study_mode:  # two questions a day, each answered after a check question
                for chunk in rng.sample(asked_chunks, min(2, len(asked_chunks))):
                    item = study.check_question([chunk], "sim", now=now)
                    if item is not None:
                        store.review("sim", item.id, 3 if memory.answer(item, now) else 1, now)
                        checks += 1
                        now += timedelta(minutes=2)
            fresh = store.new_items("sim", limit=store.new_left_today("sim", now))
            queue = [(now, n, item) for n, item in enumerate([*store.due_items("sim", now), *fresh])]
            seen: dict[str, int] = {}
            while queue:
                queue.sort(key=lambda entry: entry[:2])
                ready, n, item = queue.pop(0)
                now = max(now, ready)
                review = store.review("sim", item.id, 3 if memory.answer(item, now) else 1, now)
                reviews += 1
                seen[item.id] = seen.get(item.id, 0) + 1
                now += timedelta(minutes=1)
                if review.interval <= timedelta(minutes=20) and seen[item.id] < 3:
                    queue.append((now + review.interval, n, item))  # learning steps: again later
        end = max(now, start + timedelta(days=days))  # the next morning, before its reviews
        items = store.items()
        truth = {t: statistics.mean(memory.recall(i, end) for i in items if i.topic == t) for t in topics}
        nxt = study.next("sim", end, limit=None)
        predicted = {t.topic: t.recall for t in [*nxt.due, *nxt.weakest]}
        order = [t.topic for t in nxt.due] + [t.topic for t in nxt.weakest]  # what to study first
        return {"reviews": reviews, "checks": checks, "topics": topics, "asked": asked, "truth": truth,
                "predicted": predicted, "order": order, "unstudied": [t.topic for t in nxt.unstudied]}


def spearman(a: list[float], b: list[float]) -> float:
    import pandas as pd

    return float(pd.Series(a).corr(pd.Series(b), method="spearman")) if len(a) > 2 else float("nan")


def print_simulation(name: str, arms: dict[str, dict], days: int) -> None:
    print(f"\n== simulated learner on {name}: {days} days, true memory by topic difficulty (seed 7)")
    base, study = arms["reviews only"], arms["+ study mode"]
    print(f"  reviews spent: reviews only {base['reviews']}; + study mode {study['reviews']} reviews "
          f"+ {study['checks']} check questions = {study['reviews'] + study['checks']}")
    print(f"  {'topic':<44}{'predicted':>10}{'true':>7}{'predicted':>11}{'true':>7}")
    print(f"  {'':<44}{'(reviews only)':>17}{'(+ study mode)':>18}")
    for topic in base["topics"]:
        mark = "*" if topic in base["asked"] else " "
        label = topic.split(" › ")[-1][:41]
        cells = []
        for arm in (base, study):
            p = arm["predicted"].get(topic)
            cells.append(f"{'-' if p is None else f'{p:.0%}':>10}{arm['truth'][topic]:>7.0%}")
        print(f"  {mark}{label:<43}{cells[0]}{cells[1]:>18}")
    for arm_name, arm in arms.items():
        asked = [arm["truth"][t] for t in arm["asked"]]
        others = [arm["truth"][t] for t in arm["topics"] if t not in arm["asked"]]
        ranked = [t for t in arm["order"] if t in arm["truth"]]
        rho = spearman(list(range(len(ranked))), [arm["truth"][t] for t in ranked])
        studied = [t for t in arm["topics"] if arm["predicted"].get(t) is not None]
        fit = spearman([arm["predicted"][t] for t in studied], [arm["truth"][t] for t in studied])
        lowest = sorted(studied, key=arm["truth"].get)[:3]
        print(f"  {arm_name}: true recall asked topics (*) {statistics.mean(asked):.0%}, others "
              f"{statistics.mean(others):.0%}; predicted vs true recall per topic: Spearman {fit:.2f}; "
              f"'what next' order (due, then weakest) vs true recall: Spearman {rho:.2f} over "
              f"{len(ranked)} topics (1: weakest first); its first 3 hold "
              f"{len(set(ranked[:3]) & set(lowest))} of the 3 truly weakest")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--sets", default="seed,book,glossary,mdx,llm-course")
    parser.add_argument("--sim-notes", default="seed,book", help="sets whose notes the learner studies")
    args = parser.parse_args()

    from assistant.index.embeddings import default_embedder

    embedder = default_embedder()
    rows = [r for name in args.sets.split(",") if name
            for r in [measure_items(name, *SETS[name], embedder)] if r]
    print_items(rows)

    from quiz_quality import chunk_folder

    for name in args.sim_notes.split(","):
        notes = SETS[name][0]
        if not notes.exists():
            print(f"\n== simulated learner on {name}: skipped ({notes} not found)")
            continue
        chunks = chunk_folder(notes, embedder.count_tokens)
        arms = {"reviews only": simulate(chunks, args.days, False),
                "+ study mode": simulate(chunks, args.days, True)}
        print_simulation(f"{name} ({len(chunks)} passages)", arms, args.days)
    return 0


if __name__ == "__main__":
    sys.exit(main())
