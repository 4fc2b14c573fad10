"""The Sources tab: the note tree, the rendered note with a passage highlighted, search, upload,
re-index and delete. Handlers stay a few lines around the Sources service (assistant/sources/).

Upload, delete and re-index are a teacher's: a learner's page loads without those controls, and
each of their handlers asks the service about the signed-in login first, so a learner calling the
endpoint from a script is refused on the server too.
"""

from __future__ import annotations

import html
import threading

import gradio as gr
from cachetools import LRUCache

from ..core.errors import AssistantError
from ..sources.folder import note_folders
from ..sources.service import LEARNER_REFUSED
from ..sources.view import EMPTY_VIEW, render_message
from .auth import login_name
from .sources_css import HITS_CSS, STATUS_CSS, TREE_CSS, VIEW_CSS

MODES = [("Note", "note"), ("Chunks", "chunks")]
# How often an open page asks whether the library changed (one small read on the server).
FOLLOW_SECONDS = 10
TOP_LEVEL = "(top level)"

# Clicks on anything carrying data-source / data-chunk (tree rows, search hits, chunk cards) are
# sent to Python as one 'click' event with those values; the clicked row is marked at once.
PICK_JS = """
const opened = new Set();  // notes the learner unfolded, kept when the tree is re-rendered
let picked = null;         // the row last clicked, marked again after a re-render
const key = (b) => [b.dataset.source || '', b.dataset.heading || '', b.dataset.chunk || ''].join('\\u0000');
element.addEventListener('click', (ev) => {
  const b = ev.target.closest('button[data-source], button[data-chunk]');
  if (!b || !element.contains(b)) return;
  ev.preventDefault();
  element.querySelectorAll('.current').forEach((x) => x.classList.remove('current'));
  b.classList.add('current');
  picked = key(b);
  const d = b.closest('details');
  if (d) { d.open = true; if (b.dataset.source) opened.add(b.dataset.source); }
  window.tutorClicks = (window.tutorClicks || 0) + 1;  // one count for the page's tree, hits and view
  trigger('click', {source: b.dataset.source || '', heading: b.dataset.heading || '',
                    chunk: b.dataset.chunk || '', n: window.tutorClicks});
});
element.addEventListener('toggle', (ev) => {
  const b = ev.target.querySelector && ev.target.querySelector('summary button[data-source]');
  if (b) { if (ev.target.open) opened.add(b.dataset.source); else opened.delete(b.dataset.source); }
}, true);
watch('value', () => {
  element.querySelectorAll('details').forEach((d) => {
    const b = d.querySelector('summary button[data-source]');
    if (b && opened.has(b.dataset.source)) d.open = true;
  });
  element.querySelectorAll('button[data-source], button[data-chunk]').forEach((b) => {
    b.classList.toggle('current', picked !== null && key(b) === picked);
  });
});
"""

# After every new view: bring the highlighted passage into the middle of the note pane (only the
# pane scrolls, not the page), or go back to the top. If the tab is hidden at that moment (opened
# from a citation in another tab), wait until it is shown.
VIEW_JS = PICK_JS + """
const reveal = () => {
  const body = element.querySelector('.note-body');
  if (!body) return;
  const target = element.querySelector('mark.cited, .chunk.cited, mark.section');
  if (!target) { body.scrollTop = 0; return; }
  const offset = target.getBoundingClientRect().top - body.getBoundingClientRect().top;
  const section = target.matches('mark.section');
  body.scrollTop += offset - (section ? 80 : body.clientHeight / 3);
  // If the pane does not fit in the window, scroll the page just enough to show the passage.
  const t = target.getBoundingClientRect();
  if (t.top < 0 || t.bottom > window.innerHeight) target.scrollIntoView({block: 'nearest'});
};
const whenVisible = () => {
  if (element.offsetParent !== null) { requestAnimationFrame(reveal); return; }
  const io = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) { io.disconnect(); requestAnimationFrame(reveal); }
  });
  io.observe(element);
};
watch('value', whenVisible);
whenVisible();
"""

def build_sources_tab(sources, open_source: gr.Textbox) -> None:
    """Build the tab's contents inside the caller's `with gr.Tab(...)`.

    `sources`: the Sources service. `open_source`: when its value becomes a chunk id (optionally
    with a '#nonce' suffix so the same citation can be opened twice), the chunk's note is shown
    with the passage highlighted.
    """
    current = gr.State({"source": None, "heading": None, "chunk": None})
    seen = gr.State(None)  # the library's generation this page's tree and status show

    with gr.Row(equal_height=False, elem_classes=["src-toolbar"]):
        # Filled on page load (below), so the page never shows a tree from when the app started.
        status = gr.HTML('<span class="muted">Checking the notes folder…</span>', css_template=STATUS_CSS,
                         js_on_load=None, elem_id="sources-status", padding=False)
        # A teacher's controls are shown on page load (on_load), never sent to a learner's page.
        reindex_btn = gr.Button("Re-index", size="sm", scale=0, min_width=110, elem_id="sources-reindex",
                                visible=False)

    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=280):
            query = gr.Textbox(placeholder="Search your notes", show_label=False, submit_btn="Search",
                               elem_id="sources-search", container=False)
            hits = gr.HTML("", css_template=HITS_CSS, js_on_load=PICK_JS, elem_id="sources-hits", visible=False)
            tree = gr.HTML('<div class="src-empty">Loading your notes…</div>', css_template=TREE_CSS, js_on_load=PICK_JS,
                           elem_id="sources-tree")
            with gr.Accordion("Add notes", open=False, elem_id="sources-add", visible=False) as add_notes:
                # No file_types: Gradio would reject a whole drop for one wrong file with a generic
                # error; each file is checked by Sources.upload and answered with a sentence.
                upload = gr.File(label="Markdown, MDX, text, PDF, HTML, Word or Jupyter notes", file_count="multiple",
                                 height=170, elem_id="sources-upload")
                folder = gr.Dropdown(choices=_folders(sources), value=TOP_LEVEL, label="Save into",
                                     elem_id="sources-folder")
                upload_msg = gr.HTML("", css_template=STATUS_CSS, js_on_load=None)
        with gr.Column(scale=3, min_width=360):
            with gr.Row(equal_height=True):
                mode = gr.Radio(MODES, value="note", show_label=False, container=False, scale=1,
                                elem_id="sources-mode")
                delete_btn = gr.Button("Delete note…", size="sm", scale=0, min_width=120,
                                       interactive=False, elem_id="sources-delete", visible=False)
            with gr.Row(visible=False, elem_id="sources-confirm") as confirm_row:
                confirm_text = gr.Markdown()
                confirm_btn = gr.Button("Delete", variant="stop", size="sm", scale=0, min_width=90,
                                        elem_id="sources-confirm-delete")
                cancel_btn = gr.Button("Cancel", size="sm", scale=0, min_width=90)
            view = gr.HTML(render_message(EMPTY_VIEW), css_template=VIEW_CSS,
                           js_on_load=VIEW_JS, elem_id="sources-view")

    # --- handlers: each a few lines around the Sources service ----------------------------

    def show(state: dict, mode_value: str):
        html, source = sources.open_view(state.get("source"), state.get("heading"),
                                              state.get("chunk"), mode_value)
        return html, {**state, "source": source}, gr.Button(interactive=bool(source))

    # Every click is sent, and clicks are answered side by side (several events at once), so the
    # answer to a click may come after the next one's: a note clicked, then at once one of its
    # sections. Each click carries the page's count of clicks, and the answer to a click the page
    # has since followed with another is dropped: the view always shows the last one.
    last_click: LRUCache[str, int] = LRUCache(maxsize=4096)  # by page session
    clicks_lock = threading.Lock()

    def pick(mode_value: str, evt: gr.EventData, request: gr.Request):
        data = evt._data or {}
        n, page = int(data.get("n") or 0), request.session_hash or ""
        with clicks_lock:
            last_click[page] = max(n, last_click.get(page, 0))
        state = {"source": data.get("source") or None, "heading": data.get("heading") or None,
                 "chunk": data.get("chunk") or None}
        mode_value = "note" if state["chunk"] else mode_value  # a passage is shown in its note
        shown = (*show(state, mode_value), mode_value)
        with clicks_lock:
            if last_click.get(page, 0) > n:
                return tuple(gr.skip() for _ in shown)
        return shown

    def from_citation(chunk_id: str):
        if not chunk_id:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return *show({"source": None, "heading": None, "chunk": chunk_id}, "note"), "note"

    def search(q: str):
        return gr.HTML(sources.search_view(q), visible=bool(q.strip()))

    def refresh(message: str = ""):
        status_html, tree_html = sources.overview(message)
        return status_html, tree_html, gr.Dropdown(choices=_folders(sources))

    def on_load(request: gr.Request):
        teacher = sources.may_change(login_name(request))
        return gr.Button(visible=teacher), gr.Accordion(visible=teacher), gr.Button(visible=teacher), \
            _generation(sources)

    def show_library(request: gr.Request):
        return refresh(_read_only(sources.may_change(login_name(request))))

    def refused(request: gr.Request) -> str | None:
        """The sentence for a learner trying to change the notes; None for a teacher."""
        return None if sources.may_change(login_name(request)) else LEARNER_REFUSED

    def run_reindex(request: gr.Request, progress=gr.Progress()):
        if refusal := refused(request):
            return refresh(f'<span class="error">{html.escape(refusal)}</span>')

        def report(done: int, total: int) -> None:
            progress((done, total) if total else 1.0, desc="Embedding new and changed passages", unit="chunks")
        return refresh(sources.reindex(report))

    def save(files, folder_value, request: gr.Request):
        if refusal := refused(request):
            return f'<span class="error">{html.escape(refusal)}</span>', None
        paths = [getattr(f, "name", f) for f in (files or [])]
        message, _ = sources.upload(paths, "" if folder_value == TOP_LEVEL else folder_value)
        return message, None

    def ask_delete(state: dict, request: gr.Request):
        if not state.get("source") or refused(request):
            return gr.Row(visible=False), ""
        return gr.Row(visible=True), (f"Delete **{state['source']}** from the notes folder and the index? "
                                      "This cannot be undone.")

    def do_delete(state: dict, request: gr.Request):
        if refusal := refused(request):
            message = f'<span class="error">{html.escape(refusal)}</span>'
            return (*refresh(message), gr.skip(), gr.skip(), gr.Row(visible=False), gr.skip())
        try:
            message = sources.delete(state.get("source") or "")
        except AssistantError as exc:
            message = f'<span class="error">{html.escape(str(exc))}</span>'
            return (*refresh(message), gr.skip(), gr.skip(), gr.Row(visible=False), gr.skip())
        return (*refresh(html.escape(message)), render_message(EMPTY_VIEW),
                {"source": None, "heading": None, "chunk": None}, gr.Row(visible=False),
                gr.Button(interactive=False))

    # On every page load: the tree and status, and the controls this login may use.
    # On every page load, the controls this login may use and the library's generation; the tree
    # and status are drawn whenever the generation is new to the page: at load, and when a timer
    # finds that another run (another process, another instance) changed the library. The timer
    # writes only that number, so a tick never touches what the learner is clicking.
    gr.on(None, on_load, None, [reindex_btn, add_notes, delete_btn, seen], show_progress="hidden")
    seen.change(show_library, None, [status, tree, folder], show_progress="hidden")
    gr.Timer(FOLLOW_SECONDS).tick(lambda: _generation(sources), None, [seen], show_progress="hidden",
                                  api_visibility="private")
    view_out = [view, current, delete_btn]
    refresh_out = [status, tree, folder]
    # "multiple": Gradio's default drops a click made while the last one is being answered, and
    # "always_last" sends the first click's data again instead of the last's (see pick).
    for source in (tree, hits, view):
        source.click(pick, [mode], [*view_out, mode], show_progress="hidden", trigger_mode="multiple")
    mode.input(show, [current, mode], view_out, show_progress="hidden")
    open_source.change(from_citation, [open_source], [*view_out, mode], show_progress="hidden")
    query.submit(search, [query], [hits])
    # One indexing run at a time from this tab: a second click waits in the queue instead of failing.
    index_opts = dict(concurrency_limit=1, concurrency_id="sources-index", show_progress_on=[status])
    reindex_btn.click(run_reindex, None, refresh_out, **index_opts)
    upload.upload(save, [upload, folder], [upload_msg, upload]).then(run_reindex, None, refresh_out, **index_opts)
    delete_btn.click(ask_delete, [current], [confirm_row, confirm_text], show_progress="hidden")
    cancel_btn.click(lambda: gr.Row(visible=False), None, [confirm_row], show_progress="hidden")
    confirm_btn.click(do_delete, [current], [*refresh_out, view, current, confirm_row, delete_btn])


def _read_only(teacher: bool) -> str:
    return "" if teacher else '<span class="muted">Read-only: your teacher adds and changes the notes.</span>'


def _generation(sources) -> int:
    try:
        return sources.generation()
    except AssistantError:  # a store that cannot be read: the status line says so once drawn
        return -1


def _folders(sources) -> list[str]:
    return [TOP_LEVEL, *note_folders(sources.root)]
