"""The Sources tab: the note tree, the rendered note with a passage highlighted, search, upload,
re-index and delete. Handlers stay a few lines around the Sources service (assistant/sources/).

Upload, delete and re-index are a teacher's: a learner's page loads without those controls, and
each of their handlers asks the service about the signed-in login first, so a learner calling the
endpoint from a script is refused on the server too.
"""

from __future__ import annotations

import html

import gradio as gr

from ..core.errors import AssistantError
from ..sources.folder import note_folders
from ..sources.service import LEARNER_REFUSED
from ..sources.view import EMPTY_VIEW, render_message
from .auth import login_name

MODES = [("Note", "note"), ("Chunks", "chunks")]
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
  trigger('click', {source: b.dataset.source || '', heading: b.dataset.heading || '',
                    chunk: b.dataset.chunk || ''});
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

COMMON_CSS = """
.muted { color: var(--tutor-muted); }
.badge { display: inline-block; font-size: 11px; line-height: 16px; padding: 0 6px; margin-left: 4px;
  border-radius: 999px; border: 1px solid var(--border-color-primary); font-weight: 500;
  color: var(--tutor-muted); vertical-align: middle; white-space: nowrap; }
.badge.edited, .badge.interrupted { border-color: var(--tutor-warn-border); color: var(--tutor-warn); }
.badge.new { border-color: var(--tutor-info-border); color: var(--tutor-info); }
.badge.deleted, .badge.skipped { border-color: var(--tutor-bad-border); color: var(--tutor-bad); }
.badge.cited-badge { border-color: var(--tutor-warn-border); color: var(--tutor-warn); }
.count { margin-left: auto; padding-left: 8px; font-size: 12px; color: var(--tutor-muted);
  font-variant-numeric: tabular-nums; }
.error { color: var(--tutor-bad); }
mark.term { background: var(--color-accent-soft); color: var(--body-text-color); font-weight: 600;
  border-radius: 2px; padding: 0 1px; }
button.hit, button.file, button.heading, button.linkish { all: unset; box-sizing: border-box;
  cursor: pointer; }
button:focus-visible { outline: 2px solid var(--color-accent); outline-offset: 1px; }
"""

TREE_CSS = COMMON_CSS + """
.src-tree { max-height: calc(100vh - 330px); min-height: 120px; overflow-y: auto; overflow-x: hidden;
  font-size: 14px; padding-right: 2px; }
.src-empty { color: var(--tutor-muted); font-size: 14px; padding: 12px 4px; }
.src-folder { font-size: 12px; color: var(--tutor-muted); padding: 8px 6px 2px; }
details.src-file > summary { list-style: none; display: flex; align-items: center; padding: 3px 6px;
  border-radius: var(--radius-md); cursor: pointer; }
details.src-file > summary::-webkit-details-marker { display: none; }
details.src-file > summary::before { content: '▸'; display: inline-block; width: 14px; flex: none;
  font-size: 13px; color: var(--tutor-muted); }
details.src-file[open] > summary::before { content: '▾'; }
details.src-file > summary:hover, button.heading:hover { background: var(--background-fill-secondary); }
button.file { display: flex; align-items: center; min-width: 0; font-weight: 600; font-size: 14px; }
button.heading { display: flex; align-items: center; width: 100%; padding: 2px 6px 2px 26px;
  border-radius: var(--radius-md); color: var(--body-text-color); }
button.heading.d1 { padding-left: 40px; } button.heading.d2 { padding-left: 54px; }
button.heading.d3, button.heading.d4, button.heading.d5 { padding-left: 68px; }
button.current { color: var(--tutor-accent-text); }
button.heading.current { background: var(--color-accent-soft); }
.name { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; min-width: 0; }
"""

HITS_CSS = COMMON_CSS + """
.hits { display: flex; flex-direction: column; gap: 6px; max-height: 46vh; overflow-y: auto;
  overflow-x: hidden; }
.hits-head { font-size: 12px; color: var(--tutor-muted); }
.notice { font-size: 13px; color: var(--tutor-muted); margin: 4px 0; }
button.hit { display: block; width: 100%; padding: 8px 10px; border: 1px solid var(--border-color-primary);
  border-radius: var(--radius-md); background: var(--background-fill-primary); }
button.hit:hover, button.hit.current { border-color: var(--color-accent); }
.hit-where { display: block; font-size: 12px; font-weight: 600; overflow-wrap: anywhere; }
.rank { display: inline-block; min-width: 16px; color: var(--tutor-muted); }
.hit-text { display: block; font-size: 13px; line-height: 1.45; margin: 4px 0; overflow-wrap: anywhere; }
.hit-score { display: block; font-size: 11px; color: var(--tutor-muted); }
"""

STATUS_CSS = COMMON_CSS + """
.src-status { font-size: 14px; line-height: 1.5; }
.src-status .facts b { font-variant-numeric: tabular-nums; }
.stale { color: var(--tutor-warn); font-size: 13px; overflow-wrap: anywhere; }
.fresh { color: var(--tutor-muted); font-size: 13px; }
.message { font-size: 13px; margin-top: 2px; overflow-wrap: anywhere; }
.done { color: var(--tutor-ok); }
details.skipped { font-size: 12px; color: var(--tutor-muted); }
details.skipped ul, ul.upload-result { margin: 2px 0 0 18px; padding: 0; }
ul.upload-result { font-size: 13px; }
"""

VIEW_CSS = COMMON_CSS + """
.src-view { border: 1px solid var(--border-color-primary); border-radius: var(--radius-lg);
  background: var(--background-fill-primary); min-width: 0; }
.note-head { padding: 10px 18px 8px; border-bottom: 1px solid var(--border-color-primary); }
.note-path { font-size: 16px; overflow-wrap: anywhere; }
.note-path .folder { color: var(--tutor-muted); }
.note-meta, .note-focus { font-size: 12px; color: var(--tutor-muted); margin-top: 2px; }
.note-focus { color: var(--body-text-color); }
.note-body { padding: 4px 22px 28px; max-height: calc(100vh - 290px); min-height: 300px; overflow-y: auto;
  overflow-x: hidden; line-height: 1.6; overflow-wrap: anywhere; font-size: 15px; }
.note-body h1 { font-size: 1.5em; } .note-body h2 { font-size: 1.3em; } .note-body h3 { font-size: 1.12em; }
.note-body h1, .note-body h2, .note-body h3, .note-body h4 { margin: 1.1em 0 .4em; line-height: 1.3; }
.note-body pre { white-space: pre-wrap; overflow-wrap: anywhere; background: var(--background-fill-secondary);
  padding: 10px 12px; border-radius: var(--radius-md); font-size: 13px; }
.note-body code { font-family: var(--font-mono); font-size: .9em; }
.note-body table { display: block; max-width: 100%; overflow-x: auto; border-collapse: collapse; }
.note-body td, .note-body th { border: 1px solid var(--border-color-primary); padding: 4px 8px; }
.note-body img { max-width: 100%; height: auto; }
.img-alt { color: var(--tutor-muted); font-style: italic; }
.note-body blockquote { margin: .6em 0; padding-left: 12px; border-left: 3px solid var(--border-color-primary);
  color: var(--tutor-muted); }
.plain { white-space: pre-wrap; }
mark.cited { background: var(--tutor-mark-bg); color: var(--tutor-mark-text); border-radius: 2px;
  padding: 1px 0; box-shadow: 0 0 0 1px var(--tutor-mark-ring); }
mark.section { background: var(--tutor-section-bg); color: var(--body-text-color); border-radius: 2px; }
.page-no { font-size: 12px; color: var(--tutor-muted); margin: 14px 0 6px;
  border-bottom: 1px dashed var(--border-color-primary); }
.chunk { border: 1px dashed var(--border-color-primary); border-radius: var(--radius-md); padding: 8px 12px;
  margin: 12px 0; }
.chunk.cited { border: 2px solid var(--tutor-warn-border); background: var(--tutor-mark-soft); }
.chunk-head { font-size: 13px; } .chunk-no { font-weight: 700; margin-right: 4px; }
.chunk-facts { font-size: 12px; color: var(--tutor-muted); }
.chunk-text { font-size: 14px; margin-top: 6px; }
button.linkish { color: var(--tutor-accent-text); font-size: 12px; margin-top: 4px; }
button.linkish:hover { text-decoration: underline; }
.lost .notice { font-size: 13px; color: var(--tutor-warn); }
.src-message { padding: 48px 24px; text-align: center; color: var(--tutor-muted); }
"""


def build_sources_tab(sources, open_source: gr.Textbox) -> None:
    """Build the tab's contents inside the caller's `with gr.Tab(...)`.

    `sources`: the Sources service. `open_source`: when its value becomes a chunk id (optionally
    with a '#nonce' suffix so the same citation can be opened twice), the chunk's note is shown
    with the passage highlighted.
    """
    current = gr.State({"source": None, "heading": None, "chunk": None})

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
                upload = gr.File(label="Markdown, MDX, text, PDF or HTML notes", file_count="multiple",
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

    def pick(mode_value: str, evt: gr.EventData):
        data = evt._data or {}
        state = {"source": data.get("source") or None, "heading": data.get("heading") or None,
                 "chunk": data.get("chunk") or None}
        mode_value = "note" if state["chunk"] else mode_value  # a passage is shown in its note
        return *show(state, mode_value), mode_value

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
        note = "" if teacher else '<span class="muted">Read-only: your teacher adds and changes the notes.</span>'
        return (*refresh(note), gr.Button(visible=teacher), gr.Accordion(visible=teacher),
                gr.Button(visible=teacher))

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
    gr.on(None, on_load, None, [status, tree, folder, reindex_btn, add_notes, delete_btn], show_progress="hidden")
    view_out = [view, current, delete_btn]
    refresh_out = [status, tree, folder]
    for source in (tree, hits, view):
        source.click(pick, [mode], [*view_out, mode], show_progress="hidden")
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


def _folders(sources) -> list[str]:
    return [TOP_LEVEL, *note_folders(sources.root)]
