"""Real-browser fixtures: the real app in a subprocess, and a Playwright page on Debian's Chromium.

Use from a test module:

    from browser import app_server, browser, page  # noqa: F401  (pytest fixtures)

    def test_something(page, app_server):
        page.get_by_role("tab", name="Sources").click()

`app_server` is module-scoped: one app per test module, started as a user starts it
(`python app.py --db TMP --knowledge TMP --port FREE`) on a copy of tests/data/notes. Override the
`app_notes` fixture in a module to start it on other notes. `page` is a fresh 1280x800 light-theme
page already on the app, with `page.errors` collecting uncaught page errors. Set BROWSER_SHOTS to a
folder to keep screenshots taken with `shot(page, name)`.

Chromium comes from apt (`make browser`), never from `playwright install`; without it these tests
are skipped with that instruction.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
CHROMIUM = "/usr/bin/chromium"
# From the offline-stack guide: nothing in the browser may try to reach the network.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
START_TIMEOUT = float(os.environ.get("BROWSER_APP_TIMEOUT", "240"))  # model load + first index


@dataclass
class AppServer:
    url: str
    knowledge: Path
    data: Path
    process: subprocess.Popen
    log: Path

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(knowledge: Path, data: Path, log: Path, timeout: float = START_TIMEOUT) -> AppServer:
    """Start `python app.py` on the given folders and wait until it serves its page."""
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ASSISTANT_MODEL", "CHROMA_HOST")}
    env.update(PYTHONUNBUFFERED="1", GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1")
    out = open(log, "wb")
    process = subprocess.Popen(
        [sys.executable, "app.py", "--db", str(data), "--knowledge", str(knowledge), "--port", str(port),
         "--host", "127.0.0.1"],
        cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env,
    )
    out.close()
    app = AppServer(f"http://127.0.0.1:{port}/", knowledge, data, process, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"The app exited with code {process.returncode}:\n{app.log_tail()}")
        try:
            with urllib.request.urlopen(app.url, timeout=2) as response:
                if response.status == 200:
                    return app
        except OSError:
            pass
        time.sleep(0.5)
    stop_app(app)
    raise RuntimeError(f"The app did not serve {app.url} within {timeout:.0f} s:\n{app.log_tail()}")


def stop_app(app: AppServer) -> None:
    if app.process.poll() is None:
        app.process.terminate()
        try:
            app.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            app.process.kill()
            app.process.wait(timeout=5)


@pytest.fixture(scope="module")
def app_notes() -> Path:
    """The notes the app starts with (copied before start); override in a module for others."""
    return DATA / "notes"


@pytest.fixture(scope="module")
def app_server(tmp_path_factory, app_notes):
    base = tmp_path_factory.mktemp("app")
    knowledge = base / "knowledge"
    shutil.copytree(app_notes, knowledge)
    app = start_app(knowledge, base / "data", base / "app.log")
    yield app
    stop_app(app)


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        message = f"browser tests need Chromium at {CHROMIUM}: run `make browser` (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)  # in CI a skipped browser test would hide a broken install
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, app_server):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme="light")
    context.set_default_timeout(30_000)
    pg = context.new_page()
    pg.errors = []  # uncaught exceptions in the page
    pg.on("pageerror", lambda exc: pg.errors.append(str(exc)))
    pg.goto(app_server.url, wait_until="domcontentloaded")
    pg.get_by_role("tab").first.wait_for()
    yield pg
    context.close()


def shot(page, name: str) -> Path | None:
    """Save a full-page screenshot as $BROWSER_SHOTS/<name>.png when BROWSER_SHOTS is set."""
    folder = os.environ.get("BROWSER_SHOTS")
    if not folder:
        return None
    path = Path(folder) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path
