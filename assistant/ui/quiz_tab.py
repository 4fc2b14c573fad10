"""The Quiz tab: one card at a time, feedback with its source, Anki-style ratings, a progress view.

What it shows is built by the pure functions of `quiz_view`; the handlers here only call them and
unpack the `View` into component updates.
"""
# No `from __future__ import annotations`: Gradio finds `request: gr.Request` by its real type.

import logging
import time

import gradio as gr

from ..core.errors import AssistantError
from ..quiz.review_terms import RATINGS
from .next_view import what_next
from .quiz_view import (  # noqa: F401  (re-exported: the tab's behaviour, tested as functions)
    MODES,
    View,
    answer,
    learner_of,
    overrule,
    progress,
    rate,
    render_message,
    start,
    start_topic,
)

NEXT_BUTTONS = 6  # "what to study now" in the Progress view: one click from a quiz on each

logger = logging.getLogger(__name__)

CARD_CSS = """
.card { max-width: 46rem; margin: 1.5rem auto 0.5rem; }
.kind { font-size: 0.85rem; opacity: 0.65; margin-bottom: 0.6rem; }
.question { font-size: 1.45rem; line-height: 1.5; }
.blank { display: inline-block; min-width: 5ch; border-bottom: 2px solid currentColor; }
.empty { font-size: 1.1rem; opacity: 0.8; text-align: center; padding: 2rem 0; }
"""
FEEDBACK_CSS = """
.feedback { max-width: 46rem; margin: 0 auto; font-size: 1.05rem; line-height: 1.5; }
.verdict { font-size: 1.35rem; font-weight: 700; margin-bottom: 0.3rem; }
.expected { margin: 0.3rem 0; }
.note { opacity: 0.8; margin: 0.3rem 0; }
.where { font-size: 0.85rem; opacity: 0.65; margin-top: 0.9rem; }
blockquote { margin: 0.3rem 0 0; padding: 0.4rem 0.8rem; border-left: 3px solid currentColor;
             opacity: 0.9; max-height: 16rem; overflow-y: auto; }
blockquote p { margin: 0.2rem 0; }
mark { background: var(--tutor-mark-bg); color: var(--tutor-mark-text); padding: 0 0.1em;
       border-radius: 0.2em; }
"""
# 1-4 rate when the ratings show; Enter checks a multiple-choice answer.
KEYS_JS = """
if (!window.__quizKeys) {
  window.__quizKeys = true;
  const visible = (el) => el && el.offsetParent !== null;
  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const rate = document.querySelector('#quiz-rate-' + e.key);
    if (['1', '2', '3', '4'].includes(e.key) && visible(rate)) {
      e.preventDefault(); rate.click(); return;
    }
    const typing = e.target && (e.target.tagName === 'TEXTAREA' ||
      (e.target.tagName === 'INPUT' && e.target.type === 'text'));
    const check = document.querySelector('#quiz-check');
    if (e.key === 'Enter' && !typing && visible(check)) { e.preventDefault(); check.click(); }
  });
}
"""


def _counts_axis(frame, column: str) -> list[int]:
    """A whole-number axis from 0 that shows an empty chart as empty, not as '0.000000'."""
    top = int(frame[column].max()) if len(frame) else 0
    return [0, max(5, top + 1)]


# --- Gradio wiring --------------------------------------------------------------------------

def build_quiz_tab(quiz, open_source, tabs=None, study=None, ask_tab=None) -> None:
    """The Quiz tab's contents, inside the caller's `with gr.Tab("Quiz")`; `quiz` is the Quiz service.
    "Open in sources" sets
    `open_source` to the passage's chunk id (+ '#nonce') and, given the app's `tabs`, selects the
    tab with id "sources". Given the Ask tab (`ask_tab`, ask_tab.AskTab) and the app's `tabs`,
    "Explain" answers the card's question there from the card's passage."""
    if study is None:
        from ..quiz.study import Study

        study = Study(quiz)
    explains = ask_tab is not None and tabs is not None
    choices: list[str] = []  # filled when the box takes focus: at start the notes may still be loading
    state = gr.State(None)
    with gr.Tabs() as quiz_tabs:
        with gr.Tab("Practice", id="practice"):
            with gr.Row(equal_height=True):
                topics = gr.Dropdown(choices, multiselect=True, label="Topics",
                                     info="Notes or sections; empty means all notes", scale=4)
                mode = gr.Radio(list(MODES), value=MODES[0], label="Practise", scale=2)
                count = gr.Slider(5, 30, value=10, step=1, label="Questions", scale=1)
                start_btn = gr.Button("Start", variant="primary", scale=1)
            status = gr.Markdown(elem_id="quiz-status")
            card = gr.HTML(render_message("Pick topics, or leave them empty for all notes, "
                                          "and press Start."), css_template=CARD_CSS, js_on_load=None)
            choice = gr.Radio([], label="Your answer", visible=False, elem_id="quiz-choice")
            text = gr.Textbox(label="Your answer", placeholder="Type your answer and press Enter",
                              visible=False)
            check_btn = gr.Button("Check", variant="primary", visible=False, elem_id="quiz-check")
            feedback = gr.HTML(css_template=FEEDBACK_CSS, js_on_load=None, visible=False)
            with gr.Row(visible=False) as links:
                open_btn = gr.Button("Open in sources", size="sm")
                explain_btn = gr.Button("Explain", size="sm", visible=explains, elem_id="quiz-explain")
                overrule_btn = gr.Button("I was right", size="sm")
            with gr.Row(visible=False) as rating_row:
                rate_btns = [gr.Button(RATINGS[r], elem_id=f"quiz-rate-{r}") for r in sorted(RATINGS)]
            gr.HTML("", js_on_load=KEYS_JS, visible="hidden")
        with gr.Tab("Progress", id="progress") as progress_tab:
            summary = gr.Markdown()
            next_line = gr.Markdown(elem_id="next-line")
            next_topics = gr.State([])
            with gr.Row():
                next_btns = [gr.Button(visible=False, size="sm", elem_id=f"next-{n}")
                             for n in range(1, NEXT_BUTTONS + 1)]
            with gr.Row():
                mastery = gr.BarPlot(x="mastery", y="topic", x_title="mastery %", y_title="",
                                     x_lim=[0, 100], title="Mastery by topic (predicted recall)",
                                     height=320)
            with gr.Row():
                reviews = gr.BarPlot(x="day", y="reviews", title="Reviews per day", x_title="",
                                     sort=None, height=240)
                forecast = gr.BarPlot(x="day", y="due", title="Due in the next days", x_title="",
                                      sort=None, height=240)

    outputs = [status, card, choice, text, check_btn, feedback, links, overrule_btn, rating_row,
               *rate_btns]

    def show(view: View) -> list:
        asking, answered = view.mode == "asking", view.mode == "answered"
        mcq = view.item_type == "mcq"
        cleared = {"value": None} if asking else {}
        return [
            view.status,
            view.card,
            gr.update(choices=view.options, visible=mcq and view.mode in ("asking", "answered"),
                      interactive=asking, **cleared),
            gr.update(interactive=asking, visible=not mcq and view.mode in ("asking", "answered"),
                      **({"value": ""} if asking else {})),
            gr.update(value=view.check_label, visible=asking),
            gr.update(value=view.feedback, visible=answered),
            gr.update(visible=answered),
            gr.update(value=view.overrule_label or "I was right", visible=bool(view.overrule_label)),
            gr.update(visible=answered),
            *[gr.update(value=label, variant="primary" if n + 1 == view.suggested else "secondary")
              for n, label in enumerate(view.ratings or [RATINGS[r] for r in sorted(RATINGS)])],
        ]

    def respond(state_value, step) -> list:
        """Run one step of the session; any unexpected failure becomes a sentence on the card."""
        try:
            new_state, view = step()
        except Exception as exc:  # noqa: BLE001 - shown to the learner, logged for the owner
            logger.exception("quiz handler failed")
            message = f"That did not work ({type(exc).__name__}: {exc}); try again."
            new_state, view = state_value, View(status=message, card=render_message(message))
        return [new_state, *show(view)]

    def on_start(topics_value, mode_value, n_value, state_value, request: gr.Request):
        learner = learner_of(request)
        return respond(state_value, lambda: start(quiz, learner, topics_value, mode_value, n_value))

    def on_answer(state_value, text_value, choice_value, request: gr.Request):
        learner = learner_of(request)
        return respond(state_value, lambda: answer(quiz, learner, state_value, text_value, choice_value))

    def on_overrule(state_value, request: gr.Request):
        learner = learner_of(request)
        return respond(state_value, lambda: overrule(quiz, learner, state_value))

    def rater(rating: int):
        def on_rate(state_value, request: gr.Request):
            learner = learner_of(request)
            return respond(state_value, lambda: rate(quiz, learner, state_value, rating))
        return on_rate

    def on_open(state_value):
        """The passage's chunk id, with a '#nonce' so opening the same passage twice is a change."""
        if state_value and state_value["pos"] < len(state_value["ids"]):
            item = quiz.item(state_value["ids"][state_value["pos"]])
            if item:
                return f"{item.chunk_id}#{time.time_ns()}"
        return gr.skip()

    def on_progress(request: gr.Request):
        learner = learner_of(request)
        summary_md, mastery_df, reviews_df, forecast_df = progress(quiz, learner)
        line, choices = what_next(study, learner)
        choices = choices[:NEXT_BUTTONS]
        buttons = [gr.update(visible=n < len(choices), value=choices[n][0] if n < len(choices) else "")
                   for n in range(NEXT_BUTTONS)]
        return (summary_md, line, [topic for _, topic in choices], *buttons,
                gr.update(value=mastery_df, height=90 + 34 * max(1, len(mastery_df))),
                gr.update(value=reviews_df, sort=list(reviews_df["day"]), y_lim=_counts_axis(reviews_df, "reviews")),
                gr.update(value=forecast_df, sort=list(forecast_df["day"]), y_lim=_counts_axis(forecast_df, "due")))

    def on_topics_focus():
        try:
            return gr.update(choices=quiz.topics())
        except AssistantError:
            return gr.skip()

    start_btn.click(on_start, [topics, mode, count, state], [state, *outputs])
    check_btn.click(on_answer, [state, text, choice], [state, *outputs])
    text.submit(on_answer, [state, text, choice], [state, *outputs])
    overrule_btn.click(on_overrule, [state], [state, *outputs])
    for n, btn in enumerate(rate_btns, start=1):
        btn.click(rater(n), [state], [state, *outputs])
    if tabs is not None:
        open_btn.click(lambda s: (on_open(s), gr.Tabs(selected="sources")), [state],
                       [open_source, tabs], api_visibility="private")
    else:
        open_btn.click(on_open, [state], [open_source], api_visibility="private")
    topics.focus(on_topics_focus, None, [topics])
    progress_tab.select(on_progress, None, [summary, next_line, next_topics, *next_btns, mastery,
                                            reviews, forecast])

    def next_quiz(n: int):
        def on_next(topics_value, state_value, request: gr.Request):
            if n >= len(topics_value or []):
                return [gr.skip()] * (len(outputs) + 2)
            learner = learner_of(request)
            shown = respond(state_value, lambda: start_topic(quiz, learner, topics_value[n]))
            return [*shown, gr.Tabs(selected="practice")]
        return on_next

    for n, btn in enumerate(next_btns):
        btn.click(next_quiz(n), [next_topics, state], [state, *outputs, quiz_tabs])

    if explains:
        def on_explain(state_value, history, tutor, convo, last, request: gr.Request):
            """The card's question answered in Ask from its passage; the card waits for its rating."""
            if not state_value or state_value["pos"] >= len(state_value["ids"]):
                return [gr.skip()] * (len(ask_tab.outputs) + 1)
            item = quiz.item(state_value["ids"][state_value["pos"]])
            shown = ask_tab.explain(item, history, tutor, convo, last, learner_of(request))
            return [*shown, gr.Tabs(selected="ask")]

        explain_btn.click(on_explain, [state, *ask_tab.inputs], [*ask_tab.outputs, tabs],
                          api_visibility="private")
