"""The Ask tab: a streaming chat on the left, the cited passages of the current answer on the right."""

from __future__ import annotations

import time

import gradio as gr

from ..core.schema import Answer
from . import render


def respond(ask, message: str, history: list[dict]):
    """Stream (chat history, sources panel, retrieved table, answer) for one question."""
    message = (message or "").strip()
    if not message:
        yield history, gr.skip(), gr.skip(), gr.skip()
        return
    prior = list(history or [])
    chat = prior + [{"role": "user", "content": message}]
    answer: Answer | None = None
    for answer in ask.stream(message, prior):
        reply = {"role": "assistant", "content": render.chat_markdown(answer)}
        if answer.done:
            yield chat + [reply], render.sources_panel(answer), render.retrieved_table(answer), answer
        else:
            yield chat + [reply], gr.skip(), gr.skip(), gr.skip()


def build_ask_tab(ask, open_source: gr.Textbox, tabs: gr.Tabs) -> None:
    """`ask`: the Answerer service, as the app's loading in the background hands it over
    (warmup.PendingAnswerer: `loading`, and `wait()` for the notes)."""
    last_answer = gr.State(None)
    pending = gr.State("")  # the question being answered, so the box can clear at once
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=360):
            chatbot = gr.Chatbot(
                height=520,
                label="Conversation",
                show_label=False,
                examples=None,  # starter questions, once the notes are loaded (below)
                placeholder="Ask anything about your notes. Answers quote them, with sources.",
                buttons=["copy"],
                feedback_options=None,
                elem_id="chat",
            )
            with gr.Row():
                box = gr.Textbox(
                    placeholder=render.LOADING if ask.loading else render.ASK,
                    show_label=False,
                    scale=5,
                    lines=1,
                    max_length=4000,
                    elem_id="ask-box",
                    autofocus=True,
                )
                send = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="ask-send")
            status = gr.HTML(render.ask_status(None), elem_id="ask-status", padding=False)
            with gr.Row():
                badge = gr.HTML(render.mode_badge(ask.mode_label))
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
                                            None, pending, api_visibility="private").then(
                                stream_answer, [pending, chatbot], outputs, api_visibility="private")
                with gr.Row():
                    for c in answer.citations:
                        opener = gr.Button(f"Open [{c.n}] in Sources", size="sm",
                                           elem_classes=["open-cite"], elem_id=f"open-cite-{c.n}")
                        open_passage(opener.click, c.chunk.id, open_source, tabs)

            with gr.Accordion("All passages retrieved for this answer", open=False):
                retrieved = gr.HTML("")

    outputs = [chatbot, panel, retrieved, last_answer]
    private = {"api_visibility": "private"}  # UI plumbing; scripts use the /ask endpoint instead

    def stream_answer(message, history):
        yield from respond(ask, message, history)

    def take(message):
        return "", message

    def pick_example(event: gr.SelectData):
        return event.value["text"]

    def when_loaded():
        """On every page load: once the notes are loaded, starter questions; or why they were not."""
        error = ask.wait()
        if error:
            return gr.skip(), gr.Textbox(placeholder=render.ASK), render.ask_status(error), gr.skip()
        examples = [{"text": q} for q in render.starter_questions(ask.retriever.chunks)]
        return (gr.Chatbot(examples=examples or None), gr.Textbox(placeholder=render.ASK),
                render.ask_status(None), render.mode_badge(ask.mode_label))

    for trigger in (box.submit, send.click):
        trigger(take, box, [box, pending], **private).then(
            stream_answer, [pending, chatbot], outputs, **private)
    chatbot.example_select(pick_example, None, pending, **private).then(
        stream_answer, [pending, chatbot], outputs, **private)
    clear.click(lambda: ([], render.sources_panel(None), "", None), None, outputs, **private)
    gr.on(None, when_loaded, None, [chatbot, box, status, badge], show_progress="hidden", **private)


def open_passage(trigger, chunk_id: str, open_source: gr.Textbox, tabs: gr.Tabs):
    """Show a passage in the Sources tab. A nonce after '#' makes opening the same passage twice
    still a change (the Sources tab ignores it)."""
    return trigger(
        lambda: (f"{chunk_id}#{time.time_ns()}", gr.Tabs(selected="sources")),
        None,
        [open_source, tabs],
        api_visibility="private",
    )
