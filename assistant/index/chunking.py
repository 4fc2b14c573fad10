"""Splitting sections into chunks that never cross a heading or an entry and always fit the embedding model."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable

from langchain_core.documents import Document as LCDocument
from langchain_text_splitters import RecursiveCharacterTextSplitter

from ..core.schema import Chunk, Section
from .entries import split_entries

# Chunk size in model tokens. The model embeds at most 256 tokens of heading + text; 200 leaves
# room for the heading path so nothing is cut. Chosen by measurement (README, "Chunking").
CHUNK_TOKENS = 200
OVERLAP_TOKENS = 30

# Paragraphs, then list items and lines, then sentences, then words.
_SEPARATORS = ["\n\n", "\n- ", "\n* ", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""]
_LEADING_STOP = re.compile(r"^[.?!;,]+\s+")


def content_hash(heading: str, text: str) -> str:
    return hashlib.sha256(f"{heading}\n{text}".encode()).hexdigest()[:16]


def chunk_id(source: str, hash_: str, ordinal: int) -> str:
    # Position is deliberately left out: inserting a paragraph above must not change the ids of
    # the chunks below it, or re-indexing would re-embed the whole file.
    return hashlib.sha1(f"{source}\x00{hash_}\x00{ordinal}".encode()).hexdigest()[:20]


class Chunker:
    def __init__(
        self,
        count_tokens: Callable[[str], int],
        chunk_tokens: int = CHUNK_TOKENS,
        overlap_tokens: int = OVERLAP_TOKENS,
    ):
        self._splitter = RecursiveCharacterTextSplitter(
            chunk_size=chunk_tokens,
            chunk_overlap=overlap_tokens,
            length_function=count_tokens,
            separators=_SEPARATORS,
            keep_separator="start",
            strip_whitespace=True,
        )

    def chunk(self, source: str, sections: Iterable[Section]) -> list[Chunk]:
        chunks: list[Chunk] = []
        seen: dict[str, int] = {}
        for section in (entry for s in sections for entry in split_entries(s)):
            docs: list[LCDocument] = self._splitter.create_documents([section.text])
            cursor = 0
            for doc in docs:
                # A piece cut at ". " or ", " starts with that separator (kept at the start so a
                # list item keeps its "- "); a passage never starts with the last one's full stop.
                text = _LEADING_STOP.sub("", doc.page_content.strip())
                if not text:
                    continue
                # Located here rather than by the splitter's add_start_index, which assumes the
                # overlap is measured in characters and returns -1 with a token length function.
                offset = section.text.find(text, cursor)
                if offset < 0:
                    offset = max(section.text.find(text), 0)
                cursor = offset + 1
                start = section.start + offset
                h = content_hash(section.heading, text)
                ordinal = seen.get(h, 0)  # identical passages in one file stay distinct
                seen[h] = ordinal + 1
                chunks.append(
                    Chunk(
                        id=chunk_id(source, h, ordinal),
                        source=source,
                        heading=section.heading,
                        text=text,
                        start=start,
                        end=start + len(text),
                        content_hash=h,
                        page=section.page,
                    )
                )
        return chunks
