"""The teacher's Class tab on a real app with a users file: a teacher sees it, with a learner's
studied topic, the question the learner missed and its passage one click away; a learner's page has
no Class tab, and a learner calling its endpoint from a script is refused on the server. The
teacher's own reviews stay out of the class's figures, and no learner's answer text is shown."""

from __future__ import annotations

import re
import shutil

import pytest
from browser import DATA, shot, start_app, stop_app, use_scheme
from gradio_client import Client
from playwright.sync_api import expect

from assistant.quiz.items import topic_label
from assistant.ui.class_tab import NOBODY_YET, TEACHERS_ONLY

TEACHER, LEARNER = ("ada", "teach-pw"), ("bob", "learn-pw")
PRIVATE = "zebra-private-answer"  # what the learner typed: it must never reach the teacher's page


@pytest.fixture(scope="module")
def class_app(tmp_path_factory):
    base = tmp_path_factory.mktemp("class-tab")
    shutil.copytree(DATA / "notes", base / "knowledge")
    users = base / "users.txt"
    users.write_text("ada:teach-pw:teacher\nbob:learn-pw:learner\ncy:cy-pw\n")
    app = start_app(base / "knowledge", base / "data", base / "app.log", env={"ASSISTANT_USERS_FILE": str(users)})
    yield app
    stop_app(app)


def client(app, login) -> Client:
    return Client(app.url, auth=login, verbose=False)


def answer_wrongly(login_client: Client) -> dict:
    """One quiz question answered wrongly and rated Again, through the app's own endpoints."""
    item = login_client.predict(1, api_name="/quiz")["items"][0]
    login_client.predict(item["id"], PRIVATE, 1, api_name="/quiz_answer")
    return item


@pytest.fixture(scope="module")
def studied(class_app):
    """Bob (a learner) misses one question; Ada (the teacher) misses another, which must not count."""
    missed = answer_wrongly(client(class_app, LEARNER))
    teacher_item = client(class_app, TEACHER).predict(5, api_name="/quiz")["items"][-1]
    client(class_app, TEACHER).predict(teacher_item["id"], PRIVATE, 1, api_name="/quiz_answer")
    return missed


def test_a_learner_calling_the_class_endpoint_is_refused_and_an_empty_class_is_one_sentence(class_app):
    """First in this module: it runs before anyone has studied."""
    refused = client(class_app, LEARNER).predict(api_name="/class_report")
    assert TEACHERS_ONLY in refused[0] and refused[1:] == ("", "")
    empty = client(class_app, TEACHER).predict(api_name="/class_report")
    assert NOBODY_YET in empty[0]
    # Once the learner has studied, the endpoint still refuses them, and serves the teacher.
    answer_wrongly(client(class_app, ("cy", "cy-pw")))
    assert TEACHERS_ONLY in client(class_app, ("cy", "cy-pw")).predict(api_name="/class_report")[0]
    topics, missed, due = client(class_app, TEACHER).predict(api_name="/class_report")
    assert "<table" in topics and "Open passage" in missed and "Due in the next 14 days" in due
    assert PRIVATE not in topics + missed + due


def sign_in(browser, app, login, scheme="light"):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.goto(app.url)
    page.get_by_label("username").fill(login[0])
    page.get_by_label("password").fill(login[1])
    page.get_by_role("button", name="Login").click()
    page.get_by_role("tab", name="Sources").wait_for()
    return context, page


def test_a_teacher_sees_the_class_and_opens_a_missed_questions_passage(browser, class_app, studied):
    context, page = sign_in(browser, class_app, TEACHER, "dark")
    try:
        use_scheme(page, "dark")
        page.get_by_role("tab", name="Class").click()
        topics = page.locator("#class-topics")
        topic = topic_label(studied["source"]["source"], studied["source"]["heading"])
        row = topics.locator("tr", has_text=topic).first
        expect(row).to_be_visible()
        # bob and cy (the first test) are learners; ada's own review is left out
        expect(row.locator("td").nth(1)).to_have_text(re.compile(r"^[12]$"))
        expect(topics.locator("tr.unstudied td").nth(2)).to_have_text("—")  # no recall to show
        missed = page.locator("#class-missed li", has_text=studied["question"][:40]).first
        expect(missed).to_be_visible()
        expect(page.locator("#class-due .day").first).to_have_text("Today")
        assert PRIVATE not in page.locator("#tabs").inner_text()
        shot(page, "class-dark")

        missed.get_by_role("button", name="Open passage").click()
        expect(page.locator("#sources-view mark.cited, #sources-view .chunk.cited").first).to_be_visible()
        assert page.errors == []
    finally:
        context.close()


def test_a_learners_page_has_no_class_tab(browser, class_app, studied):
    context, page = sign_in(browser, class_app, LEARNER)
    try:
        page.get_by_role("tab", name="Sources").click()
        page.locator("#sources-tree button.file").first.wait_for()  # the page's load has run
        expect(page.get_by_role("tab", name="Class")).to_have_count(0)
        expect(page.locator("#class-topics")).to_be_hidden()
    finally:
        context.close()
