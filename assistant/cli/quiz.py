"""`python -m assistant quiz`: questions as JSON, or an interactive quiz in the terminal;
`python -m assistant next`: what to study now.

    python -m assistant quiz --n 5 --json [--topic TEXT] [--db DIR]   # one JSON object, nothing recorded
    python -m assistant quiz [--n 10] [--topic TEXT] [--due]          # answer, see the source, rate
    python -m assistant quiz --about "QUESTION" [--n 3] [--json]      # on the passages its answer cites
    python -m assistant next [--json] [--learner NAME]                # due, weakest, unstudied topics

The interactive quiz reads one line per answer and one per rating, so it also works with stdin
piped; each rating is saved before the next question is shown.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import time

from ..quiz.generate import plain
from ..quiz.items import TYPE_LABELS
from ..quiz.review_terms import DEFAULT_LEARNER, LEARN_AHEAD, RATINGS, format_interval
from ..quiz.service import Quiz, where
from ..quiz.study import Study

_RATING_WORDS = {name.lower(): value for value, name in RATINGS.items()}


def register(subparsers, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    quiz = subparsers.add_parser(
        "quiz", parents=[common], help="quiz yourself on your notes, with spaced repetition",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    quiz.add_argument("--n", type=int, default=10, help="how many questions (default 10)")
    quiz.add_argument("--topic", action="append", metavar="TEXT",
                      help="a note, a section ('note.md › Section') or text in its path or "
                           "headings; repeat for several")
    quiz.add_argument("--due", action="store_true", help="only reviews that are due")
    quiz.add_argument("--about", metavar="QUESTION",
                      help="questions on exactly the passages the answer to QUESTION cites "
                           "(none when the notes do not answer it)")
    quiz.add_argument("--learner", default=DEFAULT_LEARNER,
                      help=f"whose progress to use (default {DEFAULT_LEARNER!r})")
    quiz.add_argument("--topics", action="store_true", help="list the topics and exit")
    quiz.add_argument("--progress", action="store_true",
                      help="show due counts and mastery per topic and exit")
    quiz.set_defaults(func=cmd_quiz)
    return quiz


def cmd_quiz(services, args) -> int:
    if services.store.count() == 0:
        print("Indexing your notes first…", file=sys.stderr, flush=True)
        services.admin.ensure_index()
    quiz = services.quiz
    if args.topics:
        topics = quiz.topics()
        print(json.dumps({"topics": topics}, ensure_ascii=False) if args.json else "\n".join(topics))
        return 0
    if args.progress:
        return _progress(quiz, args)
    if args.about is not None:
        answer = services.ask.ask(args.about)
        if answer.refused:
            print(answer.text, file=sys.stderr, flush=True)
            if args.json:
                print(json.dumps({"items": []}), flush=True)
            return 0
        session = Study(quiz).session_for([c.chunk for c in answer.citations], args.learner,
                                          max(1, args.n), focus=answer.text)
    else:
        session = quiz.session(args.learner, max(1, args.n), args.topic, due_only=args.due,
                               limit_new=not args.json)
    if session.notice:
        print(session.notice, file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps({"items": [i.to_dict() for i in session.items]}, ensure_ascii=False),
              flush=True)
        return 0
    return _interactive(quiz, session, args.learner)


def register_next(subparsers, common: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "next", parents=[common], help="what to study now: reviews due, weakest topics, unstudied notes",
        description="Topics to study now. due: reviews due (items = how many); weakest: other "
                    "studied topics, lowest predicted recall (FSRS) first; unstudied: topics with "
                    "questions never reviewed. Quiz one with: python -m assistant quiz --topic TOPIC")
    parser.add_argument("--learner", default=DEFAULT_LEARNER,
                        help=f"whose progress to use (default {DEFAULT_LEARNER!r})")
    parser.add_argument("--n", type=int, default=10, help="topics per list at most (default 10)")
    parser.set_defaults(func=cmd_next)
    return parser


def cmd_next(services, args) -> int:
    if services.store.count() == 0:
        print("Indexing your notes first…", file=sys.stderr, flush=True)
        services.admin.ensure_index()
    result = Study(services.quiz).next(args.learner, limit=max(1, args.n))
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False), flush=True)
        return 0
    titles = {"due": "Reviews due", "weakest": "Weakest (lowest predicted recall)",
              "unstudied": "Never studied"}
    for key, topics in result.to_dict().items():
        print(f"{titles[key]}:")
        for t in topics:
            recall = "" if t["recall"] is None else f" · recall ~{t['recall']:.0%}"
            print(f"  {t['topic']}  ({_plural(t['items'], 'question')}{recall})")
        if not topics:
            print("  (none)")
    return 0


def _progress(quiz: Quiz, args) -> int:
    quiz.prepare()
    counts = quiz.store.counts(args.learner, topics=args.topic)
    mastery = [m for m in quiz.store.mastery(args.learner)
               if not args.topic or any(t.lower() in m["topic"].lower() for t in args.topic)]
    if args.json:
        print(json.dumps({"counts": counts, "mastery": mastery}, ensure_ascii=False))
        return 0
    print(f"{counts['due_today']} due today · {counts['new_today']} new today · "
          f"{counts['reviewed_today']} reviewed today")
    for row in mastery:
        bar = "█" * round(row["mastery"] * 20)
        print(f"{row['mastery']:>4.0%} {bar:<20} {row['topic']}  ({row['seen']}/{row['items']} seen)")
    return 0


class _Input:
    """Lines from stdin; None at end of input."""

    def __init__(self, stream):
        self.stream = stream

    def ask(self, prompt: str) -> str | None:
        print(prompt, end="", flush=True)
        line = self.stream.readline()
        if not line:
            print()
            return None
        if not self.stream.isatty():
            print(line.rstrip("\n"))  # echo piped answers so the transcript reads naturally
        return line.strip()


def _colour(text: str, code: str) -> str:
    return f"\033[{code}m{text}\033[0m" if sys.stdout.isatty() else text


def _interactive(quiz: Quiz, session, learner: str) -> int:
    counts = session.counts
    if not session.items:
        print("Nothing to review now: no cards are due and today's new questions are done "
              f"({quiz.store.new_per_day} a day). {counts.get('due_today', 0)} more come due today.")
        return 0
    queue = list(session.items)
    planned = len(queue)
    print(f"{_plural(len(queue), 'question')} · {counts.get('due_today', 0)} due today. "
          "Answer, then rate yourself 1-4 (Enter takes the suggestion). Ctrl-D stops.")
    stdin = _Input(sys.stdin)
    right = answered = 0
    requeued: set[str] = set()
    pos = 0
    while pos < len(queue):
        item = queue[pos]
        pos += 1
        label = f"{pos} of {planned}" if pos <= planned else "Once more"
        print(f"\n{label} · {TYPE_LABELS[item.type]} · {item.source}")
        print(textwrap.fill(item.question, 100))
        if item.type == "mcq":
            for n, option in enumerate(item.options or [], start=1):
                print(f"  {n}) {option}")
            prompt = f"Your answer (1-{len(item.options or [])}): "
        elif item.type == "flashcard":
            prompt = "Your answer (or Enter to show it): "
        else:
            prompt = "Your answer: "
        started = time.monotonic()
        given = stdin.ask(prompt)
        if given is None:
            break
        verdict = quiz.check(item, given)
        if verdict.notice:
            print(verdict.notice)
        if verdict.correct is True:
            print(_colour("Correct", "1;32"))
        elif verdict.correct is False:
            print(_colour("Incorrect", "1;31") + (f" · {verdict.feedback}" if verdict.feedback else ""))
        elif verdict.feedback:
            print(verdict.feedback)
        print(f"Answer: {item.answer}")
        if item.explanation:
            print(textwrap.fill(item.explanation, 100))
        print(f"Source: {where(item)}")
        print(_passage(item.passage))
        previews = quiz.preview(learner, item)
        suggested = verdict.suggested_rating or 3
        labels = "  ".join(f"{r} {RATINGS[r]} ({previews[r]})" for r in RATINGS)
        rating = None
        while rating is None:
            line = stdin.ask(f"Rate: {labels}  [Enter = {RATINGS[suggested]}]: ")
            if line is None:
                print("Stopped; the answer above was not rated, so it was not saved.")
                return _summary(quiz, learner, right, answered)
            rating = _parse_rating(line, suggested)
            if rating is None and not sys.stdin.isatty():
                rating = suggested
        if (verdict.correct is True and rating == 1) or (verdict.correct is False and rating >= 3):
            verdict = verdict.overrule()  # rated against the grade: the learner overruled it
        duration = int((time.monotonic() - started) * 1000)
        review = quiz.record(learner, item, rating, verdict, duration_ms=duration)
        answered += 1
        right += rating > 1
        print(f"Saved · back in {format_interval(review.interval)}", flush=True)
        if review.interval < LEARN_AHEAD and item.id not in requeued and len(queue) - pos >= 2:
            requeued.add(item.id)
            queue.append(item)  # still learning: once more before the session ends
    return _summary(quiz, learner, right, answered)


def _passage(text: str, max_lines: int = 14) -> str:
    """The source passage as the note shows it, markup removed, quoted with a bar."""
    lines: list[str] = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        indent = len(raw) - len(raw.lstrip())
        body = plain(raw.strip())
        lines += textwrap.wrap(body, 96 - indent, initial_indent=" " * indent,
                               subsequent_indent=" " * (indent + 2)) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines] + ["…"]
    return "\n".join("  │ " + line for line in lines)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _parse_rating(line: str, suggested: int) -> int | None:
    text = line.strip().lower()
    if not text:
        return suggested
    if text in ("1", "2", "3", "4"):
        return int(text)
    return _RATING_WORDS.get(text)


def _summary(quiz: Quiz, learner: str, right: int, answered: int) -> int:
    counts = quiz.store.counts(learner)
    print(f"\nDone: {right} of {answered} remembered. {counts['due_today']} due later today, "
          f"{counts['new_today']} new questions left today.")
    return 0
