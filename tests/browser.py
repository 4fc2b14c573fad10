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


# What the app prints when its notes are loaded in the background, or could not be (assistant/warmup.py).
LOADED = ("Ready to answer", "Loading failed")


def start_app(knowledge: Path, data: Path, log: Path, timeout: float = START_TIMEOUT,
              env: dict[str, str] | None = None, loaded: bool = True) -> AppServer:
    """Start `python app.py` on the given folders (and `env` added to its environment) and wait
    until it serves its page and, with `loaded`, until it has loaded the notes (or says why not):
    the app serves its page first and loads in the background."""
    port = free_port()
    extra = env or {}
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ASSISTANT_MODEL", "CHROMA_HOST")}
    env.update(PYTHONUNBUFFERED="1", GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1", **extra)
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
                if response.status == 200 and (not loaded or any(w in app.log_tail() for w in LOADED)):
                    return app
        except OSError:
            pass
        time.sleep(0.5)
    stop_app(app)
    raise RuntimeError(f"The app did not serve {app.url} (and load the notes) within {timeout:.0f} s:\n"
                       f"{app.log_tail()}")


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


def answer_quiz_card(page) -> None:
    """Answer the Quiz tab's current card whatever its kind (the first option, or a typed guess)
    and check it."""
    choice = page.locator("#quiz-choice")
    if choice.is_visible():
        choice.locator("label").first.click()
    else:
        page.get_by_placeholder("Type your answer and press Enter").fill("no idea")
    page.locator("#quiz-check").click()


def use_scheme(page, scheme: str) -> None:
    """Switch the page to the "light" or "dark" system theme; Gradio follows it (.dark on <body>)."""
    page.emulate_media(color_scheme=scheme)
    page.wait_for_function("(dark) => document.body.classList.contains('dark') === dark", arg=scheme == "dark")


# Every highlight the app colours itself: marks, the citation number, badges, verdicts, status lines.
HIGHLIGHTS = "mark, .cite-n, .badge, .verdict, .stale, .done, .error, .notice"

# The WCAG contrast of each visible element's text against what is painted behind it: the element's
# and its ancestors' backgrounds composited (alpha included) over white, with each ancestor's
# opacity blending its contents into what lies behind it.
CONTRAST_JS = """([root, selector, mustSee]) => {
  const parse = (c) => {
    const m = c.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return [0, 0, 0, 0];
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, under) => [0, 1, 2].map((i) => top[i] * top[3] + under[i] * (1 - top[3]));
  const mix = (a, x, y) => [0, 1, 2].map((i) => x[i] * a + y[i] * (1 - a));
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  const paint = (el, withText) => {
    const chain = [];
    for (let e = el; e; e = e.parentElement) chain.unshift(e);
    const text = parse(getComputedStyle(el).color);
    const render = (i, behind) => {
      const s = getComputedStyle(chain[i]);
      let content = over(parse(s.backgroundColor), behind);
      content = i < chain.length - 1 ? render(i + 1, content) : withText ? over(text, content) : content;
      return mix(Number(s.opacity), content, behind);
    };
    return render(0, [255, 255, 255]);
  };
  const out = [];
  for (const el of document.querySelectorAll(root)) {
    for (const m of el.querySelectorAll(selector)) {
      const r = m.getBoundingClientRect();
      if (!r.width || !r.height || !m.textContent.trim() || !m.checkVisibility({visibilityProperty: true})) continue;
      const fg = paint(m, true), bg = paint(m, false);
      const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
      out.push({element: m.tagName.toLowerCase() + [...m.classList].map((c) => '.' + c).join(''),
                text: m.textContent.trim().slice(0, 40), ratio: (hi + 0.05) / (lo + 0.05), seen: m.matches(mustSee),
                color: `rgb(${fg.map(Math.round)})`, background: `rgb(${bg.map(Math.round)})`});
    }
  }
  return out;
}"""


def contrasts(page, root: str, selector: str = HIGHLIGHTS, must_see: str = "mark") -> list[dict]:
    """Each visible `selector` element under `root`: its text, contrast ratio, text and background
    colour, and whether it is a `must_see` element."""
    return page.evaluate(CONTRAST_JS, [root, selector, must_see])


def assert_readable(page, root: str, must_see: str = "mark", minimum: float = 4.5) -> float:
    """Assert every highlight under `root` has a contrast of at least `minimum` (WCAG AA), and that at
    least one `must_see` element was measured; returns the lowest ratio."""
    deadline = time.monotonic() + 5  # measure again while an update is still fading in (Gradio dims it)
    while True:
        found = contrasts(page, root, must_see=must_see)
        poor = [f"{c['element']} “{c['text']}”: {c['ratio']:.2f} ({c['color']} on {c['background']})"
                for c in found if c["ratio"] < minimum]
        if (not poor and any(c["seen"] for c in found)) or time.monotonic() > deadline:
            break
        page.wait_for_timeout(250)
    assert any(c["seen"] for c in found), f"no visible {must_see} under {root}"
    assert not poor, f"contrast below {minimum} under {root}:\n" + "\n".join(poor)
    return min(c["ratio"] for c in found)
