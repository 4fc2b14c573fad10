"""Pure functions turning answers into the HTML and Markdown the Ask tab shows. No gradio here."""

from __future__ import annotations

import html
import re

from ..core.schema import Answer, Chunk, Citation, Hit
from ..core.text import looks_like_tex
from ..sources.render import quote_spans, render_markdown


def chat_markdown(answer: Answer) -> str:
    """The assistant's message in the chat: the answer, plus one line when something is off."""
    text = safe_markdown(answer.text)
    if answer.notice:
        text = f"*{safe_markdown(answer.notice)}*\n\n{text}"
    if answer.done and answer.unsupported:
        text += "\n\n*⚠ This answer cites none of your notes: treat it as unsupported.*"
    return text


VERDICTS = {
    "supported": "Checked: every sentence is in the passage it cites.",
    "partly": "Partly supported: sentences no passage holds are struck.",
    "unsupported": "Not supported by your notes.",
}


def quoted_details(answer: Answer) -> str:
    """Under a generated answer: how its check went, and the answer quoted from the notes behind
    one click ("Show quoted from notes"), its markers numbered by the sources listed inside it.
    Empty for an offline answer, or when the quoted answer is what is already shown."""
    if answer.mode != "llm" or not answer.quoted or answer.quoted == answer.text:
        return ""
    check = VERDICTS.get(answer.verdict or "", "")
    where = "<br>".join(f"[{c.n}] {html.escape(location(c.chunk))}" for c in answer.quoted_citations)
    return (f"\n\n<small>{check}</small>" if check else "") + (
        '\n\n<details class="quoted"><summary>Show quoted from notes</summary>\n\n'
        f"{safe_markdown(answer.quoted)}\n\n<small>{where}</small>\n\n</details>")


_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]*)[^)]*\)")
_LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(([^)\s]*)[^)]*\)")


def safe_markdown(text: str) -> str:
    """Markdown for the chat with nothing that can run or fetch: HTML in an answer (a note's, or a
    model's) is shown as text, an image as its description, a link as its text and address. A
    formula is marked for the chat to typeset (inline_math)."""
    text = inline_math(html.escape(text, quote=False))
    text = _IMAGE.sub(lambda m: m.group(1) or "(image)", text)

    def link(m: re.Match) -> str:
        target = m.group(2)
        return f"{m.group(1)} ({target})" if target.startswith(("http://", "https://")) else m.group(1)

    return _LINK.sub(link, text)


# The chat typesets $$...$$, \(...\) and \[...\] (KaTeX); a single $ stays a dollar.
LATEX_DELIMITERS = [{"left": "$$", "right": "$$", "display": True},
                    {"left": "\\(", "right": "\\)", "display": False},
                    {"left": "\\[", "right": "\\]", "display": True}]
# Inline TeX as notes write it ("$W_0$", "$\frac{1}{k}$"), by Pandoc's rule: the opening $ has no
# space after it, the closing one none before it and no digit after it, so "$5 and $10" and
# "$1.10" are money. It must also read as TeX (core/text looks_like_tex).
_CODE_SPAN = re.compile(r"(`+)[^`]*?\1")
_INLINE_TEX = re.compile(r"(?<![\\$\w])\$(?=[^\s$])([^$\n]*?[^\s$\\]|[^\s$])\$(?![\d$])")


def inline_math(text: str) -> str:
    """`text` with its inline TeX written between \\( and \\), which the chat typesets; code spans
    and amounts of money stay as they are."""
    def convert(part: str) -> str:
        return _INLINE_TEX.sub(lambda m: f"\\({m.group(1)}\\)" if looks_like_tex(m.group(1)) else m.group(0),
                               part)

    out, end = [], 0
    for code in _CODE_SPAN.finditer(text):
        out += [convert(text[end:code.start()]), code.group(0)]
        end = code.end()
    return "".join(out + [convert(text[end:])])


def location(chunk: Chunk) -> str:
    """"notes/rag.md › Chunking > Overlap": the title is dropped when it only repeats the file name."""
    parts = chunk.heading.split(" > ") if chunk.heading else []
    stem = chunk.source.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    if parts and parts[0] == stem:
        parts = parts[1:]
    where = " › ".join([chunk.source, " > ".join(parts)]) if parts else chunk.source
    if chunk.page:
        where += f" (page {chunk.page})"
    return where


def citation_card(c: Citation) -> str:
    text = c.chunk.text
    passage, _ = render_markdown(text, quote_spans(text, c.quotes), cls="quote")
    return (
        f'<div class="cite" id="cite-{c.n}">'
        f'<div class="cite-head"><span class="cite-n">{c.n}</span> {html.escape(location(c.chunk))}</div>'
        f'<div class="cite-text">{passage}</div>'
        "</div>"
    )


def sources_panel(answer: Answer | None) -> str:
    if answer is None:
        return '<div class="panel-empty">Sources of the answer appear here.</div>'
    if answer.refused and not answer.retrieved:  # no search ran: an empty question, or an error said in the chat
        return '<div class="panel-empty">No sources for this reply.</div>'
    if answer.refused:
        return ('<div class="panel-empty">No passage in your notes answers this; '
                "try one of the nearest topics below.</div>")
    if not answer.citations:
        return '<div class="panel-empty">This answer cites no passage.</div>'
    return "".join(citation_card(c) for c in answer.citations)


def retrieved_table(answer: Answer | None) -> str:
    """Every passage retrieved for the answer, cited or not, with its scores."""
    if answer is None or not answer.retrieved:
        return ""
    cited = {c.chunk.id: c.n for c in answer.citations}
    rows = []
    for rank, hit in enumerate(answer.retrieved, start=1):
        rows.append(_retrieved_row(rank, hit, cited.get(hit.chunk.id)))
    query = html.escape(answer.search_query or answer.question)
    return (
        f'<div class="retrieved-q">Searched for: <q>{query}</q></div>'
        '<table class="retrieved"><thead><tr><th>#</th><th>passage</th><th>fused score</th>'
        "<th>similarity</th><th>cited</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _retrieved_row(rank: int, hit: Hit, cited_as: int | None) -> str:
    snippet = " ".join(hit.chunk.text.split())[:160]
    sim = f"{hit.similarity:.2f}" if hit.similarity is not None else "–"
    return (
        f"<tr><td>{rank}</td><td><b>{html.escape(location(hit.chunk))}</b><br>"
        f"<span class='snippet'>{html.escape(snippet)}</span></td>"
        f"<td>{hit.score:.4f}</td><td>{sim}</td><td>{f'[{cited_as}]' if cited_as else 'no'}</td></tr>"
    )


ASK = "Ask a question, or a follow-up…"
CHAT_PLACEHOLDER = "Ask anything about your notes. Answers quote them, with sources."
LOADING = "Loading your notes… you can ask already; the answer follows once they are ready."


def ask_status(error: str | None) -> str:
    """The line under the Ask box: empty, or why the notes could not be loaded (one sentence)."""
    return f'<div class="ask-status error">{html.escape(error)}</div>' if error else ""


def mode_badge(label: str) -> str:
    return f'<span class="mode-badge">Mode: {html.escape(label)}</span>'


def starter_questions(chunks: list[Chunk], n: int = 4) -> list[str]:
    """Questions drawn from the notes' own section headings, spread across the notes."""
    seen: list[str] = []
    for chunk in chunks:
        parts = chunk.heading.split(" > ")
        if len(parts) < 2:
            continue
        topic = parts[-1].split(":")[0].strip()
        if topic and topic not in seen:
            seen.append(topic)
    if len(seen) > n:
        step = len(seen) / n
        seen = [seen[int(i * step)] for i in range(n)]
    return [f"What do my notes say about {topic}?" for topic in seen]


CSS = """
/* Colours the app sets itself, each with its dark-theme pair (Gradio puts .dark on <body>, and
   declares its own theme variables the same way). Text on every mark, badge and status line keeps
   a contrast of at least 4.5:1 in both themes (tests/test_browser_*.py measure it). */
:root {
  --tutor-mark-bg: #fde68a; --tutor-mark-text: #27272a;              /* quoted / cited passage */
  --tutor-mark-ring: rgba(217, 119, 6, .45); --tutor-mark-soft: rgba(250, 204, 21, .08);
  --tutor-section-bg: rgba(59, 130, 246, .12);                       /* the selected section */
  --tutor-badge-bg: #c2410c; --tutor-badge-text: #ffffff;            /* citation number [1] */
  --tutor-accent-text: #c2410c;                                      /* the current tree row */
  --tutor-muted: #71717a;
  --tutor-ok: #15803d; --tutor-warn: #b45309; --tutor-bad: #b91c1c; --tutor-info: #1d4ed8;
  --tutor-ok-border: #16a34a; --tutor-warn-border: #d97706; --tutor-bad-border: #ef4444;
  --tutor-info-border: #3b82f6;
}
:root.dark, :root .dark {
  --tutor-mark-bg: #854d0e; --tutor-mark-text: #f4f4f5;
  --tutor-mark-ring: rgba(245, 158, 11, .6); --tutor-mark-soft: rgba(250, 204, 21, .10);
  --tutor-section-bg: rgba(96, 165, 250, .22);
  --tutor-accent-text: #fdba74;
  --tutor-muted: #a1a1aa;
  --tutor-ok: #4ade80; --tutor-warn: #fbbf24; --tutor-bad: #f87171; --tutor-info: #93c5fd;
  --tutor-ok-border: #22c55e; --tutor-warn-border: #f59e0b; --tutor-bad-border: #f87171;
  --tutor-info-border: #60a5fa;
}
.cite { border-left: 3px solid var(--color-accent); padding: 6px 10px; margin: 0 0 10px 0;
        background: var(--block-background-fill); border-radius: 4px; }
.cite-head { font-size: 0.85em; font-weight: 600; margin-bottom: 4px; }
.cite-n { display: inline-block; min-width: 1.4em; text-align: center; border-radius: 3px;
          background: var(--tutor-badge-bg); color: var(--tutor-badge-text); font-size: 0.85em;
          margin-right: 4px; }
.cite-text { font-size: 0.88em; max-height: 18em; overflow-y: auto; }
.cite-text p, .cite-text ul, .cite-text ol { margin: 0.2em 0; }
.cite-text mark { background: var(--tutor-mark-bg); color: var(--tutor-mark-text); padding: 0 1px; }
.panel-empty { color: var(--tutor-muted); font-size: 0.9em; padding: 8px 0; }
.mode-badge { font-size: 0.8em; color: var(--tutor-muted); }
#chat mark { background: var(--tutor-mark-bg); color: var(--tutor-mark-text); padding: 0 0.1em;
             border-radius: 0.2em; }
details.quoted { margin-top: 0.6em; font-size: 0.92em; }
details.quoted summary { cursor: pointer; color: var(--tutor-info); }
.ask-status.error { font-size: 0.9em; color: var(--tutor-bad); padding: 2px 0; }
table.retrieved { font-size: 0.82em; width: 100%; }
table.retrieved td { vertical-align: top; }
.retrieved .snippet { color: var(--tutor-muted); }
.retrieved-q { font-size: 0.82em; margin-bottom: 4px; }
"""
