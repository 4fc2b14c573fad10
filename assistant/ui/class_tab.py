"""The Class tab: a teacher's view of the class's progress (assistant/quiz/class_report.py).

Per topic, how many learners studied it with their mean recall and mastery; the questions missed
most, each with a button that opens its passage in the Sources tab; and the cards coming due on each
of the next 14 days. Only counts, rates and the app's own questions are shown: never a learner's
answer text, never who answered what.

A teacher's: the tab is shown at page load only to a teacher's login, and every handler asks the
role of the signed-in login first, so a learner calling the endpoint from a script gets a sentence,
not the report. The report is computed when the tab is selected or Refresh is clicked, not on
every event of the page.
"""

from __future__ import annotations

import html
import time
from datetime import date

import gradio as gr

from .auth import login_name

TEACHERS_ONLY = "The Class view is for teachers only; sign in with a teacher login to see it."
NOBODY_YET = "No learner has studied yet."
DAYS = 14
MISSED_SHOWN = 10
DASH = "—"

CLASS_CSS = """
.class-empty { color: var(--tutor-muted); padding: 12px 0; font-size: 15px; }
.class-refused { color: var(--tutor-bad); padding: 12px 0; font-size: 15px; }
h4 { margin: 4px 0 8px; font-size: 15px; font-weight: 600; }
table.class-table { width: 100%; border-collapse: collapse; font-size: 14px; border: none; }
.class-table tr, .class-table th, .class-table td { border: none; background: none; }
.class-table th { text-align: left; font-weight: 600; color: var(--tutor-muted); font-size: 12px;
  border-bottom: 1px solid var(--border-color-primary); padding: 4px 8px; }
.class-table td { padding: 5px 8px; border-bottom: 1px solid var(--border-color-primary); }
.class-table .num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.class-table tr.unstudied td { color: var(--tutor-muted); }
.missed { list-style: none; margin: 0; padding: 0; }
.missed li { padding: 8px 0; border-bottom: 1px solid var(--border-color-primary); }
.missed .question { font-size: 14px; }
.missed .meta { display: flex; gap: 12px; align-items: center; font-size: 12px;
  color: var(--tutor-muted); margin-top: 2px; }
.missed .meta .where { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
button.open-passage { all: unset; cursor: pointer; color: var(--tutor-info); white-space: nowrap;
  margin-left: auto; font-size: 12px; }
button.open-passage:hover { text-decoration: underline; }
button.open-passage:focus-visible { outline: 2px solid var(--color-accent); outline-offset: 1px; }
.due { display: grid; grid-template-columns: 90px 1fr 34px; gap: 3px 8px; align-items: center;
  font-size: 13px; }
.due .day { color: var(--tutor-muted); white-space: nowrap; }
.due .bar { height: 12px; border-radius: 3px; background: var(--color-accent); min-width: 1px; }
.due .bar.zero { background: var(--border-color-primary); }
.due .n { text-align: right; font-variant-numeric: tabular-nums; }
"""

# A click on "Open passage" is sent to Python with the passage's chunk id.
OPEN_JS = """
element.addEventListener('click', (ev) => {
  const b = ev.target.closest('button[data-chunk]');
  if (!b || !element.contains(b)) return;
  ev.preventDefault();
  trigger('click', {chunk: b.dataset.chunk});
});
"""


def build_class_tab(report, is_teacher, open_source: gr.Textbox, tabs: gr.Tabs, tab: gr.Tab) -> None:
    """Build the tab's contents inside the caller's `with gr.Tab(...) as tab` (created hidden).

    `report()`: a fresh ClassReport over the class's learners. `is_teacher(login)`: whether that
    login may see the class. A passage opened here is shown through `open_source` in `tabs`' tab
    "sources", as the quiz's feedback does.
    """
    with gr.Row(equal_height=True):
        gr.Markdown("Your class's progress: counts and rates only, never a learner's answers.",
                    elem_id="class-lead")
        refresh_btn = gr.Button("Refresh", size="sm", scale=0, min_width=100, elem_id="class-refresh")
    topics = gr.HTML("", css_template=CLASS_CSS, elem_id="class-topics", padding=False)
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=360):
            missed = gr.HTML("", css_template=CLASS_CSS, js_on_load=OPEN_JS, elem_id="class-missed",
                             padding=False)
        with gr.Column(scale=2, min_width=280):
            due = gr.HTML("", css_template=CLASS_CSS, elem_id="class-due", padding=False)

    def show_tab(request: gr.Request):
        return gr.Tab(visible=is_teacher(login_name(request)))

    def class_report(request: gr.Request):
        """The class's topics, most missed questions and due load as HTML, for a teacher only."""
        if not is_teacher(login_name(request)):
            return f'<p class="class-refused">{html.escape(TEACHERS_ONLY)}</p>', "", ""
        built = report()
        rows = built.topics()
        if not any(row["learners"] for row in rows):
            return f'<p class="class-empty">{NOBODY_YET}</p>', "", ""
        return (topics_html(rows), missed_html(built.most_missed(limit=MISSED_SHOWN)),
                due_html(built.due_load(days=DAYS)))

    def open_passage(evt: gr.EventData, request: gr.Request):
        chunk = (evt._data or {}).get("chunk")
        if not chunk or not is_teacher(login_name(request)):
            return gr.skip(), gr.skip()
        # A nonce, so opening the same passage twice is still a change of `open_source`.
        return f"{chunk}#{time.time_ns()}", gr.Tabs(selected="sources")

    gr.on(None, show_tab, None, [tab], show_progress="hidden", api_visibility="private")
    outputs = [topics, missed, due]
    tab.select(class_report, None, outputs, show_progress="hidden")
    refresh_btn.click(class_report, None, outputs, show_progress_on=[topics], api_visibility="private")
    # As in Sources: a second "Open passage" clicked while the first loads is followed.
    missed.click(open_passage, None, [open_source, tabs], show_progress="hidden", api_visibility="private",
                 trigger_mode="multiple")


def topics_html(rows: list[dict]) -> str:
    head = ("<tr><th>Topic</th><th class='num'>Learners</th><th class='num'>Mean recall</th>"
            "<th class='num'>Mastery</th><th class='num'>Reviews</th><th class='num'>Misses</th></tr>")
    body = "".join(
        f"<tr class='{'' if row['learners'] else 'unstudied'}'><td>{html.escape(row['topic'])}</td>"
        f"<td class='num'>{row['learners']}</td><td class='num'>{_percent(row['recall'])}</td>"
        f"<td class='num'>{_percent(row['mastery'])}</td><td class='num'>{row['reviews']}</td>"
        f"<td class='num'>{row['missed']}</td></tr>"
        for row in rows)
    return f"<h4>Topics</h4><table class='class-table'>{head}{body}</table>"


def missed_html(rows: list[dict]) -> str:
    if not rows:
        return "<h4>Missed most</h4><p class='class-empty'>No question has been missed yet.</p>"
    items = "".join(
        f"<li><div class='question'>{html.escape(row['question'])}</div><div class='meta'>"
        f"<span>missed {row['misses']} of {row['reviews']} · by {row['learners']} "
        f"learner{'s' if row['learners'] != 1 else ''}</span>"
        f"<span class='where' title='{html.escape(row['topic'])}'>{html.escape(row['topic'])}</span>"
        f"<button class='open-passage' data-chunk='{html.escape(row['chunk_id'])}'>Open passage</button>"
        "</div></li>"
        for row in rows)
    return f"<h4>Missed most</h4><ul class='missed'>{items}</ul>"


def due_html(days: list[dict]) -> str:
    top = max((d["due"] for d in days), default=0) or 1
    cells = "".join(
        f"<span class='day'>{_day(d['day'], n)}</span>"
        f"<span class='bar{' zero' if not d['due'] else ''}' style='width:{max(1, 100 * d['due'] // top)}%'"
        f" title='{d['due']} due for {d['learners']} learner(s)'></span><span class='n'>{d['due']}</span>"
        for n, d in enumerate(days))
    return f"<h4>Due in the next {len(days)} days</h4><div class='due'>{cells}</div>"


def _percent(value: float | None) -> str:
    return DASH if value is None else f"{round(100 * value)}%"


def _day(iso: str, n: int) -> str:
    return "Today" if n == 0 else date.fromisoformat(iso).strftime("%a %d %b")
