"""The one text toolkit: sentences with offsets, words, stop words and stems, front matter, and
JSON found in a model's reply. Every feature reads text through these, so a quote, a highlight
and a quiz question agree on where a sentence ends.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache

import frontmatter
import Stemmer
from syntok import segmenter

# Function words: they carry no topic. One list for search terms, sentence choice and answer checks.
STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each even ever every
    few for from further get gets got had has have having he her here hers him his how i if in into
    is it its itself just like many may me more most much must my no nor not now of off on once
    one only or other our ours out over own per really same she should so some such than that the
    their theirs them then there these they this those through to too under until up upon us use
    used using very via was we were what when where which while who whom why will with within
    without would yet you your yours""".split()
)
# Words that shape a question without naming its topic ("how long", "explain", "according to").
QUESTION_WORDS = frozenset(
    "how what why when where who which long according notes note mean means tell explain describe "
    "say says said".split()
)

_stemmer = Stemmer.Stemmer("english")
STEMMER = _stemmer  # the Snowball stemmer object, for libraries that take one (bm25s)
_WORD = re.compile(r"[A-Za-z0-9%$]+(?:[.,][0-9]+)?")


# --- sentences ------------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def sentence_spans(text: str) -> tuple[tuple[int, int], ...]:
    """(start, end) of each sentence of `text`, so a sentence is always a verbatim slice of it.

    syntok knows abbreviations ("e.g.", "vs.", "L. (1996)") and list numbers ("1. **Three**"),
    which a split on ". " cuts; measured against the old pattern on the benchmark notes.
    """
    links = [m.span() for m in MARKDOWN_LINK.finditer(text)]
    spans: list[tuple[int, int]] = []
    for paragraph in segmenter.analyze(text):
        for sentence in paragraph:
            start = sentence[0].offset
            end = sentence[-1].offset + len(sentence[-1].value)
            if spans and text[start] in ".!?":
                # syntok may start a sentence with the full stop that ends the one before
                # ("... (Stanford, 2023)" / ". It uses ..."): the stop goes back where it belongs.
                stop = start + len(text[start:end]) - len(text[start:end].lstrip(".!?"))
                spans[-1] = (spans[-1][0], stop)
                start = stop + len(text[stop:end]) - len(text[stop:end].lstrip())
                if start >= end:
                    continue
            if spans and (any(a < start <= b for a, b in links) or text[start] in _NEVER_STARTS
                          or _runs_on(text, spans[-1][1], start) or _ASIDE.match(text, start, end)
                          or _cites_on(text, spans[-1][1], start)):
                # A Markdown link is never two sentences, whatever its text ends with ("[What is X?](url)"),
                # no sentence starts with "=", a comma or a closing bracket ("score(d) = sum ...",
                # where syntok reads "d)" as a list number), "(Stanford, 2023)." alone is a
                # citation belonging to the sentence before, and "Kaplan et al." names the
                # subject of "(OpenAI, 2020) found smooth power laws."
                spans[-1] = (spans[-1][0], end)
            else:
                spans.append((start, end))
    return tuple(spans)


# A Markdown link or image, its text as group 1: "[text](url)", "![alt](img.png "title")".
MARKDOWN_LINK = re.compile(r"!?\[([^\[\]\n]*)\]\([^()\s]*(?:\s[^()\n]*)?\)")
# Obsidian's [[Note]], [[Note#Section]] and [[Note#Section|alias]] links, and its ==highlights==.
WIKI_LINK = re.compile(r"(?<!!)\[\[([^\]|#]*)(?:#([^\]|]*))?(?:\|([^\]]*))?\]\]")
HIGHLIGHT = re.compile(r"==(?=\S)(.+?)(?<=\S)==")


# A line opening or closing a fenced code block; an outliner opens one inside a bullet ("- ```python").
FENCE = re.compile(r"^\s*(?:(?:[-*+]|\d+[.)])\s+)?(```|~~~)")
# The "Q:" / "**A:**" / "Question." that marks a line of a question-and-answer pair.
QA_PREFIX = re.compile(r"^\s*(?:\*\*|__)?(?P<kind>Q|A|Question|Answer)\s*[:.]\s*(?:\*\*|__)?\s*", re.I)
# A collapsible FAQ entry's question, as web FAQs write it: "<details><summary>Why X?</summary>".
SUMMARY_QUESTION = re.compile(r"^\s*(?:<details[^>]*>\s*)?<summary[^>]*>\s*(?P<question>[^<]{1,300}\?)\s*</summary>\s*",
                              re.I)
# A question and its answer on one line, as flashcards are written: "Q: What is X? A: It is ...".
# Read it with qa_pair.
_QA_ONE_LINE = re.compile(
    r"^\s*(?:\*\*|__)?(?:Q|Question)\s*[:.]\s*(?:\*\*|__)?\s*(?P<question>[^?\n]+\?)\s*(?:\*\*|__)?"
    r"\s*(?:\*\*|__)?(?:A|Answer)\s*[:.]\s*(?:\*\*|__)?\s*(?P<answer>\S.*)$"
    # Anki's plain-text export: a card's front and back on one line, split by a tab.
    r"|^(?P<front>[^\t\n]*\S[^\t\n]*\?)\t+(?P<back>\S.*)$", re.I)


def qa_pair(line: str) -> tuple[str, str, int] | None:
    """(question, answer, where the answer starts) of a one-line flashcard, else None."""
    m = _QA_ONE_LINE.match(line)
    if not m:
        return None
    kind = "answer" if m.group("answer") is not None else "back"
    return (m.group("question") or m.group("front")).strip(), m.group(kind), m.start(kind)


def wiki_link_text(m: re.Match) -> str:
    """What a WIKI_LINK match shows: its alias, else its note, else its section."""
    return m.group(3) or m.group(1) or m.group(2) or ""


_NEVER_STARTS = frozenset("=,;:)]}+/|")
_ASIDE = re.compile(r"\([^()\n]*\)[.!?]?\s*$")
# What may close a sentence after its last word: its punctuation, then quotes, brackets, emphasis.
_SENTENCE_END = re.compile(r"[.!?…:;][\"'’”)\]*_`]*\s*$")


def _cites_on(text: str, previous_end: int, start: int) -> bool:
    """Whether a sentence syntok started after "et al." goes on with the cited work's year or
    verb: "Kaplan et al. (OpenAI, 2020) found ...", "Wei et al. showed ..."."""
    return text[:previous_end].endswith(" et al.") and (text[start] == "(" or text[start].islower()
                                                        or text[start].isdigit())


def _runs_on(text: str, previous_end: int, start: int) -> bool:
    """Whether a sentence syntok started goes on from the previous one on the same line, which
    ended without punctuation: "[AutoGen](url) (conversation-driven agents)." is one sentence."""
    return "\n" not in text[previous_end:start] and not _SENTENCE_END.search(text[:previous_end])


def sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text)]


# What is written between single dollars reads as a formula only when it looks like TeX: a command,
# a sub- or superscript, a brace, an operator or a lone letter ("$W_0$", "$\frac{1}{k}$", "$x$"),
# not a phrase between two prices. The chat and the Sources view typeset by this one test.
_TEX_LIKE = re.compile(r"\\[A-Za-z]+|[_^{}=<>+*/|-]|&[lg]t;|^[A-Za-z]$")


def looks_like_tex(text: str) -> bool:
    return bool(_TEX_LIKE.search(text))


# --- tables set out with spaces -----------------------------------------------------------------

# Between columns a gap of three spaces or more; between the words of a cell one (two after a stop).
_COLUMN_GAP = re.compile(r" {3,}")


def spaced_cells(line: str) -> list[str]:
    """The cells of a line set out in columns with spaces; one cell for any other line (a line
    with pipes or tabs is a table or a flashcard of another kind)."""
    text = line.strip()
    return _COLUMN_GAP.split(text) if text and "|" not in text and "\t" not in text else [text]


def spaced_tables(lines: list[str]) -> list[range]:
    """Where a text sets out a table with spaces, as plain-text notes and a PDF's layout do: two
    or more consecutive lines that wide gaps split into the same number of cells, two or more."""
    found: list[range] = []
    start, width = None, 0
    for i, line in enumerate([*lines, ""]):
        cells = spaced_cells(line)
        if start is not None and len(cells) == width:
            continue
        if start is not None and i - start >= 2:
            found.append(range(start, i))
        start, width = (i, len(cells)) if len(cells) >= 2 else (None, 0)
    return found


# --- words ----------------------------------------------------------------------------------


# The citation markers that end an answer's line: " [1]", " [1] [2]".
MARKERS_AT_END = re.compile(r"(\s*\[\d+\])+\s*$")


def unmarked(text: str) -> str:
    """Text without bold marks and Markdown escapes, its spacing collapsed: how a line an answer
    quoted is found again in its passage."""
    text = WIKI_LINK.sub(wiki_link_text, HIGHLIGHT.sub(r"\1", text))  # as answers show them
    return " ".join(unescaped(text).replace("**", "").split())


# A backslash before ASCII punctuation is Markdown's escape ("2023\.", "\=" from converted HTML
# or Word): the reader sees the character alone. Inside `code` a backslash is itself.
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_CODE_SPAN = re.compile(r"(`[^`]*`)")


def unescaped(text: str) -> str:
    """Markdown text with its backslash escapes read, outside code spans."""
    if "\\" not in text:
        return text
    return "".join(part if part.startswith("`") else _ESCAPE.sub(r"\1", part) for part in _CODE_SPAN.split(text))


def quotes_any(text: str, lines: list[str]) -> bool:
    """Whether `text` holds one of `lines` (unmarked) word for word: a passage an answer quoted."""
    plain = unmarked(text)
    return any(line in plain for line in lines)


def words(text: str) -> list[str]:
    """Words and numbers ("3.5", "$50", "80%"), in order, as written."""
    return _WORD.findall(text)


def stem(word: str) -> str:
    return _stemmer.stemWord(word.lower())


def content_words(text: str) -> list[str]:
    """The words that carry a question's topic, lower-cased: no stop words, no question words."""
    return [w for w in (w.lower() for w in words(text)) if w not in STOPWORDS and w not in QUESTION_WORDS]


def terms(text: str) -> set[str]:
    """Stems of the content words: what "the same word" means when texts are compared."""
    return set(_stemmer.stemWords(content_words(text)))


# --- front matter ---------------------------------------------------------------------------


def split_front_matter(text: str) -> tuple[dict, int]:
    """A Markdown note's YAML front matter as a dict, and where its body starts in `text`.
    A note without front matter (or with broken YAML) gives ({}, 0)."""
    if not text.startswith("---"):
        return {}, 0
    try:
        post = frontmatter.loads(text)
    except Exception:  # a "---" rule at the top, or YAML the note's author got wrong
        return {}, 0
    if not post.metadata:
        return {}, 0
    closing = re.compile(r"^---[ \t]*$", re.M)
    first = closing.search(text, 3)
    start = text.find("\n", first.end()) + 1 if first else 0
    return dict(post.metadata), start if start > 0 else len(text)


# --- JSON in a model's reply ----------------------------------------------------------------


def first_json_object(reply: str) -> dict | None:
    """The first JSON object in a reply, wherever it starts: code fences and chatter around it
    are ignored (small models rarely answer with JSON alone)."""
    decoder = json.JSONDecoder()
    text = reply or ""
    start = text.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(text, start)
            if isinstance(value, dict):
                return value
        except ValueError:
            pass
        start = text.find("{", start + 1)
    return None
