"""Start the tutor in the browser: `python app.py [--db DIR] [--port N] [--host ADDR]`."""

from __future__ import annotations

import argparse
import sys

from assistant.core.config import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", help="data directory (default: data/, or $ASSISTANT_DATA_DIR)")
    parser.add_argument("--knowledge", help="notes folder (default: knowledge/, or $ASSISTANT_KNOWLEDGE_DIR)")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1, or $ASSISTANT_HOST)")
    parser.add_argument("--port", type=int, help="port (default 7860, or $ASSISTANT_PORT)")
    args = parser.parse_args(argv)

    # First of all, the embedding model starts loading in a second process: torch loads on the
    # other core while this one imports Gradio and serves the page. In one process both are
    # Python imports taking turns on the GIL, and the first answer came seconds later.
    from assistant.index.embedding_process import EmbeddingProcess

    embedder = EmbeddingProcess()
    try:
        return _serve(args, embedder)
    finally:
        embedder.close()


def _serve(args: argparse.Namespace, embedder) -> int:
    from assistant.core.errors import AssistantError
    from assistant.services import Services
    from assistant.ui.auth import load_users, require_login_when_shared

    try:
        settings = Settings.from_env(data_dir=args.db, knowledge_dir=args.knowledge,
                                     host=args.host, port=args.port)
        users = load_users(settings.users_file, settings.users)
        require_login_when_shared(settings.host, users)
        services = Services(settings, embedder=embedder)
        from assistant.ui.app import launch

        # The page first, then the progress database (a bad ASSISTANT_DATABASE_URL stops the app
        # here with one sentence); the notes (a first index, the keyword index, the model from its
        # process) load in the background and the Ask tab says so until they are ready
        # (assistant/warmup.py).
        launch(services, users)
    except AssistantError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
