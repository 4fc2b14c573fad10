"""Ask quality on the seed notes: retrieval, facts, citations, refusals, latency.

    .venv/bin/python benchmarks/ask_quality.py [--questions FILE] [--knowledge DIR] [--json]

A temporary copy of knowledge/ is indexed with the project's own code (Services, offline settings),
then every question of benchmarks/data/ask_questions.json goes through `services.ask` exactly
as the app asks it: follow-ups (`follows`) carry the conversation so far as
[{"role": "user"|"assistant", "content": str}], with the answers actually given.

Printed:
- retrieval hit@3: the expected section among the top 3 retrieved passages (Answer.retrieved);
- facts: in-scope answers containing every expected verbatim fact (and one of `facts_any`);
- citation precision: a cited passage counts as precise when every quote it lends the answer is a
  verbatim part of it (offline Citation.quotes); fact citations: the marker on the line that
  carries a fact points to a passage containing that fact;
- correct: not refused, fact present and cited correctly (the issue's target: all in-scope);
- refusal precision and recall (off-topic is the positive class);
- topic switches: each standalone question answered correctly is asked again after a question on
  another section and must stay correct, each off-topic question refused on its own is asked after
  an in-scope one and must stay refused (follow-up handling must not cling to the old topic);
- the best dense similarity per question (max Hit.similarity over Answer.retrieved, i.e. what the
  refusal gate sees) for in-scope and off-topic questions, and the widest-margin threshold between
  them beside assistant.ask.answerer.REFUSAL_SIMILARITY (the gate's first half: below it, a question is
  still answered when one sentence scores at least SENTENCE_EVIDENCE);
- warm offline latency p50/p95 (all questions once to warm, then a timed second pass);
- with OPENAI_API_KEY and/or OPENAI_BASE_URL set, the same figures in LLM mode plus time to first
  token p50/p95 (otherwise it says LLM mode was not measured);
- every failure: question, what was expected, what came back.

`--json` prints the figures and failures as one JSON object on stdout (the readable report then goes
to stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assistant.ask.answerer import REFUSAL_SIMILARITY, SENTENCE_EVIDENCE, Answerer  # noqa: E402

from assistant.core.config import Settings  # noqa: E402
from assistant.llm import make_llm  # noqa: E402
from assistant.services import Services  # noqa: E402

DEFAULT_QUESTIONS = ROOT / "benchmarks/data/ask_questions.json"
LLM_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ASSISTANT_MODEL", "ASSISTANT_LLM_TIMEOUT")
LATENCY_TARGET_MS = 300.0
_MARKERS = re.compile(r"((?:\[\d+(?:\s*,\s*\d+)*\])+)")

out = sys.stdout  # the readable report; stderr with --json


def say(text: str = "") -> None:
    print(text, file=out)


# --- the question set ---------------------------------------------------------------------------


def load_questions(path: Path) -> list[dict]:
    questions = json.loads(path.read_text(encoding="utf-8"))["questions"]
    seen: set[str] = set()
    for q in questions:
        assert q["id"] not in seen, f"duplicate id {q['id']}"
        assert q.get("follows") is None or q["follows"] in seen, f"{q['id']} follows a later or unknown id"
        if q.get("off_topic"):
            assert not q.get("facts") and not q.get("facts_any"), q["id"]
        else:
            assert q.get("section") and (q.get("facts") or q.get("facts_any")), q["id"]
        seen.add(q["id"])
    return questions


def chain(q: dict, by_id: dict[str, dict]) -> list[dict]:
    """The earlier turns of q's conversation, oldest first."""
    turns = []
    while q.get("follows"):
        q = by_id[q["follows"]]
        turns.insert(0, q)
    return turns


def history_for(q: dict, by_id: dict[str, dict], answers: dict) -> list[dict]:
    history: list[dict] = []
    for turn in chain(q, by_id):
        history.append({"role": "user", "content": turn["question"]})
        history.append({"role": "assistant", "content": answers[turn["id"]].text})
    return history


def section_of(heading: str) -> str:
    return heading.split(" > ")[-1] if heading else ""


def check_data(questions: list[dict], chunks) -> list[str]:
    """Problems with the question set itself: facts not in their section, sections without questions."""
    problems = []
    text_by_section: dict[str, str] = {}
    for c in chunks:
        text_by_section[section_of(c.heading)] = text_by_section.get(section_of(c.heading), "") + "\n" + c.text
    for q in questions:
        if q.get("off_topic"):
            continue
        body = text_by_section.get(q["section"])
        if body is None:
            problems.append(f"{q['id']}: no section named {q['section']!r} in the index")
            continue
        for fact in q.get("facts", []) + q.get("facts_any", []):
            if fact not in body:
                problems.append(f"{q['id']}: fact {fact!r} is not in section {q['section']!r}")
    asked = {q.get("section") for q in questions}
    for name in text_by_section:
        if name not in asked:
            problems.append(f"section {name!r} has no question")
    return problems


# --- running ------------------------------------------------------------------------------------


def run_pass(answerer: Answerer, questions: list[dict]) -> tuple[dict, dict, dict]:
    """Answers, total seconds and seconds to the first non-empty text, per question id."""
    by_id = {q["id"]: q for q in questions}
    answers: dict = {}
    total: dict[str, float] = {}
    first: dict[str, float | None] = {}
    for q in questions:
        history = history_for(q, by_id, answers)
        start = time.perf_counter()
        ttft = None
        answer = None
        for answer in answerer.stream(q["question"], history):
            if ttft is None and answer.text and not answer.done:
                ttft = time.perf_counter() - start
        total[q["id"]] = time.perf_counter() - start
        first[q["id"]] = ttft  # None: the answer did not stream (refused by the gate, offline, fallback)
        answers[q["id"]] = answer
    return answers, total, first


def topic_switches(answerer: Answerer, questions: list[dict], answers: dict) -> dict:
    """Each standalone in-scope question answered correctly on its own is asked again after a
    question about another section, and each off-topic question refused on its own after an
    in-scope one: follow-up handling must not drag either back to the old topic."""
    alone = [q for q in questions if not q.get("off_topic") and not q.get("follows")
             and judge_in_scope(q, answers[q["id"]])["correct"]]
    broken = []
    for i, q in enumerate(alone):
        other = next((o for o in alone[i + 1:] + alone[:i] if o["section"] != q["section"]), None)
        if other is None:
            continue
        history = [{"role": "user", "content": other["question"]},
                   {"role": "assistant", "content": answers[other["id"]].text}]
        if not judge_in_scope(q, answerer.ask(q["question"], history))["correct"]:
            broken.append(q["id"])
    # Off-topic questions refused on their own must stay refused in the middle of a conversation.
    refused = [q for q in questions if q.get("off_topic") and answers[q["id"]].refused]
    for i, q in enumerate(refused):
        if not alone:
            break
        other = alone[i % len(alone)]
        history = [{"role": "user", "content": other["question"]},
                   {"role": "assistant", "content": answers[other["id"]].text}]
        if not answerer.ask(q["question"], history).refused:
            broken.append(q["id"])
    n, of = len(alone) + len(refused) - len(broken), len(alone) + len(refused)
    return {"n": n, "of": of, "rate": round(n / of, 3) if of else None, "broken": broken}


# --- judging ------------------------------------------------------------------------------------


def best_similarity(answer) -> float:
    return max((h.similarity for h in answer.retrieved if h.similarity is not None), default=0.0)


def _norm(text: str) -> str:
    return " ".join(text.split())


def cited_numbers_for(text: str, position: int) -> list[int]:
    """The markers that cite the text at `position`: the first marker group after it on its line
    (offline lines and LLM sentences end with their markers), else the last one before it."""
    line_start = text.rfind("\n", 0, position) + 1
    line_end = text.find("\n", position)
    line_end = len(text) if line_end < 0 else line_end
    after = _MARKERS.search(text, position, line_end)
    groups = [after] if after else list(_MARKERS.finditer(text, line_start, position))[-1:]
    return [int(n) for g in groups for n in re.findall(r"\d+", g.group(1))]


def judge_in_scope(q: dict, answer) -> dict:
    text = _norm(answer.text)
    retrieved = [section_of(h.chunk.heading) for h in answer.retrieved]
    rank = next((i + 1 for i, s in enumerate(retrieved) if s == q["section"]), None)
    wanted = list(q.get("facts", []))
    present = [f for f in wanted if f in text]
    any_of = q.get("facts_any", [])
    any_present = [f for f in any_of if f in text]
    fact_ok = len(present) == len(wanted) and (not any_of or bool(any_present))

    citations = {c.n: c for c in answer.citations}
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)}
    markers_ok = markers == set(citations)
    passages = [(c.n, all(qt in c.chunk.text for qt in c.quotes) and bool(c.quotes)) for c in answer.citations]
    bad_quotes = [(c.n, qt) for c in answer.citations for qt in c.quotes if qt not in c.chunk.text]

    fact_citations = []  # (fact, cited numbers, ok)
    for fact in present + any_present[:1]:
        ns = cited_numbers_for(text, text.find(fact))
        ok = any(n in citations and fact in _norm(citations[n].chunk.text) for n in ns)
        fact_citations.append((fact, ns, ok))
    cited_ok = all(ok for _, _, ok in fact_citations)
    correct = not answer.refused and fact_ok and cited_ok and markers_ok
    return {
        "hit3": rank is not None and rank <= 3, "rank": rank, "retrieved": retrieved,
        "refused": answer.refused, "fact_ok": fact_ok, "missing": [f for f in wanted if f not in present]
        + ([] if any_present or not any_of else [" | ".join(any_of)]),
        "markers_ok": markers_ok, "passages": passages, "bad_quotes": bad_quotes,
        "fact_citations": fact_citations, "cited_ok": cited_ok, "correct": correct,
    }


def percentile(values: list[float], p: float) -> float | None:
    return float(np.percentile(values, p)) if values else None


def widest_margin_threshold(inside: list[float], outside: list[float]) -> dict:
    """The threshold (answer when best similarity >= t) with the fewest errors, then the widest
    margin to the nearest question on either side."""
    points = sorted(set(inside) | set(outside))
    candidates = [points[0] - 0.01] + [(a + b) / 2 for a, b in zip(points, points[1:])] + [points[-1] + 0.01]
    best = None
    for t in candidates:
        errors = sum(s < t for s in inside) + sum(s >= t for s in outside)
        margin = min(abs(s - t) for s in points)
        key = (errors, -margin)
        if best is None or key < best[0]:
            best = (key, t, errors, margin)
    _, t, errors, margin = best
    return {"threshold": round(t, 4), "errors": errors, "margin": round(margin, 4),
            "separable": min(inside) > max(outside),
            "gap": round(min(inside) - max(outside), 4)}


def evaluate(questions: list[dict], answers: dict, mode: str) -> tuple[dict, list[dict]]:
    in_scope = [q for q in questions if not q.get("off_topic")]
    off = [q for q in questions if q.get("off_topic")]
    judged = {q["id"]: judge_in_scope(q, answers[q["id"]]) for q in in_scope}
    passages = [ok for j in judged.values() for _, ok in j["passages"]]
    fact_cites = [ok for j in judged.values() for _, _, ok in j["fact_citations"]]
    refused_off = [q for q in off if answers[q["id"]].refused]
    refused_in = [q for q in in_scope if answers[q["id"]].refused]
    n_refused = len(refused_off) + len(refused_in)
    sims_in = {q["id"]: best_similarity(answers[q["id"]]) for q in in_scope}
    sims_off = {q["id"]: best_similarity(answers[q["id"]]) for q in off}
    follow = [q for q in in_scope if q.get("follows")]

    def share(items) -> dict:
        items = list(items)
        return {"n": sum(items), "of": len(items), "rate": round(sum(items) / len(items), 3) if items else None}

    figures = {
        "mode": mode,
        "questions": len(questions), "in_scope": len(in_scope), "off_topic": len(off), "follow_ups": len(follow),
        "hit_at_3": share(j["hit3"] for j in judged.values()),
        "facts": share(j["fact_ok"] for j in judged.values()),
        "correct": share(j["correct"] for j in judged.values()),
        "follow_ups_correct": share(judged[q["id"]]["correct"] for q in follow),
        "citation_precision_passages": share(passages) if passages and mode == "offline" else None,
        "citation_precision_facts": share(fact_cites),
        "markers_consistent": share(j["markers_ok"] for j in judged.values()),
        "answer_chars": {"p50": percentile([len(answers[q["id"]].text) for q in in_scope], 50),
                         "max": max(len(answers[q["id"]].text) for q in in_scope)},
        "refusal_precision": round(len(refused_off) / n_refused, 3) if n_refused else None,
        "refusal_recall": round(len(refused_off) / len(off), 3) if off else None,
        "in_scope_refused": len(refused_in),
        "similarity": {
            "in_scope": _spread(list(sims_in.values())), "off_topic": _spread(list(sims_off.values())),
            "lowest_in_scope": sorted(((round(s, 3), i) for i, s in sims_in.items()))[:5],
            "highest_off_topic": sorted(((round(s, 3), i) for i, s in sims_off.items()), reverse=True)[:5],
            "best_threshold": widest_margin_threshold(list(sims_in.values()), list(sims_off.values())),
            "shipped_threshold": REFUSAL_SIMILARITY,
        },
    }

    failures = []
    by_id = {q["id"]: q for q in questions}
    for q in in_scope:
        j, a = judged[q["id"]], answers[q["id"]]
        problems = []
        if not j["hit3"]:
            problems.append(f"retrieval (expected section at rank {j['rank'] or '>5'})")
        if j["refused"]:
            problems.append(f"refused (best similarity {sims_in[q['id']]:.3f})")
        elif not j["fact_ok"]:
            problems.append("fact missing")
        if a.unsupported:
            problems.append("unsupported (the LLM answer cites no passage)")
        if not j["cited_ok"]:
            problems.append("fact cited to the wrong passage")
        if j["bad_quotes"]:
            problems.append("quote not verbatim in its passage")
        if not j["markers_ok"]:
            problems.append("markers and citations disagree")
        if problems:
            failures.append({
                "id": q["id"], "question": q["question"], "problems": problems,
                "conversation": [t["question"] for t in chain(q, by_id)],
                "search_query": a.search_query,
                "expected": {"section": q["section"], "facts": q.get("facts", []),
                             "facts_any": q.get("facts_any", [])},
                "missing": j["missing"], "fact_citations": j["fact_citations"],
                "retrieved": j["retrieved"][:3], "best_similarity": round(sims_in[q["id"]], 3),
                "answer": a.text,
            })
    for q in off:
        a = answers[q["id"]]
        if not a.refused:
            failures.append({
                "id": q["id"], "question": q["question"], "problems": [f"answered off-topic ({q['off_topic']})"],
                "conversation": [], "search_query": a.search_query,
                "expected": {"refused": True}, "missing": [], "fact_citations": [],
                "retrieved": [section_of(h.chunk.heading) for h in a.retrieved][:3],
                "best_similarity": round(sims_off[q["id"]], 3), "answer": a.text,
            })
    return figures, failures


def _spread(values: list[float]) -> dict:
    if not values:
        return {}
    return {k: round(float(v), 3) for k, v in {
        "min": min(values), "p10": np.percentile(values, 10), "p50": np.percentile(values, 50),
        "p90": np.percentile(values, 90), "max": max(values)}.items()}


# --- report -------------------------------------------------------------------------------------


def _rate(s: dict | None) -> str:
    if not s:
        return "n/a"
    return f"{s['n']}/{s['of']} = {s['rate']:.1%}" if s["of"] else "n/a"


def report(figures: dict, failures: list[dict]) -> None:
    f = figures
    say(f"\n== {f['mode']} mode: {f['questions']} questions ({f['in_scope']} in scope, "
        f"{f['follow_ups']} of them follow-ups; {f['off_topic']} off-topic) ==")
    rows = [
        ("retrieval hit@3", _rate(f["hit_at_3"])),
        ("answers containing the fact", _rate(f["facts"])),
        ("citation precision (passages: quotes verbatim)", _rate(f["citation_precision_passages"])
         if f["citation_precision_passages"] else "n/a (LLM citations carry no quotes)"),
        ("citation precision (facts: marker -> passage with the fact)", _rate(f["citation_precision_facts"])),
        ("markers == citations", _rate(f["markers_consistent"])),
        ("correct (fact + right citation, not refused)", _rate(f["correct"])),
        ("  of which follow-ups", _rate(f["follow_ups_correct"])),
        ("still right (answered / refused) after another topic", _rate(f["topic_switches"])
         + (f"  (broken: {', '.join(f['topic_switches']['broken'])})" if f["topic_switches"]["broken"] else "")
         if "topic_switches" in f else "not measured"),
        ("in-scope answer length p50 / max", f"{f['answer_chars']['p50']:.0f} / {f['answer_chars']['max']} chars"),
        ("refusal precision (refused that were off-topic)", _pct(f["refusal_precision"])),
        ("refusal recall (off-topic that were refused)", _pct(f["refusal_recall"])),
        ("in-scope questions refused", str(f["in_scope_refused"])),
    ]
    if "latency_ms" in f:
        lat = f["latency_ms"]
        verdict = "meets" if lat["p50"] < LATENCY_TARGET_MS else "MISSES"
        rows.append(("warm answer latency p50 / p95",
                     f"{lat['p50']:.0f} / {lat['p95']:.0f} ms ({verdict} p50 < {LATENCY_TARGET_MS:.0f} ms; "
                     f"torch threads {lat['torch_threads']}, {lat['cpus']} CPUs, "
                     f"load average {lat['load_average_1min']})"))
    if "ttft_ms" in f:
        t = f["ttft_ms"]
        rows.append(("time to first token p50 / p95",
                     f"{t['p50']:.0f} / {t['p95']:.0f} ms over {t['n']} streamed answers"
                     if t["n"] else "no answer streamed"))
        rows.append(("LLM failures shown with the offline fallback", str(f.get("fallbacks", 0))))
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        say(f"  {name:<{width}}  {value}")

    sim = f["similarity"]
    say("\n  best dense similarity (max Hit.similarity over Answer.retrieved):")
    for name in ("in_scope", "off_topic"):
        s = sim[name]
        say(f"    {name:<9} min {s['min']:.3f}  p10 {s['p10']:.3f}  p50 {s['p50']:.3f}  "
            f"p90 {s['p90']:.3f}  max {s['max']:.3f}")
    say("    lowest in scope:   " + ", ".join(f"{i} {s:.3f}" for s, i in sim["lowest_in_scope"]))
    say("    highest off-topic: " + ", ".join(f"{i} {s:.3f}" for s, i in sim["highest_off_topic"]))
    bt = sim["best_threshold"]
    sep = (f"separable, gap {bt['gap']:.3f}" if bt["separable"]
           else f"NOT separable: overlap {-bt['gap']:.3f}, {bt['errors']} question(s) on the wrong side at best")
    say(f"    widest-margin threshold {bt['threshold']:.3f} (margin {bt['margin']:.3f}; {sep}); "
        f"shipped REFUSAL_SIMILARITY = {sim['shipped_threshold']}, below which a question is still "
        f"answered when one sentence scores >= SENTENCE_EVIDENCE = {SENTENCE_EVIDENCE}")

    say(f"\n  failures ({len(failures)}):" if failures else "\n  failures: none")
    for fail in failures:
        say(f"  - [{fail['id']}] {fail['question']}")
        if fail["conversation"]:
            say(f"      after: {' / '.join(fail['conversation'])}")
            say(f"      searched: {fail['search_query']}")
        say(f"      problems: {'; '.join(fail['problems'])}")
        exp = fail["expected"]
        if exp.get("refused"):
            say("      expected: a refusal")
        else:
            facts = exp["facts"] + ([" | ".join(exp["facts_any"])] if exp["facts_any"] else [])
            say(f"      expected: {facts} from '{exp['section']}'")
            if fail["missing"]:
                say(f"      missing: {fail['missing']}")
            for fact, ns, ok in fail["fact_citations"]:
                if not ok:
                    say(f"      {fact!r} cited as {ns or 'nothing'}, which does not contain it")
        say(f"      retrieved top-3: {fail['retrieved']} (best similarity {fail['best_similarity']})")
        body = fail["answer"].replace("\n", " ⏎ ")
        say(f"      got: {body[:400]}{'…' if len(body) > 400 else ''}")


def machine_load() -> dict:
    """Context for the latency figures: the 2 cores are shared, and torch's thread count matters."""
    import torch

    return {"torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
            "load_average_1min": round(os.getloadavg()[0], 2)}


def _pct(x: float | None) -> str:
    return "n/a (nothing refused)" if x is None else f"{x:.1%}"


# --- main ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    global out
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    parser.add_argument("--knowledge", type=Path, default=ROOT / "knowledge")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON on stdout")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for the embedding model (default: torch's own choice)")
    args = parser.parse_args(argv)
    if args.json:
        out = sys.stderr
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    questions = load_questions(args.questions)
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="ask_quality_", ignore_cleanup_errors=True) as tmp:
        knowledge = Path(tmp) / "knowledge"
        shutil.copytree(args.knowledge, knowledge)
        settings = Settings.from_env(environ={}, knowledge_dir=knowledge, data_dir=Path(tmp) / "data")
        services = Services(settings)
        started = time.perf_counter()
        summary = services.admin.ingest().summary()
        say(f"indexed a copy of {args.knowledge}: {summary} ({time.perf_counter() - started:.1f} s)")
        problems = check_data(questions, services.retriever.chunks)
        for p in problems:
            say(f"  question set: {p}")

        answerer = services.ask
        assert answerer.llm is None, "the offline pass must not use an LLM"
        answers, _, _ = run_pass(answerer, questions)  # warms the model and the sentence cache
        _, seconds, _ = run_pass(answerer, questions)
        figures, failures = evaluate(questions, answers, "offline")
        ms = [s * 1000 for s in seconds.values()]
        figures["latency_ms"] = {"p50": percentile(ms, 50), "p95": percentile(ms, 95), "max": max(ms),
                                 **machine_load()}
        figures["topic_switches"] = topic_switches(answerer, questions, answers)
        results["offline"] = {"figures": figures, "failures": failures}
        report(figures, failures)

        llm_env = {k: os.environ[k] for k in LLM_ENV if os.environ.get(k)}
        llm_settings = Settings.from_env(environ=llm_env, knowledge_dir=knowledge, data_dir=Path(tmp) / "data")
        if llm_settings.llm_enabled:
            llm = make_llm(llm_settings)
            llm_answers, _, first = run_pass(Answerer(services.retriever, llm), questions)
            llm_figures, llm_failures = evaluate(questions, llm_answers, f"llm ({llm.model})")
            streamed = [t * 1000 for t in first.values() if t is not None]
            llm_figures["ttft_ms"] = {"n": len(streamed), "p50": percentile(streamed, 50),
                                      "p95": percentile(streamed, 95)}
            llm_figures["fallbacks"] = sum(1 for a in llm_answers.values() if a.notice)
            results["llm"] = {"figures": llm_figures, "failures": llm_failures}
            report(llm_figures, llm_failures)
        else:
            say("\nLLM mode was not measured (set OPENAI_API_KEY and/or OPENAI_BASE_URL to measure it, "
                "with time to first token).")
            results["llm"] = None
        results["question_set_problems"] = problems

    if args.json:
        print(json.dumps(results, ensure_ascii=False, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
