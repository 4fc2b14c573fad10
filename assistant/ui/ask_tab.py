"""The Ask tab: a streaming chat on the left, the cited passages of the current answer on the right,
and the tutor in the chat (the steps are study_view's pure functions): study mode's check question
before the answer, "Quiz me on this" under an answer, a quiz on a topic of "what to study now" from
the empty chat, "Explain" from a card. Its buttons show only while they apply."""
# No `from __future__ import annotations`: Gradio finds `request: gr.Request` by its real type.

import functools
import inspect
import time
from dataclasses import dataclass
from typing import Callable

import gradio as gr

from ..core.errors import AssistantError
from ..core.schema import Answer
from ..quiz.review_terms import RATINGS
from . import next_view as nv
from . import render
from . import study_view as sv
from .quiz_view import learner_of

OPTIONS = 4  # a multiple-choice question has at most four options
WAITING = "*Finding a question in your notes…*"
HELD = '<div class="panel-empty">Answer the question first: the sources show with the answer.</div>'
PRIVATE = {"api_visibility": "private"}  # UI plumbing; scripts use the /ask endpoint instead


@dataclass
class AskTab:
    """What other tabs need to put an answer in this chat (the Quiz tab's "Explain")."""

    inputs: list  # chatbot, tutor state, conversation, last answer
    outputs: list
    explain: Callable  # (item, history, tutor, conversation, last, learner) -> values for outputs


def build_ask_tab(ask, study, open_source: gr.Textbox, tabs: gr.Tabs) -> AskTab:
    """`ask`: the Answerer service, as the app's loading in the background hands it over
    (warmup.PendingAnswerer: `loading`, and `wait()` for the notes); `study`: the Study service."""
    last_answer = gr.State(None)  # the answer the sources panel and "Quiz me on this" are about
    tutor = gr.State(None)  # study_view's state: a quiz or a check question in the chat
    conversation = gr.State([])  # questions and answers only: what follow-ups are read against
    entries = gr.State([])  # the empty chat's suggestions: ("topic" | "question", value)
    pending = gr.State("")  # the message being answered, so the box can clear at once
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=360):
            chatbot = gr.Chatbot(
                height=520, label="Conversation", show_label=False,
                examples=None,  # what to study now and starter questions, once loaded (below)
                placeholder=render.CHAT_PLACEHOLDER, buttons=["copy"], feedback_options=None,
                latex_delimiters=render.LATEX_DELIMITERS, elem_id="chat",
            )
            with gr.Row(visible=False, elem_id="tutor-row") as tutor_row:
                opt_btns = [gr.Button(visible=False, size="sm", min_width=140, elem_id=f"tutor-opt-{n}")
                            for n in range(1, OPTIONS + 1)]
                small = {"size": "sm", "visible": False, "min_width": 90}
                show_btn = gr.Button("Show answer", elem_id="tutor-show", scale=0, **small)
                rate_btns = [gr.Button(RATINGS[r], elem_id=f"tutor-rate-{r}", **small)
                             for r in sorted(RATINGS)]
                explain_btn = gr.Button("Explain", elem_id="tutor-explain", scale=0, **small)
                hint_btn = gr.Button("Hint", elem_id="tutor-hint", scale=0, **small)
                just_btn = gr.Button("Just tell me", elem_id="tutor-just-tell", scale=0, **small)
                stop_btn = gr.Button("Stop quiz", elem_id="tutor-stop", scale=0, **small)
            with gr.Row(visible=False, elem_id="answer-row") as answer_row:
                quiz_me_btn = gr.Button("Quiz me on this", size="sm", scale=0, elem_id="quiz-me")
            with gr.Row():
                box = gr.Textbox(
                    placeholder=render.LOADING if ask.loading else render.ASK, show_label=False,
                    scale=5, lines=1, max_length=4000, elem_id="ask-box", autofocus=True,
                )
                send = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="ask-send")
            status = gr.HTML(render.ask_status(None), elem_id="ask-status", padding=False)
            with gr.Row(equal_height=True):
                badge = gr.HTML(render.mode_badge(ask.mode_label))
                study_box = gr.Checkbox(False, label="Study mode: ask me first", scale=0,
                                        min_width=220, elem_id="study-mode",
                                        info=None, container=False)
                clear = gr.Button("Clear conversation", size="sm", variant="secondary", scale=0)
        with gr.Column(scale=2, min_width=300):
            gr.Markdown("#### Sources")
            panel = gr.HTML(render.sources_panel(None), elem_id="sources-panel")

            @gr.render(inputs=last_answer)
            def actions(answer: Answer | None):
                if answer is None:
                    return
                if answer.refused and answer.suggestions:
                    with gr.Row():
                        for topic in answer.suggestions:
                            ask_topic = gr.Button(f"Ask about: {topic}", size="sm")
                            ask_topic.click(lambda t=topic: f"What do my notes say about {t}?",
                                            None, pending, **PRIVATE).then(
                                guarded(on_message, 1), [pending, *message_inputs], outputs, **PRIVATE)
                with gr.Row():
                    for c in answer.citations:
                        opener = gr.Button(f"Open [{c.n}] in Sources", size="sm",
                                           elem_classes=["open-cite"], elem_id=f"open-cite-{c.n}")
                        open_passage(opener.click, c.chunk.id, open_source, tabs)

            with gr.Accordion("All passages retrieved for this answer", open=False):
                retrieved = gr.HTML("")

    outputs = [chatbot, panel, retrieved, last_answer, tutor, conversation, tutor_row, *opt_btns,
               show_btn, *rate_btns, explain_btn, hint_btn, just_btn, stop_btn, answer_row]
    state_inputs = [chatbot, tutor, conversation, last_answer]
    message_inputs = [*state_inputs, study_box]

    # --- what the tab shows ----------------------------------------------------------------

    def tutor_buttons(state, learner: str) -> list:
        shown = sv.buttons(state, study)
        options = shown["options"]
        opts = [gr.update(visible=n < len(options),
                          value=f"{n + 1}. {nv.short(options[n], 48)}" if n < len(options) else "")
                for n in range(OPTIONS)]
        previews = {}
        if shown["ratings"]:
            previews = study.quiz.preview(learner, sv.current(study, state))
        rates = [gr.update(visible=shown["ratings"], value=f"{RATINGS[r]} · {previews.get(r, '')}",
                           variant="primary" if r == shown["suggested"] else "secondary")
                 for r in sorted(RATINGS)]
        row = bool(options) or any(shown[k] for k in ("show_answer", "ratings", "just_tell", "stop"))
        return [gr.update(visible=row), *opts, gr.update(visible=shown["show_answer"]), *rates,
                gr.update(visible=shown["explain"]), gr.update(visible=shown["hint"]),
                gr.update(visible=shown["just_tell"]),
                gr.update(visible=shown["stop"])]

    def show(history, state, shown: Answer | None, last, convo, learner: str, panel_html=None) -> list:
        """Values for `outputs`. `shown`: an answer just shown (the panel and follow-ups follow it)."""
        if shown is not None:
            last = shown
            convo = [*convo, {"role": "user", "content": shown.question},
                     {"role": "assistant", "content": shown.text}]
        panel_value = panel_html if panel_html is not None else (
            render.sources_panel(shown) if shown is not None else gr.skip())
        retrieved_value = render.retrieved_table(shown) if shown is not None else gr.skip()
        quiz_me = state is None and last is not None and not last.refused and bool(last.citations)
        return [history, panel_value, retrieved_value, last, state, convo,
                *tutor_buttons(state, learner), gr.update(visible=quiz_me)]

    def step(turn: sv.Turn, convo, last, learner: str) -> list:
        return show(turn.history, turn.state, turn.answer, last, convo, learner)

    def guarded(handler, history_at: int = 0):
        """The handler, with a failure of the progress store (AssistantError: one sentence, e.g. the
        database is unreachable) said in the chat instead of a silent error; nothing is lost."""
        def said(args, exc) -> list:
            history = list(args[history_at] or [])
            return [[*history, {"role": "assistant", "content": f"*{exc}*"}],
                    *[gr.skip()] * (len(outputs) - 1)]

        if inspect.isgeneratorfunction(handler):
            @functools.wraps(handler)
            def stream(*args, **kwargs):
                try:
                    yield from handler(*args, **kwargs)
                except AssistantError as exc:
                    yield said(args, exc)
            return stream

        @functools.wraps(handler)
        def call(*args, **kwargs):
            try:
                return handler(*args, **kwargs)
            except AssistantError as exc:
                return said(args, exc)
        return call

    # --- handlers --------------------------------------------------------------------------

    def on_message(message, history, state, convo, last, study_on, request: gr.Request):
        """A reply to the open question, or a question: answered at once, or (study mode) held
        back behind one check question from the passages that answer it."""
        learner = learner_of(request)
        message = (message or "").strip()
        history = list(history or [])
        if not message:
            yield [gr.skip()] * len(outputs)
            return
        if sv.is_open(state):
            yield step(sv.reply(study, learner, state, message, history), convo, last, learner)
            return
        chat = [*history, {"role": "user", "content": message}]
        if study_on and state is None:
            yield show([*chat, {"role": "assistant", "content": WAITING}], state, None, last, convo,
                       learner)
            answer = ask.ask(message, convo)
            turn = sv.study_first(study, learner, answer, chat)
            held = turn.answer is None
            yield show(turn.history, turn.state, turn.answer, None if held else last, convo, learner,
                       panel_html=HELD if held else None)
            return
        for answer in ask.stream(message, convo):
            if not answer.done:
                reply = {"role": "assistant", "content": render.chat_markdown(answer)}
                yield [chat + [reply], *[gr.skip()] * (len(outputs) - 1)]
        content = sv.answer_message(answer, sv.memories_of(study, learner, answer))
        yield show(chat + [{"role": "assistant", "content": content}], state, answer, last, convo,
                   learner)

    def on_option(n: int):
        def pick(history, state, convo, last, request: gr.Request):
            learner = learner_of(request)
            item = sv.current(study, state)
            if item is None or not sv.is_open(state) or n >= len(item.options or []):
                return [gr.skip()] * len(outputs)
            return step(sv.reply(study, learner, state, item.options[n], list(history)), convo, last,
                        learner)
        return pick

    def on_show_answer(history, state, convo, last, request: gr.Request):
        learner = learner_of(request)
        if not sv.is_open(state):
            return [gr.skip()] * len(outputs)
        return step(sv.reply(study, learner, state, "", list(history)), convo, last, learner)

    def on_rate(rating: int):
        def rate(history, state, convo, last, request: gr.Request):
            learner = learner_of(request)
            return step(sv.rate(study, learner, state, rating, list(history)), convo, last, learner)
        return rate

    def on_explain(history, state, convo, last, request: gr.Request):
        learner = learner_of(request)
        return step(sv.explain(study, state, list(history), learner), convo, last, learner)

    def on_just_tell(history, state, convo, last, request: gr.Request):
        learner = learner_of(request)
        if not state or state["kind"] != "check":
            return [gr.skip()] * len(outputs)
        memories = sv.memories_of(study, learner, state["held"])
        return step(sv.release(state, list(history), memories=memories), convo, last, learner)

    def on_hint(history, state, convo, last, request: gr.Request):
        """A hint for the open check question: from the model when it passes the passage's checks,
        else from the passage (study_view.hint; not a review)."""
        return step(sv.hint(study, state, list(history)), convo, last, learner_of(request))

    def on_stop(history, state, convo, last, request: gr.Request):
        return step(sv.stop(state, list(history)), convo, last, learner_of(request))

    def on_quiz_me(history, state, convo, last, request: gr.Request):
        learner = learner_of(request)
        return step(sv.quiz_me(study, learner, last, list(history)), convo, last, learner)

    def on_example(found, history, state, convo, last, study_on, event: gr.SelectData,
                   request: gr.Request):
        """An empty chat's suggestion: a quiz on a topic, or a starter question."""
        learner = learner_of(request)
        index = event.index if isinstance(event.index, int) else -1
        kind, value = found[index] if 0 <= index < len(found) else ("question", event.value["text"])
        if kind == "topic":
            yield step(sv.quiz_topic(study, learner, value, list(history or [])), convo, last, learner)
            return
        yield from on_message(value, history, state, convo, last, study_on, request)

    def explain_card(item, history, state, convo, last, learner: str) -> list:
        """The Quiz tab's "Explain": the card's question answered here from its passage."""
        history, answer = sv.explain_item(study, item, list(history or []), learner)
        return show(history, state, answer, last, convo, learner)

    def empty_chat(learner: str):
        """The empty chat: what to study now (line and one-click quizzes), starter questions."""
        line, choices = nv.what_next(study, learner)
        found = [("topic", topic) for _, topic in choices[:6]]
        labels = [label for label, _ in choices[:6]]
        try:
            starters = render.starter_questions(ask.retriever.chunks, max(2, 6 - len(found)))
        except AssistantError:  # the notes could not be loaded: the status line says why
            starters = []
        found += [("question", q) for q in starters]
        examples = [{"text": t, "display_text": t} for t in labels + starters]
        return (gr.Chatbot(value=[], examples=examples or None,
                           placeholder=f"{render.CHAT_PLACEHOLDER}\n\n{line}"), found)

    def when_loaded(request: gr.Request):
        """On every page load: this learner's study mode; once the notes are loaded, what to
        study and starter questions, or why the notes could not be loaded."""
        learner = learner_of(request)
        try:
            study_on = study.study_mode(learner)
        except AssistantError:
            study_on = False
        error = ask.wait()
        if error:
            return (gr.skip(), gr.skip(), gr.Textbox(placeholder=render.ASK), render.ask_status(error),
                    gr.skip(), study_on)
        chat, found = empty_chat(learner)
        return (chat, found, gr.Textbox(placeholder=render.ASK), render.ask_status(None),
                render.mode_badge(ask.mode_label), study_on)

    def on_clear(request: gr.Request):
        chat, found = empty_chat(learner_of(request))
        return [chat, render.sources_panel(None), "", None, None, [], *tutor_buttons(None, ""),
                gr.update(visible=False), found]

    def on_study_mode(on: bool, request: gr.Request):
        try:
            study.set_study_mode(learner_of(request), bool(on))
        except AssistantError as exc:  # the toggle still works for this page; say why it is not kept
            gr.Warning(str(exc))

    def take(message):
        return "", message

    for trigger in (box.submit, send.click):
        trigger(take, box, [box, pending], **PRIVATE).then(
            guarded(on_message, 1), [pending, *message_inputs], outputs, **PRIVATE)
    chatbot.example_select(guarded(on_example, 1), [entries, *message_inputs], outputs, **PRIVATE)
    for n, btn in enumerate(opt_btns):
        btn.click(guarded(on_option(n)), state_inputs, outputs, **PRIVATE)
    show_btn.click(guarded(on_show_answer), state_inputs, outputs, **PRIVATE)
    for r, btn in zip(sorted(RATINGS), rate_btns):
        btn.click(guarded(on_rate(r)), state_inputs, outputs, **PRIVATE)
    explain_btn.click(guarded(on_explain), state_inputs, outputs, **PRIVATE)
    just_btn.click(guarded(on_just_tell), state_inputs, outputs, **PRIVATE)
    hint_btn.click(guarded(on_hint), state_inputs, outputs, **PRIVATE)
    stop_btn.click(on_stop, state_inputs, outputs, **PRIVATE)
    quiz_me_btn.click(guarded(on_quiz_me), state_inputs, outputs, **PRIVATE)
    clear.click(on_clear, None, [*outputs, entries], **PRIVATE)
    study_box.input(on_study_mode, study_box, None, **PRIVATE)
    gr.on(None, when_loaded, None, [chatbot, entries, box, status, badge, study_box],
          show_progress="hidden", **PRIVATE)
    return AskTab(state_inputs, outputs, explain_card)


def open_passage(trigger, chunk_id: str, open_source: gr.Textbox, tabs: gr.Tabs):
    """Show a passage in the Sources tab. A nonce after '#' makes opening the same passage twice
    still a change (the Sources tab ignores it)."""
    return trigger(
        lambda: (f"{chunk_id}#{time.time_ns()}", gr.Tabs(selected="sources")),
        None,
        [open_source, tabs],
        api_visibility="private",
    )
