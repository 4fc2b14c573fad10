"""The "what to study now" line and its one-click choices, shown in an empty chat and in the
Progress view, from what this learner is forgetting (Study.next). Pure functions, no Gradio."""

from __future__ import annotations

import html

from ..core.errors import AssistantError
from ..quiz.study import Next, Study


def next_choices(result: Next, limit: int = 3) -> list[tuple[str, str]]:
    """(button label, topic) for each list, due first."""
    out = []
    for t in result.due[:limit]:
        out.append((f"Review {short(t.topic)} · {t.items} due", t.topic))
    for t in result.weakest[:limit]:
        out.append((f"Weak: {short(t.topic)} · recall ~{round((t.recall or 0) * 100)}%", t.topic))
    for t in result.unstudied[:limit]:
        out.append((f"New: {short(t.topic)} · {t.items} questions", t.topic))
    return out


def next_markdown(result: Next) -> str:
    if result.empty:
        return "Nothing to study yet: add notes, and questions come from them."
    parts = []
    if result.due:
        due = sum(t.items for t in result.due)
        parts.append(f"**{due} review{'' if due == 1 else 's'} due**")
    if result.weakest:
        parts.append(f"weakest: {short(result.weakest[0].topic)} "
                     f"(recall ~{round((result.weakest[0].recall or 0) * 100)}%)")
    if result.unstudied:
        parts.append(f"{len(result.unstudied)}+ topics never studied" if len(result.unstudied) >= 5
                     else f"{len(result.unstudied)} topics never studied")
    return "**What to study now** · " + " · ".join(parts) + ". One click starts a quiz on it."


def what_next(study: Study, learner: str) -> tuple[str, list[tuple[str, str]]]:
    """The line and the buttons of "what to study now" (an empty chat, the Progress view)."""
    try:
        result = study.next(learner)
    except AssistantError as exc:
        return html.escape(str(exc)), []
    return next_markdown(result), next_choices(result)


def short(topic: str, width: int = 40) -> str:
    note, _, section = topic.partition(" › ")
    label = section or note
    return label if len(label) <= width else label[: width - 2].rstrip() + "…"
