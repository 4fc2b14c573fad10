"""Study (#12): "quiz me on this" from an answer's citations, what to study next, what the learner
remembers of a passage, study mode's check question; `quiz --about` and `next` on the command line.
Real Chroma and the real embedding model over the seed notes and the test notes."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone

import pytest
from conftest import ROOT, make_quiz, run_cli

from assistant.core.config import Settings
from assistant.quiz.checking import normalize
from assistant.quiz.scheduling import ReviewStore
from assistant.quiz.study import Memory, Study, missed

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
QUESTIONS = [
    "What did labeling a million images cost?",
    "What is the last mile challenge?",
    "Which ML engineering principles still matter?",
    "How does self-supervision work?",
]
REFUSED = "How do I bake sourdough bread?"


@pytest.fixture
def study(seed, tmp_path):
    """A Study over the shared seed index with its own progress database."""
    return Study(make_quiz(seed, ReviewStore(tmp_path / "progress")))


@pytest.fixture
def writable(tmp_path, embedder):
    """A writable copy of the seed notes, indexed, with its own progress database."""
    from assistant.services import Services

    shutil.copytree(ROOT / "knowledge", tmp_path / "knowledge")
    rt = Services(Settings.from_env(environ={}, knowledge_dir=tmp_path / "knowledge",
                                   data_dir=tmp_path / "data"))
    rt.__dict__["embedder"] = embedder
    rt.__dict__["llm"] = None
    rt.admin.ingest()
    return rt


def _cited(services, question: str):
    answer = services.ask.ask(question)
    assert not answer.refused, question
    return answer, [c.chunk for c in answer.citations]


def _topics(entries) -> list[str]:
    return [t.topic for t in entries]


# --- quiz me on this ---------------------------------------------------------------------------

@pytest.mark.parametrize("question", QUESTIONS)
def test_quiz_me_on_this_asks_about_exactly_the_cited_passages(seed, study, question):
    answer, chunks = _cited(seed, question)
    items = study.items_for(chunks, "ana", 3, now=T0, focus=answer.text)
    assert 1 <= len(items) <= 3
    by_id = {c.id: c for c in chunks}
    for item in items:
        assert item.chunk_id in by_id
        assert item.passage == by_id[item.chunk_id].text
        assert item.content_hash == by_id[item.chunk_id].content_hash
    assert len({i.id for i in items}) == len(items)


def test_quiz_me_prefers_what_the_answer_said_and_spreads_over_passages(seed, study):
    answer, chunks = _cited(seed, QUESTIONS[0])
    items = study.items_for(chunks, "ana", 3, now=T0, focus=answer.text)
    assert normalize(items[0].answer) in normalize(answer.text)  # "$50,000+" is asked first
    chunks = [c for c in seed.chunks()][:3]
    items = study.items_for(chunks, "ana", 3, now=T0)
    assert {i.chunk_id for i in items} == {c.id for c in chunks}  # one from each passage


def test_quiz_me_items_are_reviews_like_any_other(seed, study):
    _, chunks = _cited(seed, QUESTIONS[0])
    item = study.items_for(chunks, "ana", 1, now=T0)[0]
    study.quiz.record("ana", item, 1, study.quiz.check(item, "wrong"), now=T0)
    assert [h["item_id"] for h in study.store.history("ana")] == [item.id]
    assert item.id in {i.id for i in study.quiz.session("ana", 5, now=T0 + timedelta(minutes=5)).items}
    # the due one comes first the next time the learner asks for a quiz on that answer
    again = study.session_for(chunks, "ana", 3, now=T0 + timedelta(minutes=5))
    assert again.items[0].id == item.id and again.due == 1


def test_refused_question_gives_no_items(seed, study):
    answer = seed.ask.ask(REFUSED)
    assert answer.refused and not answer.citations
    assert study.items_for([c.chunk for c in answer.citations], "ana", 3) == []


def test_a_passage_without_questions_gets_one_from_its_own_text(indexed, tmp_path):
    study = Study(make_quiz(indexed, ReviewStore(tmp_path / "progress")))
    study.quiz.prepare(T0)
    asked = {(i.source, i.content_hash) for i in study.store.items()}
    bare = [c for c in indexed.chunks() if (c.source, c.content_hash) not in asked
            and len(c.text.split()) > 12]
    assert bare, "the test notes should have a passage the generator asks nothing about"
    chunk = bare[0]
    items = study.items_for([chunk], "ana", 3, now=T0)
    assert len(items) == 1 and items[0].type == "flashcard" and items[0].chunk_id == chunk.id
    assert normalize(items[0].answer.rstrip(" …"))[:40] in normalize(chunk.text)
    assert study.items_for([chunk], "ana", 3, now=T0) == items  # stored once, not again


# --- what the learner remembers --------------------------------------------------------------

def test_memory_says_when_a_passage_was_reviewed_and_its_recall(seed, study):
    _, chunks = _cited(seed, QUESTIONS[0])
    assert study.memory("ana", chunks, T0) == {}
    item = study.items_for(chunks, "ana", 1, now=T0)[0]
    study.quiz.record("ana", item, 4, now=T0)  # Easy: a review card, due in days
    memory = study.memory("ana", chunks, T0 + timedelta(days=3))[item.chunk_id]
    assert memory.items == 1 and 0.5 < memory.recall < 1.0
    label = memory.label(T0 + timedelta(days=3))
    assert label.startswith("reviewed 3 days ago · recall ~") and label.endswith("%")
    assert study.memory("ana", chunks, T0 + timedelta(days=30))[item.chunk_id].recall < memory.recall
    assert study.memory("bob", chunks, T0 + timedelta(days=3)) == {}


def test_a_passage_forgotten_last_evening_is_not_recalled_at_100_percent_this_morning(seed, study):
    # FSRS's own retrievability counts whole days: 14 hours after a failure it still said 100%.
    _, chunks = _cited(seed, QUESTIONS[0])
    item = study.items_for(chunks, "ana", 1, now=T0)[0]
    study.quiz.record("ana", item, 1, now=T0)  # Again: forgotten
    morning = study.memory("ana", chunks, T0 + timedelta(hours=14))[item.chunk_id]
    assert morning.recall < 0.9 and "recall ~100%" not in morning.label(T0 + timedelta(hours=14))
    assert study.next("ana", T0 + timedelta(hours=14)).due[0].recall == pytest.approx(morning.recall)


def test_memory_labels():
    now = T0
    assert Memory(1, now, 0.7).label(now) == "reviewed today · recall ~70%"
    assert Memory(1, now - timedelta(days=1), 0.934).label(now) == "reviewed yesterday · recall ~95%"
    assert Memory(2, now - timedelta(days=12), 0.68).label(now) == "reviewed 12 days ago · recall ~70%"


# --- what next ----------------------------------------------------------------------------------

def test_next_with_no_history_lists_every_topic_as_unstudied(seed, study):
    result = study.next("ana", T0, limit=None)
    assert result.due == [] and result.weakest == []
    assert _topics(result.unstudied) == [t for t in study.quiz.topics() if " › " in t]
    assert all(t.items > 0 and t.recall is None for t in result.unstudied)


def test_next_lists_due_reviews_then_the_weakest_by_predicted_recall(seed, study):
    study.quiz.prepare(T0)
    items = {i.topic: i for i in study.store.items()}
    a, b, c = list(items)[:3]
    study.quiz.record("ana", items[a], 3, now=T0)  # Good on a new card: back in 10 minutes
    study.quiz.record("ana", items[b], 4, now=T0)  # Easy: days away
    study.quiz.record("ana", items[c], 4, now=T0 + timedelta(days=2))
    result = study.next("ana", T0 + timedelta(days=3), limit=None)
    assert [(t.topic, t.items) for t in result.due] == [(a, 1)]
    assert _topics(result.weakest) == [b, c]  # b was reviewed longer ago: lower recall
    assert result.weakest[0].recall < result.weakest[1].recall <= 1.0
    assert a not in _topics(result.unstudied) and b not in _topics(result.unstudied)
    assert len(result.unstudied) == len(items) - 3
    # one click from a quiz on each: the due topic's review comes first
    session = study.topic_session("ana", a, now=T0 + timedelta(days=3))
    assert session.items[0].id == items[a].id
    unstudied = result.unstudied[0].topic
    session = study.topic_session("ana", unstudied, now=T0 + timedelta(days=3))
    assert session.items and all(i.topic == unstudied for i in session.items)
    assert study.next("ana", T0 + timedelta(days=3), limit=1).to_dict()["unstudied"] == [
        result.unstudied[0].to_dict()]


def test_next_after_a_note_changed(writable):
    study = Study(make_quiz(writable))
    study.quiz.prepare(T0)
    linkedin = next(i for i in study.store.items() if "LinkedIn" in i.question)
    same_topic = [i for i in study.store.items() if i.topic == linkedin.topic]
    for item in same_topic:
        if item.content_hash == linkedin.content_hash:
            study.quiz.record("ana", item, 3, now=T0)
    assert linkedin.topic in _topics(study.next("ana", T0 + timedelta(minutes=15)).due)

    note = writable.settings.knowledge_dir / "ai-engineering-foundations.md"
    note.write_text(note.read_text().replace("needed 4 MORE months", "needed 5 MORE months"))
    writable.admin.ingest()
    result = study.next("ana", T0 + timedelta(minutes=15), limit=None)
    # the reviewed questions retired with their passage: nothing of it is due or weak any more;
    # its new questions wait to be studied
    assert linkedin.topic not in _topics(result.due) + _topics(result.weakest)
    assert linkedin.topic in _topics(result.unstudied)
    fresh = study.topic_session("ana", linkedin.topic, n=20, now=T0 + timedelta(minutes=15)).items
    assert any("LinkedIn" in i.question and i.answer == "5" for i in fresh)


def test_two_learners_never_mix(seed, study):
    _, chunks = _cited(seed, QUESTIONS[1])
    item = study.items_for(chunks, "ana", 1, now=T0)[0]
    study.quiz.record("ana", item, 1, now=T0)
    study.set_study_mode("ana", True)
    assert study.next("ana", T0 + timedelta(minutes=5)).due
    bob = study.next("bob", T0 + timedelta(minutes=5), limit=None)
    assert bob.due == [] and bob.weakest == [] and item.topic in _topics(bob.unstudied)
    assert study.memory("bob", chunks, T0) == {} and study.memory("ana", chunks, T0)
    assert study.study_mode("ana") and not study.study_mode("bob")
    study.set_study_mode("ana", False)
    assert not study.study_mode("ana")


# --- study mode: a check question before the answer ------------------------------------------

def test_check_question_then_the_gap_and_the_schedule(seed, study):
    answer, chunks = _cited(seed, QUESTIONS[0])
    item = study.check_question(chunks, "ana", T0, focus=answer.text)
    assert item is not None and item.chunk_id == chunks[0].id
    verdict, review = study.answer_check("ana", item, "no idea", now=T0)
    assert verdict.correct is False and review.rating == 1
    gap = missed(item, verdict)
    assert gap and all(normalize(g) in normalize(item.passage) for g in gap)
    assert item.id in {i.id for i in study.store.due_items("ana", T0 + timedelta(minutes=5))}
    right, _ = study.answer_check("ana", item, item.answer, now=T0 + timedelta(minutes=10))
    assert right.correct and missed(item, right) == []


def test_missed_key_words_of_a_typed_answer(seed, study, embedder):
    study.quiz.prepare(T0)
    flash = next(i for i in study.store.items() if i.type == "flashcard" and len(i.answer.split()) > 6)
    verdict = study.quiz.check(flash, "something unrelated entirely")
    gap = missed(flash, verdict)
    assert gap and all(g.lower() in flash.answer.lower() for g in gap)


# --- the command line ---------------------------------------------------------------------------

def _cli(services, *args):
    s = services.settings
    return run_cli("-m", "assistant", *args, "--db", str(s.data_dir), "--knowledge", str(s.knowledge_dir))


def test_cli_quiz_about_a_question(seed):
    for question in QUESTIONS[:2]:
        cited = json.loads(_cli(seed, "ask", question, "--json").stdout)["citations"]
        result = _cli(seed, "quiz", "--about", question, "--n", "3", "--json")
        assert result.returncode == 0, result.stderr
        items = json.loads(result.stdout)["items"]
        assert 1 <= len(items) <= 3
        assert {i["source"]["chunk_id"] for i in items} <= {c["chunk_id"] for c in cited}
        assert all(set(i) == {"id", "type", "question", "options", "answer", "source"} for i in items)

    result = _cli(seed, "quiz", "--about", REFUSED, "--n", "3", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"items": []}


def test_cli_next(writable):
    result = _cli(writable, "next", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert list(payload) == ["due", "weakest", "unstudied"]
    assert payload["due"] == [] and payload["weakest"] == [] and payload["unstudied"]
    for entry in payload["unstudied"]:
        assert set(entry) == {"topic", "items", "recall"} and " › " in entry["topic"]
        assert entry["items"] > 0 and entry["recall"] is None

    quiz = make_quiz(writable)
    quiz.prepare()
    item = quiz.store.items()[0]
    quiz.record("ana", item, 1)  # Again: due within minutes
    payload = json.loads(_cli(writable, "next", "--json", "--learner", "ana").stdout)
    assert payload["due"][0]["topic"] == item.topic and payload["due"][0]["items"] == 1
    assert 0.0 <= payload["due"][0]["recall"] <= 1.0
    other = json.loads(_cli(writable, "next", "--json", "--learner", "bob").stdout)
    assert other["due"] == [] and other["weakest"] == []
    text = _cli(writable, "next", "--learner", "ana")
    assert text.returncode == 0 and "Reviews due:" in text.stdout and item.topic in text.stdout
