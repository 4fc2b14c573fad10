"""A passage read as the note is written: lines, list items under their lead-in, sentences,
table rows under their header, code under the sentence that introduces it, and a line of code
with the author's comment on it as a note of its own. A passage cut out of a long code block
stays code. What is never an answer is left out: a question line, a heading-like title, a figure
or table caption, a bibliography line, an image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..core.schema import Chunk
from ..core.text import (
    FENCE,
    HIGHLIGHT,
    MARKDOWN_LINK,
    QA_PREFIX,
    SUMMARY_QUESTION,
    WIKI_LINK,
    qa_pair,
    sentences,
    spaced_cells,
    spaced_tables,
    unescaped,
    wiki_link_text,
)

# A list item's marker; "•" and "o" are plain text's bullets (and a PDF's or a Word document's).
_LIST_MARK = re.compile(r"^(\s*)(?:[-*+•o]|\d+[.)])\s+")
# Code with a comment of a few words after it: "lora_alpha=32,  # alpha = 2 * r, the rule of thumb".
_COMMENTED = re.compile(r"\S.*?\s(?:#|//)\s*\w+\W+\w+\W+\w+")
# A line of prose, a list item or a quote (code rarely opens with a capital and ends a sentence).
_PROSE_LINE = re.compile(r"^(?:[-*+]\s|\d+[.)]\s|>|[A-Z][^=(){}\[\]]*[.!?:]$)")
_RULE = re.compile(r"^\s*(?:-{3,}|\*{3,}|_{3,})\s*$")
_TABLE_ROW = re.compile(r"^\s*\|(.*)\|\s*$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}")
_BARE_ROW = re.compile(r"^\s*(.*?)\s*$")
_BARE_RULE = re.compile(r"^\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)+\|?\s*$")
# HTML that notes exported from the web carry; a literal "<BOS/>" in a note about tokens is text.
_TAG = re.compile(r"</?(?:a|abbr|article|aside|audio|b|big|blockquote|br|caption|center|cite|code|dd|del|details|"
                  r"div|dl|dt|em|figcaption|figure|font|footer|h[1-6]|header|hr|i|iframe|img|ins|kbd|li|main|"
                  r"mark|nav|ol|p|picture|pre|q|s|section|small|source|span|strong|sub|summary|sup|table|tbody|"
                  r"td|tfoot|th|thead|time|tr|tt|u|ul|video)\b[^<>]*>", re.I)
_CAPTION = re.compile(r"^\s*(?:Table|Figure|Fig\.)\s*\d+(?:[-.]\d+)*[.:]?(?:\s|$)", re.I)
# "Breiman, L. (1996). Bagging predictors. Machine Learning, 24(2), 123-140."
_REFERENCE = re.compile(r"^\s*[A-Z][A-Za-z'\-]+,\s+(?:[A-Z]\.\s*)+.*\(\d{4}[a-z]?\)")
_ONLY_BOLD = re.compile(r"^(\*\*|__)[^*_]+\1\s*[:?.]?$")
# Bare addresses (and Markdown links, core/text's MARKDOWN_LINK): what a sentence means is the
# link's text, not its address.
_URL = re.compile(r"<?https?://\S+")
# A line that points to reading elsewhere ("[nanoGPT](...) by Andrej Karpathy: A 2h-long video"),
# or any line of a list under "📚 Resources:" / "References" / "Further reading".
_POINTER_LINE = re.compile(r"^\W*\[[^\]]+\]\([^)]*\)\s*(?:by\b|[:–—-])")
# Obsidian's own syntax: a [[Note]] or [[Note#Section|alias]] link reads as its text and a
# ==highlight== as bold (core/text); a line of tags ("#agents #llm") is no answer, and a
# callout's marker ("> [!tip] Use enums") leaves its title.
_TAGS_ONLY = re.compile(r"^(?:#[A-Za-z][\w/-]*\s*)+$")
_CALLOUT = re.compile(r"^\[!\w+\][+-]?\s*")
# A sentence that opens by pointing back ("It needs fast communication ...") or by drawing a
# conclusion from the one before ("So a 4-bit 70B model fits ...") means little alone. "Instead
# of X, Y" stands alone; "Instead, ..." does not.
_POINTS_BACK = re.compile(r"^(?:It|Its|This|These|That|Those|They|Their|Them|Such|He|She|His|Her|"
                          r"So|Thus|Therefore|Hence|Otherwise|Instead(?! of))\b")
# What makes a short line a sentence or a "key: value" line rather than a label.
_NO_LABEL = re.compile(r"[.!?;]\W*$|:")
_POINTER_LIST = re.compile(r"\b(?:resources|references|further reading|reading list|see also|links|bibliography)\b",
                           re.I)


@dataclass(frozen=True)
class Unit:
    """A sentence, list item or table row of a chunk: `quote` is verbatim chunk text, `display`
    is for reading (HTML tags and Q/A prefixes dropped, a row shown with its header)."""

    chunk: Chunk
    index: int
    quote: str
    display: str
    indent: int
    list_item: bool
    parent: int | None  # the line this one hangs under: a lead-in ("Three risk levels:") or a list item
    line_start: bool  # first sentence of its line
    context: str = ""  # what it is embedded with: its lead-in, or a row's table header
    line_lead: bool = False  # first sentence of a line that introduces what follows ("...happens:")
    code: bool = False  # a line of a code block, shown only under the sentence that introduces it
    caption: bool = False  # a table's caption, shown only above the rows it introduces
    leans_back: bool = False  # opens by pointing back ("It needs ..."): its context is the sentence before
    after_question: bool = False  # first sentence after a question line or heading: its context is the question

    @property
    def is_lead_in(self) -> bool:
        """A line that introduces the items under it: "Three risk levels:" or a bold title line
        ("**Prompt Engineering is now a thing**"), which notes use as a small heading."""
        return self.line_lead or ends_with_colon(self) or bool(_ONLY_BOLD.match(self.display))

    @property
    def is_title(self) -> bool:
        """A lead-in that says nothing by itself ("What stayed the same:", "**References**")."""
        return self.is_lead_in and (len(self.display) < 40 or bool(_ONLY_BOLD.match(self.display)))

    @property
    def is_label(self) -> bool:
        """A line of a few words that is no sentence: "Note", "JSON mode", "The `lumen.yaml` file": it
        titles what comes under or after it and says nothing by itself. ("Example model:
        cross-encoder/..." says something.)"""
        return self.line_start and len(self.display.split()) <= 3 and not _NO_LABEL.search(self.display)

    @property
    def shown_with_lead(self) -> bool:
        """A line of code or a table's caption: shown only with what it belongs to (the sentence
        that introduces the code, the rows under the caption), never as a point of its own."""
        return self.code or self.caption

    @property
    def meaning(self) -> str:
        """What the unit says, for embedding: with what it hangs from, links as their text."""
        return meaning_of(f"{self.context} {self.display}")

    @property
    def pointer(self) -> bool:
        """A line that sends the reader elsewhere (a reading list's entry) rather than explaining."""
        return bool(_POINTER_LINE.match(self.display)) or (
            self.list_item and bool(_POINTER_LIST.search(self.context)) and len(self.context) < 40)

    @property
    def bold_lead(self) -> bool:
        """A sentence opening with bold words ("**Why this matters:** Text is everywhere"): the
        line's own title, which the rest of the line explains."""
        return self.line_start and self.display.startswith("**")


def split_units(chunk: Chunk) -> list[Unit]:
    units: list[Unit] = []
    open_lines: list[int] = []  # unit index of the first sentence of each enclosing line
    header: list[str] | None = None  # the current table's column names
    # The passage's own heading, without a slide's page or a section's number ("5. Batching").
    title = _plain(re.sub(r"^(?:Page \d+: )?(?:\d+(?:\.\d+)*\.?\s+)?", "", chunk.title))
    lines = chunk.text.split("\n")
    in_code = _starts_in_code(lines)
    lines = _unwrapped(lines, in_code)
    # A table set out with spaces (plain-text notes): its rows, and whether its first line is a header.
    spaced: dict[int, list[str]] = {}
    spaced_header: set[int] = set()
    for table in spaced_tables(lines):
        rows = {i: spaced_cells(lines[i]) for i in table if not _SPACED_RULE.match(lines[i])}
        if len(rows) < len(table) or _names_columns(list(rows.values())):
            spaced_header.add(table[0])  # a rule under the first line, or the first line names columns
        spaced.update(rows)
    introducing: Unit | None = None  # a line ending with ":" right before a code block or a table
    table_lead: Unit | None = None  # the line that introduces the current table
    caption = ""  # a caption line right above a table ("Table 1-3. Common application categories")
    # The question an FAQ entry opens with (its heading, a bold question line, a "Q:" line): the
    # sentence after it answers it and is read with it, as an item is read with its lead-in.
    asked = _unformatted(chunk.title) if chunk.heading.rstrip().endswith("?") else ""
    shown_code = 0
    for n, line in enumerate(lines):
        if FENCE.match(line):
            in_code = not in_code
            shown_code = 0
            continue
        if in_code:  # code is shown only under the sentence that introduces it ("Use --x:")
            if _COMMENTED.search(line):
                # "r=16,  # r=8 underfit the JSON format": the author's note on a line of code.
                units.append(Unit(chunk, len(units), line.strip(), f"`{line.strip()}`", 0, False, None, True))
            elif introducing is not None and line.strip() and shown_code < 3:
                units.append(Unit(chunk, len(units), line.strip(), f"`{line.strip()}`", introducing.indent + 1,
                                  True, introducing.index, True, code=True))
                shown_code += 1
            continue
        # What introduces the block below it, across blank lines: code or a table.
        lead, introducing = introducing, (None if line.strip() else introducing)
        row = _TABLE_ROW.match(line)
        if not row and "|" in line and (header is not None or n + 1 < len(lines) and _BARE_RULE.match(lines[n + 1])):
            row = _BARE_ROW.match(line)  # "BM25 | keyword": GitHub's tables may leave out the outer pipes
        if not row and n not in spaced:
            header = None
            table_lead = None
        if not line.strip() or _RULE.match(line) or _TABLE_RULE.match(line) or _SPACED_RULE.match(line):
            continue
        above, caption = caption, ""
        if row or n in spaced:
            # A badge cell is empty.
            cells = spaced.get(n) or [_TAG.sub("", c).strip() for c in row.group(1).split("|")]
            if header is None and (n in spaced_header or n + 1 < len(lines) and _TABLE_RULE.match(lines[n + 1])):
                header = cells
                table_lead = lead  # "The `tool_choice` parameter steers this:" introduces the rows
                if table_lead is None and above:
                    # So does its caption: never an answer itself, it says what the rows are.
                    table_lead = Unit(chunk, len(units), above, _readable(above), 0, False, None, True,
                                      line_lead=True, caption=True)
                    units.append(table_lead)
                continue
            # Rows of a long table's later chunk have no header above them: shown as plain cells.
            header = header or [""] * len(cells)
            display = " · ".join(f"{h}: {c}" if h else c for h, c in zip(header, cells) if c)
            lead_in = f"{table_lead.display} " if table_lead else ""
            units.append(Unit(chunk, len(units), line.strip(), _readable(display),
                              table_lead.indent + 1 if table_lead else 0, False,
                              table_lead.index if table_lead else None, True,
                              context=lead_in + " | ".join(h for h in header if h)))
            continue
        marker = _LIST_MARK.match(line)
        indent = len(line) - len(line.lstrip())
        body = (line[marker.end():] if marker else line).strip()
        if body.startswith(">"):
            body = body.lstrip("> ").strip()
            if _CALLOUT.match(body):
                callout_title = _CALLOUT.sub("", body)
                body = f"**{callout_title}**" if callout_title else ""
        if body.startswith(":"):  # a definition list's definition ("Term" then ": what it means")
            body = body[1:].strip()
        prop = _PROPERTY.match(body)
        if prop and prop["key"].lower() in _METADATA_KEYS:
            continue  # an outliner's block metadata ("id:: 6523a1b2", "tags:: llm"), as front matter is
        pair, summary = qa_pair(body), SUMMARY_QUESTION.match(body)
        if pair:  # "Q: What is X? A: It is ...": the question is asked, the rest answers it
            asked, body = pair[0], body[pair[2]:]
        elif summary:  # "<details><summary>Why X?</summary>It is ...", the answer on that line or below
            asked, body = summary.group("question").strip(), body[summary.end():]
        elif body and _is_question(body):
            asked = _unformatted(QA_PREFIX.sub("", body))
            continue
        if _CAPTION.match(_unformatted(body)):
            caption = line.strip()  # kept, whole, if a table follows
        if not body or _never_an_answer(body) or (_plain(body) == title and not body.rstrip("*").endswith(":")):
            continue  # the passage's own heading (a slide title) is no answer; a lead-in ending in ":" is kept
        if marker and _HEADING_MARK.match(body):
            continue  # an outliner's heading bullet ("- ## Planning") titles the points under it
        while open_lines and not _encloses(units[open_lines[-1]], indent, bool(marker)):
            open_lines.pop()
        parent = open_lines[-1] if open_lines else None
        first = len(units)
        introduces = body.rstrip("*").rstrip().endswith(":") or bool(_ONLY_BOLD.match(body))
        for i, piece in enumerate(p.strip() for p in sentences(body) if p.strip()):
            display = _readable(piece)
            if prop and i == 0:
                display = display.replace("::", ":", 1)  # "history:: OpenAI shipped ..." reads "history: ..."
            if i > 0:
                display = display.lstrip("-–— ")  # "food." - a language model: a dash, not a list
            if not display or (i > 0 and _CAPTION.match(display)) or _TAGS_ONLY.match(display):
                continue
            if _is_question(display):
                # A question inside a line ("What does a reranker do?<TAB>It reorders ...", "Why
                # does this matter? Because ...") is no answer either; what follows answers it.
                asked = _unformatted(display)
                continue
            context = units[parent].display if parent is not None else ""
            # "It needs ..." after a sentence of its line, or a line of its own ("- That fake
            # answer is embedded ...") right after its sibling, with no question between.
            follows = len(units) > first or (bool(units) and not asked and units[-1].parent == parent
                                              and not units[-1].is_title)
            leans_back = follows and bool(_POINTS_BACK.match(_unformatted(display)))
            if leans_back:
                # It is read with the sentence it points back to (and what that one hangs from).
                context = f"{units[-1].context} {units[-1].display}".strip()
            after_question = bool(asked) and parent is None and not leans_back
            if after_question:
                context, asked = asked, ""
            units.append(Unit(chunk, len(units), piece, display, indent, bool(marker), parent,
                              line_start=len(units) == first, context=context,
                              line_lead=introduces and len(units) == first, leans_back=leans_back,
                              after_question=after_question))
        if len(units) > first:
            open_lines.append(first)
            if body.rstrip().endswith(":"):
                introducing = units[-1]  # "... Reference a variable instead:" is what the code shows
    return units


# An outliner's property line ("id:: 6523a1b2", "my defaults:: 0 for extraction"); Logseq's own
# keys hold metadata, never a note's content.
_PROPERTY_KEY = r"(?P<key>\w[\w -]*)::\s"
_PROPERTY = re.compile(f"^{_PROPERTY_KEY}")
_METADATA_KEYS = frozenset("id collapsed heading title alias tags icon public filters template created-at "
                           "updated-at".split())
# What opens a line of its own: a list item (also plain text's "o", "a)", "->" and "=>"), a quote,
# a heading, a table row or rule, a fence, a "Q:"/"A:" line, a property line.
_BLOCK_START = re.compile(r"^\s*(?:[-*+•o>]\s|\d+[.)]\s|[a-z][.)]\s|[-=]>|→|#|\||```|~~~|(?:Q|A|Question|Answer)\s*[:.]"
                          f"|{_PROPERTY_KEY})", re.I)
# A line of code outside a fence (an outliner's code block under a bullet): an assignment or a call.
# A call has its bracket right after the name: "metadata (architecture, ...)" is prose.
_CODE_LINE = re.compile(r"^\s*[\w.\[\]\"']+(?:\s*[-+*/]?=|\()")
_UNDERLINE = re.compile(r"^\s*(?:=+|-+)\s*$")
# Words a sentence does not end on: a line ending on one was cut by the writer's margin.
_RUNS_ON = frozenset("a an the of to in on for with by from and or but nor as at into onto than that which who whose "
                     "whom is are was were be been has have had this these those its their our your my his her if "
                     "when while because via per vs so such".split())
# A line this long that stops mid-sentence was cut by the margin (editors wrap at 72-80 columns).
_WRAPPED_LENGTH = 50
# A glossary line of its own: "token id - integer index ...", "top-k: how many chunks ...".
_TERM_LINE = re.compile(r"^\s*[^\s.!?:]{1,25}(?: [^\s.!?:]{1,25}){0,3}(?:\s[-–—=]|:)\s")


def _unwrapped(lines: list[str], in_code: bool) -> list[str]:
    """Lines as written, with a line that the writer's margin cut joined to its continuation (kept
    verbatim, newline included): "The term was coined by" + "Simon Willison in September 2022."
    is one sentence. A continuation is not a line of its own (an item, a quote, a heading, a row)
    and either hangs deeper under a long line (a list item's wrapped text) or goes on a long line
    that stops mid-sentence: on a comma, an open bracket or a word no sentence ends on, or before
    a lower-case word."""
    out: list[str] = []
    joinable = False  # whether the last line in `out` may take a continuation
    rows = {i for table in spaced_tables(lines) for i in table}
    for n, line in enumerate(lines):
        fence = bool(FENCE.match(line))
        if (joinable and not fence and not in_code and n not in rows and line.strip() and not _BLOCK_START.match(line)
                and not _UNDERLINE.match(line) and _continues(out[-1], line)):
            out[-1] += "\n" + line
            continue
        out.append(line)
        if fence:
            in_code = not in_code
        joinable = bool(line.strip()) and not in_code and not fence and not _UNDERLINE.match(line) \
            and not _TABLE_ROW.match(line) and "|" not in line and n not in rows
    return out


def _continues(before: str, line: str) -> bool:
    """Whether `line` carries on the sentence the (joined) line `before` was cut in."""
    last = before.rsplit("\n", 1)[-1]
    end = last.rstrip().rstrip("*_\"'”’")
    if not end or end[-1] in ".!?:;" or len(last.strip()) < _WRAPPED_LENGTH:
        return False
    if _CODE_LINE.match(line) or _CODE_LINE.match(last):
        return False
    first_indent = len(before) - len(before.lstrip())
    if len(line) - len(line.lstrip()) > first_indent:
        return True  # hangs under it: a list item's or a term's wrapped text
    if _TERM_LINE.match(line):
        return False
    words = end.split()
    return (end[-1] in ",(" or before.count("(") > before.count(")") or words[-1].lower() in _RUNS_ON
            or line.lstrip()[:1].islower())


# "------   -----": the rule under a spaced table's header.
_SPACED_RULE = re.compile(r"^\s*-{3,}(?: {2,}-{3,})+\s*$")
# A cell giving a figure: "4", "0.5", "$5.00", "~2.0 TB/s", "28 GB".
_FIGURE_CELL = re.compile(r"^[~≈<>$€£]?\s?\d")


def _names_columns(rows: list[list[str]]) -> bool:
    """Whether a spaced table's first row names its columns: one whose cells below all give a
    figure ("bytes/param" over "4", "2", "0.5") where it gives none. "A100 80GB   80 GB HBM2e
    ~2.0 TB/s" over the same for the H100 is a row like the others."""
    first, rest = rows[0], rows[1:]
    return any(not _FIGURE_CELL.match(first[c]) and all(_FIGURE_CELL.match(r[c]) for r in rest)
               for c in range(len(first)))


def _starts_in_code(lines: list[str]) -> bool:
    """Whether a passage was cut out of a long code block: its first fence closes that block.
    A closing fence is bare, and what comes before it reads as code, not as prose, items or quotes."""
    fences = [i for i, line in enumerate(lines) if FENCE.match(line)]
    if len(fences) % 2 == 0 or lines[fences[0]].strip().strip("`~"):
        return False
    before = [line.strip() for line in lines[: fences[0]] if line.strip() and not line.lstrip().startswith("#")]
    return bool(before) and not any(_PROSE_LINE.match(line) for line in before)


_HEADING_MARK = re.compile(r"#{1,6}\s")


def _never_an_answer(line: str) -> bool:
    """A line a reader skips when looking for the answer: a question (the notes' own question
    lines and Q: lines), a caption, a reference, an image, a bare title ending in '?'."""
    plain = _unformatted(line)
    return (_is_question(line) or not plain or bool(_CAPTION.match(plain)) or bool(_REFERENCE.match(plain))
            or line.lstrip().startswith(("<img", "![", "<figure", "<i>Figure", "<em>Figure")))


def _is_question(line: str) -> bool:
    """A question line: "**What is X?**", "Q: What is X?", "#### How ...?" as a line. A term
    defined by the question it answers ("Faithfulness: is every claim supported by the context?")
    is a definition: the line is what the notes say the term means."""
    qa = QA_PREFIX.match(line)
    if qa:
        return qa.group("kind").lower().startswith("q")
    plain = _unformatted(line)
    return plain.endswith("?") and not _DEFINED_BY_QUESTION.match(plain)


# "Faithfulness: is every claim ...?", "Answer relevance: does the answer ...?": a term of a few
# words, then the question in lower case.
_DEFINED_BY_QUESTION = re.compile(r"^\W*[A-Z][^\s.!?:]{0,25}(?: [^\s.!?:]{1,25}){0,3}:\s+[a-z]")


def _plain(text: str) -> str:
    return " ".join(_unformatted(text).rstrip(":").lower().split())


def _unformatted(text: str) -> str:
    """Text without HTML tags, bold marks and Markdown escapes ("Table 1\\." from a web page)."""
    return unescaped(_TAG.sub("", text)).replace("**", "").replace("__", "").strip()


def children(units: list[Unit], parent: Unit) -> list[Unit]:
    return [u for u in units if u.parent == parent.index]


def _encloses(line: Unit, indent: int, list_item: bool) -> bool:
    """Whether a line at `indent` hangs under an earlier line (its first sentence `line`)."""
    if line.indent < indent:
        return True
    # "**Three factors:**" followed by "1. ..." at the same indent: the items belong to it.
    return line.indent == indent and not line.list_item and list_item and ends_with_colon(line)


def ends_with_colon(unit: Unit) -> bool:
    return unit.display.rstrip("*").rstrip().endswith(":")


def meaning_of(text: str) -> str:
    text = MARKDOWN_LINK.sub(r"\1", MARKDOWN_LINK.sub(r"\1", text))  # twice: "[![badge](img)](url)"
    return " ".join(_URL.sub("", text).split())


def _readable(text: str) -> str:
    # Bold is kept (it is the notes' own emphasis); unbalanced markers from a split, HTML tags,
    # Markdown escapes and "A:" prefixes are dropped.
    text = unescaped(_TAG.sub("", text))
    text = WIKI_LINK.sub(wiki_link_text, HIGHLIGHT.sub(r"**\1**", text))
    text = QA_PREFIX.sub("", text) if QA_PREFIX.match(text) else text
    if text.count("**") % 2:
        text = text.replace("**", "")
    return " ".join(text.split())
