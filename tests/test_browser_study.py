"""Study (#12) in a real browser, on the real app with logins: study mode asks before it tells and
puts the check question in the schedule; hints before the answer; "Just tell me"; "Quiz me on this"
from an answer; Explain from a quiz card; what to study now, with no history and with reviews due;
two learners never mix.
Each test signs in as its own learner, so the tests do not depend on each other's progress."""

import re

import pytest
from browser import (
    ROOT,
    answer_quiz_card,
    assert_readable,
    shot,
    start_app,
    stop_app,
    use_scheme,
)
from conftest import run_cli
from playwright.sync_api import expect

USERS = {"ana": "pw-ana", "bob": "pw-bob", "cy": "pw-cy", "dee": "pw-dee", "eve": "pw-eve"}
QUESTION = "What did labeling a million images cost?"
CITED = "Self-Supervision: The Scaling Breakthrough"  # the one passage that answers it


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    import shutil

    base = tmp_path_factory.mktemp("study-app")
    shutil.copytree(ROOT / "knowledge", base / "knowledge")
    users = ",".join(f"{name}:{password}" for name, password in USERS.items())
    app = start_app(base / "knowledge", base / "data", base / "app.log", env={"ASSISTANT_USERS": users})
    yield app
    stop_app(app)


def sign_in(browser, app_server, learner: str, scheme: str = "light"):
    """A fresh browser context signed in as `learner`, on the app's page."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme=scheme)
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.goto(app_server.url, wait_until="domcontentloaded")
    page.get_by_label("username").fill(learner)
    page.get_by_label("password").fill(USERS[learner])
    page.get_by_role("button", name="Login").click()
    page.get_by_role("tab", name="Ask").wait_for()
    expect(page.locator("#chat")).to_contain_text("What to study now", timeout=60_000)  # loaded
    return page


@pytest.fixture
def signed_in(browser, app_server):
    contexts = []

    def open_as(learner: str, scheme: str = "light"):
        page = sign_in(browser, app_server, learner, scheme)
        contexts.append(page.context)
        return page

    yield open_as
    for context in contexts:
        context.close()


def replies(page):
    return page.locator('#chat [data-testid="bot"]')


def send(page, text: str, expect_text: str):
    """Type into the chat box and wait for a new reply containing `expect_text`."""
    before = replies(page).count()
    page.locator("#ask-box textarea").fill(text)
    page.locator("#ask-box textarea").press("Enter")
    expect(replies(page).nth(before)).to_contain_text(expect_text, timeout=60_000)


def answer_tutor_question(page):
    """Answer the chat's current quiz question whatever its kind: the first option, the flashcard
    turned over, or a typed guess."""
    if page.locator("#tutor-opt-1").is_visible():
        page.locator("#tutor-opt-1").click()
    elif page.locator("#tutor-show").is_visible():
        page.locator("#tutor-show").click()
    else:
        send(page, "no idea", "Not quite")


def study_mode(page, on: bool):
    box = page.locator("#study-mode input")
    if box.is_checked() != on:
        box.click()
    expect(box).to_be_checked(checked=on)


def test_study_mode_asks_first_marks_the_gap_and_schedules_the_question(signed_in):
    page = signed_in("ana", "dark")
    use_scheme(page, "dark")
    study_mode(page, True)
    send(page, QUESTION, "Before I tell you")
    expect(page.locator("#sources-panel")).to_contain_text("Answer the question first")
    expect(page.locator("#tutor-just-tell")).to_be_visible()
    expect(page.locator("#quiz-me")).to_be_hidden()  # nothing to quiz on before the answer
    shot(page, "study-check-dark")

    # Hints (offline: from the passage): two at most, never the answer, and not a review.
    page.locator("#tutor-hint").click()
    expect(replies(page).last).to_contain_text("Hint 1 of 2")
    page.locator("#tutor-hint").click()
    expect(replies(page).last).to_contain_text("Hint 2 of 2")
    expect(replies(page).last).to_contain_text("_____")  # the answer's sentence, the answer blanked
    expect(page.locator("#tutor-hint")).to_be_hidden()  # no third
    expect(page.locator("#tutor-just-tell")).to_be_visible()  # telling is still one click
    for n in (1, 2):
        hint = replies(page).nth(replies(page).count() - 3 + n)
        expect(hint).not_to_contain_text("50,000")
    shot(page, "study-hints-dark")

    send(page, "zebra", "Not quite")
    reply = replies(page).last
    expect(reply).to_contain_text("now in your reviews")
    expect(reply).to_contain_text("$50,000+")  # the cited answer, shown after the check
    expect(reply.locator("mark").first).to_be_visible()  # what the reply missed, marked
    expect(reply).to_contain_text(re.compile(r"\[1\] reviewed today · recall ~\d+%"))
    expect(page.locator("#sources-panel .cite").first).to_contain_text(CITED)
    assert_readable(page, "#chat")
    shot(page, "study-gap-dark")

    # "Just tell me": the answer at once, and nothing more recorded.
    send(page, "How does self-supervision work?", "Before I tell you")
    page.locator("#tutor-just-tell").click()
    expect(replies(page).last).to_contain_text("[1]")
    expect(replies(page).last).not_to_contain_text("Not quite")
    expect(page.locator("#tutor-just-tell")).to_be_hidden()

    # The check question is in the schedule: the Progress view counts it, and offers it as due.
    page.get_by_role("tab", name="Quiz").click()
    page.get_by_role("tab", name="Progress").click()
    expect(page.get_by_text(re.compile(r"1\s+reviewed today"))).to_be_visible()
    due = page.get_by_role("button", name=re.compile(r"^Review .* · 1 due"))
    expect(due).to_be_visible()
    shot(page, "study-progress-dark")
    due.click()  # one click from a quiz on it
    expect(page.locator("#quiz-status")).to_contain_text("1 of", timeout=30_000)
    expect(page.locator(".card .question")).to_contain_text("labeling 1 million images cost")

    page.reload()  # study mode is remembered for this learner
    expect(page.locator("#study-mode input")).to_be_checked(timeout=60_000)
    assert page.errors == []


def test_two_learners_study_modes_never_mix(signed_in):
    ana, bob = signed_in("ana"), signed_in("bob")
    study_mode(ana, True)
    bob.reload()
    expect(bob.locator("#chat")).to_contain_text("What to study now", timeout=60_000)
    expect(bob.locator("#study-mode input")).not_to_be_checked()
    send(bob, QUESTION, "$50,000+")  # answered at once: bob never turned study mode on
    expect(replies(bob).last).not_to_contain_text("Before I tell you")
    expect(replies(bob).last).not_to_contain_text("reviewed")  # bob has reviewed nothing
    send(ana, QUESTION, "Before I tell you")
    study_mode(bob, True)
    study_mode(ana, False)
    bob.reload()
    ana.reload()
    expect(bob.locator("#study-mode input")).to_be_checked(timeout=60_000)
    expect(ana.locator("#study-mode input")).not_to_be_checked(timeout=60_000)


def test_what_next_with_no_history_then_quiz_me_on_an_answer_and_a_refusal(signed_in):
    page = signed_in("cy")
    chat = page.locator("#chat")
    expect(chat).to_contain_text("topics never studied")
    shot(page, "study-empty-chat")
    page.get_by_text(re.compile(r"^New: ")).first.click()  # one click from a quiz on a topic
    expect(replies(page).last).to_contain_text("Question 1 of")
    page.locator("#tutor-stop").click()
    expect(replies(page).last).to_contain_text("Quiz stopped")

    send(page, QUESTION, "$50,000+")
    cited = page.locator("#sources-panel .cite-head").all_inner_texts()
    assert len(cited) == 1 and CITED in cited[0]
    page.locator("#quiz-me").click()
    for n in (1, 2, 3):  # three items, each from the passage the answer cited, graded and recorded
        question = replies(page).last
        expect(question).to_contain_text(f"Question {n} of 3")
        expect(question).to_contain_text(CITED)
        answer_tutor_question(page)
        expect(page.locator("#tutor-rate-3")).to_be_visible()
        page.locator("#tutor-rate-3").click()
    expect(replies(page).last).to_contain_text("of 3 remembered")
    expect(page.locator("#quiz-me")).to_be_visible()  # under the answer again

    send(page, "How do I bake sourdough bread?", "Your notes don't cover that")
    expect(page.locator("#quiz-me")).to_be_hidden()  # a refused question gives no items
    assert page.errors == []


def test_explain_from_a_quiz_card_answers_in_ask_and_follow_ups_work(signed_in):
    page = signed_in("dee")
    page.get_by_role("tab", name="Quiz").click()
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#quiz-status")).to_contain_text(re.compile(r"1 of \d+"), timeout=60_000)
    answer_quiz_card(page)
    where = page.locator(".feedback .where").inner_text()
    page.locator("#quiz-explain").click()

    expect(page.locator("#chat")).to_be_visible()  # the Ask tab, with the card's question answered
    expect(page.locator('#chat [data-testid="user"]').last).to_contain_text("Explain: ")
    expect(replies(page).last).to_contain_text("[1]")
    expect(page.locator("#sources-panel .cite-head").first).to_contain_text(where.split(" › ")[-1])
    shot(page, "study-explain")
    send(page, "and why does that matter?", "[1]")  # a follow-up reads the explanation

    page.get_by_role("tab", name="Quiz").click()  # the card still waits for its rating
    expect(page.locator("#quiz-rate-3")).to_be_visible()
    assert page.errors == []


def test_what_next_follows_a_changed_note(signed_in, app_server):
    """Last in this module: it rewrites a section of the app's notes."""
    page = signed_in("eve")
    page.get_by_text(re.compile(r"^New: Foundation Models")).first.click()
    expect(replies(page).last).to_contain_text("Question 1 of")
    answer_tutor_question(page)
    page.locator("#tutor-rate-1").click()  # Again: due again in minutes
    page.locator("#tutor-stop").click()
    page.get_by_role("tab", name="Quiz").click()
    page.get_by_role("tab", name="Progress").click()
    review = page.get_by_role("button", name=re.compile(r"^Review Foundation Models.* · 1 due"))
    expect(review).to_be_visible()

    note = app_server.knowledge / "ai-engineering-foundations.md"
    text = note.read_text()
    start = text.index("### Foundation Models")
    end = text.index("### Why AI Engineering Emerged")
    note.write_text(text[:start] + "### Foundation Models: Multimodal and General-Purpose\n\n"
                    "- **Rewritten:** Foundation models now read video as well, at 30 frames per second.\n\n"
                    + text[end:])
    done = run_cli("ingest.py", "--knowledge", str(app_server.knowledge), "--db", str(app_server.data))
    assert done.returncode == 0, done.stderr
    page.get_by_role("tab", name="Practice").click()
    page.get_by_role("tab", name="Progress").click()
    # The reviewed question belonged to text that is gone: nothing of it is due; the section's
    # new text has new questions, never studied.
    expect(review).to_be_hidden()
    expect(page.get_by_role("button", name=re.compile(r"^New: Foundation Models"))).to_be_visible()
    assert page.errors == []
