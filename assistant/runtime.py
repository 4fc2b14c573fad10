"""Builds the object graph once: settings -> store, embedder -> retriever, indexer, answerer."""

from __future__ import annotations

from functools import cached_property

from .config import Settings
from .schema import IngestReport


class Runtime:
    """Everything a front end (CLI, app) needs, created lazily so a command loads only what it uses."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings.from_env()

    @cached_property
    def store(self):
        from .store import VectorStore

        return VectorStore(self.settings)

    @cached_property
    def embedder(self):
        from .embeddings import default_embedder

        return default_embedder()

    @cached_property
    def retriever(self):
        from .retrieval import Retriever

        keyword_cache = self.settings.data_dir / "keyword-index" / self.settings.collection
        return Retriever(self.store, self.embedder, cache_dir=keyword_cache)

    @cached_property
    def llm(self):
        """The configured OpenAI-compatible model, or None in offline mode."""
        from .llm import make_llm

        return make_llm(self.settings)

    @cached_property
    def answerer(self):
        from .answer import Answerer

        return Answerer(self.retriever, self.llm)

    @cached_property
    def quiz(self):
        from .quiz import Quiz

        return Quiz(self)

    def indexer(self):
        from .ingestion import Indexer

        return Indexer(self.settings.knowledge_dir, self.settings.data_dir, self.store, self.embedder)

    def ingest(self, reset: bool = False, progress=None) -> IngestReport:
        report = self.indexer().run(reset=reset, progress=progress)
        if "retriever" in self.__dict__:
            self.retriever.refresh()
        return report

    def ensure_index(self) -> IngestReport | None:
        """Index the knowledge folder on first start, when there is no index yet."""
        if self.store.count() == 0:
            return self.ingest()
        return None
