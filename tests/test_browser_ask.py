"""The Ask tab in a real browser: ask, read the answer and its sources, open the cited passage."""

import shutil

import pytest
from browser import ROOT, assert_readable, shot, start_app, stop_app, use_scheme
from llm_server import llm_server  # noqa: F401  (the fixture: a real llama.cpp server, SmolLM2)
from playwright.sync_api import expect

# A note that writes formulas the way notebooks and LaTeX-minded learners do.
FORMULAS = ("# Fine-tuning\n\n## LoRA\n\nLoRA freezes the original weights $W_0$ and learns a low-rank "
            "update $\\Delta W = BA$ instead. A run costs about $2 on a rented GPU, or $1.50 on spot.\n")


@pytest.fixture(scope="module")
def app_notes(tmp_path_factory):
    notes = tmp_path_factory.mktemp("ask-notes") / "knowledge"
    shutil.copytree(ROOT / "knowledge", notes)
    (notes / "formulas.md").write_text(FORMULAS, encoding="utf-8")
    return notes


def ask(page, question: str, expect_text: str):
    """Ask and wait for this question's own reply (not an earlier one) to contain `expect_text`."""
    replies = page.locator('#chat [data-testid="bot"]')
    before = replies.count()
    page.locator("#ask-box textarea").fill(question)
    page.locator("#ask-box textarea").press("Enter")
    expect(replies.nth(before)).to_contain_text(expect_text, timeout=60_000)


def test_ask_shows_the_answer_with_its_source_and_opens_the_cited_passage(page):
    ask(page, "How long did LinkedIn need to get from 80% to 95%?", "4 MORE months")
    expect(page.locator("#chat")).to_contain_text("[1]")
    card = page.locator("#sources-panel .cite").first
    expect(card).to_contain_text("The Last Mile Challenge")
    # The quoted item is marked in its passage (after its lead-in, which the answer quotes too).
    expect(card.locator("mark", has_text="LinkedIn hit 80%").first).to_be_visible()
    expect(page.locator("text=Mode: offline")).to_be_visible()
    expect(page.locator("#quiz-me")).to_be_visible()
    expect(page.get_by_text("Show quoted from notes")).to_have_count(0)  # offline: it is the quote
    shot(page, "ask-answer")

    page.locator("#open-cite-1").click()
    passage = page.locator("#sources-view mark.cited").first
    expect(passage).to_be_in_viewport(timeout=30_000)
    expect(page.locator("#sources-view")).to_contain_text("LinkedIn hit 80%")
    shot(page, "ask-open-cited")
    assert page.errors == []


def test_follow_up_and_refusal_in_the_chat(page):
    ask(page, "What is the last mile challenge?", "last mile challenge")
    ask(page, "and how long did LinkedIn need for the last part?", "4 MORE months")
    ask(page, "How do I bake sourdough bread?", "Your notes don't cover that")
    expect(page.get_by_role("button", name="Ask about:").first).to_be_visible()
    shot(page, "ask-refusal")


def test_a_formula_in_an_answer_is_typeset_and_money_stays_money(page):
    ask(page, "What does LoRA learn instead of changing the original weights?", "low-rank")
    reply = page.locator('#chat [data-testid="bot"]').last
    expect(reply.locator(".katex").first).to_be_visible()
    expect(reply).not_to_contain_text("$W_0$")
    expect(reply).to_contain_text("$2 on a rented GPU, or $1.50")
    shot(page, "ask-formula")
    # The passage beside the answer and the note in Sources typeset it too (MathML), quote marked.
    card = page.locator("#sources-panel .cite").first
    expect(card.locator("math").first).to_be_visible()
    expect(card).not_to_contain_text("$W_0$")
    page.locator("#open-cite-1").click()
    view = page.locator("#sources-view")
    expect(view.locator("mark.cited").first).to_be_in_viewport(timeout=30_000)
    formula = view.locator("math").nth(1)  # \Delta W = BA
    expect(formula).to_be_visible()
    assert formula.bounding_box()["width"] > 20  # laid out as a formula, not an empty element
    expect(view).not_to_contain_text("\\Delta")
    expect(view).to_contain_text("$2 on a rented GPU, or $1.50")
    shot(page, "sources-formula")
    assert page.errors == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_quoted_and_cited_passages_are_readable_in_both_themes(page, scheme):
    use_scheme(page, scheme)
    ask(page, "How long did LinkedIn need to get from 80% to 95%?", "4 MORE months")
    expect(page.locator("#sources-panel .cite mark", has_text="LinkedIn hit 80%").first).to_be_visible()
    lowest = {"ask": assert_readable(page, "#sources-panel")}
    shot(page, f"ask-{scheme}")

    page.locator("#open-cite-1").click()
    expect(page.locator("#sources-view mark.cited").first).to_be_in_viewport(timeout=30_000)
    lowest["sources"] = assert_readable(page, "#sources-view", must_see="mark.cited")
    shot(page, f"ask-open-cited-{scheme}")
    print(f"lowest contrast, {scheme}: " + ", ".join(f"{k} {v:.2f}" for k, v in lowest.items()))
    assert page.errors == []


@pytest.fixture(scope="module")
def llm_app(tmp_path_factory, llm_server):  # noqa: F811
    base = tmp_path_factory.mktemp("llm-app")
    shutil.copytree(ROOT / "knowledge", base / "knowledge")
    app = start_app(base / "knowledge", base / "data", base / "app.log",
                    env={"OPENAI_BASE_URL": llm_server, "ASSISTANT_MODEL": "smollm2"})
    yield app
    stop_app(app)


def test_a_generated_answer_keeps_the_quoted_answer_one_click_away(browser, llm_app):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(llm_app.url, wait_until="domcontentloaded")
    page.get_by_role("tab").first.wait_for()
    expect(page.locator("text=Mode: smollm2")).to_be_visible(timeout=60_000)
    page.locator("#ask-box textarea").fill("How long did LinkedIn need to get from 80% to 95%?")
    page.locator("#ask-box textarea").press("Enter")
    expect(page.locator("#quiz-me")).to_be_visible(timeout=120_000)  # the answer is done, checked
    reply = page.locator('#chat [data-testid="bot"]').last
    control = reply.get_by_text("Show quoted from notes")
    if control.count():  # the model's own words: the notes' words are one click away
        quoted = reply.locator("details.quoted")
        expect(quoted.locator("small").last).to_be_hidden()  # closed until asked for
        control.click()
        expect(quoted).to_have_attribute("open", "")
        expect(quoted.locator("small").last).to_contain_text("ai-engineering-foundations.md")
        expect(quoted.locator("small").last).to_be_visible()
        expect(quoted).to_contain_text("4 MORE months to reach 95%")
    else:  # nothing the model wrote was in the notes: the quoted answer is what is shown
        expect(reply).to_contain_text("showing an answer quoted from them instead")
        expect(reply).to_contain_text("4 MORE months to reach 95%")
    shot(page, "ask-llm-quoted")
    context.close()
