"""The one module that talks to an LLM: hosted OpenAI or any OpenAI-compatible server, one code path.

Every failure becomes an `LLMError` whose message is one sentence for the user; the caller then
falls back to the offline answer. The API key never appears in a message, repr or log line: error
messages are built from fixed text (never the server's reply) and scrubbed of the key once more.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import httpx2
import openai

from .core.config import Settings
from .core.errors import LLMError

log = logging.getLogger(__name__)

HOSTED_URL = "https://api.openai.com/v1"
# The client insists on some key; local servers (Ollama, llama.cpp, vLLM) ignore it.
PLACEHOLDER_KEY = "not-needed"
# Connecting is quick or not at all: a dead host should not eat the whole answer budget.
CONNECT_TIMEOUT = 5.0
# Parameters a server may reject with a 400 that the call can do without (tried at most twice).
_OPTIONAL = ("response_format", "temperature", "max_tokens")


class LLM:
    """A chat model behind an OpenAI-compatible endpoint; `stream` and `complete` raise only LLMError."""

    def __init__(self, settings: Settings, http_client=None):
        self.model: str = settings.llm_model
        self.timeout = float(settings.llm_timeout)
        self.prompt_tokens = int(settings.llm_prompt_tokens)  # the answer prompt's budget (generation.py)
        self.hosted = not settings.openai_base_url
        # Always explicit, so the client never falls back to OPENAI_* variables that Settings ignored.
        base_url = settings.openai_base_url or HOSTED_URL
        self.base_url = _display_url(base_url)
        self._key = settings.openai_api_key or ""
        self._json_mode_ok = True  # set to False once a server rejects response_format
        self._client = openai.OpenAI(
            api_key=settings.openai_api_key or PLACEHOLDER_KEY,
            base_url=base_url,
            timeout=httpx2.Timeout(self.timeout, connect=min(CONNECT_TIMEOUT, self.timeout)),
            # No SDK retries: a timeout retried would double the wait, and the caller falls back anyway.
            max_retries=0,
            http_client=http_client,
        )

    def __repr__(self) -> str:
        return f"LLM(model={self.model!r}, base_url={self.base_url!r})"

    __str__ = __repr__

    # -- public API ------------------------------------------------------------------------------

    def stream(
        self, messages: list[dict], *, max_tokens: int | None = None, temperature: float = 0.2
    ) -> Iterator[str]:
        """Yield text deltas; raises LLMError on any failure, also after some deltas were yielded."""
        chunks = self._create(self._params(messages, max_tokens, temperature, json_mode=False), stream=True)
        finished = False
        try:
            iterator = iter(chunks)
            while True:
                try:
                    chunk = next(iterator)
                except StopIteration:
                    break
                except Exception as exc:  # noqa: BLE001 - every failure becomes one LLMError
                    raise self._error(exc, streaming=True) from None
                text, done = self._read_chunk(chunk)
                finished = finished or done
                if text:
                    yield text
        finally:
            _close(chunks)  # also when the consumer stops early: the server stops generating
        if not finished:
            raise self._fail(
                f"The reply from the LLM at {self.base_url} stopped before it was finished; "
                "try again, or check the server if it keeps happening."
            )

    def complete(
        self,
        messages: list[dict],
        *,
        max_tokens: int | None = None,
        temperature: float = 0.2,
        json_mode: bool = False,
    ) -> str:
        """The whole reply as one string. With json_mode the server is asked for a JSON object when it
        supports that; the caller must still validate the text."""
        params = self._params(messages, max_tokens, temperature, json_mode=json_mode and self._json_mode_ok)
        reply = self._create(params, stream=False)
        try:
            choice = reply.choices[0]
            text = choice.message.content
        except Exception:  # noqa: BLE001 - not a chat completion at all (HTML page, plain text, ...)
            raise self._malformed() from None
        if not isinstance(text, str):
            if text is None and getattr(choice, "finish_reason", None) is not None:
                raise self._fail(
                    f"The LLM at {self.base_url} returned no text; try again or use another model "
                    "(set ASSISTANT_MODEL)."
                )
            raise self._malformed()
        return text

    # -- internals -------------------------------------------------------------------------------

    def _params(self, messages, max_tokens, temperature, *, json_mode: bool) -> dict:
        params: dict = {"model": self.model, "messages": messages, "temperature": temperature}
        if max_tokens is not None:
            params["max_tokens"] = max_tokens
        if json_mode:
            params["response_format"] = {"type": "json_object"}
        return params

    def _create(self, params: dict, *, stream: bool):
        """One request; when the server rejects an optional parameter (400/422), drop it and retry,
        at most twice. Other failures raise LLMError at once."""
        asked_json = "response_format" in params
        for attempt in range(3):
            try:
                reply = self._client.chat.completions.create(**params, stream=stream)
            except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                reduced = _without_rejected(params, exc) if attempt < 2 else None
                if reduced is None:
                    raise self._error(exc) from None
                log.info("The LLM rejected a parameter (HTTP %s); retrying without it", exc.status_code)
                params = reduced
            except Exception as exc:  # noqa: BLE001 - every failure becomes one LLMError
                raise self._error(exc) from None
            else:
                if asked_json and "response_format" not in params:
                    self._json_mode_ok = False  # this server does not take it: do not ask again
                return reply
        raise AssertionError("unreachable")

    def _read_chunk(self, chunk) -> tuple[str, bool]:
        """(text delta, finished?) of one streamed chunk; LLMError when it is not a chat chunk."""
        choices = getattr(chunk, "choices", None)
        if not isinstance(choices, list):
            raise self._malformed()
        text, done = "", False
        for choice in choices:
            delta = getattr(choice, "delta", None)
            content = getattr(delta, "content", None) if delta is not None else None
            if content is not None and not isinstance(content, str):
                raise self._malformed()
            text += content or ""
            done = done or getattr(choice, "finish_reason", None) is not None
        return text, done

    def _error(self, exc: Exception, *, streaming: bool = False) -> LLMError:
        """Translate any exception from the client into one user-facing sentence."""
        url, model = self.base_url, self.model
        log.debug("LLM call failed: %s (HTTP %s)", type(exc).__name__, getattr(exc, "status_code", "-"))
        if isinstance(exc, openai.APITimeoutError):
            return self._fail(
                f"The LLM at {url} did not answer within {self.timeout:g} s; "
                "try again, use a faster model, or raise ASSISTANT_LLM_TIMEOUT."
            )
        if isinstance(exc, openai.APIConnectionError):
            if streaming:
                return self._fail(
                    f"The connection to the LLM at {url} broke off in the middle of the reply; "
                    "try again, or check the server if it keeps happening."
                )
            if self.hosted:
                return self._fail(
                    f"Cannot reach the OpenAI API at {url}; check the network connection, "
                    "or unset OPENAI_API_KEY to answer offline."
                )
            return self._fail(
                f"Cannot reach the LLM at {url}; start the server or unset OPENAI_BASE_URL to answer offline."
            )
        if isinstance(exc, openai.APIStatusError):
            return self._fail(_status_message(exc, url, model))
        if isinstance(exc, openai.APIError):  # an error event inside a stream
            return self._fail(
                f"The LLM at {url} reported an error while answering; "
                "try again, or check the server's log if it keeps happening."
            )
        return self._malformed()  # garbage JSON in an event, a reply of the wrong shape, ...

    def _malformed(self) -> LLMError:
        return self._fail(
            f"The LLM at {self.base_url} sent a reply that is not valid OpenAI-compatible output; "
            "check that OPENAI_BASE_URL points to an OpenAI-compatible API (usually ending in /v1)."
        )

    def _fail(self, message: str) -> LLMError:
        if self._key and len(self._key) >= 4:
            message = message.replace(self._key, "***")
        return LLMError(message)


def make_llm(settings: Settings) -> LLM | None:
    """The configured model, or None in offline mode (neither a key nor a base URL set)."""
    if not settings.llm_enabled:
        return None
    return LLM(settings)


# -- helpers -------------------------------------------------------------------------------------


def _status_message(exc: openai.APIStatusError, url: str, model: str) -> str:
    code = exc.status_code
    if code == 401:
        return (
            f"The LLM at {url} rejected the API key (HTTP 401); "
            "check OPENAI_API_KEY, or unset it to answer offline."
        )
    if code == 403:
        return (
            f"The LLM at {url} refused access (HTTP 403); "
            f'check that OPENAI_API_KEY may use the model "{model}".'
        )
    if code == 404:
        return (
            f'The LLM at {url} has no model named "{model}" (HTTP 404); '
            "set ASSISTANT_MODEL to a model it serves"
            + ("." if url == HOSTED_URL else ", and check that OPENAI_BASE_URL ends in /v1.")
        )
    if code == 429:
        if exc.code == "insufficient_quota":
            return (
                f"The account behind OPENAI_API_KEY is out of quota at {url} (HTTP 429); "
                "add credit or use another key."
            )
        return (
            f"The LLM at {url} is rate-limiting requests or the account is out of quota (HTTP 429); "
            "wait a minute and try again, or check the account's usage limits."
        )
    if code >= 500:
        return (
            f"The LLM server at {url} failed with HTTP {code}; "
            "try again later, or check the server's log if it keeps happening."
        )
    return (
        f'The LLM at {url} rejected the request (HTTP {code}); the conversation may be too long for "{model}", '
        "or set ASSISTANT_MODEL to a model the server supports."
    )


def _without_rejected(params: dict, exc: openai.APIStatusError) -> dict | None:
    """`params` minus the optional parameter the 400/422 complains about, or None if there is none."""
    named = exc.param if isinstance(exc.param, str) else ""
    body = exc.body if isinstance(exc.body, dict) else {}
    text = f"{named} {body.get('message', '')}".lower()
    for name in _OPTIONAL:
        if name in params and name in text:
            return _drop(params, name)
    if "response_format" in params:  # the usual culprit when the server does not say
        return _drop(params, "response_format")
    return None


def _drop(params: dict, name: str) -> dict:
    reduced = {k: v for k, v in params.items() if k != name}
    if name == "max_tokens":  # newer hosted models want the new name instead
        reduced["max_completion_tokens"] = params[name]
    return reduced


def _display_url(url: str) -> str:
    """The base URL without credentials, query or fragment, safe to show."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port:
            host = f"{host}:{parts.port}"
        return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))
    except ValueError:
        return "the configured OPENAI_BASE_URL"


def _close(stream) -> None:
    try:
        stream.close()
    except Exception:  # noqa: BLE001 - closing a broken connection may fail too; nothing to do
        pass
