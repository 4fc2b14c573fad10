"""Ask, LLM path: a real OpenAI-compatible server on loopback, scripted replies only for faults."""

import re
import socket

import pytest
from test_llm import Scripted, chunk, completion, error, sse, sse_reply

from assistant.ask.answerer import Answerer
from assistant.core.config import Settings
from assistant.llm import LLM

LINKEDIN = "4 MORE months"


def local(url: str) -> Settings:
    return Settings.from_env(environ={}, openai_base_url=url, llm_model="smollm2", llm_timeout=60)


def test_answer_streams_from_a_real_server_and_its_markers_are_checked(seed, llm_server):
    answerer = Answerer(seed.retriever, LLM(local(llm_server)))
    steps = list(answerer.stream("What is self-supervision?"))
    partial, final = steps[:-1], steps[-1]
    assert len(partial) >= 2 and all(not a.done for a in partial)  # token by token
    assert final.done and final.mode == "llm" and final.text
    numbers = {int(n) for n in re.findall(r"\[(\d+)\]", final.text)}
    assert numbers == {c.n for c in final.citations}  # nothing cited that does not exist
    retrieved = {h.chunk.id for h in final.retrieved}
    assert all(c.chunk.id in retrieved for c in final.citations)


def test_follow_up_is_rewritten_and_retrieves_the_passage_with_a_real_server(seed, llm_server):
    answerer = Answerer(seed.retriever, LLM(local(llm_server)))
    history = [{"role": "user", "content": "What is the last mile challenge?"},
               {"role": "assistant", "content": "Going from a demo to a product is the hard part [1]."}]
    # Retrieval is done before the first token; reading one step is enough (and stops generation).
    answer = next(answerer.stream("How long did LinkedIn need for the last 15%?", history))
    assert any(LINKEDIN in h.chunk.text for h in answer.retrieved[:3])
    bare = next(answerer.stream("And how long did that take?", history))
    assert any("months" in h.chunk.text for h in bare.retrieved[:3])


def test_invented_markers_are_removed_and_kept_ones_renumbered(seed):
    script = Scripted(sse_reply(sse(chunk("It took 4 MORE months [2]"), chunk(" and cost a lot [9]."),
                                    chunk(None, "stop"))))
    answer = Answerer(seed.retriever, script.llm()).ask("How long did LinkedIn need to reach 95%?")
    assert answer.text == "It took 4 MORE months [1] and cost a lot."
    assert len(answer.citations) == 1 and answer.citations[0].n == 1


def test_off_topic_questions_never_reach_the_model(seed):
    script = Scripted(completion("Paris."))
    answer = Answerer(seed.retriever, script.llm()).ask("What is the capital of France?")
    assert answer.refused and "Paris" not in answer.text
    assert script.requests == []


@pytest.mark.parametrize("reply, words", [
    (error(429, "Rate limit reached"), "rate-limiting"),
    (error(401, "Incorrect API key"), "key"),
    (error(503, "overloaded"), "503"),
    (sse_reply(sse(chunk("LinkedIn needed"), b"data: {not json", done=False)), "not valid"),
    (sse_reply(sse(chunk("LinkedIn needed"), done=False)), "stopped before it was finished"),
])
def test_llm_failures_fall_back_to_the_offline_answer_with_one_sentence(seed, reply, words):
    answer = Answerer(seed.retriever, Scripted(reply).llm()).ask("How long did LinkedIn need to reach 95%?")
    assert answer.mode == "offline" and LINKEDIN in answer.text and answer.citations
    assert words.lower() in answer.notice.lower()
    assert "Traceback" not in answer.notice and answer.notice.count("\n") == 0


def test_an_unreachable_endpoint_falls_back_quickly(seed):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    answerer = Answerer(seed.retriever, LLM(local(f"http://127.0.0.1:{port}/v1")))
    answer = answerer.ask("How long did LinkedIn need to reach 95%?")
    assert answer.mode == "offline" and LINKEDIN in answer.text
    assert "Cannot reach" in answer.notice and "offline" in answer.notice
