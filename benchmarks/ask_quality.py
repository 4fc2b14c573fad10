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
  token p50/p95 (otherwise it says LLM mode was not measured), judged on what is shown as fact
  (sentences the check struck are left out), and the LLM section below;
- every failure: question, what was expected, what came back.

`--json` prints the figures and failures as one JSON object on stdout (the readable report then goes
to stderr).

LLM section (only with OPENAI_BASE_URL / OPENAI_API_KEY): each generated sentence as the check left
it (supported by its citation, re-cited, marker added, struck, neutral), the share of sentences
shown as fact, verdicts, prompt tokens (counted by a llama.cpp server's own tokenizer when it has
one, else the app's estimate), output tokens/s, and one table comparing LLM with offline mode on the
same questions. `--limit N` runs only the first N in-scope and the first N off-topic questions of
each question file (LLM mode is slow on a CPU), `--prompt-tokens N` sets the prompt budget, `--dump FILE`
writes every answer as JSON lines (LLM answers with their sentence checks), for reading by hand.
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

DATA = ROOT / "benchmarks/data"
SHARED_NOTES = ROOT.parent / "shared/eval/notes"
# name -> (notes folder or file, development question files, sealed question file)
SETS = {
    "seed": (ROOT / "knowledge", ["seed.json", "seed-holdout.json", "seed-fresh.json"], "seed.json"),
    "qa": (DATA / "notes/qa", ["qa.json"], "qa.json"),
    "glossary": (DATA / "notes/glossary", ["glossary.json"], "glossary.json"),
    "pdf": (DATA / "notes/pdf", ["pdf.json", "pdf-fresh.json"], "pdf.json"),
    "mdx": (DATA / "notes/mdx", ["mdx.json", "mdx-fresh.json"], "mdx.json"),
    "book": (DATA / "notes/book", ["book.json"], "book.json"),
    "llm-course": (SHARED_NOTES / "llm-course.md", ["llm-course.json"], "llm-course.json"),
    "obsidian": (DATA / "notes/obsidian", ["obsidian.json"], "obsidian.json"),
    "notebooks": (DATA / "notes/notebooks", ["notebooks.json"], "notebooks.json"),
    "word": (DATA / "notes/word", ["word.json"], "word.json"),
    "flashcards": (DATA / "notes/flashcards", ["flashcards.json"], "flashcards.json"),
    "plaintext": (DATA / "notes/plaintext", ["plaintext.json"], "plaintext.json"),
    "outliner": (DATA / "notes/outliner", ["outliner.json"], "outliner.json"),
    "html": (DATA / "notes/html", ["html.json"], "html.json"),
}
LLM_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ASSISTANT_MODEL", "ASSISTANT_LLM_TIMEOUT",
           "ASSISTANT_LLM_PROMPT_TOKENS")
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


def in_section(q: dict, chunk) -> bool:
    """Whether a chunk lies in the question's expected place: its heading path names the section
    (at any depth, so an entry under a section still counts), or, for a PDF, it is the page."""
    if q.get("page") is not None and chunk.page is not None:
        return chunk.page == q["page"] and (not q.get("file") or chunk.source.endswith(q["file"]))
    parts = [part.strip() for part in chunk.heading.split(" > ")]
    # A numbered topic ("7) Reranking") is named by its words too.
    return q["section"] in parts + [re.sub(r"^\d+[.)]\s+", "", part) for part in parts]


def check_data(questions: list[dict], chunks) -> list[str]:
    """Problems with the question set itself: facts not in their section."""
    problems = []
    for q in questions:
        if q.get("off_topic"):
            continue
        body = _norm("\n".join(c.text for c in chunks if in_section(q, c))).lower()
        if not body:
            problems.append(f"{q['id']}: no section named {q['section']!r} in the index")
            continue
        for fact in q.get("facts", []) + q.get("facts_any", []):
            if _norm(fact).lower() not in body:
                problems.append(f"{q['id']}: fact {fact!r} is not in section {q['section']!r}")
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


_HTML_TAG = re.compile(r"</?(?:a|b|blockquote|br|details|div|em|figure|h[1-6]|hr|i|img|li|ol|p|span|strong|summary|"
                       r"sup|sub|table|td|th|tr|ul)\b[^<>]*>", re.I)
_CAPTION = re.compile(r"^\W*(?:figure|fig\.|table)\s*\d+(?:[-.]\d+)*\b", re.I)
# A term defined by the question it answers ("Faithfulness: is every claim supported by the
# context?") is the notes' definition of the term, not one of their question lines.
_DEFINED_BY_QUESTION = re.compile(r"^\W*[A-Z][^\s.!?:]{0,25}(?: [^\s.!?:]{1,25}){0,3}:\s+[a-z]")


def answer_lines(text: str) -> list[str]:
    """The quoted units of an answer (offline: one sentence or item a line), markers and list
    marks removed, for judging its shape."""
    lines = []
    for line in text.splitlines():
        line = _MARKERS.sub("", line).strip().lstrip("-*").strip()
        if line:
            lines.append(line)
    return lines


def shape_of(answer) -> dict:
    """What an answer must never contain: a question line, a caption on its own, raw HTML, the
    same sentence twice, a code fence as a line; and how many units it has."""
    if answer.refused:
        return {}
    lines = answer_lines(answer.text)
    plain = [ln.replace("**", "").strip() for ln in lines]
    return {
        "units": len(lines),
        "question_line": any(ln.endswith("?") and not _DEFINED_BY_QUESTION.match(ln) for ln in plain),
        "caption_only": bool(plain) and all(_CAPTION.match(ln) for ln in plain),
        "html": bool(_HTML_TAG.search(answer.text)),
        "repeated": len({ln.lower() for ln in plain}) < len(plain),
        "fence": any(ln.startswith(("```", "~~~")) for ln in plain),
    }


def judge_in_scope(q: dict, answer) -> dict:
    text = _norm(answer.text)
    low = text.lower()
    rank = next((i + 1 for i, h in enumerate(answer.retrieved) if in_section(q, h.chunk)), None)
    retrieved = [section_of(h.chunk.heading) for h in answer.retrieved]
    wanted = list(q.get("facts", []))
    present = [f for f in wanted if _norm(f).lower() in low]
    any_of = q.get("facts_any", [])
    any_present = [f for f in any_of if _norm(f).lower() in low]
    fact_ok = len(present) == len(wanted) and (not any_of or bool(any_present))

    citations = {c.n: c for c in answer.citations}
    # "ranks[0]" in a quoted code line is an index, not a citation marker.
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", re.sub(r"`[^`\n]*`", "", answer.text))}
    markers_ok = markers == set(citations)
    passages = [(c.n, all(qt in c.chunk.text for qt in c.quotes) and bool(c.quotes)) for c in answer.citations]
    bad_quotes = [(c.n, qt) for c in answer.citations for qt in c.quotes if qt not in c.chunk.text]

    fact_citations = []  # (fact, cited numbers, ok)
    for fact in present + any_present[:1]:
        ns = cited_numbers_for(text, low.find(_norm(fact).lower()))
        ok = any(n in citations and _norm(fact).lower() in _norm(citations[n].chunk.text).lower() for n in ns)
        fact_citations.append((fact, ns, ok))
    cited_ok = all(ok for _, _, ok in fact_citations)
    correct = not answer.refused and fact_ok and cited_ok and markers_ok
    # Where the answer starts: the first unit holding a fact should be among the first two.
    lines = [ln.lower() for ln in answer_lines(answer.text)]
    facts_low = [_norm(f).lower() for f in present + any_present]
    fact_unit = next((i for i, ln in enumerate(lines) if any(f in _norm(ln) for f in facts_low)), None)
    return {
        "hit3": rank is not None and rank <= 3, "rank": rank, "retrieved": retrieved,
        "refused": answer.refused, "fact_ok": fact_ok, "missing": [f for f in wanted if f not in present]
        + ([] if any_present or not any_of else [" | ".join(any_of)]),
        "markers_ok": markers_ok, "passages": passages, "bad_quotes": bad_quotes,
        "fact_citations": fact_citations, "cited_ok": cited_ok, "correct": correct,
        "fact_unit": fact_unit,
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
    shapes = [shape_of(answers[q["id"]]) for q in questions]
    shapes = [sh for sh in shapes if sh]
    correct_units = [j["fact_unit"] for j in judged.values() if j["correct"] and j["fact_unit"] is not None]
    near = [q for q in off if q["off_topic"] == "near"]

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
        "near_refused": share(answers[q["id"]].refused for q in near),
        "shape": {
            "question_line": sum(sh["question_line"] for sh in shapes),
            "caption_only": sum(sh["caption_only"] for sh in shapes),
            "html": sum(sh["html"] for sh in shapes),
            "repeated": sum(sh["repeated"] for sh in shapes),
            "fence": sum(sh["fence"] for sh in shapes),
            "answers": len(shapes),
            "units_p50": percentile([sh["units"] for sh in shapes], 50),
            "answer_first_two": share(u <= 1 for u in correct_units),
        },
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
        shape = shape_of(a)
        problems += [f"shape: {name.replace('_', ' ')}" for name in ("question_line", "caption_only", "html",
                                                                       "repeated", "fence") if shape.get(name)]
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
        ("near-domain off-topic refused", _rate(f["near_refused"])),
        ("answers with a question line / caption alone / HTML / a repeat / a code fence",
         "{question_line} / {caption_only} / {html} / {repeated} / {fence} of {answers}".format(**f["shape"])),
        ("units (sentences or items) per answer p50", f"{f['shape']['units_p50']}"),
        ("answering unit among the first two (correct answers)", _rate(f["shape"]["answer_first_two"])),
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


def measure(label: str, notes: Path, question_files: list[Path], llm_env: dict) -> dict:
    """Index a copy of `notes` once, then run every question file over it: offline, and with the
    configured LLM when there is one."""
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="ask_quality_", ignore_cleanup_errors=True) as tmp:
        knowledge = Path(tmp) / "knowledge"
        if notes.is_dir():
            shutil.copytree(notes, knowledge)
        else:
            knowledge.mkdir()
            shutil.copy(notes, knowledge / notes.name)
        settings = Settings.from_env(environ={}, knowledge_dir=knowledge, data_dir=Path(tmp) / "data")
        services = Services(settings)
        started = time.perf_counter()
        summary = services.admin.ingest().summary()
        say(f"\n##### {label}: indexed a copy of {notes}: {summary} ({time.perf_counter() - started:.1f} s)")
        answerer = services.ask
        assert answerer.llm is None, "the offline pass must not use an LLM"
        for path in question_files:
            questions = load_questions(path)
            if LIMIT:
                questions = limited(questions, LIMIT)
            name = f"{label}/{path.stem}" if len(question_files) > 1 else label
            say(f"\n#### {name} ({path.relative_to(ROOT) if path.is_relative_to(ROOT) else path})")
            problems = check_data(questions, services.retriever.chunks)
            for problem in problems:
                say(f"  question set: {problem}")
            answers, _, _ = run_pass(answerer, questions)  # warms the model and the sentence cache
            _, seconds, _ = run_pass(answerer, questions)
            figures, failures = evaluate(questions, answers, "offline")
            ms = [s * 1000 for s in seconds.values()]
            figures["latency_ms"] = {"p50": percentile(ms, 50), "p95": percentile(ms, 95), "max": max(ms),
                                     **machine_load()}
            figures["topic_switches"] = topic_switches(answerer, questions, answers)
            entry = {"offline": {"figures": figures, "failures": failures}, "question_set_problems": problems}
            report(figures, failures)
            if DUMP and not llm_env:
                dump_answers(name, questions, answers, None)
            llm_settings = Settings.from_env(environ=llm_env, knowledge_dir=knowledge, data_dir=Path(tmp) / "data")
            if llm_settings.llm_enabled:
                llm = make_llm(llm_settings)
                recorder = PromptRecorder(llm)
                llm_answers, _, first = run_pass(Answerer(services.retriever, llm), questions)
                shown = {qid: as_shown(a) for qid, a in llm_answers.items()}
                llm_figures, llm_failures = evaluate(questions, shown, f"llm ({llm.model})")
                streamed = [t * 1000 for t in first.values() if t is not None]
                llm_figures["ttft_ms"] = {"n": len(streamed), "p50": percentile(streamed, 50),
                                          "p95": percentile(streamed, 95)}
                llm_figures["fallbacks"] = sum(1 for a in llm_answers.values() if a.notice and a.mode == "offline"
                                               and not a.checks)  # the LLM failed: offline answer
                llm_figures["checks"] = sentence_checks(questions, llm_answers)
                llm_figures["generation"] = recorder.figures(llm_settings.openai_base_url)
                entry["llm"] = {"figures": llm_figures, "failures": llm_failures}
                report(llm_figures, llm_failures)
                report_llm(llm_figures, entry["offline"]["figures"])
                if DUMP:
                    dump_answers(name, questions, llm_answers, recorder)
            results[name] = entry
    return results


def summary_table(results: dict) -> None:
    """One row per question set: the issue's targets side by side."""
    say("\n== summary (offline) ==")
    head = ("set", "correct", "follow-ups", "off-topic refused", "near refused", "in-scope refused",
            "bad shape", "first two", "units p50", "p50 ms")
    rows = [head]
    for name, entry in results.items():
        f = entry["offline"]["figures"]
        sh = f["shape"]
        bad = sh["question_line"] + sh["caption_only"] + sh["html"] + sh["repeated"] + sh["fence"]
        rows.append((name, _short(f["correct"]), _short(f["follow_ups_correct"]),
                     f"{round(f['refusal_recall'] * f['off_topic'])}/{f['off_topic']}" if f["off_topic"] else "-",
                     _short(f["near_refused"]), str(f["in_scope_refused"]), str(bad),
                     _short(sh["answer_first_two"]), f"{sh['units_p50']:.0f}", f"{f['latency_ms']['p50']:.0f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for r in rows:
        say("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)))


def _short(s: dict | None) -> str:
    return f"{s['n']}/{s['of']}" if s and s["of"] else "-"


# --- LLM mode -----------------------------------------------------------------------------------

LIMIT: int | None = None
DUMP: Path | None = None
_STRUCK = re.compile(r"~~.*?~~\s*\*\(not in your notes\)\*", re.DOTALL)


def limited(questions: list[dict], n: int) -> list[dict]:
    """The first n in-scope questions and the first n off-topic ones, in their order (a follow-up
    always comes after the question it follows, so conversations stay whole)."""
    inside = [q["id"] for q in questions if not q.get("off_topic")][:n]
    outside = [q["id"] for q in questions if q.get("off_topic")][:n]
    keep = set(inside) | set(outside)
    return [q for q in questions if q["id"] in keep]


def as_shown(answer):
    """The answer as far as it is shown as fact: sentences the check struck are left out."""
    from dataclasses import replace

    return replace(answer, text=re.sub(r"[ \t]{2,}", " ", _STRUCK.sub("", answer.text)).strip())


class PromptRecorder:
    """Wraps the LLM's `stream` to keep every answer prompt, its raw reply and timings."""

    def __init__(self, llm):
        self.calls: list[dict] = []
        stream = llm.stream

        def recording(messages, **kwargs):
            call = {"messages": messages, "reply": "", "start": time.perf_counter(), "first": None, "end": None}
            self.calls.append(call)
            for delta in stream(messages, **kwargs):
                if call["first"] is None:
                    call["first"] = time.perf_counter()
                call["reply"] += delta
                yield delta
            call["end"] = time.perf_counter()

        llm.stream = recording

    def figures(self, base_url: str | None) -> dict:
        """Prompt tokens p50/max and output tokens per second, in the server's own tokens when it
        is a llama.cpp server (its /apply-template and /tokenize), else the app's estimate."""
        from assistant.ask.prompt import MESSAGE_OVERHEAD

        count = _server_counter(base_url)
        prompts, speeds = [], []
        for call in self.calls:
            if count:
                call["prompt_tokens"] = count(call["messages"], None)
                reply_tokens = count(None, call["reply"])
            else:
                call["prompt_tokens"] = sum(len(m["content"]) // 4 + MESSAGE_OVERHEAD for m in call["messages"])
                reply_tokens = len(call["reply"]) // 4
            prompts.append(call["prompt_tokens"])
            if call["first"] and call["end"] and call["end"] > call["first"] and reply_tokens > 1:
                speeds.append((reply_tokens - 1) / (call["end"] - call["first"]))
        return {"answers_generated": len(self.calls), "counted_by": "server" if count else "estimate",
                "prompt_tokens": {"p50": percentile(prompts, 50), "p95": percentile(prompts, 95),
                                  "max": max(prompts, default=None)},
                "tokens_per_s": {"p50": percentile(speeds, 50)}}


def _server_counter(base_url: str | None):
    """Token counts from a llama.cpp server, or None when the server has no such endpoints."""
    import urllib.request

    if not base_url:
        return None
    root = base_url.rstrip("/").removesuffix("/v1")

    def post(path: str, body: dict) -> dict:
        request = urllib.request.Request(root + path, data=json.dumps(body).encode(),
                                         headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as reply:
            return json.load(reply)

    def count(messages, text):
        if messages is not None:
            text = post("/apply-template", {"messages": messages})["prompt"]
        return len(post("/tokenize", {"content": text, "add_special": False})["tokens"])

    try:
        count([{"role": "user", "content": "hi"}], None)
    except Exception:  # noqa: BLE001 - not llama.cpp: fall back to the estimate
        return None
    return count


def sentence_checks(questions: list[dict], answers: dict) -> dict:
    """What the sentence check did to the generated in-scope answers (refusals by the gate excluded)."""
    from assistant.ask.generation import UNSUPPORTED_NOTICE

    statuses: dict[str, int] = {}
    verdicts: dict[str, int] = {}
    model_refused = quoted_instead = 0
    for q in questions:
        a = answers[q["id"]]
        if not a.checks:
            continue  # the gate refused before the model, or the LLM failed and the offline answer was shown
        if a.refused:
            model_refused += 1
            continue
        quoted_instead += a.notice == UNSUPPORTED_NOTICE
        verdicts[a.verdict or "none"] = verdicts.get(a.verdict or "none", 0) + 1
        for check in a.checks:
            statuses[check.status] = statuses.get(check.status, 0) + 1
    claims = sum(n for k, n in statuses.items() if k != "neutral")
    as_fact = sum(statuses.get(k, 0) for k in ("supported", "recited", "added"))
    return {"statuses": statuses, "verdicts": verdicts, "model_refused": model_refused,
            "quoted_instead": quoted_instead,
            "claims": claims, "shown_as_fact": as_fact,
            "cited_right_by_model": statuses.get("supported", 0), "struck": statuses.get("struck", 0)}


def report_llm(f: dict, offline: dict) -> None:
    c, g = f["checks"], f["generation"]
    say("\n  LLM answers, sentence by sentence (in-scope and off-topic answers the model wrote):")
    claims = c["claims"] or 1
    rows = [
        ("claims (sentences stating something)", str(c["claims"])),
        ("  held by the passage the model cited", f"{c['cited_right_by_model']} = {c['cited_right_by_model'] / claims:.1%}"),
        ("  held by another passage (re-cited) / uncited (marker added)",
         f"{c['statuses'].get('recited', 0)} / {c['statuses'].get('added', 0)}"),
        ("  struck: no passage holds them", f"{c['struck']} = {c['struck'] / claims:.1%}"),
        ("neutral sentences (nothing to check)", str(c["statuses"].get("neutral", 0))),
        ("verdicts", ", ".join(f"{k} {v}" for k, v in sorted(c["verdicts"].items()))),
        ("answers the model refused (after the gate let them through)", str(c["model_refused"])),
        ("unsupported answers replaced by the quoted answer", str(c["quoted_instead"])),
        (f"prompt tokens p50 / p95 / max ({g['counted_by']})",
         f"{g['prompt_tokens']['p50']:.0f} / {g['prompt_tokens']['p95']:.0f} / {g['prompt_tokens']['max']}"
         if g["prompt_tokens"]["max"] else "n/a"),
        ("output tokens/s p50", f"{g['tokens_per_s']['p50']:.1f}" if g["tokens_per_s"]["p50"] else "n/a"),
        ("correct: LLM / offline, same questions", f"{_rate(f['correct'])}  /  {_rate(offline['correct'])}"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        say(f"  {name:<{width}}  {value}")


def llm_summary_table(results: dict) -> None:
    """LLM mode beside offline mode, per question file, on the same questions."""
    say("\n== summary (LLM mode beside offline, same questions) ==")
    head = ("set", "mode", "correct", "follow-ups", "off-topic refused", "in-scope refused",
            "claims cited right by the model", "struck", "TTFT p50 / p95 s", "prompt tok p50")
    rows = [head]
    for name, entry in results.items():
        if "llm" not in entry:
            continue
        for mode in ("offline", "llm"):
            f = entry[mode]["figures"]
            off = f"{round(f['refusal_recall'] * f['off_topic'])}/{f['off_topic']}" if f["off_topic"] else "-"
            if mode == "llm":
                c, t, g = f["checks"], f["ttft_ms"], f["generation"]
                held = f"{c['cited_right_by_model']}/{c['claims']}" if c["claims"] else "-"
                extra = (held, str(c["struck"]),
                         f"{t['p50'] / 1000:.1f} / {t['p95'] / 1000:.1f}" if t["n"] else "-",
                         f"{g['prompt_tokens']['p50']:.0f}" if g["prompt_tokens"]["p50"] else "-")
            else:
                extra = ("-", "-", f"{f['latency_ms']['p50'] / 1000:.3f} / {f['latency_ms']['p95'] / 1000:.3f}", "-")
            rows.append((name, mode, _short(f["correct"]), _short(f["follow_ups_correct"]), off,
                         str(f["in_scope_refused"]), *extra))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for r in rows:
        say("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)))


def dump_answers(name: str, questions: list[dict], answers: dict, recorder: PromptRecorder | None) -> None:
    """Every answer (LLM: with its checks and raw reply), one JSON object a line (for reading by hand)."""
    by_question = {}
    for call in recorder.calls if recorder else []:
        asked = re.search(r"<question>\n(.*?)\n</question>", call["messages"][-1]["content"], re.DOTALL)
        by_question[asked.group(1) if asked else ""] = call
    with DUMP.open("a", encoding="utf-8") as f:
        for q in questions:
            a = answers[q["id"]]
            call = by_question.get(a.question) if a.mode == "llm" else None
            f.write(json.dumps({
                "set": name, "id": q["id"], "question": q["question"], "off_topic": q.get("off_topic"),
                "correct": None if q.get("off_topic") else judge_in_scope(q, as_shown(a))["correct"],
                "facts": q.get("facts", []) + q.get("facts_any", []), "mode": a.mode, "refused": a.refused,
                "raw": call["reply"] if call else None, "prompt_tokens": call.get("prompt_tokens") if call else None,
                "ttft_s": round(call["first"] - call["start"], 2) if call and call["first"] else None,
                "answer": a.text, "verdict": a.verdict,
                "checks": [{"text": c.text, "status": c.status, "cited": c.cited, "reason": c.reason} for c in a.checks],
                "citations": {c.n: c.chunk.text for c in a.citations},
                "passages": [p["content"] for p in (call["messages"][-1:] if call else [])],
            }, ensure_ascii=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    global out
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", action="append", choices=sorted(SETS), dest="sets",
                        help="a note set to measure (repeatable; default: all)")
    parser.add_argument("--sealed", action="store_true",
                        help="use the sealed question sets (for a final run only)")
    parser.add_argument("--questions", type=Path, help="a question file of your own (with --knowledge)")
    parser.add_argument("--knowledge", type=Path, help="the notes folder for --questions")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON on stdout")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for the embedding model (default: torch's own choice)")
    parser.add_argument("--limit", type=int, default=None,
                        help="only the first N in-scope and N off-topic questions of each question file "
                             "(LLM mode is slow on a CPU)")
    parser.add_argument("--prompt-tokens", type=int, default=None,
                        help="LLM mode: the prompt budget (ASSISTANT_LLM_PROMPT_TOKENS, default 700)")
    parser.add_argument("--dump", type=Path, default=None,
                        help="write every answer to FILE (JSON lines; LLM answers with their sentence checks)")
    args = parser.parse_args(argv)
    global LIMIT, DUMP
    LIMIT, DUMP = args.limit, args.dump
    if DUMP:
        DUMP.write_text("", encoding="utf-8")
    if args.prompt_tokens:
        os.environ["ASSISTANT_LLM_PROMPT_TOKENS"] = str(args.prompt_tokens)
    if args.json:
        out = sys.stderr
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    llm_env = {k: os.environ[k] for k in LLM_ENV if os.environ.get(k)}
    results: dict = {}
    if args.questions:
        results.update(measure(args.questions.stem, args.knowledge or ROOT / "knowledge", [args.questions], llm_env))
    else:
        for name in args.sets or list(SETS):
            notes, dev, sealed = SETS[name]
            if not notes.exists():
                say(f"\n##### {name}: skipped, {notes} is not here (it comes with ../shared/eval/).")
                continue
            files = [DATA / "sealed" / sealed] if args.sealed else [DATA / "questions" / f for f in dev]
            results.update(measure(name + (" (sealed)" if args.sealed else ""), notes, files, llm_env))
    if not llm_env:
        say("\nLLM mode was not measured (set OPENAI_API_KEY and/or OPENAI_BASE_URL to measure it, "
            "with time to first token).")
    summary_table(results)
    if any("llm" in entry for entry in results.values()):
        llm_summary_table(results)
    if args.json:
        print(json.dumps(results, ensure_ascii=False, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
