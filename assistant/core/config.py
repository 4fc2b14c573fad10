"""The one place environment variables are read: `Settings.from_env()`."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, fields, replace
from pathlib import Path

from .errors import AssistantError

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # the repository: assistant/core/config.py


def _offline_guard() -> None:
    # Nothing may reach a model hub: the embedding model ships inside a package. Without these,
    # a mistyped model name hangs ~75 s on the closed network before failing.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


_offline_guard()


@dataclass(frozen=True)
class Settings:
    # Where the notes live. Indexed recursively.
    knowledge_dir: Path = PROJECT_ROOT / "knowledge"
    # Where the index, caches and learner progress live; git-ignored.
    data_dir: Path = PROJECT_ROOT / "data"
    # A Chroma server (`chroma run`) to use instead of the embedded store in data_dir.
    chroma_host: str | None = None
    chroma_port: int = 8000
    # The library: one index (chunks, manifest, keyword index, ingest lock, generation) under this
    # name, so several classes can share one Chroma server without touching each other's notes.
    # "notes" is the name every index had before libraries, so existing indexes are used as they are.
    library: str = "notes"
    # Seconds an ingest's lock survives without a heartbeat before another run may take it over.
    lock_timeout: float = 60.0
    # LLM mode is on when either a key or a base URL is set; otherwise answers are extractive.
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    # A small, cheap hosted model by default; local servers need their own model name.
    llm_model: str = "gpt-4o-mini"
    # Seconds before an LLM call gives up and the offline answer is shown instead.
    llm_timeout: float = 30.0
    # Tokens of the prompt an answer may take: passages are trimmed to the sentences around the
    # best evidence to fit (time to first token on a CPU grows with it; see the README).
    llm_prompt_tokens: int = 700
    # Loopback by default: notes and progress are private until logins are configured.
    host: str = "127.0.0.1"
    port: int = 7860
    # Logins with their roles, required when listening beyond loopback (see assistant/core/logins.py).
    users_file: Path | None = None
    users: str | None = None
    # Largest note accepted by upload in the browser.
    max_upload_mb: int = 20

    def __post_init__(self):
        if not LIBRARY_NAME.fullmatch(self.library) or self.library.endswith(RESERVED_SUFFIXES):
            raise AssistantError(
                f"ASSISTANT_LIBRARY must be 3-60 letters, digits, '-' or '_', starting and ending with a "
                f"letter or digit and not ending in {' or '.join(RESERVED_SUFFIXES)}, not {self.library!r}."
            )

    @property
    def collection(self) -> str:
        """The Chroma collection of the library's chunks (its manifest is `NAME-files`)."""
        return self.library

    @property
    def llm_enabled(self) -> bool:
        return bool(self.openai_api_key or self.openai_base_url)

    def __repr__(self) -> str:
        # Settings end up in logs and tracebacks: secrets are shown as set or not, never as text.
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in SECRET_FIELDS and value:
                value = "<set>"
            elif f.name == "openai_base_url" and value:
                value = re.sub(r"//[^/@]*@", "//<credentials>@", value)
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    @classmethod
    def from_env(cls, environ: dict | None = None, **overrides) -> "Settings":
        """Settings from the environment (or `environ`), then non-None `overrides` (CLI flags)."""
        env = os.environ if environ is None else environ
        values: dict = {}
        for name, (field, parse) in _ENVIRONMENT.items():
            if env.get(name):
                try:
                    values[field] = parse(env[name])
                except ValueError:
                    raise AssistantError(
                        f"{name} must be a {'number' if parse in (int, float) else 'value'}, "
                        f"not {env[name]!r}; fix or unset it."
                    ) from None
        if env.get("ASSISTANT_COLLECTION") and not env.get("ASSISTANT_LIBRARY"):
            # The variable's old name: the collection it named is that library's chunk collection.
            values["library"] = env["ASSISTANT_COLLECTION"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        for key in ("knowledge_dir", "data_dir"):
            values[key] = Path(values.get(key, getattr(cls, key))).expanduser()
        return cls(**values)

    def with_(self, **changes) -> "Settings":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


# Chroma's collection-name rules, kept short; the suffixes name a library's other collections, so a
# library called "x-files" would collide with library "x"'s manifest.
LIBRARY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{1,58}[A-Za-z0-9]")
RESERVED_SUFFIXES = ("-files", "-meta")
SECRET_FIELDS = {"openai_api_key", "users"}

# Environment variable -> (Settings field, parser). Documented in the README's configuration table.
_ENVIRONMENT = {
    "ASSISTANT_KNOWLEDGE_DIR": ("knowledge_dir", Path),
    "ASSISTANT_DATA_DIR": ("data_dir", Path),
    "CHROMA_HOST": ("chroma_host", str),
    "CHROMA_PORT": ("chroma_port", int),
    "ASSISTANT_LIBRARY": ("library", str),
    "ASSISTANT_LOCK_TIMEOUT": ("lock_timeout", float),
    "OPENAI_API_KEY": ("openai_api_key", str),
    "OPENAI_BASE_URL": ("openai_base_url", str),
    "ASSISTANT_MODEL": ("llm_model", str),
    "ASSISTANT_LLM_TIMEOUT": ("llm_timeout", float),
    "ASSISTANT_LLM_PROMPT_TOKENS": ("llm_prompt_tokens", int),
    "ASSISTANT_HOST": ("host", str),
    "ASSISTANT_PORT": ("port", int),
    "ASSISTANT_USERS_FILE": ("users_file", Path),
    "ASSISTANT_USERS": ("users", str),
}
