"""Turning a follow-up question into something retrieval can use.

"How long did that take?" retrieves nothing on its own. Offline, a question that leans on the
conversation (a pronoun, a bare "and ...", or too few words of its own) is searched together with
the previous question. With an LLM, the model rewrites it into a standalone question first.
"""

from __future__ import annotations

import re

from ..core.errors import LLMError

_ANAPHORA = re.compile(
    r"\b(it|its|that|this|those|these|they|them|their|he|she|his|her|there|the same|"
    # "what happened then?" points back; "do X, then tell me Y" does not
    r"then(?=\W*$)|"
    r"the former|the latter|such|one|ones|"
    # "the third factor": a place in a list the conversation has shown
    r"the (?:second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth))\b",
    re.I,
)
_CONTINUATION = re.compile(r"^\s*(and|but|also|so|what about|how about|why|how come|really)\b", re.I)


def previous_questions(history: list[dict]) -> list[str]:
    """User turns of a Gradio-style history ([{"role", "content"}, ...]), oldest first."""
    return [
        _text(turn.get("content"))
        for turn in history or []
        if turn.get("role") == "user" and _text(turn.get("content")).strip()
    ]


def _text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # Gradio multimodal content parts
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content or "")


def has_anaphora(question: str) -> bool:
    """A pronoun or reference ("they", "that", "the same") that can only mean something said before."""
    return bool(_ANAPHORA.search(question))


def looks_like_followup(question: str) -> bool:
    """A pronoun or a bare "and ..." / "why?" that points back into the conversation."""
    return bool(_ANAPHORA.search(question) or _CONTINUATION.match(question))


def offline_search_query(question: str, history: list[dict]) -> str:
    previous = previous_questions(history)
    if previous and looks_like_followup(question):
        return f"{previous[-1]} {question}"
    return question


REWRITE_PROMPT = (
    "Rewrite the user's last question so it can be understood without the conversation: "
    "replace pronouns and references with what they refer to. Reply with the rewritten question "
    "only, no preamble. If it is already standalone, repeat it unchanged."
)


def llm_search_query(llm, question: str, history: list[dict]) -> str:
    """A standalone question written by the LLM; the offline heuristic if that fails."""
    previous = previous_questions(history)
    if not previous:
        return question
    transcript = "\n".join(f"User: {q}" for q in previous[-3:])
    try:
        rewritten = llm.complete(
            [
                {"role": "system", "content": REWRITE_PROMPT},
                {"role": "user", "content": f"{transcript}\nUser: {question}\n\nRewritten question:"},
            ],
            max_tokens=80,
            temperature=0.0,
        ).strip().strip('"')
    except LLMError:
        return offline_search_query(question, history)
    rewritten = rewritten.splitlines()[0].strip() if rewritten else ""
    if not rewritten or len(rewritten) > 4 * len(question) + 200:
        return offline_search_query(question, history)
    # Small models sometimes drop the topic ("LinkedIn") while rewriting; the question's own words,
    # with the heuristic's context, are kept beside the rewrite as a safety net.
    fallback = offline_search_query(question, history)
    return rewritten if rewritten.lower() == fallback.lower() else f"{rewritten} {fallback}"
