"""Builds the Gradio Blocks app: one tab per activity (Ask, Quiz, Sources; Class for teachers) and
launches it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import gradio as gr

from ..core.errors import AssistantError
from ..core.logins import LEARNER, TEACHER
from ..quiz.study import Study
from ..services import Services
from . import render
from .ask_tab import build_ask_tab
from .class_tab import build_class_tab
from .quiz_tab import build_quiz_tab
from .sources_tab import build_sources_tab

if TYPE_CHECKING:
    from ..quiz.class_report import ClassReport


def build(services: Services) -> gr.Blocks:
    # The Ask tab and /ask talk to the answerer through the app's loading in the background: a
    # question asked before the notes are loaded waits for them (see assistant/warmup.py).
    ask = services.warmup.ask
    study = Study(services.quiz)  # the door between Ask and Quiz (study mode, quiz me, explain)
    # Eight events at once rather than Gradio's one per event, so one learner's question never waits
    # for another's. Set through Gradio's documented variable, which the queue made in Blocks()
    # reads: calling .queue() instead rebuilds the whole server app once more before the page.
    os.environ.setdefault("GRADIO_DEFAULT_CONCURRENCY_LIMIT", "8")
    with gr.Blocks(title="AI Engineering Tutor") as demo:
        gr.Markdown("### AI Engineering Tutor", elem_id="title")
        # Set to a chunk id by a citation or quiz feedback; the Sources tab shows that passage.
        open_source = gr.Textbox(visible=False, elem_id="open-source")
        with gr.Tabs(elem_id="tabs") as tabs:
            with gr.Tab("Ask", id="ask"):
                ask_tab = build_ask_tab(ask, study, open_source, tabs)
            with gr.Tab("Quiz", id="quiz"):
                build_quiz_tab(services.quiz, open_source, tabs, study=study, ask_tab=ask_tab)
            with gr.Tab("Sources", id="sources"):
                build_sources_tab(services.sources, open_source)
            if services.logins:  # a class has logins; one learner alone has no class to view
                # Hidden until the page's load finds a teacher's login (and checked again per handler).
                with gr.Tab("Class", id="class", visible=False, elem_id="class-tab") as class_tab:
                    build_class_tab(lambda: _class_report(services), lambda login: services.role(login) == TEACHER,
                                    open_source, tabs, class_tab)
        _register_api(ask, services.quiz)
    return demo


def _register_api(answerer, quiz_service) -> None:
    """Plain endpoints for scripts and load tests (gradio_client), beside the UI's own events."""

    def ask(question: str, history: list[dict] | None = None) -> dict:
        """Answer a question from the notes; `history` is the conversation so far."""
        return answerer.ask(question, history or []).to_dict()

    gr.api(ask, api_name="ask")

    def quiz(n: int = 5, request: gr.Request = None) -> dict:
        """Up to n quiz items for the signed-in learner, as `python -m assistant quiz --json`."""
        session = quiz_service.session(_learner(request), max(1, min(n, 50)))
        return {"items": [item.to_dict() for item in session.items]}

    def quiz_answer(item_id: str, answer: str, rating: int = 3, request: gr.Request = None) -> dict:
        """Check an answer and record the review (rating 1-4) for the signed-in learner."""
        item = quiz_service.item(item_id)
        if item is None:
            return {"error": "No such question; start a new quiz."}
        verdict = quiz_service.check(item, answer)
        quiz_service.record(_learner(request), item, min(4, max(1, rating)), verdict)
        return {"correct": verdict.correct, "expected": verdict.expected}

    gr.api(quiz, api_name="quiz")
    gr.api(quiz_answer, api_name="quiz_answer")


def _class_report(services: Services) -> ClassReport:
    """The report over the class's learners: the logins whose role is learner (a teacher's own
    reviews are left out)."""
    from ..quiz.class_report import ClassReport

    learners = [name for name, login in services.logins.items() if login.role == LEARNER]
    return ClassReport(services.quiz.store, learners=learners)


def _learner(request: gr.Request | None) -> str:
    # The login name when logins are on; progress is never chosen by what a client sends.
    return (request.username if request is not None and request.username else None) or "local"


def launch(services: Services, users: dict[str, str] | None = None) -> None:
    """Serve the page, open the progress database, then load the indexes in the background (not
    before: loading beside Gradio's start-up slowed serving the page by a second); the model is
    loading in its own process. AssistantError: the progress database cannot be opened (the
    server is closed again)."""
    from .auth import checker

    demo = build(services)
    demo.launch(
        server_name=services.settings.host,
        server_port=services.settings.port,
        auth=checker(users) if users else None,
        auth_message="Sign in to your tutor." if users else None,
        show_error=False,  # errors reach the user as sentences from our handlers, never traces
        max_file_size=f"{services.settings.max_upload_mb}mb",
        css=render.CSS,
        footer_links=[],
        prevent_thread_lock=True,
    )
    try:
        services.quiz.store  # SQLAlchemy and the database, which the page no longer waits for
    except AssistantError:
        demo.close(verbose=False)  # the reason, printed by app.py, is the last word
        raise
    services.warmup.start()
    demo.block_thread()
