"""The Ask tab's output (assistant/ui/render.py) against the attack strings the Sources view is tested
with: a note can hold any HTML, and an answer quotes its notes, so the chat and its sources panel see
that HTML too."""

from __future__ import annotations

import pytest
from bs4 import BeautifulSoup
from markdown_it import MarkdownIt
from test_sources import ATTACKS

from assistant.core.schema import Answer, Chunk, Citation, Hit
from assistant.ui.render import chat_markdown, inline_math, sources_panel

# As in test_sources: only harmless elements, and no handler, style or script URL on any of them.
ALLOWED = {"div", "span", "h1", "p", "mark", "a", "code", "pre", "em", "strong", "ul", "ol", "li", "br"}


def answer_quoting(attack: str) -> Answer:
    """An answer citing a note that holds `attack`, and repeating it, as an LLM or a quote may."""
    text = f"# Note\n\nBefore the attack.\n\n{attack}\n\nAfter.\n"
    chunk = Chunk("c1", "rag/evil.md", "Note", text, 0, len(text), "h")
    return Answer("What does the note say?", f"The note says: {attack} [1]", "llm",
                  citations=(Citation(1, chunk, quotes=("Before the attack.", attack)),),
                  retrieved=(Hit(chunk, 0.03, 0.5),))


def harmful(html: str) -> list[str]:
    """What in `html`, parsed as a browser would, could run a script or fetch something."""
    found = []
    for element in BeautifulSoup(html, "html.parser").find_all(True):
        if element.name not in ALLOWED:
            found.append(f"<{element.name}>")
        for name, value in element.attrs.items():
            value = " ".join(value) if isinstance(value, list) else str(value)
            if name.lower().startswith("on") or name.lower() == "style":
                found.append(f"<{element.name} {name}=…>")
            if "javascript" in value.lower():
                found.append(f'<{element.name} {name}="{value}">')
    return found


@pytest.mark.parametrize("attack", ATTACKS)
def test_nothing_in_a_cited_note_can_run_in_the_sources_panel(attack):
    out = sources_panel(answer_quoting(attack))
    assert 'class="cite"' in out and "Before the attack." in out
    assert harmful(out) == [], out


@pytest.mark.parametrize("attack", ATTACKS)
def test_nothing_an_answer_repeats_can_run_in_the_chat(attack):
    # gr.Chatbot renders the message as Markdown with HTML allowed (and sanitises it again in the
    # browser); what it is given must already be inert, and no image may load from elsewhere.
    shown = MarkdownIt("commonmark", {"html": True}).render(chat_markdown(answer_quoting(attack)))
    assert "The note says:" in shown
    assert harmful(shown) == [], shown
    assert "<img" not in shown


def test_a_reply_that_searched_nothing_does_not_claim_the_notes_lack_an_answer():
    error = Answer("What is attention?", "The embedding model stopped twice; restart the app.", "offline", refused=True)
    assert "No sources for this reply" in sources_panel(error)
    assert "No passage in your notes answers this" not in sources_panel(error)


@pytest.mark.parametrize("text, shown", [
    ("LoRA freezes $W_0$ and learns $\\Delta W = BA$.", "LoRA freezes \\(W_0\\) and learns \\(\\Delta W = BA\\)."),
    ("where $r \\ll d$, $k$ and $a &lt; b$", "where \\(r \\ll d\\), \\(k\\) and \\(a &lt; b\\)"),
    # Money is not math: Pandoc's rule on the spaces and digits around a $.
    ("It costs $1.10, or $2 a day; labelling cost $50,000+.", None),
    ("between $5 and $10, or $5-$10 per $ spent", None),
    # Code and display math are left as written (the chat typesets $$...$$ itself).
    ("`$x_1$` in code, $$a^2 + b^2$$ on its own", None),
])
def test_inline_tex_is_marked_for_the_chat_to_typeset_and_money_is_not(text, shown):
    assert inline_math(text) == (shown or text)
