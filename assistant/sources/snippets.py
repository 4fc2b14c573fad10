"""Search results as the Sources tab lists them: a snippet around the first matching term, and
every word that matches a query term (after stemming) marked."""

from __future__ import annotations

import html
import re

from ..core.text import STOPWORDS, stem


def _query_stems(query: str) -> set[str]:
    words = re.findall(r"\w+", query.lower())
    return {stem(w) for w in words if w not in STOPWORDS}


def highlight_terms(text: str, query: str) -> str:
    """Escaped text with every word that matches a query term (after stemming) in <mark class=term>."""
    stems = _query_stems(query)
    out = []
    pos = 0
    for m in re.finditer(r"\w+", text):
        if stem(m.group(0).lower()) in stems:
            out.append(html.escape(text[pos : m.start()]))
            out.append(f'<mark class="term">{html.escape(m.group(0))}</mark>')
            pos = m.end()
    out.append(html.escape(text[pos:]))
    return "".join(out)


def snippet(text: str, query: str, width: int = 320) -> str:
    """About `width` characters of `text` around the first query term, cut at word boundaries."""
    text = re.sub(r"```\w*|\*\*|__|`|^#{1,6}\s+", "", text, flags=re.M)  # Markdown marks read as noise
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    stems = _query_stems(query)
    first = next((m.start() for m in re.finditer(r"\w+", text)
                  if stem(m.group(0).lower()) in stems), 0)
    start = max(0, first - width // 3)
    if start:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < first else start
    end = min(len(text), start + width)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start else end
    return ("… " if start else "") + text[start:end] + (" …" if end < len(text) else "")

