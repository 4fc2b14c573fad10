"""Quiz: questions generated from the seed notes, answers checked, LLM items validated, the JSON
contract of `python -m assistant quiz`, and the Quiz tab's handlers as plain functions."""

from __future__ import annotations

import html
import json
import re
import shutil

import pytest
from conftest import ROOT, make_quiz, run_cli

from assistant.core.config import Settings
from assistant.core.errors import LLMError
from assistant.core.text import first_json_object as parse_json
from assistant.quiz.checking import (
    check_choice,
    check_exact,
    grade_by_meaning,
    normalize,
    same_answer,
)
from assistant.quiz.generate import OfflineGenerator
from assistant.quiz.items import BLANK
from assistant.quiz.llm_items import LLMReport, supported
from assistant.quiz.llm_items import generate as llm_generate

SEED = ROOT / "knowledge"


@pytest.fixture(scope="module")
def seed(tmp_path_factory, embedder):
    """The seed notes indexed once for this module (read-only for the tests below)."""
    from assistant.services import Services

    base = tmp_path_factory.mktemp("seed")
    shutil.copytree(SEED, base / "knowledge")
    rt = Services(Settings.from_env(environ={}, knowledge_dir=base / "knowledge", data_dir=base / "data"))
    rt.__dict__["embedder"] = embedder
    rt.__dict__["llm"] = None
    rt.admin.ingest()
    return rt


@pytest.fixture(scope="module")
def items(seed):
    return OfflineGenerator(seed.store.all_chunks()).generate_all()


QUIZ_CMD = ["-m", "assistant", "quiz"]


# --- offline generation on the seed notes ----------------------------------------------------

def test_seed_notes_yield_all_three_kinds_of_question(items):
    kinds = {i.type for i in items}
    assert {"mcq", "cloze", "flashcard"} <= kinds
    assert len(items) >= 20
    assert len({i.chunk_id for i in items}) >= 7  # nearly every passage is covered


def test_questions_use_the_notes_own_facts(items):
    by_answer = {i.answer: i for i in items}
    # "labeling 1 million images cost $50,000+" and "needed 4 MORE months"
    assert "$50,000+" in by_answer and by_answer["$50,000+"].question.count(BLANK) == 1
    linkedin = [i for i in items if "LinkedIn" in i.question and i.answer == "4"]
    assert linkedin and "MORE months" in linkedin[0].question
    # "**Three risk levels to evaluate:**" with its three items
    risk = [i for i in items if "Three risk levels" in i.question and i.type == "flashcard"]
    assert risk and risk[0].answer == "Existential threat; Profit/productivity opportunities; Strategic positioning"
    # "X -> Y" items become "what goes with X" with the other right-hand sides as options
    goes = [i for i in items if "what goes with" in i.question]
    assert goes and set(goes[0].options) == {"must do AI in-house", "consider buy vs build", "R&D exploration"}


def test_every_answer_is_in_its_passage_and_no_blank_is_trivial(items):
    for item in items:
        if item.type in ("cloze", "mcq"):
            assert normalize(item.answer) in normalize(item.passage), item.question
        if item.type == "flashcard" and item.kind == "list":
            for member in item.answer.split("; "):
                assert normalize(member) in normalize(item.passage)
        if item.type == "cloze":
            assert item.question.count(BLANK) == 1
            assert normalize(item.answer) not in {"the", "a", "is", "and", "of", "data", "models"}
            assert re.search(r"[A-Za-z0-9]", item.answer)
            assert "**" not in item.question


def test_a_notebook_section_of_code_and_output_is_no_card_to_say_back(embedder):
    from assistant.index.chunking import Chunker
    from assistant.index.loaders import load

    path = ROOT / "tests/data/notebooks/chunking.ipynb"
    chunks = Chunker(embedder.count_tokens).chunk("chunking.ipynb", load(path, "chunking.ipynb").sections)
    cards = OfflineGenerator(chunks).generate_all()
    # No card asks what a section says when all it holds is code and what the code printed.
    assert cards and not any("Setup" in c.question or "pip install" in c.answer or "Successfully" in c.answer
                             for c in cards)


def test_code_opened_under_an_outliners_bullet_ends_where_its_fence_closes(embedder):
    from assistant.core.schema import Section
    from assistant.index.chunking import Chunker

    text = ("- Retrieval\n"
            "    - Embed the chunks once and store the vectors:\n"
            "    - ```python\n"
            "      vectors = model.encode(chunks)\n"
            "      ```\n"
            "    - **Chunk overlap**: the text two neighbouring chunks share at their edge, so a sentence "
            "near a boundary keeps its context.\n")
    chunks = Chunker(embedder.count_tokens).chunk("retrieval.md", [Section("Retrieval", text, 0)])
    cards = OfflineGenerator(chunks).generate_all()
    # The points after the code are notes again, not code: they become cards; the code does not.
    assert any("Chunk overlap" in c.question for c in cards)
    assert not any("model.encode" in c.answer or "model.encode" in c.question for c in cards)


def test_a_question_entry_is_a_card_whose_back_is_the_answer_not_the_question_again(embedder):
    from assistant.core.schema import Section
    from assistant.index.chunking import Chunker

    text = ("**How would you design an A/B test?**\n\nRandomly split users into a control and a "
            "treatment group, fix the metric and the sample size in advance, then compare.\n\n"
            "Q: Why is indirect injection harder to defend against?\n\n"
            "A: The attack arrives inside retrieved content that the user never reads.\n\n"
            # Flashcards: a question and its answer on one line, one pair after another.
            "Q: What does a reranker do? A: It reorders the retrieved chunks by reading each with the query.\n"
            "**Q:** What is chunk overlap? **A:** The text two neighbouring chunks share at their edge.\n\n"
            # A web FAQ's collapsible entry.
            "<details>\n<summary>What is hybrid search?</summary>\n\nDense and keyword retrieval run "
            "together, their rankings fused.\n\n</details>\n\n"
            # Anki's plain-text export: front and back split by a tab.
            "What is a bi-encoder?\tA model that embeds the query and each chunk separately.\n")
    chunks = Chunker(embedder.count_tokens).chunk("faq.md", [Section("Interview prep", text, 0)])
    cards = {c.question: c.answer for c in OfflineGenerator(chunks).generate_all() if c.type == "flashcard"}
    assert cards["How would you design an A/B test?"].startswith("Randomly split users into a control")
    assert cards["Why is indirect injection harder to defend against?"].startswith("The attack arrives inside")
    assert cards["What does a reranker do?"].startswith("It reorders the retrieved chunks")
    assert cards["What is chunk overlap?"].startswith("The text two neighbouring chunks share")
    assert cards["What is hybrid search?"].startswith("Dense and keyword retrieval run together")
    assert cards["What is a bi-encoder?"].startswith("A model that embeds the query")


def test_no_duplicate_questions(items):
    questions = [normalize(i.question) for i in items]
    assert len(questions) == len(set(questions))
    assert len({i.id for i in items}) == len(items)


def test_distractors_come_from_the_notes_and_match_the_answer_kind(items, seed):
    notes = normalize(" ".join(c.text for c in seed.store.all_chunks()))
    mcqs = [i for i in items if i.type == "mcq"]
    assert len(mcqs) >= 5
    for item in mcqs:
        assert item.answer in item.options and len(set(item.options)) == len(item.options) >= 3
        for option in item.options:
            assert normalize(option) in notes
        if "is one of" in item.question:  # other members of the same list would also be right
            for option in item.options:
                if option != item.answer:
                    assert normalize(option) not in normalize(item.passage)
        if item.kind.startswith("number"):
            assert all(re.search(r"\d", o) for o in item.options)


def test_generation_is_deterministic(seed, items):
    again = OfflineGenerator(seed.store.all_chunks()).generate_all()
    assert [i.id for i in again] == [i.id for i in items]
    assert [i.options for i in again] == [i.options for i in items]


# --- checking answers ------------------------------------------------------------------------

@pytest.mark.parametrize("given, expected", [
    ("$50,000+", "50000"), ("50,000", "$50,000+"), ("50k", "$50,000"), ("fifty thousand", "$50,000+"),
    ("four", "4"), ("4", "4 MORE months"), ("95", "95%"), ("95 percent", "95%"),
    ("self supervision", "Self-Supervision"), ("the evaluation.", "Evaluation"),
    ("1.5 million", "1,500,000"), ("100 ms", "100ms"), ("R&D exploration", "r&d exploration"),
])
def test_same_answer_ignores_case_punctuation_and_number_format(given, expected):
    assert same_answer(given, expected)


@pytest.mark.parametrize("given, expected", [
    ("5", "50"), ("100 s", "100ms"), ("4 weeks", "4 MORE months"), ("", "Evaluation"),
    ("Foundation", "Foundation models"),
])
def test_different_answers_stay_different(given, expected):
    assert not same_answer(given, expected)


def test_multiple_choice_accepts_the_option_its_number_or_letter():
    options = ["R&D exploration", "must do AI in-house", "consider buy vs build"]
    for given in ("must do AI in-house", "2", "b", "B)", "Must do AI in-house."):
        assert check_choice(given, "must do AI in-house", options).correct
    assert check_choice("1", "must do AI in-house", options).correct is False
    assert "not one of the options" in check_choice("7", "must do AI in-house", options).feedback


def test_cloze_spelling_slip_is_wrong_but_flagged_close():
    verdict = check_exact("Evalution", "Evaluation")
    assert verdict.correct is False and verdict.close and verdict.suggested_rating == 2
    assert check_exact("evaluation", "Evaluation").suggested_rating == 3
    assert check_exact("testing", "Evaluation").suggested_rating == 1


def test_short_answers_are_graded_by_meaning(embedder):
    reference = "Foundation models can work with text, images, audio together - not just one type of data."
    right = grade_by_meaning("models that work with text, images and audio together", reference, embedder)
    wrong = grade_by_meaning("they are trained on the internet", reference, embedder)
    assert right.correct is True
    assert wrong.correct is False and "Key terms missing" in wrong.feedback


def test_learner_can_overrule_a_grade():
    verdict = check_exact("Evalution", "Evaluation").overrule()
    assert verdict.correct is True and verdict.overruled and verdict.suggested_rating == 3
    assert verdict.overrule().correct is False


def test_flashcard_turned_over_is_self_graded(seed, items):
    card = next(i for i in items if i.type == "flashcard")
    verdict = make_quiz(seed).check(card, "")
    assert verdict.correct is None and verdict.expected == card.answer


# --- LLM mode (a scripted model) -------------------------------------------------------------

class ScriptedLLM:
    def __init__(self, *replies):
        self.replies = list(replies)
        self.calls = []

    def complete(self, messages, *, max_tokens=None, temperature=0.2, json_mode=False):
        self.calls.append(messages)
        reply = self.replies.pop(0) if self.replies else self.replies_default()
        if isinstance(reply, Exception):
            raise reply
        return reply

    def replies_default(self):
        return json.dumps({"items": []})


GOOD_ITEMS = {"items": [
    {"type": "mcq", "question": "How much did labeling 1 million images cost?",
     "options": ["$50,000+", "$5,000", "$500", "$5 million"], "answer": "$50,000+",
     "explanation": "The notes give the labeling cost.", "evidence": "labeling 1 million images cost $50,000+"},
    {"type": "short", "question": "Why does self-supervision need no human labels?",
     "answer": "The data contains both the question and the answer: the next word is the label.",
     "explanation": "", "evidence": ""},
    {"type": "mcq", "question": "Broken item", "options": ["a", "a"], "answer": "b"},
    {"type": "short", "question": "Which company invented self-supervision?",
     "answer": "Google Brain invented it in 2012."},
]}


def _seed_chunk(seed, needle):
    return next(c for c in seed.store.all_chunks() if needle in c.text)


def test_llm_items_are_validated_and_checked_against_the_source(seed, embedder):
    chunk = _seed_chunk(seed, "$50,000+")
    report = LLMReport()
    got = llm_generate(ScriptedLLM(json.dumps(GOOD_ITEMS)), chunk, embedder, report)
    assert [i.type for i in got] == ["mcq", "short"]
    assert report.malformed == 1 and report.unsupported == 1
    assert "Google Brain" not in " ".join(i.answer for i in got)
    assert all(i.origin == "llm" and i.chunk_id == chunk.id for i in got)


def test_llm_malformed_reply_is_retried_once(seed, embedder):
    chunk = _seed_chunk(seed, "$50,000+")
    llm = ScriptedLLM("Sure! Here are your questions: (none)", "```json\n" + json.dumps(GOOD_ITEMS) + "\n```")
    report = LLMReport()
    got = llm_generate(llm, chunk, embedder, report)
    assert len(llm.calls) == 2 and report.retries == 1 and len(got) == 2
    assert "could not be used" in llm.calls[1][-1]["content"]


def test_supported_rejects_invented_facts(seed, embedder):
    passage = _seed_chunk(seed, "LinkedIn").text
    question = "What did LinkedIn need to go from 80% to 95%?"
    assert supported("Four more months", question, passage, embedder)[0]
    assert not supported("Two more years of training", question, passage, embedder)[0]
    assert not supported("A bigger GPU cluster", question, passage, embedder)[0]


def test_parse_json_tolerates_chatter():
    assert parse_json('Here you go: {"a": 1} hope it helps') == {"a": 1}
    assert parse_json("no json") is None


def test_llm_session_uses_model_items_and_falls_back_with_its_sentence(seed, tmp_path):
    from assistant.quiz.scheduling import ReviewStore

    store = ReviewStore(tmp_path / "llm-progress")
    seed.__dict__["llm"] = ScriptedLLM(*[json.dumps(GOOD_ITEMS)] * 4)
    try:
        session = make_quiz(seed, store).session("llm-user", n=4, topics=["Self-Supervision"])
        assert session.notice == ""
        assert any(i.origin == "llm" for i in session.items)

        seed.__dict__["llm"] = ScriptedLLM(LLMError("The model at http://127.0.0.1:9 is not answering."))
        store2 = ReviewStore(tmp_path / "llm-down")
        session = make_quiz(seed, store2).session("llm-user", n=3)
        assert session.notice.startswith("The model at http://127.0.0.1:9 is not answering.")
        assert "offline" in session.notice
        assert len(session.items) == 3 and all(i.origin == "offline" for i in session.items)
    finally:
        seed.__dict__["llm"] = None


def test_llm_grades_short_answers_and_falls_back_offline(seed, tmp_path):
    from assistant.quiz.items import QuizItem

    chunk = _seed_chunk(seed, "$50,000+")
    item = QuizItem(id="x", type="short", question="Why does self-supervision need no labels?",
                    answer="The data contains both the question and the answer.", chunk_id=chunk.id,
                    source=chunk.source, heading=chunk.heading, passage=chunk.text,
                    content_hash=chunk.content_hash)
    quiz = make_quiz(seed)
    seed.__dict__["llm"] = ScriptedLLM(json.dumps({"correct": True, "score": 0.9, "feedback": "Yes: the text labels itself."}))
    try:
        verdict = quiz.check(item, "the text itself provides the labels")
        assert verdict.correct and verdict.feedback == "Yes: the text labels itself."
        seed.__dict__["llm"] = ScriptedLLM(LLMError("The model timed out after 30 s."))
        verdict = quiz.check(item, "the data contains the question and the answer")
        assert verdict.correct is True and verdict.notice.startswith("The model timed out after 30 s.")
    finally:
        seed.__dict__["llm"] = None


# --- topics and the command line -------------------------------------------------------------

def test_topics_are_notes_and_sections(seed):
    topics = make_quiz(seed).topics()
    assert topics[0] == "ai-engineering-foundations.md"
    assert "ai-engineering-foundations.md › The Last Mile Challenge: Demo vs. Product" in topics


def test_json_contract(seed):
    db, kn = seed.settings.data_dir, seed.settings.knowledge_dir
    result = run_cli(*QUIZ_CMD, "--n", "4", "--json", "--db", str(db), "--knowledge", str(kn))
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)  # exactly one JSON object on stdout
    assert list(payload) == ["items"] and len(payload["items"]) == 4
    ids = {c.id for c in seed.store.all_chunks()}
    for item in payload["items"]:
        assert set(item) == {"id", "type", "question", "options", "answer", "source"}
        assert item["type"] in ("mcq", "cloze", "flashcard", "short")
        assert (item["options"] is None) == (item["type"] != "mcq")
        assert set(item["source"]) == {"chunk_id", "source", "heading", "text"}
        assert item["source"]["chunk_id"] in ids
        if item["type"] in ("mcq", "cloze"):
            assert normalize(item["answer"]) in normalize(item["source"]["text"])


def test_json_topic_filter_and_unknown_topic(seed):
    db, kn = seed.settings.data_dir, seed.settings.knowledge_dir
    result = run_cli(*QUIZ_CMD, "--n", "3", "--json", "--db", str(db), "--knowledge", str(kn),
                     "--topic", "Last Mile")
    assert result.returncode == 0, result.stderr
    items = json.loads(result.stdout)["items"]
    assert items and all("Last Mile" in i["source"]["heading"] for i in items)

    result = run_cli(*QUIZ_CMD, "--json", "--db", str(db), "--knowledge", str(kn),
                     "--topic", "quantum knitting")
    assert result.returncode == 2
    assert "quantum knitting" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# --- the Quiz tab's handlers as plain functions ----------------------------------------------

def test_quiz_tab_flow(seed, tmp_path):
    from assistant.quiz.scheduling import ReviewStore
    from assistant.ui import quiz_tab as tab

    quiz = make_quiz(seed, ReviewStore(tmp_path / "ui"))
    state, view = tab.start(quiz, "ana", [], tab.MODES[0], 5)
    assert view.mode == "asking" and view.status.startswith("1 of 5")
    assert "due today" in view.status

    # answer wrong on purpose: feedback names it, shows the answer and the source passage
    item = quiz.item(state["ids"][0])
    wrong = "zzz" if item.type != "mcq" else next(o for o in item.options if o != item.answer)
    state, view = tab.answer(quiz, "ana", state, wrong, wrong)
    if item.type != "flashcard":
        assert ">Incorrect<" in view.feedback and view.suggested == 1
        assert view.overrule_label == "I was right"
    assert html.escape(item.answer) in view.feedback
    assert "<blockquote>" in view.feedback and view.chunk_id == item.chunk_id
    assert len(view.ratings) == 4 and view.ratings[0].startswith("Again · <")
    assert re.search(r"Easy · \d+ d", view.ratings[3])

    state, view = tab.rate(quiz, "ana", state, 4)  # Easy: the card goes away for days
    assert view.mode == "asking" and view.status.startswith("2 of 5")
    assert quiz.store.history("ana")[0]["rating"] == 4


def test_quiz_tab_overrule_and_progress(seed, tmp_path):
    from assistant.quiz.scheduling import ReviewStore
    from assistant.ui import quiz_tab as tab

    quiz = make_quiz(seed, ReviewStore(tmp_path / "ui2"))
    state, view = tab.start(quiz, "ben", ["Last Mile"], tab.MODES[0], 3)
    while quiz.item(state["ids"][state["pos"]]).type == "flashcard":
        state, view = tab.answer(quiz, "ben", state, "", None)
        state, view = tab.rate(quiz, "ben", state, 3)
    item = quiz.item(state["ids"][state["pos"]])
    state, view = tab.answer(quiz, "ben", state, "nonsense", "nonsense" if item.type != "mcq" else None)
    if item.type == "mcq":  # nothing picked yet
        assert "Pick one of the options" in view.status
        state, view = tab.answer(quiz, "ben", state, None, next(o for o in item.options if o != item.answer))
    state, view = tab.overrule(quiz, "ben", state)
    assert ">Correct<" in view.feedback and view.overrule_label == "Count it as wrong"
    state, view = tab.rate(quiz, "ben", state, view.suggested)
    assert quiz.store.history("ben")[-1]["overruled"] == 1

    summary, mastery, reviews, forecast = tab.progress(quiz, "ben")
    assert "reviewed today" in summary
    assert list(mastery.columns) == ["topic", "mastery"] and mastery["mastery"].max() > 0
    assert reviews["reviews"].iloc[-1] >= 1 and forecast["day"].iloc[0] == "today"


def test_quiz_tab_reports_an_unknown_topic_in_one_sentence(seed, tmp_path):
    from assistant.quiz.scheduling import ReviewStore
    from assistant.ui import quiz_tab as tab

    quiz = make_quiz(seed, ReviewStore(tmp_path / "ui3"))
    state, view = tab.start(quiz, "cy", ["nothing like this"], tab.MODES[0], 5)
    assert state is None and "nothing like this" in view.status and view.mode == "idle"


def test_a_real_llm_server_yields_only_validated_items_or_the_offline_fallback(seed, tmp_path, llm_server):
    """SmolLM2-135M over the real OpenAI protocol: whatever it writes, the learner gets questions,
    and every model item that got through is well-formed and grounded in its passage."""
    from assistant.llm import LLM
    from assistant.quiz.scheduling import ReviewStore

    settings = Settings.from_env(environ={}, openai_base_url=llm_server, llm_model="smollm2", llm_timeout=60)
    seed.__dict__["llm"] = LLM(settings)
    try:
        quiz = make_quiz(seed, ReviewStore(tmp_path / "real-llm"))
        session = quiz.session("real", n=2, topics=["Last Mile"])
    finally:
        seed.__dict__["llm"] = None
    assert len(session.items) == 2
    for item in session.items:
        assert item.type in ("mcq", "cloze", "flashcard", "short")
        if item.origin == "llm":
            assert supported(item.answer, item.question, item.passage, seed.embedder)[0]
            if item.type == "mcq":
                assert item.answer in item.options
    if session.notice:  # the model failed (a slow machine can hit the timeout): said in one sentence
        assert session.notice.endswith("offline instead.") and "Traceback" not in session.notice
    else:  # it answered: the passage is marked done and not sent to the model again
        assert quiz.store.passages_done("llm")
