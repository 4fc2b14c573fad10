"""The command line: `python -m assistant search|ask|chat|quiz|next ...`."""

from __future__ import annotations

import argparse
import json
import sys

from ..core.config import Settings
from ..core.errors import AssistantError


def _lines(stdin) -> list[str]:
    return [line.strip() for line in stdin if line.strip()]


def cmd_search(services, args) -> int:
    def run(query: str) -> dict:
        hits = services.sources.search(query, k=args.k, scope=args.scope)
        return {"query": query, "hits": [h.to_dict(rank) for rank, h in enumerate(hits, start=1)]}

    queries = [args.query] if args.query else None
    if queries is None:
        # One query per line; the model loads once and answers stream out as they come.
        for query in (line.strip() for line in sys.stdin):
            if query:
                _emit(run(query), args.json)
        return 0
    _emit(run(queries[0]), args.json)
    return 0


def cmd_ask(services, args) -> int:
    answerer = services.ask
    if args.question:
        _print_answer(answerer.ask(args.question), args.json)
        return 0
    # One question per line; the model loads once. A line that is a JSON object
    # {"question": ..., "history": [{"role", "content"}, ...]} is answered as a follow-up of that
    # conversation (OpenAI messages, oldest first); any other line is a question on its own.
    for number, line in enumerate(sys.stdin, start=1):
        line = line.strip()
        if not line:
            continue
        try:
            question, history = _conversation_line(line)
        except ValueError as exc:
            print(f"line {number}: {exc}; skipped.", file=sys.stderr, flush=True)
            continue
        _print_answer(answerer.ask(question, history), args.json)
    return 0


def _conversation_line(line: str) -> tuple[str, list[dict]]:
    """(question, history) from one stdin line; ValueError with a reason for a malformed object."""
    if not line.startswith("{"):
        return line, []
    try:
        value = json.loads(line)
    except ValueError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    question = value.get("question") if isinstance(value, dict) else None
    if not isinstance(question, str) or not question.strip():
        raise ValueError('a JSON line needs a "question" string')
    history = value.get("history", [])
    if not isinstance(history, list) or not all(
            isinstance(t, dict) and t.get("role") in ("user", "assistant") and isinstance(t.get("content"), str)
            for t in history):
        raise ValueError('"history" must be a list of {"role": "user" or "assistant", "content": text}')
    return question, history


def _print_answer(answer, as_json: bool) -> None:
    if answer.notice:
        print(answer.notice, file=sys.stderr)
    if as_json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False), flush=True)
        return
    print(answer.text)
    for c in answer.citations:
        print(f"  [{c.n}] {c.chunk.source} › {c.chunk.heading}")
    if answer.verdict:
        print(_verdict_line(answer))
    print(flush=True)


def _verdict_line(answer) -> str:
    """How a generated answer held up against the notes, sentence by sentence."""
    struck = sum(c.status == "struck" for c in answer.checks)
    line = f"  (checked against your notes: {answer.verdict}"
    line += f"; {struck} sentence{'s' if struck != 1 else ''} not in your notes)" if struck else ")"
    return line


def cmd_chat(services, args) -> int:
    """An interactive terminal chat; follow-up questions use the conversation."""
    answerer = services.ask
    print(f"Mode: {answerer.mode_label}. Ask about your notes; an empty line or Ctrl-D quits.")
    history: list[dict] = []
    while True:
        try:
            question = input("\nyou> ").strip()
        except EOFError:
            print()
            return 0
        if not question:
            return 0
        shown = ""
        answer = None
        print("tutor> ", end="", flush=True)
        for answer in answerer.stream(question, history):
            if not answer.done:  # stream LLM tokens as they arrive
                print(answer.text[len(shown):], end="", flush=True)
                shown = answer.text
        if answer.notice:
            print(f"\n({answer.notice})")
        if answer.text != shown:
            print(("\n" if shown else "") + answer.text)
        for c in answer.citations:
            print(f"  [{c.n}] {c.chunk.source} › {c.chunk.heading}")
        if answer.verdict:
            print(_verdict_line(answer))
        history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.text}]


def _emit(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, ensure_ascii=False), flush=True)
        return
    print(f"Query: {result['query']}")
    if not result["hits"]:
        print("  (no matching passages)")
    for hit in result["hits"]:
        snippet = " ".join(hit["text"].split())[:110]
        print(f"{hit['rank']:>3}  {hit['score']:.4f}  {hit['source']} › {hit['heading']}")
        print(f"       {snippet}")
    print(flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m assistant", description=__doc__)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", help="data directory (default: data/, or $ASSISTANT_DATA_DIR)")
    common.add_argument("--knowledge", help="notes folder (default: knowledge/)")
    common.add_argument("--library", help="the library to read (default: notes, or $ASSISTANT_LIBRARY)")
    common.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="command", required=True)

    search = sub.add_parser("search", parents=[common], help="hybrid search over the notes")
    search.add_argument("query", nargs="?", help="the query; omit to read one per line from stdin")
    search.add_argument("--k", type=int, default=5, help="how many passages (default 5)")
    search.add_argument("--scope", help="only sources under this folder or file prefix")
    search.set_defaults(func=cmd_search)

    ask = sub.add_parser("ask", parents=[common], help="answer a question from the notes, with citations")
    ask.add_argument("question", nargs="?", help="the question; omit to read one per line from stdin "
                     "(a line may be a JSON object {\"question\", \"history\"} for a follow-up)")
    ask.set_defaults(func=cmd_ask)

    chat = sub.add_parser("chat", parents=[common], help="interactive chat with follow-up questions")
    chat.set_defaults(func=cmd_chat)

    from .quiz import register as register_quiz
    from .quiz import register_next

    register_quiz(sub, common)
    register_next(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..services import Services

    try:
        services = Services(Settings.from_env(data_dir=args.db, knowledge_dir=args.knowledge, library=args.library))
        return args.func(services, args)
    except AssistantError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


