"""The running app's script endpoints through gradio_client, as the load benchmark uses them."""

import threading

import pytest
from browser import ROOT
from gradio_client import Client


@pytest.fixture(scope="module")
def app_notes():
    return ROOT / "knowledge"


def test_ask_and_quiz_endpoints_from_concurrent_learners(app_server):
    questions = ["How long did LinkedIn need to reach 95%?", "What does labelling a million images cost?",
                 "How do I bake sourdough bread?"]
    replies: dict[str, dict] = {}

    def learner(question: str) -> None:
        replies[question] = Client(app_server.url, verbose=False).predict(question, [], api_name="/ask")

    threads = [threading.Thread(target=learner, args=(q,)) for q in questions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert {q: r["question"] for q, r in replies.items()} == {q: q for q in questions}  # no mix-ups
    assert "4 MORE months" in replies[questions[0]]["answer"]
    assert "$50,000" in replies[questions[1]]["answer"]
    assert replies[questions[2]]["refused"] is True

    client = Client(app_server.url, verbose=False)
    items = client.predict(2, api_name="/quiz")["items"]
    assert items and set(items[0]) == {"id", "type", "question", "options", "answer", "source"}
    verdict = client.predict(items[0]["id"], items[0]["answer"], 3, api_name="/quiz_answer")
    assert verdict["correct"] is True
    assert "error" in client.predict("no-such-item", "x", 3, api_name="/quiz_answer")
