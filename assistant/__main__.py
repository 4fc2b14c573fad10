"""The command line: `python -m assistant search|ask|chat|quiz ...`."""

from __future__ import annotations

import argparse
import json
import sys

from .config import Settings
from .errors import AssistantError


def _lines(stdin) -> list[str]:
    return [line.strip() for line in stdin if line.strip()]


def cmd_search(runtime, args) -> int:
    def run(query: str) -> dict:
        hits = runtime.retriever.search(query, k=args.k, scope=args.scope)
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
    common.add_argument("--json", action="store_true", help="machine-readable output")
    sub = parser.add_subparsers(dest="command", required=True)

    search = sub.add_parser("search", parents=[common], help="hybrid search over the notes")
    search.add_argument("query", nargs="?", help="the query; omit to read one per line from stdin")
    search.add_argument("--k", type=int, default=5, help="how many passages (default 5)")
    search.add_argument("--scope", help="only sources under this folder or file prefix")
    search.set_defaults(func=cmd_search)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .runtime import Runtime

    runtime = Runtime(Settings.from_env(data_dir=args.db, knowledge_dir=args.knowledge))
    try:
        return args.func(runtime, args)
    except AssistantError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
