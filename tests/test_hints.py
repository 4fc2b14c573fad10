"""Hints for study mode's check question (#12): at most two, never the answer; a model's hint is
kept only when the passage supports it and it does not state the answer. Real items of the seed
notes (real Chroma, the real embedder); the real SmolLM2 server for the model's hint."""

from __future__ import annotations

import socket

import pytest
from conftest import make_quiz
from test_llm import Scripted, completion

from assistant.core.config import Settings
from assistant.core.support import Passage, support
from assistant.llm import LLM
from assistant.quiz.hints import MAX_HINTS, check_hint, make_hint, passage_hint, reveals
from assistant.quiz.scheduling import ReviewStore
from assistant.quiz.study import Study

QUESTION = "What did labeling a million images cost?"


@pytest.fixture(scope="module")
def items(seed, tmp_path_factory):
    """Check questions study mode asks for several answers, and all offline items of the notes."""
    quiz = make_quiz(seed, ReviewStore(tmp_path_factory.mktemp("hints") / "progress"))
    quiz.prepare()
    return list(quiz.store.items())


@pytest.fixture(scope="module")
def check(seed, tmp_path_factory):
    """The check question study mode asks for QUESTION ("labeling 1 million images cost ...")."""
    study = Study(make_quiz(seed, ReviewStore(tmp_path_factory.mktemp("check") / "progress")))
    answer = seed.ask.ask(QUESTION)
    return study.check_question([c.chunk for c in answer.citations], "ana", focus=answer.text)


def test_passage_hints_never_state_the_answer_and_stop_at_two(items):
    assert len(items) > 20
    given = 0
    for item in items:
        hints = []
        for n in (1, 2, 3):  # as the chat asks: each with the hints already shown
            hints.append(make_hint(item, n, previous=[h.text for h in hints if h]))
        assert hints[2] is None  # never a third
        for hint in hints[:2]:
            if hint is not None:
                given += 1
                assert hint.origin == "passage"
                assert not reveals(hint.text, item), (item.answer, hint.text)
                assert f" {item.answer.lower()} " not in f" {hint.text.lower()} "
        if hints[0] and hints[1]:
            assert hints[0].text != hints[1].text
    assert given >= len(items)  # most items get two hints


def test_the_second_passage_hint_shows_more_of_the_context(check):
    first, second = passage_hint(check, 1), passage_hint(check, 2)
    assert check.answer == "$50,000+" and first and second
    assert "number" in first
    assert "_____" in second and "million images" in second  # the sentence, the answer blanked
    assert "50,000" not in second and "50000" not in second


def test_a_hint_must_say_something_the_passage_says(check):
    """What SmolLM2 was seen to reply (tests/test_hints.py's real-model case, printed): a loop and
    an attempt at the answer are no hints; a sentence of the passage's own words is one."""
    assert not check_hint("The answer is that the answer is that the answer is that the", check)
    assert not check_hint('The answer is "The cost of labeling".', check)
    assert check_hint("Humans had to label the data manually, which was expensive and slow.", check)
    assert not check_hint("Google reported the cost in 2019.", check)  # not in the passage


def test_reveals_the_answer_in_other_words(check):
    assert reveals("It cost about 50k dollars.", check)  # the same number, written differently
    assert reveals("They paid $50,000 for it.", check)
    assert not reveals("It cost a lot of money to label them.", check)


def test_a_hint_from_the_real_model_is_checked_or_replaced_by_the_passage_hint(check, llm_server):
    llm = LLM(Settings.from_env(environ={}, openai_base_url=llm_server, llm_model="smollm2",
                                llm_timeout=60))
    for n in (1, 2):
        hint = make_hint(check, n, llm=llm)
        assert hint is not None and not reveals(hint.text, check)
        if hint.origin == "llm":  # kept only when every sentence is the passage's and answer-free
            assert check_hint(hint.text, check)
        else:
            assert hint.text == passage_hint(check, n)


def test_a_model_hint_that_states_the_answer_is_not_shown(check):
    """Scripted: a real small model cannot be made to state the answer reliably, so a fake server
    says it ("the labeling cost $50,000+"), a sentence the passage supports but that gives the
    answer away; the passage's hint is shown instead."""
    telling = Scripted(completion("Hint: Labeling 1 million images cost $50,000+."))
    said = "Labeling 1 million images cost $50,000+."
    passage = Passage(check.passage, check.heading)
    assert support(said, passage, question=check.question).ok  # the passage's own words ...
    assert reveals(said, check) and not check_hint(said, check)  # ... but the answer: not shown
    hint = make_hint(check, 1, llm=telling.llm())
    assert hint.origin == "passage" and "50,000" not in hint.text
    assert len(telling.requests) == 1  # the model was asked


def test_an_unreachable_model_still_gives_the_passage_hint(check):
    with socket.socket() as s:  # a port nothing listens on: the connection is refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = LLM(Settings.from_env(environ={}, openai_base_url=f"http://127.0.0.1:{port}/v1",
                                 llm_model="smollm2", llm_timeout=5))
    hint = make_hint(check, 2, llm=down)
    assert hint is not None and hint.origin == "passage" and "_____" in hint.text


def test_answering_after_hints_suggests_hard_not_good(seed, tmp_path, check):
    """A hint does not count as a review; a right reply after hints is rated Hard, not Good."""
    study = Study(make_quiz(seed, ReviewStore(tmp_path / "progress")))
    answer = seed.ask.ask(QUESTION)
    item = study.check_question([c.chunk for c in answer.citations], "ana", focus=answer.text)
    assert item.id == check.id
    verdict, review = study.answer_check("ana", item, "$50,000+", hints=1)
    assert verdict.correct and review.rating == 2
    verdict, review = study.answer_check("bob", item, "$50,000+")
    assert verdict.correct and review.rating >= 3
    assert MAX_HINTS == 2
