"""The Ask tab's tutor as plain functions (ui/study_view.py): a quiz in the chat from an answer's
citations, rated like any review; study mode's check question, "Just tell me"; "Explain" from a
card; the recall line under an answer; "what to study now" choices. Real index, real model."""

from __future__ import annotations

import pytest
from conftest import history_of, make_quiz

from assistant.quiz.checking import normalize
from assistant.quiz.scheduling import ReviewStore
from assistant.quiz.study import Study
from assistant.ui import next_view as nv
from assistant.ui import study_view as sv

QUESTION = "What did labeling a million images cost?"


@pytest.fixture
def study(seed, tmp_path):
    return Study(make_quiz(seed, ReviewStore(tmp_path / "progress")))


@pytest.fixture
def asked(seed):
    answer = seed.ask.ask(QUESTION)
    assert not answer.refused
    return answer, history_of(answer)


def _answer_right(study, state):
    item = sv.current(study, state)
    return item.options.index(item.answer) + 1 if item.type == "mcq" else item.answer


def test_quiz_me_in_the_chat_asks_rates_and_records(study, asked):
    answer, history = asked
    cited = {c.chunk.id for c in answer.citations}
    turn = sv.quiz_me(study, "ana", answer, history)
    assert turn.history[-2] == {"role": "user", "content": "Quiz me on this."}
    assert "Question 1 of" in turn.history[-1]["content"]
    state = turn.state
    assert sv.is_open(state) and sv.buttons(state, study)["stop"]
    seen = []
    while state:
        item = sv.current(study, state)
        assert item.chunk_id in cited
        seen.append(item.id)
        turn = sv.reply(study, "ana", state, str(_answer_right(study, state)), turn.history)
        assert "Correct" in turn.history[-1]["content"] or item.type == "flashcard"
        shown = sv.buttons(turn.state, study)
        assert shown["ratings"] and shown["explain"] and not sv.is_open(turn.state)
        turn = sv.rate(study, "ana", turn.state, 3, turn.history)
        state = turn.state
    assert "Done:" in turn.history[-1]["content"]
    assert [h["item_id"] for h in study.store.history("ana")] == seen
    assert study.store.history("bob") == []


def test_wrong_answer_feedback_marks_the_answer_and_explain_answers_from_the_passage(study, asked):
    answer, history = asked
    turn = sv.quiz_me(study, "ana", answer, history)
    item = sv.current(study, turn.state)
    turn = sv.reply(study, "ana", turn.state, "zebra", turn.history)
    feedback = turn.history[-1]["content"]
    assert "Not quite" in feedback and "zebra" in feedback and "<mark>" in feedback
    explained = sv.explain(study, turn.state, turn.history)
    assert explained.history[-2]["content"].startswith("Explain: ")
    assert explained.answer.citations[0].chunk.id == item.chunk_id
    assert normalize(item.answer) in normalize(explained.answer.text)
    assert explained.state == turn.state  # the card still waits for its rating
    assert sv.buttons(explained.state, study)["ratings"]


def test_study_mode_asks_first_then_shows_the_answer_with_the_gap(study, asked):
    answer, history = asked
    history = history[:1]  # the learner's question, not yet answered
    turn = sv.study_first(study, "ana", answer, history)
    assert turn.answer is None and "Before I tell you" in turn.history[-1]["content"]
    assert sv.buttons(turn.state, study)["just_tell"]
    item = sv.current(study, turn.state)
    done = sv.reply(study, "ana", turn.state, "no idea at all", turn.history)
    assert done.state is None and done.answer is answer
    shown = done.history[-1]["content"]
    assert "Not quite" in shown and "in your reviews" in shown
    assert [h["item_id"] for h in study.store.history("ana")] == [item.id]

    told = sv.release(turn.state, turn.history)  # "Just tell me": the answer, nothing recorded
    assert told.history[-1]["content"] == sv.answer_message(answer) and told.state is None
    assert len(study.store.history("ana")) == 1


def test_hints_before_the_answer_are_not_reviews_and_stop_at_two(study, asked):
    """Offline (the seed services have no LLM): hints from the passage, never the answer; the
    button goes after two; a right reply after hints goes into the schedule as Hard."""
    answer, history = asked
    turn = sv.study_first(study, "ana", answer, history[:1])
    item = sv.current(study, turn.state)
    for n in (1, 2):
        assert sv.buttons(turn.state, study)["hint"]
        turn = sv.hint(study, turn.state, turn.history)
        said = turn.history[-1]["content"]
        assert f"Hint {n} of 2" in said and normalize(item.answer) not in normalize(said)
        assert sv.is_open(turn.state) and study.store.history("ana") == []  # not a review
    assert not sv.buttons(turn.state, study)["hint"] and sv.buttons(turn.state, study)["just_tell"]
    assert sv.hint(study, turn.state, turn.history).history == turn.history  # no third
    done = sv.reply(study, "ana", turn.state, item.answer, turn.history)
    assert "Right, with a hint" in done.history[-1]["content"]
    assert [h["rating"] for h in study.store.history("ana")] == [2]  # Hard: recalled with help


def test_refused_question_gets_no_check_and_no_quiz(seed, study):
    refused = seed.ask.ask("How do I bake sourdough bread?")
    turn = sv.study_first(study, "ana", refused, [{"role": "user", "content": refused.question}])
    assert turn.state is None and turn.history[-1]["content"] == refused.text
    quiz = sv.quiz_me(study, "ana", refused, [])
    assert quiz.state is None and quiz.history[-1]["content"] == sv.NOTHING_TO_QUIZ
    assert study.store.history("ana") == []


def test_memory_line_and_next_choices(study, asked):
    answer, history = asked
    assert sv.memory_line(study.memory("ana", [c.chunk for c in answer.citations]), answer) == ""
    item = study.items_for([c.chunk for c in answer.citations], "ana", 1)[0]
    study.quiz.record("ana", item, 3)
    line = sv.memory_line(study.memory("ana", [c.chunk for c in answer.citations]), answer)
    assert "[1] reviewed today · recall ~" in line
    assert sv.memory_line(study.memory("bob", [c.chunk for c in answer.citations]), answer) == ""

    choices = nv.next_choices(study.next("ana"))
    assert choices[0][0].startswith("Review ") and choices[0][1] == item.topic
    assert any(label.startswith("New: ") for label, _ in choices)
    turn = sv.quiz_topic(study, "ana", choices[0][1], [])
    assert sv.current(study, turn.state).id == item.id  # the due review first
    assert "What to study now" in nv.next_markdown(study.next("ana"))


def test_mark_terms():
    assert sv.mark_terms("It cost $50,000+ to label", ["$50,000+"]) == "It cost <mark>$50,000+</mark> to label"
    assert sv.mark_terms("Scaling and scale", ["scale"]) == "Scaling and <mark>scale</mark>"
    assert sv.mark_terms("nothing", []) == "nothing"


def test_progress_what_next_starts_a_practice_session_on_the_topic(study):
    from assistant.ui import quiz_view

    text, choices = nv.what_next(study, "ana")
    assert "never studied" in text and choices and all(label.startswith("New: ") for label, _ in choices)
    topic = choices[0][1]
    state, view = quiz_view.start_topic(study.quiz, "ana", topic)
    assert view.mode == "asking" and state["topics"] == [topic]
    assert all(study.quiz.item(i).topic == topic for i in state["ids"])


def test_a_generated_answer_has_its_quoted_twin_one_click_away_and_an_offline_one_has_none(asked):
    from dataclasses import replace

    answer, _ = asked
    offline = sv.answer_message(answer)
    assert "Show quoted from notes" not in offline and "<details" not in offline
    generated = replace(answer, mode="llm", text="Labelling was costly [1].", verdict="supported",
                        quoted=answer.text, quoted_citations=answer.citations)
    shown = sv.answer_message(generated)
    assert shown.startswith("Labelling was costly [1].")
    assert "<summary>Show quoted from notes</summary>" in shown and "$50,000+" in shown
    assert answer.citations[0].chunk.source in shown and "Checked: every sentence" in shown
    # The check found nothing in the notes, so the quoted answer is what is shown: no twin.
    assert "<details" not in sv.answer_message(replace(generated, text=answer.text))


def test_a_typed_reply_that_is_no_option_is_asked_again_not_graded(study):
    study.quiz.prepare()
    item = next(i for i in study.store.items() if i.type == "mcq")
    state = {"kind": "quiz", "ids": [item.id], "pos": 0, "verdict": None, "right": 0, "done": 0,
             "held": None}
    turn = sv.reply(study, "ana", state, "no idea", [])
    assert "Pick one of the options" in turn.history[-1]["content"]
    assert sv.is_open(turn.state) and sv.buttons(turn.state, study)["options"] == item.options
    turn = sv.reply(study, "ana", turn.state, "1", turn.history)
    assert turn.state["verdict"] and "**" not in turn.history[-1]["content"].split(">", 1)[-1]
    assert study.store.history("ana") == []  # recorded only when rated
