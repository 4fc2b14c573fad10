"""The Quiz tab in a real browser: start, answer, see feedback with its source, rate, next."""

import re

import pytest
from browser import ROOT, answer_quiz_card, assert_readable, shot, use_scheme
from playwright.sync_api import expect


@pytest.fixture(scope="module")
def app_notes():
    return ROOT / "knowledge"


def test_a_quiz_card_is_answered_checked_and_rated(page):
    page.get_by_role("tab", name="Quiz").click()
    page.get_by_role("button", name="Start").click()
    status = page.locator("#quiz-status")
    expect(status).to_contain_text(re.compile(r"1 of \d+"), timeout=60_000)
    shot(page, "quiz-card")

    answer_quiz_card(page)
    expect(page.get_by_text(re.compile(r"^(Correct|Incorrect|Almost)"))).to_be_visible(timeout=30_000)
    expect(page.get_by_role("button", name="Open in sources")).to_be_visible()
    expect(page.locator("#quiz-rate-3")).to_be_visible()
    shot(page, "quiz-feedback")

    page.locator("#quiz-rate-3").click()
    expect(status).to_contain_text(re.compile(r"2 of \d+"), timeout=30_000)
    assert page.errors == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_feedback_marks_are_readable_in_both_themes(page, scheme):
    use_scheme(page, scheme)
    page.get_by_role("tab", name="Quiz").click()
    page.get_by_role("button", name="Start").click()
    status = page.locator("#quiz-status")
    for n in range(1, 6):  # the first card whose feedback marks the answer in its passage
        expect(status).to_contain_text(re.compile(rf"\b{n} of \d+"), timeout=60_000)
        answer_quiz_card(page)
        expect(page.locator(".feedback .verdict")).to_be_visible(timeout=30_000)
        if page.locator(".feedback blockquote mark").count():
            break
        page.locator("#quiz-rate-3").click()
    lowest = assert_readable(page, ".feedback")
    print(f"lowest contrast, {scheme}: quiz {lowest:.2f}")
    shot(page, f"quiz-feedback-{scheme}")
    assert page.errors == []
