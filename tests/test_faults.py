"""Faults a laptop really sees: a full disk, a read-only data folder. Nothing lost, one sentence."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager, suppress
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from browser import START_TIMEOUT, AppServer, free_port, stop_app
from conftest import ROOT, run_cli
from test_llm import chunk


@contextmanager
def tmpfs(path, options: str):
    """A tiny or read-only filesystem of our own; mounting needs root (as CI has)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs for a full or read-only disk")
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_full_disk_gives_one_sentence_and_exit_code_2(tmp_path, notes):
    with tmpfs(tmp_path / "full", "size=200k") as disk:
        result = run_cli("ingest.py", "--knowledge", str(notes), "--db", str(disk / "data"))
    assert result.returncode == 2
    assert "is full; free some space" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_read_only_data_folder_gives_one_sentence(tmp_path, notes):
    with tmpfs(tmp_path / "ro", "ro") as disk:
        result = run_cli("-m", "assistant", "search", "attention", "--db", str(disk / "data"))
    assert result.returncode == 2
    assert "writable" in result.stderr and "Traceback" not in result.stderr


class StallingLLM:
    """An OpenAI-compatible endpoint on loopback. Until `armed` it answers every request with HTTP 503
    (the app then falls back to offline answers and questions). Once armed, it starts a streamed
    reply with one token, sets `asked`, and holds the reply open: whoever asked is mid-answer for as
    long as the test likes, without any sleep."""

    def __init__(self):
        self.armed, self.asked, self.release = threading.Event(), threading.Event(), threading.Event()
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
                if not outer.armed.is_set():
                    reply = json.dumps({"error": {"message": "busy", "type": "server_error"}}).encode()
                    self.send_response(503)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                    return
                outer.requests.append(body)
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.end_headers()
                self.wfile.write(b"data: " + json.dumps(chunk("The last mile")).encode() + b"\n\n")
                self.wfile.flush()
                outer.asked.set()
                outer.release.wait(300)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


def start_app_with_llm(knowledge, data, log, llm_url: str) -> AppServer:
    """`python app.py` on the folders, its LLM at `llm_url`; returns once it serves its page."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "CHROMA_HOST")}
    env.update(PYTHONUNBUFFERED="1", OPENAI_BASE_URL=llm_url, ASSISTANT_MODEL="stalling")
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "app.py", "--db", str(data), "--knowledge", str(knowledge), "--port", str(port),
             "--host", "127.0.0.1"], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env)
    app = AppServer(f"http://127.0.0.1:{port}/", knowledge, data, process, log)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(app.url, timeout=2) as response:
                if response.status == 200:
                    return app
        except OSError:
            time.sleep(0.5)
    stop_app(app)
    raise RuntimeError(f"The app did not start (exit code {process.returncode}):\n{app.log_tail()}")


def test_killing_the_app_mid_answer_loses_nothing(tmp_path):
    """One app process records a quiz review, then is SIGKILLed while it is answering a question (its
    LLM request is open and has sent one token): that review, and the index, are intact afterwards."""
    from gradio_client import Client

    knowledge, data = tmp_path / "notes", tmp_path / "data"
    shutil.copytree(ROOT / "knowledge", knowledge)
    question = "What is the last mile challenge?"
    llm = StallingLLM()
    app = start_app_with_llm(knowledge, data, tmp_path / "app.log", llm.url)
    try:
        client = Client(app.url, verbose=False)
        item = client.predict(1, api_name="/quiz")["items"][0]
        verdict = client.predict(item["id"], item["answer"], 3, api_name="/quiz_answer")
        assert verdict["correct"] is True  # recorded by this process before it replied

        def ask() -> None:
            with suppress(Exception):  # the app is killed under this call on purpose
                client.predict(question, [], api_name="/ask")

        llm.armed.set()
        threading.Thread(target=ask, daemon=True).start()
        assert llm.asked.wait(120), app.log_tail()
        assert llm.requests[-1]["stream"] is True
        assert f"<question>\n{question}\n</question>" in llm.requests[-1]["messages"][-1]["content"]
        assert app.process.poll() is None  # still answering: the reply is not finished
        app.process.send_signal(signal.SIGKILL)
        assert app.process.wait(timeout=30) == -signal.SIGKILL
    finally:
        stop_app(app)
        llm.close()

    search = run_cli("-m", "assistant", "search", "LinkedIn months", "--json", "--db", str(data))
    assert search.returncode == 0, search.stderr
    assert json.loads(search.stdout)["hits"][0]["heading"].endswith("The Last Mile Challenge: Demo vs. Product")
    progress = run_cli("-m", "assistant", "quiz", "--progress", "--json", "--db", str(data),
                       "--knowledge", str(knowledge))
    assert progress.returncode == 0, progress.stderr
    assert json.loads(progress.stdout)["counts"]["reviewed_today"] == 1  # the killed process's review

