"""The Sources functions as units: rendering and highlighting, sanitising, paths, uploads, status."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from assistant.core.errors import IndexBusy
from assistant.core.schema import Chunk, Hit
from assistant.core.wording import ago
from assistant.sources import folder as notes_folder
from assistant.sources.folder import (
    SourceError,
    resolve_folder,
    resolve_note,
    safe_filename,
    save_upload,
)
from assistant.sources.render import (
    Highlight,
    NoteText,
    chunk_highlight,
    quote_spans,
    read_note,
    render_markdown,
    render_note_body,
    sanitize,
)
from assistant.sources.service import Sources
from assistant.sources.snippets import highlight_terms, snippet
from assistant.sources.tree import (
    build_tree,
    render_tree,
    section_chunks,
    section_highlight,
)
from assistant.sources.view import (
    render_hits,
    render_status,
)

ROOT = Path(__file__).resolve().parent.parent


def marked_text(fragment: str, cls: str = "cited") -> str:
    """The text inside <mark class=cls> elements, tags removed, whitespace collapsed."""
    parts = re.findall(rf'<mark class="{cls}"[^>]*>(.*?)</mark>', fragment, re.S)
    return " ".join(" ".join(re.sub(r"<[^>]+>", "", p).split()) for p in parts)


def span_of(text: str, passage: str) -> tuple[int, int]:
    start = text.index(passage)
    return start, start + len(passage)


# --- rendering and highlighting -------------------------------------------------------------

NOTE = """---
title: Retrieval
---

# Retrieval

Intro paragraph with **bold words.** Then more.

## Lists

- **First item.** explained here
- second item
  continues here

1. numbered one
2. numbered two

## Code

```python
chunk_size = 200
```

| metric | meaning |
|---|---|
| MRR | mean reciprocal rank |

Setext heading
--------------

> A quoted line
> and another.
"""


@pytest.mark.parametrize("passage", [
    "Intro paragraph with **bold words.** Then more.",
    "**bold words.** Then more.",
    "- **First item.** explained here\n- second item\n  continues here",
    "second item\n  continues here\n\n1. numbered one",
    "1. numbered one\n2. numbered two",
    "```python\nchunk_size = 200\n```",
    "chunk_size = 200\n```\n\n| metric | meaning |",
    "| MRR | mean reciprocal rank |",
    "Setext heading\n--------------",
    "> A quoted line\n> and another.",
    "## Code\n\n```python\nchunk_size = 200",
])
def test_a_passage_is_marked_without_changing_how_the_markdown_renders(passage):
    plain, _ = render_markdown(NOTE)
    out, marked = render_markdown(NOTE, [span_of(NOTE, passage)], anchor="chunk-abc")
    assert marked
    assert out.count('id="chunk-abc"') == 1
    # The document structure is exactly the one rendered without a highlight.
    strip = lambda h: re.sub(r"</?mark[^>]*>", "", h)  # noqa: E731
    assert strip(out) == plain
    # Every word of the passage (Markdown syntax aside) is inside the marks, and nothing else.
    words = re.findall(r"[A-Za-z_0-9]+", re.sub(r"[#>*`|-]|\d+\.", " ", passage))
    inside = re.findall(r"[A-Za-z_0-9]+", marked_text(out))
    assert [w for w in inside if w != "python"] == [w for w in words if w != "python"]


def test_an_answers_quotes_are_each_marked_and_bold_stays_bold():
    text = "Intro. **LinkedIn hit 80% quickly.** Then it took 4 MORE months. Unrelated tail."
    quotes = ["**LinkedIn hit 80% quickly.**", "Then it took 4 MORE months.", "not in the passage"]
    out, marked = render_markdown(text, quote_spans(text, quotes), cls="quote")
    assert marked and "<strong>" in out and "id=" not in out
    assert marked_text(out, "quote") == "LinkedIn hit 80% quickly. Then it took 4 MORE months."
    # Sentences cut from inside one bold passage: both marked, the passage still bold.
    text = "**First sentence. Second sentence.** After."
    out, _ = render_markdown(text, quote_spans(text, ["**First sentence.", "Second sentence.**"]), cls="quote")
    assert out.count("<strong>") == 1 and "**" not in out
    assert marked_text(out, "quote") == "First sentence. Second sentence."


def test_obsidian_links_highlights_and_callouts_render_as_text_and_a_passage_is_still_marked():
    text = ("The result goes back into [[Agent Loop|the loop]], see [[Tool Calling]].\n\n"
            "> [!tip] Use enums\n> List the ==allowed values== in an enum.\n\n"
            "> [!warning]\n> Set a step limit.\n")
    out, marked = render_markdown(text, [span_of(text, "List the ==allowed values== in an enum.")])
    assert "[[" not in out and "==" not in out and "[!" not in out
    assert '<span class="wikilink">the loop</span>' in out and '<span class="wikilink">Tool Calling</span>' in out
    assert '<strong class="callout">Use enums</strong>' in out and '<strong class="callout">Warning</strong>' in out
    assert marked and marked_text(out) == "List the allowed values in an enum."
    # A passage that starts at the callout's marker: the marker still becomes the title.
    out, marked = render_markdown(text, [span_of(text, "[!tip] Use enums\n> List the ==allowed values== in an enum.")])
    assert marked and "[!" not in out and marked_text(out) == "Use enums List the allowed values in an enum."


def test_formulas_are_typeset_as_mathml_and_money_broken_tex_and_code_stay_as_written():
    text = ("LoRA learns $\\Delta W = BA$ with $r \\ll d$. It costs $5 and $10.\n\n"
            "Broken: $\\frac{1}{$ here. Code: `$x_1$`.\n\n$$\\mathrm{MRR} = \\frac{1}{|Q|}$$\n\n"
            "Sneaky: $x<script>alert(1)</script>$ and $\\text{<img src=x onerror=alert(1)>}$.\n")
    out, _ = render_markdown(text)
    assert out.count('<math display="inline">') >= 2 and '<math display="block">' in out
    assert "<mi>Δ</mi>" in out and "<mo>≪</mo>" in out and "<mfrac>" in out
    assert "It costs $5 and $10." in out
    assert "$\\frac{1}{$" in out and "<code>$x_1$</code>" in out
    assert "<script" not in out and "onerror" not in out and "<img" not in out
    # A passage that starts inside a formula is marked from the whole formula on, which still renders.
    plain, _ = render_markdown(text)
    out, marked = render_markdown(text, [(text.index("W = BA"), text.index(" It costs"))], anchor="a")
    assert marked and re.sub(r"</?mark[^>]*>", "", out) == plain
    assert '<mark class="cited" id="a"><math display="inline">' in out and "LoRA" not in marked_text(out)
    assert "<mi><mark" not in out  # marked whole, not symbol by symbol


def test_front_matter_is_not_rendered_and_offsets_still_point_at_the_passage():
    note = NoteText("n.md", "markdown", NOTE, body_start=NOTE.index("# Retrieval"))
    start, end = span_of(NOTE, "Intro paragraph")
    out = render_note_body(note, Highlight(start, end, "chunk-x", expected="Intro paragraph"))
    assert "title: Retrieval" not in out
    assert marked_text(out) == "Intro paragraph"


def test_the_passage_is_found_again_when_the_note_moved_and_flagged_when_it_is_gone():
    text = "# T\n\nNew first paragraph.\n\nThe cited passage.\n"
    note = NoteText("n.md", "markdown", text)
    moved = Highlight(0, 10, "chunk-1", expected="The cited passage.")
    assert marked_text(render_note_body(note, moved)) == "The cited passage."
    gone = Highlight(0, 10, "chunk-1", expected="A passage that was deleted.")
    out = render_note_body(note, gone)
    assert "no longer in the note" in out and 'id="chunk-1"' in out
    assert marked_text(out) == "A passage that was deleted."


def test_plain_text_and_pdf_pages_are_escaped_and_marked_at_their_offsets():
    text = "line one <b>not bold</b>\nline two"
    note = NoteText("t.txt", "text", text)
    out = render_note_body(note, Highlight(*span_of(text, "line two"), "chunk-t", expected="line two"))
    assert "&lt;b&gt;not bold&lt;/b&gt;" in out and marked_text(out) == "line two"
    pdf = NoteText("p.pdf", "pdf", pages=((1, "Page one text."), (2, "Page two text.")))
    out = render_note_body(pdf, Highlight(5, 8, "chunk-p", page=2, expected="two"))
    assert "Page 1" in out and "Page 2" in out
    assert re.search(r"Page 2</div>.*<mark[^>]*>two</mark>", out, re.S)


def test_a_pdf_pages_table_shows_its_rows_without_the_markdown_rule():
    page = "Index types\n| Index | Memory |\n| --- | --- |\n| Flat | Full vectors |\nFAISS implements them."
    pdf = NoteText("p.pdf", "pdf", pages=((1, page),))
    out = render_note_body(pdf, Highlight(*span_of(page, "| Flat | Full vectors |"), "chunk-p", page=1,
                                          expected="| Flat | Full vectors |"))
    assert "| Index | Memory |\n<mark" in out and "---" not in out
    assert marked_text(out) == "| Flat | Full vectors |"


def test_every_chunk_of_the_sample_notes_is_highlighted_in_its_rendered_note(embedder, tmp_path):
    from assistant.index.chunking import Chunker
    from assistant.index.loaders import load

    knowledge = tmp_path / "k"
    import shutil

    shutil.copytree(ROOT / "tests/data/notes", knowledge)
    shutil.copy(ROOT / "knowledge/ai-engineering-foundations.md", knowledge)
    chunker = Chunker(embedder.count_tokens)
    checked = 0
    for rel in ["rag/retrieval.md", "rag/evaluation.mdx", "basics/attention.html", "basics/tokens.txt",
                "basics/prompting.pdf", "ai-engineering-foundations.md"]:
        note = read_note(knowledge, rel)
        for chunk in chunker.chunk(rel, load(knowledge / rel, rel).sections):
            out = render_note_body(note, chunk_highlight(chunk))
            assert f'id="chunk-{chunk.id}"' in out, (rel, chunk.text[:40])
            assert "no longer in the note" not in out
            words = re.findall(r"\w+", re.sub(r"[*_`#>|]", " ", chunk.text))
            inside = set(re.findall(r"\w+", marked_text(out)))
            assert sum(w in inside for w in words) >= 0.9 * len(words), (rel, chunk.text[:40])
            checked += 1
    assert checked >= 15


# --- sanitising -----------------------------------------------------------------------------

ATTACKS = [
    '<script>alert(1)</script>',
    '<img src=x onerror="alert(1)">',
    '<img src="http://127.0.0.1:9/x.png" onerror=alert(1)>',
    '<svg onload=alert(1)><circle r=5 /></svg>',
    '<iframe src="javascript:alert(1)"></iframe>',
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt:alert(1)">x</a>',
    '<a href="&#106;avascript:alert(1)">x</a>',
    '[x](javascript:alert(1))',
    '<div style="background:url(javascript:alert(1))" onclick="alert(1)">x</div>',
    '<object data="x.swf"></object><embed src="x.swf">',
    '<form action="https://evil"><input onfocus=alert(1) autofocus></form>',
    '<details open ontoggle=alert(1)>x</details>',
    '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
    '<base href="https://evil/">',
    '<meta http-equiv="refresh" content="0;url=https://evil">',
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_nothing_in_a_note_can_run_in_the_browser(attack):
    text = f"# Note\n\nBefore the attack.\n\n{attack}\n\nAfter.\n"
    out, _ = render_markdown(text, [span_of(text, "Before the attack.")], anchor="chunk-1")
    # Parsed as a browser would: only harmless elements, no handler or script URL on any of them.
    from bs4 import BeautifulSoup

    allowed = {"h1", "p", "mark", "a", "code", "pre", "em", "strong", "ul", "li", "br"}
    for element in BeautifulSoup(out, "html.parser").find_all(True):
        assert element.name in allowed, (element.name, out)
        for name, value in element.attrs.items():
            assert not name.lower().startswith("on") and name.lower() != "style", (name, out)
            assert "javascript" not in str(value).lower(), out
    assert marked_text(out) == "Before the attack."


def test_links_open_outside_the_app_and_relative_urls_are_dropped():
    out = sanitize('<a href="https://example.com">ok</a><a href="other.md">rel</a><img src="diagram.png">')
    assert 'href="https://example.com"' in out and 'target="_blank"' in out and "noopener" in out
    assert "other.md" not in out and "diagram.png" not in out
    assert sanitize('<img src="diagram.png" alt="the pipeline">') == '<span class="img-alt">[the pipeline]</span>'


def test_a_note_cannot_fake_our_highlight_or_its_anchor():
    text = 'Real text.\n\n<mark class="cited" id="chunk-fake">fake</mark>\n'
    out, _ = render_markdown(text)
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(out, "html.parser")
    assert soup.find("mark") is None and soup.find(id="chunk-fake") is None
    assert '<mark class="cited"' in soup.get_text()  # shown as the text it is


def test_html_notes_render_the_indexed_text_without_their_scripts():
    note = read_note(ROOT / "tests/data/notes", "basics/attention.html")
    out = render_note_body(note)
    assert "Self-attention lets every token" in out
    assert "never indexed" not in out and "<script" not in out and "Copyright footer" not in out


def test_a_notebook_renders_as_the_text_indexed_from_it_with_its_passages_marked(embedder):
    from assistant.index.chunking import Chunker
    from assistant.index.loaders import load

    folder = ROOT / "tests/data/notebooks"
    note = read_note(folder, "chunking.ipynb")
    assert note.kind == "markdown" and "notebook" in note.shown_as
    chunks = Chunker(embedder.count_tokens).chunk("chunking.ipynb", load(folder / "chunking.ipynb",
                                                                          "chunking.ipynb").sections)
    out = render_note_body(note, chunk_highlight(chunks[1]))
    assert f'id="chunk-{chunks[1].id}"' in out and "<h2>Chunk size</h2>" in out
    assert "Output: recall@5 with 500-char chunks: 0.82" in out and "cell_type" not in out


def test_a_word_document_renders_as_the_text_indexed_from_it(tmp_path):
    from make_docx import serving_notes_docx

    (tmp_path / "serving.docx").write_bytes(serving_notes_docx())
    note = read_note(tmp_path, "serving.docx")
    out = render_note_body(note)
    assert note.kind == "markdown" and "Word document" in note.shown_as
    assert "<h2>Batching</h2>" in out and "<table>" in out and "<th>Memory for 7B</th>" in out


def test_the_tree_and_results_escape_file_names_headings_and_text():
    evil = '<img src=x onerror=alert(1)>'
    chunk = Chunk("c1", f"rag/{evil}.md", f"T > {evil}", f"text {evil} retrieval", 0, 10, "h")
    tree = render_tree(build_tree([chunk]))
    hits = render_hits("retrieval", [Hit(chunk, 0.03, 0.5)])
    for out in (tree, hits):
        assert "<img" not in out and "&lt;img" in out


# --- the tree -------------------------------------------------------------------------------


def _chunk(source, heading, start, page=None, cid=None):
    return Chunk(cid or f"{source}-{start}", source, heading, "text", start, start + 4, "h", page)


def test_the_tree_nests_headings_in_document_order_with_chunk_counts():
    chunks = [
        _chunk("b.md", "B > Two", 50), _chunk("b.md", "B", 0), _chunk("b.md", "B > One > Deep", 30),
        _chunk("b.md", "B > One", 10), _chunk("b.md", "B > One", 20), _chunk("a/x.pdf", "X > Page 2", 0, 2),
        _chunk("a/x.pdf", "X > Page 1", 0, 1),
    ]
    files = build_tree(chunks, {"b.md": "edited", "new.md": "new"}, extra_files=["new.md"])
    assert [f.source for f in files] == ["b.md", "new.md", "a/x.pdf"]
    b, new, pdf = files
    assert [(h.label, h.depth, h.chunks) for h in pdf.headings] == [("Page 1", 0, 1), ("Page 2", 0, 1)]
    assert [(h.label, h.depth, h.chunks) for h in b.headings] == [
        ("B", 0, 1), ("One", 0, 3), ("Deep", 1, 1), ("Two", 0, 1)]
    assert b.chunks == 5 and b.status == "edited" and new.chunks == 0 and new.status == "new"
    out = render_tree(files, selected="b.md")
    assert 'data-heading="B &gt; One &gt; Deep"' in out and ">changed<" in out and ">new<" in out
    assert '<div class="src-folder">a/</div>' in out


def test_the_tree_keeps_top_level_notes_apart_from_folders_in_natural_order():
    chunks = [_chunk(s, "T", 0) for s in ("basics/b.md", "zeta.md", "note-10.md", "note-2.md", "basics/a.md",
                                          "basics/deep/c.md")]
    files = build_tree(chunks)
    assert [f.source for f in files] == ["note-2.md", "note-10.md", "zeta.md", "basics/a.md", "basics/b.md",
                                         "basics/deep/c.md"]
    out = render_tree(files)
    assert out.index(">zeta.md<") < out.index('<div class="src-folder">basics/</div>') < out.index(">a.md<")
    assert '<div class="src-folder">basics/deep/</div>' in out


def test_a_section_is_highlighted_from_its_first_to_its_last_chunk():
    chunks = [_chunk("b.md", "B > One", 10), _chunk("b.md", "B > One > Deep", 30), _chunk("b.md", "B > Two", 50)]
    picked = section_chunks(chunks, "b.md", "B > One")
    assert [c.start for c in picked] == [10, 30]
    hl = section_highlight(picked)
    assert (hl.start, hl.end, hl.cls) == (10, 34, "section")


# --- search results -------------------------------------------------------------------------


def test_matched_query_terms_are_marked_after_stemming_and_stopwords_are_not():
    out = highlight_terms("Chunks of the index are chunked <here>.", "the chunking")
    assert out.count('<mark class="term">') == 2
    assert '<mark class="term">Chunks</mark>' in out and "<mark class=\"term\">the" not in out
    assert "&lt;here&gt;" in out


def test_hits_show_scores_and_which_were_cited():
    a = Chunk("a1", "a.md", "A > One", "alpha retrieval text", 0, 5, "h")
    b = Chunk("b1", "b.md", "B", "beta retrieval text", 0, 5, "h", page=3)
    out = render_hits("retrieval", [Hit(a, 0.0325, 0.61), Hit(b, 0.016, None)], cited={"a1": 1})
    assert "score 0.033" in out and "similarity 0.61" in out and "score 0.016" in out
    assert "cited [1]" in out and "not cited" in out and "(page 3)" in out
    assert 'data-chunk="a1"' in out
    assert "No passages match" in render_hits("zzz", [])


def test_a_long_passage_is_cut_around_the_first_match():
    text = "filler " * 100 + "the needle is here " + "filler " * 100
    cut = snippet(text, "needle", width=120)
    assert "needle" in cut and cut.startswith("…") and cut.endswith("…") and len(cut) < 140


def test_ago_reads_like_a_person_says_it():
    assert ago(5) == "just now"
    assert ago(60) == "1 minute ago"
    assert ago(3 * 3600 + 5) == "3 hours ago"
    assert ago(2 * 86400) == "2 days ago"


# --- paths ----------------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path) -> Path:
    root = tmp_path / "knowledge"
    (root / "rag").mkdir(parents=True)
    (root / "rag" / "a.md").write_text("# A\n\ntext\n")
    (tmp_path / "secret.md").write_text("secret")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "b.md").write_text("outside")
    return root


@pytest.mark.parametrize("rel", [
    "../secret.md", "rag/../../secret.md", "/etc/passwd", str(Path("/etc/passwd")), "~/secret.md",
    "C:/Windows/win.ini", "rag\\..\\..\\secret.md", "", "  ", "rag//a.md", "./rag/a.md", ".git/config",
    "rag/.hidden.md", "rag/a.md\x00.png",
])
def test_paths_outside_the_knowledge_folder_are_refused(folder, rel):
    with pytest.raises(SourceError):
        resolve_note(folder, rel)


def test_links_are_followed_only_when_they_stay_inside_the_folder(folder):
    os.symlink(folder.parent / "secret.md", folder / "rag" / "link-out.md")
    os.symlink(folder.parent / "outside", folder / "out-dir")
    os.symlink(folder / "rag" / "a.md", folder / "link-in.md")
    for rel in ("rag/link-out.md", "out-dir/b.md"):
        with pytest.raises(SourceError, match="outside the knowledge folder"):
            resolve_note(folder, rel)
        with pytest.raises(SourceError):
            read_note(folder, rel)
    assert resolve_note(folder, "link-in.md") == folder / "link-in.md"
    assert resolve_note(folder, "rag/a.md") == folder / "rag" / "a.md"
    with pytest.raises(SourceError):
        resolve_folder(folder, "out-dir")
    with pytest.raises(SourceError):
        resolve_folder(folder, "../outside")
    assert resolve_folder(folder, "rag/") == folder / "rag"
    assert resolve_folder(folder, "") == folder


# --- uploads --------------------------------------------------------------------------------


@pytest.mark.parametrize("name, safe", [
    ("notes.md", "notes.md"),
    ("Vector DBs: HNSW notes.MD", "Vector DBs - HNSW notes.md"),
    ("../../evil.md", "evil.md"),
    ("C:\\Users\\me\\rag notes.txt", "rag notes.txt"),
    (".bashrc.md", "bashrc.md"),
    ("a<b>|c?.md", "a-b-c.md"),
    ("tab\there.md", "tab-here.md"),
    ("con.md", "con-note.md"),
    ("résumé.markdown", "résumé.markdown"),
    ("..", "note"),
])
def test_uploaded_file_names_are_made_safe(name, safe):
    assert safe_filename(name) == safe


def test_a_long_name_is_shortened_and_keeps_its_extension():
    name = safe_filename("x" * 300 + ".pdf")
    assert name.endswith(".pdf") and len(name) <= 120


def test_an_upload_never_overwrites_a_note(folder):
    first = save_upload(folder, "a.md", b"# New\n\ndifferent text\n", "rag/")
    assert first.rel == "rag/a-2.md" and first.new and "already exists" in first.message
    assert (folder / "rag" / "a.md").read_text() == "# A\n\ntext\n"
    again = save_upload(folder, "a.md", b"# A\n\ntext\n", "rag")
    assert not again.new and again.rel == "rag/a.md" and "same content" in again.message
    third = save_upload(folder, "a.md", b"third", "rag")
    assert third.rel == "rag/a-3.md"
    top = save_upload(folder, "../../evil.md", b"# Evil\n")
    assert top.rel == "evil.md" and (folder / "evil.md").exists()
    assert not (folder.parent.parent / "evil.md").exists()


def test_an_upload_does_not_follow_a_link_planted_under_its_name(folder):
    os.symlink(folder.parent / "secret.md", folder / "planted.md")
    saved = save_upload(folder, "planted.md", b"# Mine\n")
    assert saved.rel == "planted-2.md"
    assert (folder.parent / "secret.md").read_text() == "secret"


@pytest.mark.parametrize("name, data, reason", [
    ("tool.exe", b"MZ...", "only md, markdown, mdx, txt, pdf, html, htm, ipynb, docx"),
    ("README", b"text", "only md"),
    ("empty.md", b"", "empty"),
    ("fake.pdf", b"# not a pdf", "not a PDF"),
    ("export.ipynb", b'{"rows": []}', "not a Jupyter notebook"),
    ("notes.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1old word", "not a readable Word document"),
    ("binary.md", b"\x00\x01\x02binary", "binary"),
])
def test_uploads_of_the_wrong_type_or_content_are_refused_with_a_sentence(folder, name, data, reason):
    with pytest.raises(SourceError, match=reason) as err:
        save_upload(folder, name, data)
    assert str(err.value).endswith(".")
    assert not (folder / safe_filename(name)).exists()


def test_an_oversized_upload_is_refused_before_it_is_read(folder, tmp_path, monkeypatch):
    monkeypatch.setattr(notes_folder, "MAX_UPLOAD_BYTES", 1000)
    big = tmp_path / "big.md"
    big.write_bytes(b"a" * 2000)
    ok = tmp_path / "ok.md"
    ok.write_text("# Fine\n")

    sources = Sources(folder, store=None, chunks=list, search=None, admin=None)
    message, saved = sources.upload([str(big), str(ok)], "")
    assert saved == 1 and "over the" in message and "Saved ok.md." in message
    assert not (folder / "big.md").exists()


def test_uploads_into_a_folder_outside_are_refused(folder):
    with pytest.raises(SourceError):
        save_upload(folder, "a.md", b"# A\n", "../outside")


# --- with a real index ----------------------------------------------------------------------


def test_status_lists_new_edited_deleted_and_unindexable_notes(indexed):
    root = indexed.settings.knowledge_dir
    status = indexed.sources.status()
    assert status.files == 5 and status.chunks == indexed.store.count() and status.last_indexed
    assert status.stale == {}
    assert status.skipped == {"basics/empty.md": "empty file"}

    os.utime(root / "rag/evaluation.mdx")  # touched, not changed: not stale
    (root / "rag/retrieval.md").write_text((root / "rag/retrieval.md").read_text() + "\nMore.\n")
    (root / "rag/new.md").write_text("# New\n\nA new note.\n")
    (root / "basics/tokens.txt").unlink()
    status = indexed.sources.status()
    assert status.stale == {"rag/retrieval.md": "edited", "rag/new.md": "new", "basics/tokens.txt": "deleted"}
    out = render_status(status, now=time.time())
    assert "3 notes changed on disk since" in out and "Re-index" in out and "1 file cannot be indexed" in out


def test_open_view_renders_a_chunk_a_section_and_the_chunk_view(indexed):
    hit = indexed.retriever.search("reciprocal rank fusion", k=1)[0]
    html, source = indexed.sources.open_view(chunk_id=hit.chunk.id + "#2")
    assert source == "rag/retrieval.md" and f'id="chunk-{hit.chunk.id}"' in html
    assert "Reciprocal rank fusion" in marked_text(html)
    html, _ = indexed.sources.open_view(source="rag/retrieval.md", heading="Retrieval Notes > Chunking")
    assert "Chunks should follow" in marked_text(html, "section") and "Overlap" in marked_text(html, "section")
    html, _ = indexed.sources.open_view(chunk_id=hit.chunk.id, mode="chunks")
    assert html.count('<section class="chunk') == len(indexed.sources.file_chunks("rag/retrieval.md"))
    assert f'<section class="chunk cited" id="chunk-{hit.chunk.id}">' in html and "tokens with heading" in html
    assert "no longer in the index" in indexed.sources.open_view(chunk_id="deadbeef")[0]
    assert "outside the knowledge folder" in indexed.sources.open_view(source="../secret.md")[0] or \
        "leaves the knowledge folder" in indexed.sources.open_view(source="../secret.md")[0]


def test_delete_removes_the_note_from_folder_and_index(indexed):
    before = indexed.store.count()
    n = len(indexed.store.ids_for_source("rag/retrieval.md"))
    message = indexed.sources.delete("rag/retrieval.md")
    assert message == f"Deleted rag/retrieval.md: removed from the notes folder and {n} chunks from the index."
    assert not (indexed.settings.knowledge_dir / "rag/retrieval.md").exists()
    assert indexed.store.count() == before - n and "rag/retrieval.md" not in indexed.store.files()
    assert all(c.source != "rag/retrieval.md" for c in indexed.retriever.chunks)
    with pytest.raises(SourceError, match="not in your notes"):
        indexed.sources.delete("rag/retrieval.md")


def test_delete_refuses_paths_outside_and_waits_for_a_running_index(indexed, tmp_path):
    from assistant.index.library import Library

    secret = indexed.settings.knowledge_dir.parent / "secret.md"
    secret.write_text("keep me")
    os.symlink(secret, indexed.settings.knowledge_dir / "link.md")
    for rel in ("../secret.md", str(secret), "link.md"):
        with pytest.raises(SourceError):
            indexed.sources.delete(rel)
    assert secret.read_text() == "keep me"
    with Library(indexed.store).locked("held by this test ({holder})"):
        with pytest.raises(IndexBusy):
            indexed.sources.delete("rag/evaluation.mdx")
    assert (indexed.settings.knowledge_dir / "rag/evaluation.mdx").exists()


def test_reindex_reports_what_changed_and_a_busy_index_in_one_sentence(indexed):
    from assistant.index.library import Library

    (indexed.settings.knowledge_dir / "rag/new.md").write_text("# New\n\nA brand new note about agents.\n")
    calls = []
    out = indexed.sources.reindex(lambda done, total: calls.append((done, total)))
    assert "Re-indexed:" in out and "1 added" in out and "rag/new.md" in out and calls[-1][0] == calls[-1][1]
    with Library(indexed.store).locked("held by this test ({holder})"):
        out = indexed.sources.reindex()
    assert 'class="error"' in out and "Another indexing run is already working" in out
