"""The Ask tab in a real browser: ask, read the answer and its sources, open the cited passage."""

import pytest
from browser import ROOT, assert_readable, shot, use_scheme
from playwright.sync_api import expect


@pytest.fixture(scope="module")
def app_notes():
    return ROOT / "knowledge"


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
