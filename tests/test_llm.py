"""assistant.llm against a real llama.cpp server first; scripted HTTP replies only for failures a
local server cannot be made to produce (401, 429, 5xx, broken streams)."""

from __future__ import annotations

import json
import logging
import socket
import time
import traceback

import httpx2
import pytest

from assistant.core.config import Settings
from assistant.core.errors import LLMError
from assistant.llm import LLM, make_llm

QUESTION = [
    {"role": "system", "content": "You are a helpful tutor."},
    {"role": "user", "content": "What is a transformer in machine learning?"},
]
KEY = "sk-test-Zq9SECRETkey0123456789"


def local(base_url: str, **changes) -> Settings:
    return Settings.from_env(environ={}, openai_base_url=base_url, llm_model="smollm2", **changes)


# -- the real server -------------------------------------------------------------------------------


def test_stream_yields_several_deltas_that_join_into_the_complete_reply(llm_server):
    llm = LLM(local(llm_server))
    deltas = list(llm.stream(QUESTION, max_tokens=24, temperature=0.0))
    assert len(deltas) >= 5 and all(isinstance(d, str) for d in deltas)
    whole = llm.complete(QUESTION, max_tokens=24, temperature=0.0)
    assert whole.strip() and "".join(deltas) == whole  # greedy decoding: the same text both ways


def test_complete_and_the_model_name(llm_server):
    llm = make_llm(local(llm_server))
    assert isinstance(llm, LLM) and llm.model == "smollm2"
    text = llm.complete([{"role": "user", "content": "Say hello."}], max_tokens=16)
    assert isinstance(text, str) and text.strip()


def test_json_mode_round_trip(llm_server):
    llm = LLM(local(llm_server))
    ask = [{"role": "user", "content": 'Reply with a JSON object like {"answer": "..."}: what is 2+2?'}]
    text = llm.complete(ask, max_tokens=40, json_mode=True)
    assert isinstance(text, str) and text.strip()  # the caller validates the JSON itself
    assert llm._json_mode_ok  # llama.cpp accepts response_format: no fallback was needed


def test_a_stream_closed_early_frees_the_server(llm_server):
    llm = LLM(local(llm_server))
    stream = llm.stream(QUESTION, max_tokens=200)
    assert next(stream)
    stream.close()  # e.g. the user navigated away
    start = time.monotonic()
    assert llm.complete([{"role": "user", "content": "Hi"}], max_tokens=4)
    assert time.monotonic() - start < 15  # not stuck behind the abandoned 200-token reply


def test_offline_settings_give_no_llm():
    assert make_llm(Settings.from_env(environ={})) is None


# -- endpoints that are down or hang ---------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call_llm(llm: LLM, call: str) -> None:
    llm.complete(QUESTION) if call == "complete" else list(llm.stream(QUESTION))


@pytest.mark.parametrize("call", ["complete", "stream"])
def test_connection_refused_gives_one_sentence_with_advice(call):
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    with pytest.raises(LLMError) as err:
        call_llm(LLM(local(url)), call)
    assert str(err.value) == (
        f"Cannot reach the LLM at {url}; start the server or unset OPENAI_BASE_URL to answer offline."
    )


@pytest.mark.parametrize("call", ["complete", "stream"])
def test_a_failed_connection_is_tried_once(call):
    def refuse(request):
        raise httpx2.ConnectError("connection refused")

    script = Scripted(refuse)
    with pytest.raises(LLMError, match="Cannot reach the LLM"):
        call_llm(script.llm(), call)
    assert len(script.requests) == 1  # no retry


@pytest.fixture
def hanging():
    """A listening socket that never accepts: the kernel completes each connection into its backlog,
    and no byte ever comes back."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s


def _connections(listener: socket.socket) -> list[bytes]:
    """What each client that connected to `listener` sent before it hung up (every connection is in
    the backlog: the test never accepted one while the call ran)."""
    listener.setblocking(False)
    sent = []
    while True:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return sent
        with conn:
            conn.settimeout(10)
            data = b""
            while part := conn.recv(65536):  # b"": the client closed its end
                data += part
            sent.append(data)


@pytest.mark.parametrize("call", ["complete", "stream"])
def test_a_hanging_endpoint_is_given_up_after_one_attempt(hanging, call):
    url = f"http://127.0.0.1:{hanging.getsockname()[1]}/v1"
    with pytest.raises(LLMError) as err:
        call_llm(LLM(local(url, llm_timeout=1.0)), call)
    message = str(err.value)
    assert "did not answer within 1 s;" in message and "ASSISTANT_LLM_TIMEOUT" in message
    assert message.count(". ") == 0 and message.endswith(".")  # one sentence
    # One request was sent, and the client then closed the connection (gave up), with no retry.
    sent = _connections(hanging)
    assert len(sent) == 1 and sent[0].startswith(b"POST /v1/chat/completions ")


# -- scripted replies --------------------------------------------------------------------------------


class Scripted:
    """An httpx2 MockTransport that answers each request with the next scripted reply."""

    def __init__(self, *replies):
        self.replies = list(replies)
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if callable(reply):
            return reply(request)
        return httpx2.Response(reply.status_code, headers=reply.headers, content=reply.content)  # a fresh copy

    def bodies(self) -> list[dict]:
        return [json.loads(r.content) for r in self.requests]

    def llm(self, settings: Settings | None = None) -> LLM:
        settings = settings or local("http://127.0.0.1:1234/v1")
        return LLM(settings, http_client=httpx2.Client(transport=httpx2.MockTransport(self)))


def error(status: int, message: str = "nope", code: str | None = None, **headers) -> httpx2.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
    return httpx2.Response(status, json=body, headers=headers)


def chunk(content: str | None, finish: str | None = None) -> dict:
    delta = {} if content is None else {"content": content}
    return {
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def sse(*events, done: bool = True) -> bytes:
    raw = b"".join(
        (e if isinstance(e, bytes) else b"data: " + json.dumps(e).encode()) + b"\n\n" for e in events
    )
    return raw + (b"data: [DONE]\n\n" if done else b"")


def sse_reply(body) -> httpx2.Response:
    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)


def completion(text: str) -> httpx2.Response:
    return httpx2.Response(200, json={
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
    })


def test_a_scripted_stream_and_completion_parse():
    script = Scripted(sse_reply(sse(chunk("Hel"), chunk("lo"), chunk(None, "stop"))), completion("Hi"))
    llm = script.llm()
    assert list(llm.stream(QUESTION, max_tokens=7)) == ["Hel", "lo"]
    assert llm.complete(QUESTION) == "Hi"
    first = script.bodies()[0]
    assert first["stream"] is True and first["max_tokens"] == 7 and first["model"] == "smollm2"
    assert script.requests[0].headers["authorization"] == "Bearer not-needed"  # placeholder for local servers


def test_hosted_openai_by_default_and_environment_variables_are_not_read_behind_settings(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    script = Scripted(completion("ok"))
    llm = script.llm(Settings.from_env(environ={}, openai_api_key=KEY))
    assert llm.complete(QUESTION) == "ok"
    request = script.requests[0]
    assert str(request.url) == "https://api.openai.com/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert llm.model == "gpt-4o-mini"


def test_a_401_that_echoes_the_key_leaks_it_nowhere(caplog):
    caplog.set_level(logging.DEBUG)
    echo = lambda request: error(  # noqa: E731 - the server repeats the key it was sent, as OpenAI does
        401, f"Incorrect API key provided: {request.headers['authorization'][7:]}.", "invalid_api_key"
    )
    script = Scripted(echo)
    llm = script.llm(local("http://127.0.0.1:1234/v1", openai_api_key=KEY))
    for call in (lambda: llm.complete(QUESTION), lambda: list(llm.stream(QUESTION))):
        with pytest.raises(LLMError) as err:
            call()
        assert "rejected the API key (HTTP 401); check OPENAI_API_KEY" in str(err.value)
        shown = "".join(traceback.format_exception(err.value)) + repr(err.value) + str(err.value)
        assert KEY not in shown and KEY[:12] not in shown
    assert KEY in script.requests[0].headers["authorization"]  # it was sent, and echoed back
    assert KEY not in repr(llm) and KEY not in str(llm)
    assert KEY not in caplog.text


def test_credentials_in_the_base_url_are_not_shown():
    llm = LLM(local(f"http://user:{KEY}@127.0.0.1:{_closed_port()}/v1?key={KEY}"))
    with pytest.raises(LLMError) as err:
        llm.complete(QUESTION)
    assert KEY not in str(err.value) and KEY not in repr(llm)
    assert "Cannot reach the LLM at http://127.0.0.1:" in str(err.value)


@pytest.mark.parametrize(
    "reply, expected",
    [
        (error(403, "forbidden"), 'refused access (HTTP 403); check that OPENAI_API_KEY may use the model "smollm2"'),
        (error(404, "model 'smollm2' not found", "model_not_found"),
         'has no model named "smollm2" (HTTP 404); set ASSISTANT_MODEL to a model it serves'),
        (error(429, "Rate limit reached", "rate_limit_exceeded", **{"retry-after": "1"}),
         "is rate-limiting requests or the account is out of quota (HTTP 429)"),
        (error(429, "You exceeded your current quota", "insufficient_quota"), "is out of quota"),
        (error(500, "boom"), "failed with HTTP 500; try again later"),
        (error(503, "loading model"), "failed with HTTP 503; try again later"),
        (httpx2.Response(502, text="<html>Bad Gateway</html>"), "failed with HTTP 502"),
    ],
)
def test_status_errors_become_one_sentence_with_advice_and_are_not_retried_much(reply, expected):
    for call in ("complete", "stream"):
        script = Scripted(reply)
        llm = script.llm()
        with pytest.raises(LLMError) as err:
            llm.complete(QUESTION) if call == "complete" else list(llm.stream(QUESTION))
        message = str(err.value)
        assert expected in message
        assert message.count(". ") == 0 and message.endswith(".")  # one sentence
        assert len(script.requests) <= 2


def test_garbage_json_in_a_stream_after_some_tokens():
    script = Scripted(sse_reply(sse(chunk("Hel"), b"data: {not json", chunk(None, "stop"))))
    got = []
    with pytest.raises(LLMError, match="not valid OpenAI-compatible output"):
        for delta in script.llm().stream(QUESTION):
            got.append(delta)
    assert got == ["Hel"]


def test_a_stream_of_the_wrong_shape_is_malformed():
    script = Scripted(sse_reply(sse({"hello": "world"})))
    with pytest.raises(LLMError, match="not valid OpenAI-compatible output"):
        list(script.llm().stream(QUESTION))


@pytest.mark.parametrize("done", [True, False])
def test_a_stream_cut_off_before_its_finish_reason(done):
    script = Scripted(sse_reply(sse(chunk("Hel"), chunk("lo"), done=done)))
    got = []
    with pytest.raises(LLMError, match="stopped before it was finished"):
        for delta in script.llm().stream(QUESTION):
            got.append(delta)
    assert got == ["Hel", "lo"]


def test_a_connection_broken_mid_stream():
    def body():
        yield sse(chunk("Hel"), done=False)
        raise httpx2.ReadError("connection reset by peer")

    script = Scripted(lambda request: sse_reply(body()))
    got = []
    with pytest.raises(LLMError, match="broke off in the middle of the reply"):
        for delta in script.llm().stream(QUESTION):
            got.append(delta)
    assert got == ["Hel"]


def test_an_error_event_inside_a_stream():
    script = Scripted(sse_reply(sse(chunk("Hel"), {"error": {"message": "out of memory"}})))
    with pytest.raises(LLMError, match="reported an error while answering"):
        list(script.llm().stream(QUESTION))


@pytest.mark.parametrize(
    "reply",
    [
        httpx2.Response(200, text="<html>a login page</html>", headers={"content-type": "text/html"}),
        httpx2.Response(200, content=b"{truncated", headers={"content-type": "application/json"}),
        httpx2.Response(200, json={"object": "list", "data": []}),
    ],
)
def test_a_completion_that_is_not_one(reply):
    with pytest.raises(LLMError, match="not valid OpenAI-compatible output"):
        Scripted(reply).llm().complete(QUESTION)


def test_json_mode_falls_back_once_when_the_server_rejects_response_format():
    script = Scripted(error(400, "Unrecognized request argument supplied: response_format"),
                      completion('{"a": 1}'))
    llm = script.llm()
    assert llm.complete(QUESTION, json_mode=True) == '{"a": 1}'
    first, second = script.bodies()
    assert first["response_format"] == {"type": "json_object"} and "response_format" not in second
    llm.complete(QUESTION, json_mode=True)
    assert "response_format" not in script.bodies()[2]  # remembered: not asked again
    assert len(script.requests) == 3


def test_json_mode_falls_back_even_when_the_400_does_not_say_why():
    script = Scripted(error(400, "bad request"), completion("{}"))
    assert script.llm().complete(QUESTION, json_mode=True) == "{}"
    assert len(script.requests) == 2


def test_a_400_without_json_mode_is_not_retried():
    script = Scripted(error(400, "the request exceeds the available context size"))
    with pytest.raises(LLMError, match=r'rejected the request \(HTTP 400\); .*"smollm2"'):
        script.llm().complete(QUESTION)
    assert len(script.requests) == 1


def test_a_rejected_temperature_is_dropped_for_models_that_only_take_the_default():
    script = Scripted(
        error(400, "Unsupported value: 'temperature' does not support 0.2 with this model."), completion("ok")
    )
    assert script.llm().complete(QUESTION) == "ok"
    assert "temperature" not in script.bodies()[1]
