"""The wiring: builds the object graph once and hands the edges (UI, CLI) four use-case objects.

    services = Services(Settings.from_env())
    services.ask      # Answerer: questions answered from the notes
    services.quiz     # Quiz: questions, checking, reviews
    services.sources  # Sources: the notes folder, its view, search, upload, delete
    services.admin    # Admin: indexing runs
    services.warmup   # the app's loading in the background (warmup.py); the CLI loads at once

Everything is created lazily, so a command loads only what it uses (offline quiz questions need no
embedding model). This module stands above the features: nothing below it imports it.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from .core.config import Settings
from .core.schema import Chunk, IngestReport

if TYPE_CHECKING:
    from .index.ingestion import Progress
    from .warmup import Warmup


class Services:
    def __init__(self, settings: Settings | None = None, embedder=None):
        """`embedder`: one already made (the app's EmbeddingProcess, index/embedding_process.py);
        by default the model loads in this process when first needed."""
        self.settings = settings or Settings.from_env()
        if embedder is not None:
            self.__dict__["embedder"] = embedder

    # --- components -----------------------------------------------------------------------

    @cached_property
    def store(self):
        from .index.store import VectorStore

        return VectorStore(self.settings)

    @cached_property
    def embedder(self):
        from .index.embeddings import default_embedder

        return default_embedder()

    @cached_property
    def retriever(self):
        from .index.retrieval import Retriever

        # The keyword index is saved per library: libraries sharing a data folder never swap theirs.
        keyword_cache = self.settings.data_dir / "keyword-index" / self.settings.library
        return Retriever(self.store, self.embedder, cache_dir=keyword_cache)

    @cached_property
    def llm(self):
        """The configured OpenAI-compatible model, or None in offline mode."""
        if not self.settings.llm_enabled:
            return None  # without importing the LLM client (0.6 s of an app's loading)
        from .llm import make_llm

        return make_llm(self.settings)

    @cached_property
    def warmup(self) -> Warmup:
        from .warmup import Warmup

        return Warmup(self)

    def chunks(self) -> list[Chunk]:
        """Every indexed chunk: the retriever's copy once it is loaded, else read from the store
        (so the quiz and the Sources tree never load the embedding model just to list passages).
        In the app, after the first index the app builds in the background (not the model)."""
        if "warmup" in self.__dict__:
            self.warmup.wait_indexed()
        if "retriever" in self.__dict__:
            return list(self.retriever.chunks)
        return self.store.committed_chunks()

    def embedder_failure(self) -> str | None:
        """Why the embedder can no longer embed anything (the app's model process died twice),
        as one sentence; None when it can or has not been made."""
        return getattr(self.__dict__.get("embedder"), "failure", None)

    def token_counter(self):
        """Counts model tokens when the model is already loaded; None rather than load it."""
        return self.embedder.count_tokens if "embedder" in self.__dict__ else None

    # --- use cases ------------------------------------------------------------------------

    @cached_property
    def ask(self):
        from .ask.answerer import Answerer

        return OneGeneration(Answerer(self.retriever, self.llm))

    def role(self, login: str | None) -> str:
        """What a login may do: "teacher" (change the notes) or "learner" (read them). Without
        logins the one local user is the teacher."""
        from .core.logins import role_of

        return role_of(self.logins, login)

    @cached_property
    def logins(self):
        from .core.logins import load_users

        return load_users(self.settings.users_file, self.settings.users)

    @cached_property
    def quiz(self):
        from .quiz.service import Quiz

        return Quiz(self._review_store, chunks=self.chunks, embedder=lambda: self.embedder, llm=lambda: self.llm)

    def _review_store(self):
        from .quiz.scheduling import ReviewStore

        return ReviewStore(self.settings.data_dir, library=self.settings.library)

    @cached_property
    def admin(self) -> Admin:
        return Admin(self)

    @cached_property
    def sources(self):
        from .sources.service import Sources

        return Sources(self.settings.knowledge_dir, lambda: self.store, chunks=self.chunks, role=self.role,
                       search=lambda q, k, scope=None: self._loaded_retriever().search(q, k=k, scope=scope),
                       admin=self.admin,
                       token_counter=self.token_counter, max_upload_mb=self.settings.max_upload_mb)

    def _loaded_retriever(self):
        """The retriever; in the app, once loaded in the background (AssistantError: why it was not)."""
        if "warmup" in self.__dict__:
            return self.warmup.answerer().retriever
        return self.retriever


class OneGeneration:
    """The Answerer, answering each question from one generation of the library: the generation is
    checked once (reloading the keyword index and chunk list when another run changed the notes),
    and every search of that answer reads the same snapshot. Everything else is the Answerer's."""

    def __init__(self, answerer):
        self._answerer = answerer

    def __getattr__(self, name):
        return getattr(self._answerer, name)

    def stream(self, question: str, history: list[dict] | None = None):
        from .ask.answerer import Answerer

        live = self._answerer
        pinned = Answerer(live.retriever.current(), live.llm, live.config, live.picker)
        yield from pinned.stream(question, history)

    def ask(self, question: str, history: list[dict] | None = None):
        answer = None
        for answer in self.stream(question, history):
            pass
        return answer


class Admin:
    """Indexing runs: incremental ingest, first-start indexing, taking one note out."""

    def __init__(self, services: Services):
        self._services = services

    def _indexer(self, embedding: bool = True):
        from .index.ingestion import Indexer

        s = self._services
        # The model is handed over as a call: the indexer loads it while it reads the notes.
        return Indexer(s.settings.knowledge_dir, s.settings.data_dir, s.store,
                       (lambda: s.embedder) if embedding else None)

    def ingest(self, reset: bool = False, progress: Progress | None = None) -> IngestReport:
        report = self._indexer().run(reset=reset, progress=progress)
        self._changed()
        return report

    def ensure_index(self) -> IngestReport | None:
        """Index the knowledge folder on first start, when there is no index yet. When another
        instance of the library is indexing it right now, wait for that run instead."""
        from .core.errors import IndexBusy
        from .index.library import Library

        store = self._services.store
        if store.count() > 0:
            return None
        try:
            return self.ingest()
        except IndexBusy:
            Library(store).wait_until_free()
            return None

    def remove(self, rel: str, delete_file) -> int:
        """See Indexer.remove."""
        try:
            return self._indexer(embedding=False).remove(rel, delete_file)
        finally:
            self._changed()

    def _changed(self) -> None:
        if "retriever" in self._services.__dict__:
            self._services.retriever.current()  # reloads only when the run changed the library
