"""Reading a passage of notes: lines with their bold lead-ins, lists and their members, sentences,
numbers with their kind, definitions. Plain functions used by the offline question generator."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..core.text import FENCE, QA_PREFIX, STOPWORDS, SUMMARY_QUESTION, qa_pair
from ..core.text import sentences as split_sentences
from ..index.notebooks import OUTPUT_MARK
from .checking import NUMBER_WORDS, normalize

_COUNT_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}
_GENERIC_LEADS = {
    "example", "examples", "e.g", "note", "notes", "tip", "tips", "critical insight", "insight",
    "key insight", "important", "key point", "key points", "takeaway", "key takeaway", "summary",
    "bottom line", "result", "results", "warning", "caveat", "remember", "why this matters",
    "in short", "tl;dr", "update", "todo", "question", "answer", "source", "sources", "see also",
}
_QUESTION_START = re.compile(r"^(how|why|what|when|which|who|where|is|are|does|do|can)\b", re.I)
_VERBISH = re.compile(
    r"\b(is|are|was|were|be|became|become|has|have|had|went|goes|needs?|need|got|gets|makes?|"
    r"made|let|lets|can|could|will|would|should|must|changed|shifted|flipped|exists?|stayed|do|does|"
    r"did|created|enables?|enabled)\b", re.I)
_PRONOUN_START = {"this", "that", "it", "they", "these", "those", "there", "which", "what", "each",
                  "many", "most", "some", "all", "we", "you", "he", "she", "one", "here", "such",
                  "other", "another", "both", "any", "so", "then", "now", "if", "when", "but", "and",
                  "since", "because", "although", "though", "while", "as", "after", "before", "once",
                  "unless", "until", "whether", "also", "only", "just", "even", "still", "again"}
_DEF_VERBS = (r"is|are|means|refers to|measures|combines|finds|averages|enables|enabled|splits|"
              r"keeps|grounds|contains|became|let|lets|makes|uses|helps|(?:can|cannot|must|should) \w+")
_DEFINITION = re.compile(
    rf"^(?:(?P<det>A|An|The)\s+)?(?P<term>[A-Za-z][\w\-/]*(?:\s+[\w\-/]+){{0,3}}?)\s+"
    rf"(?P<verb>{_DEF_VERBS})\s+(?P<rest>.{{12,}})$"
)
NUMBER = re.compile(
    r"(?<![\w.\-/])(?P<num>[$€£]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\+|%|k\b|ms\b|x\b)?"
    r"(?:\s(?:million|billion|thousand|hundred)\b)?)(?P<after>(?:\s+(?P<emph>[A-Z]{3,}))?"
    r"(?:\s+(?P<unit>[A-Za-z]+))?)"
)
_DURATION_UNITS = {"ms": "ms", "millisecond": "ms", "second": "s", "s": "s", "sec": "s",
                   "minute": "min", "min": "min", "hour": "h", "day": "d", "week": "w",
                   "month": "mo", "year": "y"}


# --- reading a passage ----------------------------------------------------------------------

def plain(text: str) -> str:
    """Markdown inline markup removed: emphasis, code ticks, links, tags, quote markers."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = _HTML_TAG.sub(" ", text)
    text = re.sub(r"(\*\*|__|`)", "", text)
    text = re.sub(r"(?<!\w)[*_](\S[^*_]*?)[*_](?!\w)", r"\1", text)
    text = re.sub(r"^\s*>\s?", "", text)
    return " ".join(text.split())


_HTML_TAG = re.compile(
    r"</?(?:a|abbr|b|br|code|del|div|em|hr|i|img|kbd|mark|p|pre|s|small|span|strong|sub|sup|u)\b[^>]*>"
)


@dataclass
class Line:
    indent: int
    listed: bool  # a list item
    lead: str  # bold lead-in, without its colon; '' when none
    colon: bool  # the lead-in ends with a colon ("Term:" rather than a bold sentence start)
    body: str  # plain text after the lead-in
    text: str  # the whole line, plain


_LINE = re.compile(r"^(?P<indent>\s*)(?:(?P<marker>[-*+]|\d+[.)])\s+)?(?P<content>.*)$")
_LEAD = re.compile(r"^\*\*(?P<lead>.+?)\*\*\s*(?P<rest>.*)$")


def read_lines(text: str) -> list[Line]:
    lines: list[Line] = []
    in_code = False
    for raw in text.splitlines():
        if FENCE.match(raw):  # also "~~~", and "- ```python" as outliners open code under a bullet
            in_code = not in_code
            continue
        if in_code or not raw.strip() or re.fullmatch(r"\s*(-{3,}|\*{3,}|_{3,})\s*", raw):
            continue
        m = _LINE.match(raw.replace("\t", "    "))
        content = m.group("content")
        lead, colon, body = "", False, content
        lm = _LEAD.match(content)
        if lm:
            lead = plain(lm.group("lead")).strip().replace('"', "").replace("“", "").replace("”", "")
            rest = lm.group("rest")
            if lead.endswith(":"):
                lead, colon = lead[:-1].strip(), True
            elif rest.startswith(":"):
                rest, colon = rest[1:], True
            body = rest
        lines.append(Line(len(m.group("indent")), bool(m.group("marker")), lead, colon,
                          plain(body), plain(content)))
    return lines


def first_prose(text: str) -> str:
    """A passage's first stretch of text outside fenced code and what a notebook's code printed:
    what can be said back, whole as written, so an answer made of it is found in its passage."""
    kept: list[str] = []
    in_code = False
    for line in text.splitlines():
        fence = bool(FENCE.match(line))
        if fence or in_code or line.startswith(OUTPUT_MARK):
            if any(k.strip() for k in kept):
                break
            in_code ^= fence
            continue
        kept.append(line)
    return "\n".join(kept)


def without_title(text: str, title: str) -> str:
    """An entry's text without its own question line ("**What is X?**", "Q: What is X?") and without
    the "A:" that marks its answer: the back of the card, not the front again."""
    lines = text.splitlines()
    first = next((n for n, line in enumerate(lines) if line.strip()), None)
    pair = qa_pair(lines[first]) if first is not None else None
    if pair and plain(pair[0]) == plain(title):  # "Q: What is X? A: It is ..."
        return "\n".join([pair[1], *lines[first + 1:]])
    summary = SUMMARY_QUESTION.match(text)
    if summary and plain(summary.group("question")) == plain(title):  # "<details><summary>Why X?</summary>..."
        return re.sub(r"</details>", "", text[summary.end():], flags=re.I)
    if first is None or plain(QA_PREFIX.sub("", lines[first])) != plain(title):
        return text
    rest = lines[first + 1:]
    answer = next((n for n, line in enumerate(rest) if line.strip()), None)
    if answer is not None:
        rest[answer] = QA_PREFIX.sub("", rest[answer], count=1)
    return "\n".join(rest)


def sentences(text: str, min_words: int = 4) -> list[str]:
    """Sentences worth a question (at least `min_words` words)."""
    return [p.strip() for p in split_sentences(text) if len(p.split()) >= min_words]


def first_sentences(text: str, limit: int = 280) -> str:
    """The opening of `text` up to about `limit` characters, whole sentences ("Nope." included)."""
    out = ""
    for s in sentences(text, min_words=1) or [text]:
        if out and len(out) + len(s) > limit:
            break
        out = f"{out} {s}".strip()
    return out if len(out) <= limit + 120 else out[:limit].rsplit(" ", 1)[0] + " …"


def words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9][\w\-']*", text)


def kind_of(answer: str) -> str:
    nums = list(NUMBER.finditer(answer))
    if nums and len(words(answer)) <= 4:
        return number_kind(nums[0])
    n = len(words(answer))
    return "term" if n <= 4 else "phrase"


def number_kind(m: re.Match) -> str:
    num = m.group("num")
    if num.startswith(("$", "€", "£")):
        return "number:money"
    if num.endswith("%"):
        return "number:percent"
    if num.endswith("ms"):
        return "number:ms"
    unit = (m.group("unit") or "").lower().rstrip("s") if m.group("unit") else ""
    if unit in _DURATION_UNITS or (m.group("unit") or "").lower() in _DURATION_UNITS:
        return "number:time"
    if unit and unit not in STOPWORDS:
        return f"number:{unit}"
    return "number"



def lead_role(lead: str) -> str:
    low = lead.lower().strip(" .:?!")
    if low in _GENERIC_LEADS or low.startswith(("example", "e.g.", "note ")):
        return "generic"
    if lead.endswith("?") or _QUESTION_START.match(lead):
        return "question"
    if _count_of(lead):
        return "count"
    if _VERBISH.search(lead) or len(words(lead)) > 6:
        return "sentence"
    return "term"


def _count_of(text: str) -> int | None:
    m = re.match(r"^\s*(\d{1,2}|[A-Za-z]+)\s+\w", text)
    if not m:
        return None
    token = m.group(1).lower()
    if token.isdigit():
        return int(token) if 2 <= int(token) <= 20 else None
    return _COUNT_WORDS.get(token)


def _member_label(line: Line) -> str:
    if line.lead:
        return line.lead
    text = line.text
    for sep in (" → ", " -> ", " (", ": ", " - ", " — "):
        if sep in text:
            text = text.split(sep, 1)[0]
    return text.strip(" .;,")


def lists(lines: list[Line]) -> list[tuple[str, list[str]]]:
    """(intro, members) for lists introduced by a lead-in with a count whose size matches it,
    and for short uncounted lists under a "Term:" lead-in."""
    found = []
    for i, line in enumerate(lines):
        if not (line.lead and line.colon):
            continue
        count = _count_of(line.lead)
        if line.body and count:
            members = [m.strip(" .") for m in re.split(r",\s*(?:and\s+)?|\s+and\s+", line.body) if m.strip(" .")]
            if len(members) == count:
                found.append((line.lead, members))
            continue
        children = list_children(lines, i)
        if not count:
            children = [c for c in children if not (c.lead and lead_role(c.lead) == "generic")]
        labels = [_member_label(c) for c in children]
        if count and len(children) == count:
            found.append((line.lead, labels))
        elif not count and not line.body and 3 <= len(children) <= 6 and lead_role(line.lead) != "generic":
            found.append((line.lead, labels))
    return found


def list_children(lines: list[Line], i: int) -> list[Line]:
    parent = lines[i]
    kids: list[Line] = []
    level = None
    for line in lines[i + 1:]:
        if parent.listed and line.indent <= parent.indent:
            break
        if not line.listed:
            if line.lead and not parent.listed:
                break
            continue
        if level is None:
            level = line.indent
        if line.indent < level:
            break
        if line.indent == level:
            kids.append(line)
    return kids


def arrow_pairs(lines: list[Line], intro: str) -> list[tuple[str, str]]:
    for i, line in enumerate(lines):
        if line.lead == intro:
            pairs = []
            for child in list_children(lines, i):
                parts = re.split(r"\s+(?:→|->)\s+", child.text)
                if len(parts) == 2 and all(len(words(p)) >= 1 for p in parts):
                    pairs.append((parts[0].strip(), parts[1].strip(" .")))
            return pairs if len(pairs) >= 3 else []
    return []


_GENERIC_LABEL = re.compile(r"^(?:example|e\.g\.|for example|note|tip|why|how|result)\s*[:\-–]\s*", re.I)


def passage_sentences(lines: list[Line]) -> list[str]:
    out = []
    for line in lines:
        role = lead_role(line.lead) if line.lead else ""
        if role == "sentence" and not line.colon:
            out.extend(sentences(f"{line.lead} {line.body}"))
        elif line.body:
            out.extend(sentences(_GENERIC_LABEL.sub("", line.body)))
    return out


def prose(sentence: str) -> bool:
    """A sentence of words, not a log line, a path or code: worth a blank."""
    if re.search(r"\\|://|[{}<>\[\]]|\w\(|\)\w|==|;\s*$", sentence):
        return False
    words = re.findall(r"[A-Za-z]{3,}", sentence)
    symbols = len(re.findall(r"[^\w\s.,;:!?'’\"“”()%$€£+\-–—/]", sentence))
    return len(words) >= 5 and symbols <= 0.05 * len(sentence)


def usable_number(m: re.Match, sentence: str) -> bool:
    num = m.group("num")
    start = m.start("num")
    before = sentence[max(0, start - 1):start]
    after = sentence[m.end("num"):m.end("num") + 1]
    if before == "(" and after == ")":  # "(1)" enumerations
        return False
    if re.match(r"^\d+$", num) and after in (".", ")") and start == 0:
        return False
    if re.match(r"\.\d|[A-Za-z_]", sentence[m.end("num"):m.end("num") + 2]):  # 2.15.0, 8.1b
        return False
    return True


def number_text(m: re.Match) -> str:
    return m.group("num")


def number_salience(m: re.Match, sentence: str) -> float:
    num = m.group("num")
    score = 0.0
    if m.group("emph"):
        score += 2
    if num[0] in "$€£" or num.endswith(("%", "ms", "+", "k")) or m.group("unit"):
        score += 1
    if normalize(num) in ("0", "1", "100", "0 %", "1 %", "100 %"):
        score -= 1.5
    return score + m.start() / max(len(sentence), 1) * 0.1


def definition(sentence: str) -> tuple[str, str] | None:
    m = _DEFINITION.match(sentence)
    if not m:
        return None
    term = m.group("term").strip()
    first = term.split()[0].lower()
    words = term.split()
    if first in _PRONOUN_START or first in STOPWORDS or first in NUMBER_WORDS:
        return None
    if any(w.lower() in STOPWORDS - {"of"} for w in words[1:]) or len(term) < 3:
        return None
    rest = sentence[m.end("term"):]
    if normalize(term) in normalize(rest):
        return None
    return term, rest
