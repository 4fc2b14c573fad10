"""The same code against a real `chroma run` server on loopback instead of the embedded store."""

import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from browser import free_port

from assistant.core.errors import StoreUnavailable
from assistant.services import Services

CHROMA = Path(sys.executable).with_name("chroma")


def _start(path: Path, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [str(CHROMA), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1)
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    pytest.fail("chroma run did not start within 30 s")


@pytest.fixture
def server(tmp_path):
    if not CHROMA.exists() and not shutil.which("chroma"):
        pytest.fail("the chroma command is missing; install requirements.txt")
    port = free_port()
    server = {"port": port, "path": tmp_path / "server-data", "proc": _start(tmp_path / "server-data", port)}
    yield server
    server["proc"].kill()  # the one running now: a test may have restarted it
    server["proc"].wait()


def test_ingest_and_search_through_a_chroma_server(settings, embedder, server, tmp_path):
    remote = settings.with_(chroma_host="127.0.0.1", chroma_port=server["port"])
    services = Services(remote)
    services.__dict__["embedder"] = embedder
    report = services.admin.ingest()
    assert report.files == 5 and report.chunks > 0
    assert not (remote.data_dir / "chroma").exists()  # nothing went to the embedded store
    hit = services.retriever.search("quadratic cost of attention", k=1)[0]
    assert hit.chunk.source == "basics/attention.html"
    # A second machine (another services, another data dir) sees the same index, incrementally.
    other = Services(remote.with_(data_dir=tmp_path / "other-data"))
    other.__dict__["embedder"] = embedder
    assert other.admin.ingest().added == 0


def test_a_server_that_goes_away_gives_a_clear_error_and_recovers(settings, embedder, server):
    remote = settings.with_(chroma_host="127.0.0.1", chroma_port=server["port"])
    services = Services(remote)
    services.__dict__["embedder"] = embedder
    services.admin.ingest()
    server["proc"].kill()
    server["proc"].wait()
    with pytest.raises(StoreUnavailable, match="not answering"):
        services.retriever.search("attention", k=1)
    server["proc"] = _start(server["path"], server["port"])
    assert services.retriever.search("quadratic cost of attention", k=1)[0].chunk.source == "basics/attention.html"
