"""The names a question is about, and whether the passages found know them.

A near-domain question shares the field with the notes, so its passages look alike ("How does
LoRA cut memory?" finds fine-tuning notes), but the thing it names is not there. Names are the
words people write as names: acronyms (KNN, LoRA, BLEU), CamelCase (FlashAttention), snake_case
(min_child_weight), and capitalised words inside a sentence (Kalman, Kubernetes). A name the
notes never use, and that the passages do not spell out either ("KNN" as "k-NN" or
"k-nearest neighbours"), means the notes do not cover the question.

A concept is often written in lower case, though ("How does dropout help ...?", "What is
knowledge distillation?"). The words right after such an opening name what the question is
about; one of them that is rare in English (wordfreq) and that the notes never use is a
concept they lack, and so is a hyphenated compound ("self-attention") unless the notes use each
of its words. Rare words elsewhere in a question are most often another way of saying what the
notes say ("annotate" for "label"), so only the subject counts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from wordfreq import zipf_frequency

from ..core.text import STOPWORDS, content_words, terms

_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_'’\-]*[A-Za-z0-9]|[A-Za-z]")
# "How does ...", "What is ...", "What's the difference between ...": what follows is the subject.
_OPENING = re.compile(r"^\W*(?:(?:and|so|but)\s+)?(?:(?:how|what|why|when|where|which|who)\s+(?:does|do|did|is|are|"
                      r"was|were|can|could|should|would|will)\b|what's|what're|who's)\s*", re.I)
# "Explain ...", "Can you tell me about ...": a learner's request names its subject too.
_REQUEST = re.compile(r"^\W*(?:(?:please|can you|could you)\s+)*(?:explain|describe|define|tell me about)\b"
                      r"(?:\s+(?:how|what|why)\b)?(?:\s+(?:does|do|is|are)\b)?\s*", re.I)
_AUXILIARY = re.compile(r"\b(?:does|do|did|can|could|should|would|will)\s*$", re.I)
_DIFFERENCE = re.compile(r"\bdifference between\s+", re.I)
_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.I)
# Zipf frequency below which a word is rare in English: "dropout" 3.1, "annealing" 2.6; "firm" 4.8.
RARE_ZIPF = 3.5
zipf_frequency("the", "en")  # wordfreq reads its word list on first use: now, as the answerer loads
# Capitals people type in chat that name nothing.
_CHAT_WORDS = {"i", "ok", "okay", "fyi", "btw", "asap", "aka", "tldr", "eli5", "pls", "thx", "vs"}


@dataclass(frozen=True)
class Name:
    text: str
    strong: bool  # a rare acronym, CamelCase or snake_case: surely a name; a capitalised word may be emphasis


def names_in(question: str) -> list[Name]:
    """The name-like words of a question (numbers and sizes such as "70B" or "4-bit" are not names)."""
    found: list[Name] = []
    for m in _TOKEN.finditer(question):
        for part in re.split(r"-", m.group(0)):
            word = re.sub(r"['’](?:s|m|re|ll|ve|d|t)$", "", part, flags=re.I).strip("'’")
            if not word or any(c.isdigit() for c in word) or word.lower().rstrip("s") in _CHAT_WORDS:
                continue
            before = question[: m.start()].rstrip()
            sentence_start = not before or before.endswith((".", "?", "!", ":", '"', "("))
            caps = sum(c.isupper() for c in word)
            if "_" in word or caps >= 2 and len(word) >= 2:
                # An acronym as common as a word ("UI", "URL", "PDF") may be emphasis or a detail,
                # as a capitalised word may.
                found.append(Name(word, strong="_" in word or zipf_frequency(word, "en") < RARE_ZIPF))
            elif word[0].isupper() and not sentence_start and word.lower() not in STOPWORDS and len(word) > 1:
                found.append(Name(word, strong=False))
    return found


def subject_words(question: str) -> list[str]:
    """The words that open a question's subject: "dropout" in "How does dropout help ...?" or
    "Can you explain how dropout works?", "knowledge distillation" in "What is knowledge
    distillation?"; none when the subject is a person ("How do you ...") or the opening is
    another one."""
    m = _DIFFERENCE.search(question) or _REQUEST.match(question) or _OPENING.match(question)
    if not m:
        return []
    rest = _ARTICLE.sub("", question[m.end():])
    words = re.match(r"[\w\- ]*", rest).group(0).split()
    if _AUXILIARY.search(m.group(0)) and len(words) == len(rest.rstrip(" ?!.").split()):
        words = words[:-1]  # "What does k-means minimise?": after "does" the last word is the verb
    subject: list[str] = []
    for word in words[:2]:
        if word.lower() in STOPWORDS:
            break  # "learning from ...": the subject ends where a small word begins
        subject.append(word)
    return subject


def rare_subject_words(question: str) -> list[str]:
    """Subject words rare in English: the technical terms a question is about. A word with a
    digit ("BM25", "GPT-4o") is a name or a size, which names_in judges."""
    return [w for w in subject_words(question)
            if not any(c.isdigit() for c in w)
            and (_COMPOUND.fullmatch(w) or zipf_frequency(w, "en") < RARE_ZIPF)]


# "self-attention", "top-k": a hyphenated compound is a term of its own, however common its parts.
_COMPOUND = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)+")


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def spelled_out(name: str, passages: Iterable[str]) -> bool:
    """Whether a passage writes the name, in any case or hyphenation ("KNN" as "k-NN"), in the
    plural, or as the words its capitals stand for ("OLS" as "ordinary least squares")."""
    wanted = _squash(name)
    # "KPIs" is the plural of KPI; the S of "AWS" is a letter of the name.
    singular = wanted[:-1] if name.endswith("s") and len(wanted) > 2 else wanted
    letters = singular if sum(c.isupper() for c in name) >= 2 and 2 <= len(singular) <= 6 else ""
    for text in passages:
        words = re.findall(r"[A-Za-z0-9]+", text)
        squashed = {_squash(w) for w in re.findall(r"[\w\-]+", text)}
        if wanted in squashed or singular in squashed or singular + "s" in squashed:
            return True
        if letters and _expands(letters, words):
            return True
    return False


def _expands(letters: str, words: list[str]) -> bool:
    """Consecutive content words whose initials spell `letters` ("ordinary least squares")."""
    n = len(letters)
    initials = [w[0].lower() for w in words]
    for i in range(len(words) - n + 1):
        if "".join(initials[i:i + n]) == letters and not any(w.lower() in STOPWORDS for w in words[i:i + n]):
            return True
    return False


def unknown_names(question: str, passages: list[str], known: Callable[[str], bool]) -> list[Name]:
    """The question's names, and rare subject words, that neither the notes' vocabulary (`known`)
    nor the passages have."""
    candidates = names_in(question)
    candidates += [Name(w, strong=False) for w in rare_subject_words(question)
                   if w.lower() not in {n.text.lower() for n in candidates}]
    return [n for n in candidates if not known(n.text) and not spelled_out(n.text, passages)]


def names_something(question: str, titles: Iterable[str]) -> bool:
    """Whether a question names a thing of its own: a name ("nDCG", "Llama Guard"), a word rare in
    English ("pooling"), or the title of an entry among `titles` ("Is direct preference
    optimization a way around that?" names "Direct Preference Optimization (DPO)"). "Why is that
    useful in practice?" names nothing: it only points back."""
    if names_in(question) or any(zipf_frequency(w, "en") < RARE_ZIPF for w in content_words(question)):
        return True
    asked = terms(question)
    return any((words := terms(re.sub(r"\([^)]*\)", "", title))) and words <= asked for title in titles)
