"""Index the notes: `python ingest.py [--knowledge DIR] [--db DIR] [--library NAME] [--reset] [--json]`.

Incremental: unchanged files cost nothing, changed files are re-embedded, deleted files leave the
index. Safe to interrupt; the next run finishes the work. It changes one library only (default
`notes`, or $ASSISTANT_LIBRARY), and refuses to run while another run works on that library.
"""

from __future__ import annotations

import argparse
import json
import sys

from assistant.core.config import Settings
from assistant.core.errors import AssistantError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--knowledge", help="notes folder (default: knowledge/, or $ASSISTANT_KNOWLEDGE_DIR)")
    parser.add_argument("--db", help="data directory (default: data/, or $ASSISTANT_DATA_DIR)")
    parser.add_argument("--library", help="the library to index (default: notes, or $ASSISTANT_LIBRARY)")
    parser.add_argument("--reset", action="store_true", help="drop the library's index and rebuild it")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = parser.parse_args(argv)

    from assistant.services import Services

    try:
        settings = Settings.from_env(knowledge_dir=args.knowledge, data_dir=args.db, library=args.library)
    except AssistantError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if not settings.knowledge_dir.is_dir():
        print(f"The notes folder {settings.knowledge_dir} does not exist; create it or pass --knowledge.",
              file=sys.stderr)
        return 2
    try:
        services = Services(settings)
        report = services.admin.ingest(reset=args.reset, progress=_progress_bar())
    except AssistantError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nInterrupted; the index still holds every file finished so far. Run again to complete it.",
              file=sys.stderr)
        return 130
    for skipped in report.skipped:
        print(f"skipped {skipped.path}: {skipped.reason}", file=sys.stderr)
    print(report.summary(), file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_dict()))
    return 0


def _progress_bar():
    """A tqdm bar on stderr, shown only once there is something to embed."""
    from tqdm import tqdm

    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if total == 0:
            return
        if bar is None:
            bar = tqdm(total=total, unit="chunk", desc="Embedding", file=sys.stderr)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()

    return update


if __name__ == "__main__":
    sys.exit(main())
