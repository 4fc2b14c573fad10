"""Entries: the units notes are written in, below their headings.

People structure notes with more than headings: a **bold question or title line** heading its
answer, `**Q:** ... A: ...` pairs (also on one line, as flashcards), a collapsible
`<details><summary>Question?</summary>` block, definition lists (`Term` then `: definition`), runs of
paragraphs each led by a bold term (`**Token**: ...`), a table under its caption. Each such entry
becomes a section of its own, its title added to the heading path, so a chunk never holds the end
of one entry and the start of the next, and an entry too long for one chunk keeps its title on
every part.
"""

from __future__ import annotations

import re
from dataclasses import replace

from ..core.schema import Section
from ..core.text import FENCE, SUMMARY_QUESTION, qa_pair

# A paragraph that is nothing but bold: "**What is the bias-variance trade-off?**", "**Three factors:**"
_BOLD_LINE = re.compile(r"^\s*(\*\*|__)(?P<title>[^*_\n][^\n]{0,200}?)\1\s*(?P<after>[:?.]?)\s*$")
# "**Q:** Why ...?" / "Q: Why ...?"
_QUESTION = re.compile(r"^\s*(?:\*\*|__)?Q(?:uestion)?\s*[:.]\s*(?:\*\*|__)?\s*(?P<title>\S.{0,200})$")
# "**Token**: The unit ..." / "**Tokenizer** — The component ..." (a bold term leading its paragraph)
_BOLD_LEAD = re.compile(r"^\s*(\*\*|__)(?P<title>[^*_\n]{1,80}?)\1\s*(?:[:—–]|-\s)\s*\S")
_DETAILS = re.compile(r"^\s*<details[^>]*>\s*$", re.I)
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")
_CAPTION = re.compile(r"^\s*(?:<[^>]+>\s*)*(?:Table|Figure|Fig\.)\s*\d+(?:[-.]\d+)*[.:]?\s", re.I)


def split_entries(section: Section) -> list[Section]:
    """The section cut at each entry title; text before the first title, and text after an entry
    that has a clear end (a Q/A pair, a table), keeps the section's own heading. Offsets stay
    exact: every piece is a slice of `section.text`."""
    lines = section.text.splitlines(keepends=True)
    starts = _line_starts(lines) + [len(section.text)]
    cuts = _entry_titles(lines)
    if not cuts:
        return [section]
    pieces: list[Section] = []
    if section.text[: starts[cuts[0][0]]].strip():
        pieces.append(_piece(section, 0, starts[cuts[0][0]], section.heading))
    for n, (i, title) in enumerate(cuts):
        end = starts[cuts[n + 1][0]] if n + 1 < len(cuts) else len(section.text)
        if title is None:
            heading = section.heading
        else:
            heading = f"{section.heading} > {title}" if section.heading else title
        pieces.append(_piece(section, starts[i], end, heading))
    return [p for p in pieces if p.text.strip()]


def _piece(section: Section, start: int, end: int, heading: str) -> Section:
    raw = section.text[start:end]
    lead = len(raw) - len(raw.lstrip())
    return replace(section, heading=heading, text=raw.strip(), start=section.start + start + lead)


def _line_starts(lines: list[str]) -> list[int]:
    starts, pos = [], 0
    for line in lines:
        starts.append(pos)
        pos += len(line)
    return starts


def _entry_titles(lines: list[str]) -> list[tuple[int, str | None]]:
    """(line index, title) of every line that opens an entry; a None title marks where a bounded
    entry (a Q/A pair, a captioned table) ends and the section's own text resumes."""
    found: list[tuple[int, str | None]] = []
    leads: list[tuple[int, str]] = []
    in_fence = False
    for i, line in enumerate(lines):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence or not line.strip():
            continue
        pair = qa_pair(line)
        if pair:  # "Q: What is X? A: It is ...": one line is the whole entry, however many follow
            found += [(i, _clean(pair[0])), (i + 1, None)]
            continue
        summary = SUMMARY_QUESTION.match(line)
        if summary:  # "<details><summary>Why X?</summary> ... </details>": the entry is its block
            opens = i - 1 if i > 0 and _DETAILS.match(lines[i - 1]) else i
            found += [(opens, _clean(summary.group("question"))), (_details_end(lines, i) + 1, None)]
            continue
        paragraph_start = i == 0 or not lines[i - 1].strip()
        if not paragraph_start or _LIST_ITEM.match(line):
            if line.lstrip().startswith(": ") and i > 0 and _is_term(lines[i - 1]) and not _found_at(found, i - 1):
                found.append((i - 1, _clean(lines[i - 1])))  # definition list: "Term" / ": definition"
            continue
        bold = _BOLD_LINE.match(line)
        question = _QUESTION.match(line)
        if bold and bold.group("title").strip():
            found.append((i, _clean(bold.group("title") + (bold.group("after") if bold.group("after") == "?" else ""))))
        elif question:
            found.append((i, _clean(question.group("title"))))
            end = _answer_end(lines, i + 1)
            if end is not None:
                found.append((end, None))
        elif _CAPTION.match(line) and _next_is_table(lines, i + 1):
            found.append((i, _clean(_strip_tags(line))))  # a table stays one unit with its caption
            found.append((_table_end(lines, i + 1), None))
        else:
            lead = _BOLD_LEAD.match(line)
            if lead:
                leads.append((i, _clean(lead.group("title"))))
    # Bold-led paragraphs are entries only as a run (a glossary); one alone is just emphasis.
    if len(leads) >= 2:
        found += leads
    found += _outline_topics(lines)
    found = [(i, t) for i, t in found if i < len(lines)]
    return sorted(dict(found).items())  # one cut per line; a title wins over a resume there


# An outliner's page (Logseq, Workflowy, Roam) is nearly all bullets: a topic is a short bullet
# ("- **ReAct**", "- Tool calling") whose points nest under it.
_OUTLINE_SHARE = 0.7
_BULLET = re.compile(r"^(?P<indent>\s*)[-*+]\s+(?P<text>.*)$")
_TOPIC = re.compile(r"^(?:#{1,6}\s+)?(?!\s*(?:TODO|DONE|LATER|NOW)\b)[^.!?;\n]{1,60}$")


def _outline_topics(lines: list[str]) -> list[tuple[int, str]]:
    """The topics of a section written as an outline: at the shallowest depth where at least two
    bullets have points nested under them (a page's single title bullet is passed through), each
    such bullet that reads as a title. Each topic is an entry with its nested points."""
    text = [(i, line) for i, line in enumerate(lines) if line.strip()]
    bullets = {i: m for i, line in text if (m := _BULLET.match(line.rstrip("\n")))}
    if len(bullets) < 4 or len(bullets) < _OUTLINE_SHARE * len(text):
        return []
    depth = {i: len(m.group("indent").expandtabs(4)) for i, m in bullets.items()}
    if len(set(depth.values())) < 3:  # a list of points under a heading, not a page's tree
        return []
    following = {i: j for (i, _), (j, _) in zip(text, text[1:])}  # each line's next non-blank line
    has_points = {i for i in bullets if following.get(i) in bullets and depth[following[i]] > depth[i]}
    for level in sorted(set(depth.values())):
        heads = [i for i in bullets if depth[i] == level and i in has_points]
        if len(heads) >= 2:
            titles = [(i, bullets[i].group("text").strip()) for i in heads]
            topics = [(i, _clean(title.lstrip("#"))) for i, title in titles if _TOPIC.match(title)]
            return [(i, topic) for i, topic in topics if topic]
    return []


def _answer_end(lines: list[str], i: int) -> int | None:
    """The line after the "A: ..." paragraph that answers a "Q: ..." line, if there is one."""
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines) or not re.match(r"^\s*(?:\*\*|__)?A(?:nswer)?\s*[:.]", lines[i]):
        return None
    while i < len(lines) and lines[i].strip():
        i += 1
    return i


def _details_end(lines: list[str], i: int) -> int:
    """The line that closes the <details> block opened at line i (its last line if none does)."""
    return next((n for n in range(i, len(lines)) if "</details>" in lines[n].lower()), len(lines) - 1)


def _table_end(lines: list[str], i: int) -> int:
    while i < len(lines) and not lines[i].strip():
        i += 1
    while i < len(lines) and _TABLE_ROW.match(lines[i]):
        i += 1
    return i


def _found_at(found: list[tuple[int, str]], i: int) -> bool:
    return any(j == i for j, _ in found)


def _is_term(line: str) -> bool:
    text = line.strip()
    return (0 < len(text) <= 80 and not _LIST_ITEM.match(line) and not text.startswith(("#", ":", "|", ">"))
            and not text.endswith((".", ",", ";")))


def _next_is_table(lines: list[str], i: int) -> bool:
    while i < len(lines) and not lines[i].strip():
        i += 1
    return i < len(lines) and bool(_TABLE_ROW.match(lines[i]))


def _strip_tags(text: str) -> str:
    return re.sub(r"<[^>]+>", "", text)


def _clean(title: str) -> str:
    """A title as a heading-path part: no emphasis marks, no trailing colon, one line."""
    title = re.sub(r"[*_`]+", "", _strip_tags(title)).strip()
    title = title.rstrip(":").strip()
    return " ".join(title.split()).replace(" > ", " › ")
