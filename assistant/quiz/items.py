"""Quiz items and topics: the plain data shared by generation, review and the front ends."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

from .checking import normalize

TYPES = ("mcq", "cloze", "flashcard", "short")
TYPE_LABELS = {
    "mcq": "Multiple choice",
    "cloze": "Fill in the blank",
    "flashcard": "Flashcard",
    "short": "Short answer",
}
BLANK = "_____"


@dataclass
class QuizItem:
    """One question, grounded in one passage. `id` is stable while the passage is unchanged."""

    id: str
    type: str
    question: str
    answer: str
    chunk_id: str
    source: str
    heading: str
    passage: str
    content_hash: str
    options: list[str] | None = None
    explanation: str = ""
    kind: str = "term"  # what the answer is: term, phrase, list, or number:<unit>
    origin: str = "offline"  # or "llm"
    accept: list[str] = field(default_factory=list)  # other spellings that count as correct
    position: int = 0  # reading order within the notes

    def to_dict(self) -> dict:
        """The public JSON shape (`python -m assistant quiz --json`)."""
        return {
            "id": self.id,
            "type": self.type,
            "question": self.question,
            "options": list(self.options) if self.options else None,
            "answer": self.answer,
            "source": {
                "chunk_id": self.chunk_id,
                "source": self.source,
                "heading": self.heading,
                "text": self.passage,
            },
        }

    def record(self) -> dict:
        return asdict(self)

    @property
    def topic(self) -> str:
        return topic_label(self.source, self.heading)


def item_id(source: str, content_hash: str, type_: str, question: str, answer: str) -> str:
    key = "\x00".join([source, content_hash, type_, normalize(question), normalize(answer)])
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def heading_parts(heading: str) -> list[str]:
    return [p.strip() for p in (heading or "").split(" > ") if p.strip()]


def section_of(heading: str) -> str:
    """The first heading below the document title ('' for text before any heading)."""
    parts = heading_parts(heading)
    return parts[1] if len(parts) > 1 else ""


def topic_label(source: str, heading: str) -> str:
    section = section_of(heading)
    return f"{source} › {section}" if section else source


def matches_topic(topic: str | None, source: str, heading: str) -> bool:
    """A topic is a note ("notes/rag.md"), a section ("notes/rag.md › Chunking") as offered in
    the app, a folder prefix, or any text found in the note's path or heading path."""
    if not topic or not topic.strip():
        return True
    topic = topic.strip()
    if " › " in topic:
        note, _, section = topic.partition(" › ")
        if note == source:
            parts = heading_parts(heading)
            return section in parts[1:] or section_of(heading) == section
    if source == topic or source.startswith(topic.rstrip("/") + "/"):
        return True
    needle = topic.lower()
    return needle in source.lower() or needle in (heading or "").lower()


def matches_any(topics: list[str] | None, source: str, heading: str) -> bool:
    topics = [t for t in (topics or []) if t and t.strip()]
    return not topics or any(matches_topic(t, source, heading) for t in topics)
