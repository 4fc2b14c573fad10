"""How counts, long names and past times are written in the sentences the learner reads."""

from __future__ import annotations


def plural(n: int, word: str) -> str:
    """'1 chunk', '3 chunks'."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def shorten(text: str, n: int = 80) -> str:
    """`text` cut to `n` characters with an ellipsis; a NUL byte (from a hostile name) is dropped."""
    text = str(text).replace("\x00", "")
    return text if len(text) <= n else text[: n - 1] + "…"


def ago(seconds: float) -> str:
    """'just now', '5 minutes ago', '3 hours ago', '2 days ago'."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return "just now"
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = int(seconds // size)
            return f"{plural(n, unit)} ago"
    return "just now"
