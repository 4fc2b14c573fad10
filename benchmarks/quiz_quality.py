"""Quiz quality: how good the offline questions are, and whether the schedule behaves.

    .venv/bin/python benchmarks/quiz_quality.py [--eval-dir DIR] [--days 60] [--llm]

1. Question generation over the seed notes (knowledge/) and a larger notes folder: the LLM
   Zoomcamp FAQ (../shared/eval/zoomcamp, 948 records, one note per record: `# section`,
   `## question`, text), skipped with a message when absent. Notes are read and chunked with the
   project's own loaders and chunker (no index needed). Printed per corpus: passages, items and
   items per passage, share of passages with a question, items by type, share of items whose answer
   appears in the source passage, duplicate rate (same question, or same answer with >= 80% of the
   question's words in common), distractor type agreement (a number for a number with the same unit,
   a term for a term), and generation time.
2. A simulated learner over `--days` days with a fake clock and the real SQLite store: every day
   it does the due reviews and up to 20 new cards; it remembers a card with the probability FSRS
   itself predicts (seeded, so runs repeat). Printed: reviews and due cards per 10 days, and how
   intervals move: after each success the next interval is longer (grows), after each failure it
   is shorter (shrinks).
3. `--llm`: with OPENAI_BASE_URL/OPENAI_API_KEY set, LLM items for the seed notes: accepted,
   malformed, unsupported.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_EVAL = ROOT.parent / "shared/eval/zoomcamp"


# --- corpora --------------------------------------------------------------------------------

def chunk_folder(folder: Path, count_tokens) -> list:
    from assistant.index.chunking import Chunker
    from assistant.index.ingestion import scan
    from assistant.index.loaders import Unreadable, load

    chunker = Chunker(count_tokens)
    chunks = []
    files, _ = scan(folder)
    for rel, path in files:
        try:
            document = load(path, rel)
        except Unreadable:
            continue
        chunks += chunker.chunk(rel, document.sections)
    return sorted(chunks, key=lambda c: (c.source, c.start))


def zoomcamp_notes(eval_dir: Path, target: Path) -> Path | None:
    corpus = eval_dir / "documents-with-ids.json"
    if not corpus.exists():
        return None
    for record in json.loads(corpus.read_text(encoding="utf-8")):
        text = re.sub(r"^(\s{0,3})(#{1,6})(?=\s|$)", r"\1\\\2", record["text"].strip(), flags=re.M)
        text = re.sub(r"^(\s{0,3})(=+|-+)(\s*)$", r"\1\\\2\3", text, flags=re.M)
        path = target / record["course"] / f"{record['id']}.md"
        n = 2
        while path.exists():
            path = target / record["course"] / f"{record['id']}-{n}.md"
            n += 1
        path.parent.mkdir(parents=True, exist_ok=True)
        section = " ".join(record["section"].split())
        question = " ".join(record["question"].split())
        path.write_text(f"# {section}\n\n## {question}\n\n{text}\n", encoding="utf-8")
    return target


# --- measures -------------------------------------------------------------------------------

def answer_in_source(item) -> bool:
    from assistant.quiz.checking import normalize

    passage = normalize(item.passage)
    parts = item.answer.split("; ") if item.kind == "list" else [item.answer]
    return all(normalize(p.rstrip(" …")) in passage for p in parts)


def duplicates(items) -> int:
    from assistant.quiz.checking import normalize

    dup = 0
    seen_q: set[str] = set()
    by_answer: dict[str, list[set[str]]] = defaultdict(list)
    for item in items:
        q = normalize(item.question)
        words = set(q.split())
        a = normalize(item.answer)
        near = any(len(words & other) / max(1, min(len(words), len(other))) >= 0.8
                   for other in by_answer[a])
        if q in seen_q or near:
            dup += 1
        seen_q.add(q)
        by_answer[a].append(words)
    return dup


def coarse_kind(text: str) -> str:
    from assistant.quiz.generate import kind_of

    kind = kind_of(text)
    return kind if kind.startswith("number") else ("term" if kind in ("term", "phrase") else kind)


def measure_generation(name: str, chunks: list) -> dict:
    from assistant.quiz.generate import OfflineGenerator

    started = time.perf_counter()
    items = OfflineGenerator(chunks).generate_all()
    seconds = time.perf_counter() - started
    mcqs = [i for i in items if i.type == "mcq"]
    pairs = [(coarse_kind(i.answer), coarse_kind(o)) for i in mcqs for o in i.options if o != i.answer]
    agree = sum(a == b for a, b in pairs)
    exact = sum(kind_of_exact(i.answer) == kind_of_exact(o) for i in mcqs for o in i.options if o != i.answer)
    covered = len({i.chunk_id for i in items})
    return {
        "corpus": name,
        "passages": len(chunks),
        "items": len(items),
        "per_passage": len(items) / max(1, len(chunks)),
        "covered": covered / max(1, len(chunks)),
        "types": Counter(i.type for i in items),
        "in_source": sum(answer_in_source(i) for i in items) / max(1, len(items)),
        "duplicates": duplicates(items) / max(1, len(items)),
        "distractors": len(pairs),
        "agreement": agree / max(1, len(pairs)),
        "agreement_exact": exact / max(1, len(pairs)),
        "seconds": seconds,
        "ms_per_passage": seconds * 1000 / max(1, len(chunks)),
        "sample": items[:: max(1, len(items) // 6)][:6],
    }


def kind_of_exact(text: str) -> str:
    from assistant.quiz.generate import kind_of

    return kind_of(text)


def print_generation(m: dict) -> None:
    types = ", ".join(f"{t} {n}" for t, n in sorted(m["types"].items()))
    print(f"\n== {m['corpus']}: question generation (offline)")
    print(f"  passages                     {m['passages']}")
    print(f"  items                        {m['items']}  ({types})")
    print(f"  items per passage            {m['per_passage']:.2f}")
    print(f"  passages with a question     {m['covered']:.1%}")
    print(f"  answer found in its source   {m['in_source']:.1%}")
    print(f"  duplicate rate               {m['duplicates']:.1%}")
    print(f"  distractor kind agreement    {m['agreement']:.1%} of {m['distractors']} distractors "
          f"(exact kind incl. term/phrase length: {m['agreement_exact']:.1%})")
    print(f"  generation time              {m['seconds']:.2f} s ({m['ms_per_passage']:.1f} ms per passage)")
    print("  sample:")
    for item in m["sample"]:
        question = item.question if len(item.question) < 110 else item.question[:107] + "…"
        answer = item.answer if len(item.answer) < 60 else item.answer[:57] + "…"
        print(f"    [{item.type}] {question}\n        -> {answer}")


# --- simulated learner ----------------------------------------------------------------------

def simulate(chunks: list, days: int, seed: int = 7) -> None:
    from assistant.quiz.generate import OfflineGenerator
    from assistant.quiz.scheduling import ReviewStore

    rng = random.Random(seed)
    start = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)
    with tempfile.TemporaryDirectory() as tmp:
        store = ReviewStore(Path(tmp))
        store.sync(chunks, OfflineGenerator(chunks).generate_all, start)
        grew = held = successes = shrank = failures = 0
        last_interval: dict[str, timedelta] = {}
        per_day = []
        for day in range(days):
            now = start + timedelta(days=day)
            reviews = again = 0
            due = store.due_items("sim", now)
            new = store.new_items("sim", limit=store.new_left_today("sim", now))
            queue = [*due, *new]
            while queue:
                item = queue.pop(0)
                card = store.card("sim", item.id, now)
                recall = store.scheduler.get_card_retrievability(card, now) if card.stability else 0.7
                remembered = rng.random() < max(0.05, recall)
                rating = 3 if remembered else 1
                review = store.review("sim", item.id, rating, now)
                reviews += 1
                again += not remembered
                before = last_interval.get(item.id)
                if before is not None and card.state.name == "Review":
                    if remembered:
                        successes += 1
                        grew += review.interval > before
                        held += review.interval == before == timedelta(days=1)
                    else:
                        failures += 1
                        shrank += review.interval < before
                last_interval[item.id] = review.interval
                now += timedelta(minutes=1)
                if review.interval <= timedelta(minutes=20):  # learning steps: again later today
                    later = now + review.interval
                    queue.append(item)
                    now = max(now, later)
            counts = store.counts("sim", start + timedelta(days=day, hours=23))
            per_day.append((day + 1, reviews, again, counts["due_today"]))
        intervals = [i for i in last_interval.values()]
        print(f"\n== simulated learner: {len(last_interval)} cards, {days} days, "
              f"recall drawn from FSRS retrievability (seed {seed})")
        print("  day   reviews  forgotten   (per block of 10 days)")
        for block in range(0, days, 10):
            rows = per_day[block:block + 10]
            print(f"  {block + 1:>3}-{block + len(rows):<3} {sum(r[1] for r in rows):>6} "
                  f"{sum(r[2] for r in rows):>9}")
        print(f"  after a success in review, the next interval grew in {grew}/{successes} cases "
              f"({grew / max(1, successes):.0%})"
              + (f"; {held} stayed at the 1-day minimum" if held else ""))
        print(f"  after a failure in review, the next interval shrank in {shrank}/{failures} cases "
              f"({shrank / max(1, failures):.0%})")
        days_ = sorted(i.total_seconds() / 86400 for i in intervals)
        print(f"  final intervals: median {days_[len(days_) // 2]:.1f} d, max {days_[-1]:.0f} d")
        always_good(store, start)


def always_good(store, start: datetime) -> None:
    """One card answered right every time it is due, then forgotten once."""
    from assistant.quiz.scheduling import format_interval

    item = store.items()[0]
    now = start
    steps = []
    for rating in (3, 3, 3, 3, 3, 1, 3, 3):
        review = store.review("one-card", item.id, rating, now)
        steps.append(f"{'Good' if rating == 3 else 'Again'}→{format_interval(review.interval)}")
        now += review.interval
    print("  one card, rated when due: " + ", ".join(steps))


# --- LLM items ------------------------------------------------------------------------------

def measure_llm(chunks: list, embedder) -> None:
    from assistant.core.config import Settings
    from assistant.core.errors import LLMError
    from assistant.llm import make_llm
    from assistant.quiz.llm_items import LLMReport, generate

    llm = make_llm(Settings.from_env())
    if llm is None:
        print("\n== LLM items: skipped (set OPENAI_BASE_URL or OPENAI_API_KEY to measure them)")
        return
    report = LLMReport()
    started = time.perf_counter()
    items = []
    for chunk in chunks:
        try:
            items += generate(llm, chunk, embedder, report)
        except LLMError as exc:
            print(f"\n== LLM items: stopped: {exc}")
            break
    seconds = time.perf_counter() - started
    print(f"\n== LLM items ({llm.model}): {report.accepted} accepted, {report.malformed} malformed, "
          f"{report.unsupported} rejected as unsupported, {report.retries} retries, "
          f"{seconds:.1f} s for {len(chunks)} passages")
    print(f"  answer found in its source: {sum(answer_in_source(i) for i in items) / max(1, len(items)):.1%}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eval-dir", type=Path, default=DEFAULT_EVAL)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--llm", action="store_true", help="also measure LLM items (needs an LLM)")
    args = parser.parse_args()

    from assistant.index.embeddings import default_embedder

    embedder = default_embedder()
    seed_chunks = chunk_folder(ROOT / "knowledge", embedder.count_tokens)
    print_generation(measure_generation("seed notes (knowledge/)", seed_chunks))

    with tempfile.TemporaryDirectory() as tmp:
        folder = zoomcamp_notes(args.eval_dir, Path(tmp))
        if folder is None:
            print(f"\n== larger notes folder: skipped ({args.eval_dir}/documents-with-ids.json not found)")
        else:
            chunks = chunk_folder(folder, embedder.count_tokens)
            print_generation(measure_generation("LLM Zoomcamp FAQ (948 notes)", chunks))

    simulate(seed_chunks, args.days)
    if args.llm:
        measure_llm(seed_chunks, embedder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
