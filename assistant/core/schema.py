"""Plain data types that flow between modules. Imports nothing of ours."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Section:
    """A run of text under one heading path, located in its source file."""

    heading: str  # "Document title > Section > Subsection"
    text: str
    start: int  # character offset of `text` in the extracted document text
    page: int | None = None  # 1-based page for PDFs


@dataclass(frozen=True)
class Chunk:
    """One indexed passage. `id` is stable across re-ingests while its content is unchanged."""

    id: str
    source: str  # path relative to the knowledge folder, with forward slashes
    heading: str
    text: str
    start: int
    end: int
    content_hash: str
    page: int | None = None

    @property
    def title(self) -> str:
        """The heading's own title, its last segment ("Notes > RAG > Chunking" -> "Chunking")."""
        return self.heading.split(" > ")[-1]

    def embedding_text(self) -> str:
        # The heading path is prepended so that a chunk's topic is embedded with it:
        # measured ~4 points of hit@5 on lesson notes (see the README).
        return f"{self.heading}\n{self.text}" if self.heading else self.text

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Hit:
    """A chunk returned by a search, with its fused score and the dense similarity seen."""

    chunk: Chunk
    score: float
    similarity: float | None = None  # cosine similarity of the query to the chunk, when known

    def to_dict(self, rank: int) -> dict:
        return {
            "rank": rank,
            "chunk_id": self.chunk.id,
            "source": self.chunk.source,
            "heading": self.chunk.heading,
            "text": self.chunk.text,
            "score": round(self.score, 6),
        }


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass
class IngestReport:
    """What one ingest run did. Counts are in chunks, `files` is files in the index after the run."""

    files: int = 0
    chunks: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    changed_files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "files": self.files,
            "chunks": self.chunks,
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
        }

    def summary(self) -> str:
        line = (
            f"{self.files} files, {self.chunks} chunks in the index: "
            f"{self.added} added, {self.updated} updated, {self.removed} removed, "
            f"{self.unchanged} unchanged"
        )
        if self.skipped:
            line += f"; {len(self.skipped)} skipped"
        return line


@dataclass(frozen=True)
class Citation:
    """A passage an answer quotes or relies on; `n` is the marker number used in the answer text."""

    n: int
    chunk: Chunk
    quotes: tuple[str, ...] = ()  # the exact parts of the passage the answer used

    def to_dict(self) -> dict:
        return {
            "n": self.n,
            "chunk_id": self.chunk.id,
            "source": self.chunk.source,
            "heading": self.chunk.heading,
            "text": self.chunk.text,
        }


@dataclass(frozen=True)
class SentenceCheck:
    """One sentence of a generated answer, checked against the passage it cites.

    status: "supported" (its citation holds it), "recited" (another passage holds it: cited there
    instead), "added" (uncited, a passage holds it: that marker was added), "struck" (no passage
    holds it: marked "not in your notes"), "neutral" (nothing to check: "Yes.", "In short:").
    """

    text: str  # the sentence as written by the model, markers removed
    status: str
    cited: tuple[int, ...] = ()  # marker numbers it ends up with (in the final answer's numbering)
    reason: str = ""  # why it was struck: the numbers or names missing, or the words not found

    @property
    def shown_as_fact(self) -> bool:
        return self.status in ("supported", "recited", "added")


@dataclass(frozen=True)
class Answer:
    """One reply. While streaming, `done` is False and `text` grows; the last one is final."""

    question: str
    text: str
    mode: str  # "offline" or "llm"
    refused: bool = False
    citations: tuple[Citation, ...] = ()
    retrieved: tuple[Hit, ...] = ()  # everything retrieved, cited or not, for the source view
    notice: str | None = None  # e.g. why the LLM was not used for this answer
    unsupported: bool = False  # an LLM answer that cites none of the notes
    search_query: str = ""  # what was actually searched (a follow-up is made standalone)
    suggestions: tuple[str, ...] = ()  # nearest topics, offered when refusing
    done: bool = True
    # LLM answers: "supported" (every sentence held by its passage), "partly" or "unsupported".
    verdict: str | None = None
    checks: tuple[SentenceCheck, ...] = ()  # LLM answers: each sentence and what the check did
    # LLM answers: the offline answer quoted from the notes, one click away ("Show quoted from notes"),
    # with its own citations (its markers number these, not `citations`).
    quoted: str = ""
    quoted_citations: tuple[Citation, ...] = ()

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "answer": self.text,
            "mode": self.mode,
            "refused": self.refused,
            "citations": [c.to_dict() for c in self.citations],
        }
