"""The one place environment variables are read: `Settings.from_env()`."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


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
    collection: str = "notes"
    # LLM mode is on when either a key or a base URL is set; otherwise answers are extractive.
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    # A small, cheap hosted model by default; local servers need their own model name.
    llm_model: str = "gpt-4o-mini"
    # Seconds before an LLM call gives up and the offline answer is shown instead.
    llm_timeout: float = 30.0
    # Loopback by default: notes and progress are private until logins are configured.
    host: str = "127.0.0.1"
    port: int = 7860
    # Logins, required when listening beyond loopback (see assistant/auth.py).
    users_file: Path | None = None
    users: str | None = None
    # Largest note accepted by upload in the browser.
    max_upload_mb: int = 20

    @property
    def llm_enabled(self) -> bool:
        return bool(self.openai_api_key or self.openai_base_url)

    @classmethod
    def from_env(cls, environ: dict | None = None, **overrides) -> "Settings":
        env = os.environ if environ is None else environ
        values: dict = {}
        if env.get("ASSISTANT_KNOWLEDGE_DIR"):
            values["knowledge_dir"] = Path(env["ASSISTANT_KNOWLEDGE_DIR"])
        if env.get("ASSISTANT_DATA_DIR"):
            values["data_dir"] = Path(env["ASSISTANT_DATA_DIR"])
        if env.get("CHROMA_HOST"):
            values["chroma_host"] = env["CHROMA_HOST"]
        if env.get("CHROMA_PORT"):
            values["chroma_port"] = int(env["CHROMA_PORT"])
        if env.get("ASSISTANT_COLLECTION"):
            values["collection"] = env["ASSISTANT_COLLECTION"]
        if env.get("OPENAI_API_KEY"):
            values["openai_api_key"] = env["OPENAI_API_KEY"]
        if env.get("OPENAI_BASE_URL"):
            values["openai_base_url"] = env["OPENAI_BASE_URL"]
        if env.get("ASSISTANT_MODEL"):
            values["llm_model"] = env["ASSISTANT_MODEL"]
        if env.get("ASSISTANT_LLM_TIMEOUT"):
            values["llm_timeout"] = float(env["ASSISTANT_LLM_TIMEOUT"])
        if env.get("ASSISTANT_HOST"):
            values["host"] = env["ASSISTANT_HOST"]
        if env.get("ASSISTANT_PORT"):
            values["port"] = int(env["ASSISTANT_PORT"])
        if env.get("ASSISTANT_USERS_FILE"):
            values["users_file"] = Path(env["ASSISTANT_USERS_FILE"])
        if env.get("ASSISTANT_USERS"):
            values["users"] = env["ASSISTANT_USERS"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        for key in ("knowledge_dir", "data_dir"):
            values[key] = Path(values.get(key, getattr(cls, key))).expanduser()
        return cls(**values)

    def with_(self, **changes) -> "Settings":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
