"""Errors meant for the user: each message is one sentence saying what happened and what to do."""


class AssistantError(Exception):
    """Base class; `str(error)` is shown to the user as it is."""


class IndexBusy(AssistantError):
    """Another ingest holds the lock on the data directory."""


class IndexMissing(AssistantError):
    """Nothing has been indexed yet."""


class StoreUnavailable(AssistantError):
    """The vector store (embedded directory or Chroma server) cannot be used."""


class LLMError(AssistantError):
    """The configured LLM endpoint failed; the caller falls back to the offline answer."""
