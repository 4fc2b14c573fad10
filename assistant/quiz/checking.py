"""Checking answers: exact after normalisation (case, punctuation, number format), or by meaning.

Multiple choice and cloze answers are compared exactly once both sides are normalised: "$50,000+",
"50000", "50k" and "fifty thousand" are the same number; "Self-Supervision" and "self supervision"
the same term. Typed free answers (flashcards, short answers) are graded offline by meaning: the
embedding similarity to the reference answer plus how many of its key terms the answer uses.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache

import numpy as np

from ..core.support import contradicts, negated
from ..core.text import STOPWORDS, stem

GOOD, HARD, AGAIN = 3, 2, 1

_UNITS_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
_TENS_WORDS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}
_SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000,
           "trillion": 1_000_000_000_000}
_SUFFIX = {"k": 1_000, "m": 1_000_000, "mn": 1_000_000, "b": 1_000_000_000, "bn": 1_000_000_000}
NUMBER_WORDS = frozenset(_UNITS_WORDS) | frozenset(_TENS_WORDS) | frozenset(_SCALES)
# Stop words that change what a number means: "more than 4" and "not 4" are not "4 MORE months".
# They never count as filler when an answer is compared with the reference.
_BOUND_WORDS = frozenset(
    "not no never none nor neither more less fewer than over under above below least most "
    "exceed exceeds exactly only".split()
)
_FILLER = STOPWORDS - _BOUND_WORDS


def fold(text: str) -> str:
    """Unicode-normalised, lower-case, markdown emphasis and curly quotes removed."""
    text = unicodedata.normalize("NFKC", text or "")
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    text = re.sub(r"[*_`]{1,3}", " ", text)
    return text.lower()


def _words_to_numbers(text: str) -> str:
    """'four more months' -> '4 more months'; 'one hundred twenty' -> '120'; 'a million' -> '1000000'."""
    tokens = re.split(r"(\s+|-)", text)
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if not run:
            return
        words = [w for w in run if w not in ("and",)]
        total, current = 0, 0
        for w in words:
            if w == "a":
                current = max(current, 1)
            elif w in _UNITS_WORDS:
                current += _UNITS_WORDS[w]
            elif w in _TENS_WORDS:
                current += _TENS_WORDS[w]
            elif w == "hundred":
                current = max(current, 1) * 100
            else:  # thousand and above
                total += max(current, 1) * _SCALES[w]
                current = 0
        out.append(str(total + current))
        run.clear()

    words = [t for t in tokens if t and not t.isspace() and t != "-"]
    for i, w in enumerate(words):
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if w in NUMBER_WORDS or (run and w == "and" and nxt in NUMBER_WORDS) or (
            w == "a" and nxt in _SCALES
        ):
            run.append(w)
        else:
            flush()
            out.append(w)
    flush()
    return " ".join(out)


def _suffix_value(m: re.Match) -> str:
    return _fmt(float(m.group(1)) * _SUFFIX[m.group(2)])


def _scale_value(m: re.Match) -> str:
    return _fmt(float(m.group(1)) * _SCALES[m.group(2)])


def _fmt(number: float) -> str:
    if float(number).is_integer():
        return str(int(number))
    return f"{number:.6f}".rstrip("0").rstrip(".")


@lru_cache(maxsize=65536)
def normalize(text: str) -> str:
    """The form two answers are compared in."""
    text = fold(text)
    text = text.replace("%", " percent ").replace("$", " ").replace("€", " ").replace("£", " ")
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # 50,000 -> 50000 before punctuation goes
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " ", text)  # keep only decimal points
    text = re.sub(r"[^\w\s.]", " ", text).replace("_", " ")
    text = re.sub(r"\b(\d+(?:\.\d+)?)(k|mn|m|bn|b)\b", _suffix_value, text)  # 50k, 1.5m
    text = re.sub(r"(\d)([a-z])", r"\1 \2", text)  # 100ms -> 100 ms
    text = re.sub(r"\b(\d+(?:\.\d+)?) (hundred|thousand|million|billion|trillion)\b", _scale_value, text)
    text = _words_to_numbers(text)
    text = re.sub(r"\b(\d+)\.0+\b", r"\1", text)
    text = re.sub(r"\b(\d+\.\d*?)0+\b", r"\1", text)
    text = re.sub(r"\bpercent\b", "%", text)
    words = text.split()
    while words and words[0] in ("a", "an", "the"):
        words = words[1:]
    return " ".join(words)


def numbers_in(text: str) -> list[str]:
    return re.findall(r"\d+(?:\.\d+)?", normalize(text))


def content_stems(text: str) -> list[str]:
    words = re.findall(r"[a-z0-9]+(?:\.\d+)?", normalize(text))
    return [stem(w) for w in words if w not in STOPWORDS and len(w) > 1 or w.isdigit()]


def same_answer(given: str, expected: str) -> bool:
    """Exact match after normalisation; a bare number matches the same number with its unit."""
    g, e = normalize(given), normalize(expected)
    if not g:
        return False
    if g == e:
        return True
    if negated(given) != negated(expected):
        return False
    e_nums, g_nums = numbers_in(expected), numbers_in(given)
    if e_nums and g_nums and e_nums == g_nums:
        # "4" for "4 MORE months", "95" for "95%": the numbers agree and no other word disagrees
        # ("more than 4" adds "than": a bound the reference does not set).
        extra = set(g.split()) - set(e.split()) - _FILLER
        return not extra
    return False


@dataclass
class Verdict:
    """The outcome of checking one answer. `correct` is None when the learner grades themselves."""

    correct: bool | None
    expected: str
    given: str = ""
    score: float | None = None
    feedback: str = ""
    close: bool = False
    overruled: bool = False
    notice: str = ""  # e.g. why the LLM was not used
    details: dict = field(default_factory=dict)

    @property
    def suggested_rating(self) -> int | None:
        if self.correct is None:
            return None
        if self.correct:
            return HARD if (self.score is not None and self.score < 0.75 and not self.overruled) else GOOD
        return HARD if self.close else AGAIN

    def overrule(self) -> "Verdict":
        """The learner says the grade is wrong: flip it, and remember that they did."""
        flipped = None if self.correct is None else not self.correct
        return Verdict(
            correct=flipped, expected=self.expected, given=self.given, score=self.score,
            feedback="You overruled the grade.", close=False, overruled=not self.overruled,
            notice=self.notice, details=self.details,
        )

    def to_dict(self) -> dict:
        return {
            "correct": self.correct,
            "expected": self.expected,
            "given": self.given,
            "score": None if self.score is None else round(self.score, 3),
            "feedback": self.feedback,
            "overruled": self.overruled,
            "suggested_rating": self.suggested_rating,
        }


def resolve_choice(given: str, options: list[str]) -> str | None:
    """An option picked by its text, its number (1-based) or its letter."""
    text = (given or "").strip()
    if not text:
        return None
    for option in options:
        if normalize(option) == normalize(text):
            return option
    token = text.rstrip(").:").strip().lower()
    if token.isdigit() and 1 <= int(token) <= len(options):
        return options[int(token) - 1]
    if len(token) == 1 and "a" <= token <= "z" and ord(token) - 97 < len(options):
        return options[ord(token) - 97]
    for option in options:
        if same_answer(text, option):
            return option
    return None


def check_choice(given: str, answer: str, options: list[str]) -> Verdict:
    chosen = resolve_choice(given, options)
    if chosen is None:
        return Verdict(False, answer, given, 0.0, "That is not one of the options.")
    ok = normalize(chosen) == normalize(answer)
    return Verdict(ok, answer, chosen, 1.0 if ok else 0.0, "")


def check_exact(given: str, answer: str, accept: list[str] | None = None) -> Verdict:
    if not normalize(given):
        return Verdict(False, answer, given, 0.0, "No answer given.")
    for candidate in [answer, *(accept or [])]:
        if same_answer(given, candidate):
            return Verdict(True, answer, given, 1.0, "")
    ratio = SequenceMatcher(None, normalize(given), normalize(answer)).ratio()
    close = ratio >= 0.85 and len(normalize(answer)) >= 5 and not numbers_in(answer)
    feedback = "Almost: check the spelling." if close else ""
    return Verdict(False, answer, given, ratio, feedback, close=close)


# Offline grading by meaning. Weights and thresholds were set on the seed notes' flashcards:
# paraphrases scored 0.62-0.85, wrong answers on the same topic 0.20-0.45 (see tests/test_quiz.py).
MEANING_WEIGHT = 0.6
CORRECT_AT = 0.55
PARTIAL_AT = 0.42


def grade_by_meaning(given: str, reference: str, embedder) -> Verdict:
    """Embedding similarity to the reference plus the share of its key terms the answer uses."""
    if len(content_stems(given)) == 0:
        return Verdict(False, reference, given, 0.0, "No answer given.")
    vectors = embedder.embed([given, reference])
    similarity = float(np.clip(vectors[0] @ vectors[1], 0.0, 1.0))
    key = set(content_stems(reference))
    used = set(content_stems(given))
    coverage = len(key & used) / len(key) if key else 0.0
    score = MEANING_WEIGHT * similarity + (1 - MEANING_WEIGHT) * min(1.0, coverage * 1.5)
    missing = [w for w in _key_words(reference) if stem(w) not in used][:4]
    if _negates(given, reference, used, key):
        verdict = Verdict(False, reference, given, min(score, PARTIAL_AT - 0.01),
                          "Your answer says the opposite of the reference answer.")
    elif score >= CORRECT_AT:
        verdict = Verdict(True, reference, given, score, "Matches the reference answer in meaning.")
    elif score >= PARTIAL_AT:
        verdict = Verdict(False, reference, given, score, "Partly right.", close=True)
    else:
        verdict = Verdict(False, reference, given, score, "Does not match the reference answer.")
    if missing and not verdict.correct:
        verdict.feedback += " Key terms missing: " + ", ".join(missing) + "."
    verdict.details = {"similarity": round(similarity, 3), "key_terms": round(coverage, 3)}
    return verdict


def _negates(given: str, reference: str, used: set[str], key: set[str]) -> bool:
    """The reference's own words with "not" added or taken away, clause by clause ("it is not
    trained on text" for "trained on text"; "work with text and images" for "work with text, images -
    not just one type" agrees). Only when most of the answer's words are the reference's: a
    paraphrase in other words may say the same thing the other way round ("avoid it" for "should not
    be used")."""
    if not used or len(used & key) / len(used) < 0.6:
        return False
    return contradicts(given, reference)


def _key_words(text: str) -> list[str]:
    seen: list[str] = []
    for w in re.findall(r"[a-z0-9]+", normalize(text)):
        if w not in STOPWORDS and len(w) > 3 and w not in seen:
            seen.append(w)
    return seen
