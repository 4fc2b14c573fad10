"""Whether a passage supports a sentence written by a model: the one check shared by LLM answers
(ask/generation.py), follow-up rewrites (ask/conversation.py) and LLM quiz items (quiz/llm_items.py).

A sentence is supported by a passage when every number and name in it is in the passage (or has a
close match there), and its content words are there too, or some are and one of the passage's
sentences says the same thing (embedding cosine, computed by the caller, who has the vectors).
What it cannot catch: a sentence that contradicts the passage in the passage's own words.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from .text import STOPWORDS, stem, terms, words

# Most of the words a sentence brings (beyond the question's) found in the passage, and half of
# all its words: supported on words alone ("guess the sentiment" is not held by a passage on
# sentiment analysis just because "sentiment" is the one word the question lacked).
COVERAGE = 0.6
WHOLE_COVERAGE = 0.5
# Some of its words, and one passage sentence close in meaning: supported.
PARTIAL_COVERAGE = 0.4
PARTIAL_SIMILARITY = 0.55
# A paraphrase with few shared words: supported when it means nearly the same as one sentence.
SIMILARITY = 0.7
# The passage sentence nearest in meaning must not say the opposite ("could" / "couldn't") when
# it is at least this close: the words match, the claim does not.
POLARITY_SIMILARITY = 0.45
# Two spellings of one word ("labelling"/"labeling", "LinkedIns"): a close match.
CLOSE_MATCH = 0.85

_NUMBER_WORDS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12",
    "twenty": "20", "fifty": "50", "hundred": "100", "thousand": "1000",
}
_LIST_NUMBER = re.compile(r"(?m)^\s*\d+[.)]\s+")  # "2." in front of a list item is not a fact
_MARKDOWN = re.compile(r"[*_`#>]+")
# Words that say where something is written, not what: never a claim about the subject.
_META = frozenset(["passage", "passages", "note", "notes", "mention", "mentions", "mentioned", "provided", "context", "yes", "no", "answer", "answers", "question", "sure", "certainly", "here", "following", "based", "summary", "short", "okay", "ok", "great"])
_NEGATION = re.compile(r"\b(?:not|no|never|none|nothing|cannot|neither|nor)\b|n['’]t\b", re.IGNORECASE)
_I = re.compile(r"^I(?:['’](?:m|ve|d|ll))?$")
_ANSWER_WORD = re.compile(r"^\W*(?:yes|no)\b\W*", re.IGNORECASE)


_CLAUSE = re.compile(r"[,;:()]|\s[-–—→=]+\s|\b(?:because|but|while|whereas|although|though|so that|if)\b", re.IGNORECASE)


def contradicts(sentence: str, nearest: str) -> bool:
    """Whether `nearest` (the passage sentence closest in meaning) says "not" where `sentence` does
    not, or the reverse, clause by clause: each clause of the sentence is compared with the clause
    of `nearest` sharing most words with it ("customers don't see it" beside "apps first")."""
    theirs = [(c, terms(c)) for c in _CLAUSE.split(plain(nearest)) if c and c.strip()]
    for clause in _CLAUSE.split(_ANSWER_WORD.sub("", plain(sentence))):
        own = terms(clause or "")
        if not own or not theirs:
            continue
        best, shared = max(theirs, key=lambda ct: len(own & ct[1]))
        if own & shared and negated(clause) != negated(best):
            return True
    return False


def negated(sentence: str) -> bool:
    """Whether a sentence says "not": "couldn't", "no human labels", "never" ("No," answering a
    question does not count: it is the answer, not the claim)."""
    return bool(_NEGATION.search(_ANSWER_WORD.sub("", plain(sentence))))


def _squash(text: str) -> str:
    """Lower-case words and numbers only, for finding a sentence word for word in a passage."""
    return " ".join(words(plain(text).lower()))


def plain(text: str) -> str:
    """Text without Markdown emphasis, for comparing words."""
    return " ".join(_MARKDOWN.sub(" ", text).split())


def numbers(text: str, *, spelled: bool = False) -> set[str]:
    """Numbers written with digits ("$50,000" -> "50000", "95%" -> "95"); with `spelled`, also
    the number words ("three" -> "3"), which a passage may use for a digit in the sentence."""
    found = set()
    for word in words(text):
        if any(ch.isdigit() for ch in word):
            value = word.strip("$%").replace(",", "")
            if re.fullmatch(r"\d+\.0+", value):
                value = value.split(".")[0]
            found.add(value.lower())
        elif spelled and word.lower() in _NUMBER_WORDS:
            found.add(_NUMBER_WORDS[word.lower()])
    return found


def names(text: str) -> set[str]:
    """Names a sentence states: words with a capital after the first letter ("LinkedIn", "BERT"),
    and capitalised words that do not open the sentence ("published by Google")."""
    found = set()
    for line in text.splitlines():
        line = re.sub(r"^\s*(?:[-*+]|\d+[.)])\s+", "", plain(line))
        opening = True
        for token in re.finditer(r"[A-Za-z][A-Za-z0-9'’]*", line):
            word = token.group(0).rstrip("'’s") if token.group(0).endswith(("'s", "’s")) else token.group(0)
            if _I.match(word):
                opening = False
                continue  # "I", "I'm": the learner speaking, never a name
            before = line[: token.start()].rstrip()
            if opening or before.endswith((".", "!", "?", ":", "(", '"', "“")):
                opening = False
                if len(word) >= 2 and (word.isupper() or any(c.isupper() for c in word[1:])):
                    found.add(word)
                continue
            if len(word) >= 2 and word[0].isupper() and word.lower() not in STOPWORDS:
                found.add(word)
    return found


@dataclass(frozen=True)
class Support:
    """How far a passage supports a sentence."""

    ok: bool
    coverage: float  # share of the sentence's own words found in the passage
    similarity: float  # best cosine to one of the passage's sentences (0 when not measured)
    missing: tuple[str, ...] = ()  # numbers and names of the sentence that the passage lacks
    claim: bool = True  # False: nothing to check (no number, name or content word of its own)
    contradicts: bool = False  # the nearest passage sentence says "not" where it does not, or the reverse


class Passage:
    """A passage's words, numbers and names, read once and compared with many sentences."""

    def __init__(self, text: str, heading: str = ""):
        body = f"{heading}\n{text}" if heading else text
        self.text = body
        self.lower = plain(body).lower()
        self.stems = terms(body)
        self.numbers = numbers(_LIST_NUMBER.sub("", text), spelled=True) | numbers(heading, spelled=True)
        self.words = {w.lower() for w in words(body)}

    def quotes(self, sentence: str) -> bool:
        """Whether the passage holds the sentence word for word (four words or more)."""
        said = _squash(sentence)
        if len(said.split()) < 4:
            return False
        if not hasattr(self, "_squashed"):
            self._squashed = _squash(self.text)
        return said in self._squashed

    def has_number_with(self, number: str, sentence: str) -> bool:
        """Whether `number` counts the same thing in the passage as in `sentence`. A unit the passage
        never uses ("a million photos" for its "images") is the sentence's paraphrase: not checked."""
        units = {u for n, u in number_units(sentence) if n == number and u is not None}
        units = {u for u in units if u in "%$" or u in self.stems or u in _MEASURES}
        if not units:
            return True
        return any(n == number and u in units for n, u in self.units)

    @property
    def units(self) -> list[tuple[str, str | None]]:
        if not hasattr(self, "_units"):
            self._units = number_units(self.text, spelled=True)
        return self._units

    def has_name(self, name: str) -> bool:
        low = name.lower()
        if low in self.words or stem(low) in self.stems or (len(low) >= 4 and low in self.lower):
            return True
        return bool(difflib.get_close_matches(low, self.words, n=1, cutoff=CLOSE_MATCH))

    def has_term(self, term: str) -> bool:
        if term in self.stems:
            return True
        if len(term) < 5:
            return False
        return bool(difflib.get_close_matches(term, self.stems, n=1, cutoff=CLOSE_MATCH))


def missing_facts(sentence: str, passage: Passage) -> list[str]:
    """The numbers and names of `sentence` that `passage` does not contain; a number counts as
    found only with what it counts ("1 example" is not the passage's "1 million images")."""
    gone = [n for n in sorted(numbers(sentence)) if n not in passage.numbers or not passage.has_number_with(n, sentence)]
    gone += [n for n in sorted(names(sentence)) if not passage.has_name(n)]
    return gone


# Units a number is wrong in even when the passage never uses them ("4 years" for "4 months").
_MEASURES = frozenset(stem(w) for w in ["second", "seconds", "minute", "minutes", "hour", "hours", "day", "days", "week", "weeks", "month", "months", "year", "years", "decade", "decades", "percent", "dollars", "times"])


def number_units(text: str, *, spelled: bool = False) -> list[tuple[str, str | None]]:
    """Each number of `text` with what it counts: "%" or "$", else the stem of the next content
    word ("4 MORE months" -> ("4", "month")), or None when nothing follows it."""
    tokens = words(_LIST_NUMBER.sub("", text))
    out = []
    for i, token in enumerate(tokens):
        value = next(iter(numbers(token, spelled=spelled)), None)
        if value is None:
            continue
        if token.endswith("%"):
            unit = "%"
        elif token.startswith("$"):
            unit = "$"
        else:
            unit = next((stem(w) for w in tokens[i + 1: i + 3]
                         if w.lower() not in STOPWORDS and not numbers(w, spelled=True)), None)
        out.append((value, unit))
    return out


def content_terms(sentence: str) -> set[str]:
    """Stems of a sentence's content words, without numbers and words about the notes themselves."""
    return {t for t in terms(plain(sentence)) if t not in _META and not any(c.isdigit() for c in t)}


def key_terms(sentence: str, question: str = "") -> set[str]:
    """The words a sentence brings: its content words without the question's (restating the
    learner's words is not a claim of the notes), or all of them when it only restates."""
    own = content_terms(sentence)
    rest = own - terms(question)
    return rest or own


def is_claim(sentence: str, question: str = "") -> bool:
    """Whether a sentence states something checkable: a number, a name, a word of its own beyond
    the question's, or a restatement of two words or more."""
    text = plain(sentence)
    own = content_terms(text)
    return bool(numbers(text) or names(text) or own - terms(question) or len(own) >= 2)


def support(sentence: str, passage: Passage, *, question: str = "", similarity: float = 0.0,
            nearest: str = "") -> Support:
    """Whether `passage` supports `sentence` (see the module's docstring). `similarity` is the best
    cosine between the sentence and one of the passage's sentences, `nearest` that sentence, when
    the caller measured them."""
    text = plain(sentence)
    if not is_claim(text, question):
        return Support(True, 1.0, similarity, claim=False)
    if passage.quotes(text):
        return Support(True, 1.0, similarity)  # copied from the passage: held, whatever else it says
    missing = tuple(missing_facts(text, passage))
    key = key_terms(text, question)
    if not missing and numbers(text) and not (key - terms(question)):
        # "Roughly $50,000+.": its facts are the passage's, its other words the question's.
        return Support(True, 1.0, similarity)
    coverage = sum(passage.has_term(t) for t in key) / len(key) if key else 1.0
    own = content_terms(text)
    whole = sum(passage.has_term(t) for t in own) / len(own) if own else 1.0
    opposite = bool(nearest) and similarity >= POLARITY_SIMILARITY and contradicts(text, nearest)
    ok = not missing and not opposite and (
        (coverage >= COVERAGE and whole >= WHOLE_COVERAGE)
        or (coverage >= PARTIAL_COVERAGE and similarity >= PARTIAL_SIMILARITY)
        or similarity >= SIMILARITY
    )
    return Support(ok, coverage, similarity, missing, contradicts=opposite)
