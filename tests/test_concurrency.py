"""The app serves 8 requests at once: searches and answers from many threads share one retriever,
one embedder and one sentence picker, and every caller gets its own right answer."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor


def test_sixteen_threads_searching_and_asking_get_their_own_answers(indexed):
    from assistant.ask.answerer import Answerer
    from assistant.ask.quoting import SentencePicker

    retriever = indexed.retriever
    # A tiny sentence cache forces evictions while other threads read it.
    ask = Answerer(retriever, picker=SentencePicker(indexed.embedder, cache_size=2))
    questions = {
        "What is reciprocal rank fusion?": "rag/retrieval.md",
        "How does self-attention cost grow with sequence length?": "basics/attention.html",
        "How should chunks be split?": "rag/retrieval.md",
    }
    expected = {q: retriever.search(q, k=1)[0].chunk.source for q in questions}
    assert expected == questions

    def work(i: int):
        question = list(questions)[i % len(questions)]
        scope = "rag/" if i % 4 == 0 else None
        hits = retriever.search(question, k=3, scope=scope)
        answer = ask.ask(question)
        return question, scope, hits, answer

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(work, range(96)))
    for question, scope, hits, answer in results:
        assert answer.question == question and not answer.refused and answer.citations
        if scope:
            assert hits and all(h.chunk.source.startswith("rag/") for h in hits)
        else:
            assert hits[0].chunk.source == questions[question]
