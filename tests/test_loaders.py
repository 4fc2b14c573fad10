from pathlib import Path

import pytest

from assistant.index.loaders import (
    Unreadable,
    decode,
    load,
    markdown_document,
    strip_mdx,
)

DATA = Path(__file__).parent / "data" / "notes"


def test_markdown_heading_paths_follow_nesting_and_ignore_code_comments():
    doc = load(DATA / "rag/retrieval.md", "rag/retrieval.md")
    assert doc.title == "Retrieval Notes"  # from front matter
    headings = [s.heading for s in doc.sections]
    assert headings == [
        "Retrieval Notes",
        "Retrieval Notes > Chunking",
        "Retrieval Notes > Chunking > Overlap",
        "Retrieval Notes > Hybrid search",
    ]
    chunking = doc.sections[1]
    assert "# This is a comment inside code" in chunking.text


def test_section_offsets_point_into_the_file():
    path = DATA / "rag/retrieval.md"
    text = path.read_text()
    for section in load(path, "rag/retrieval.md").sections:
        assert text[section.start : section.start + len(section.text)] == section.text


def test_leading_h1_becomes_the_title_and_missing_title_uses_the_file_name():
    doc = markdown_document("# Transformers\n\nIntro.\n\n## Attention\n\nBody.\n", "file-stem")
    assert [s.heading for s in doc.sections] == ["Transformers", "Transformers > Attention"]
    doc = markdown_document("### Only a subsection\n\nBody text.\n", "my-note")
    assert [s.heading for s in doc.sections] == ["my-note > Only a subsection"]


def test_mdx_keeps_component_text_and_drops_code_lines():
    doc = load(DATA / "rag/evaluation.mdx", "rag/evaluation.mdx")
    joined = "\n".join(s.text for s in doc.sections)
    assert "Hit rate at five" in joined
    assert "import" not in joined and "export" not in joined
    assert "<Callout" not in joined and "<Badge" not in joined
    assert doc.sections[-1].heading == "Evaluating RAG > Mean reciprocal rank"
    # Blanking rather than deleting keeps offsets valid in the original file.
    source = (DATA / "rag/evaluation.mdx").read_text()
    assert len(strip_mdx(source)) == len(source)


def test_legacy_encoding_is_decoded_not_dropped():
    doc = load(DATA / "basics/tokens.txt", "basics/tokens.txt")
    assert "café" in doc.sections[0].text
    assert decode("naïve résumé".encode("cp1252")) == "naïve résumé"


def test_html_keeps_main_text_without_scripts_or_page_chrome():
    doc = load(DATA / "basics/attention.html", "basics/attention.html")
    text = " ".join(s.text for s in doc.sections)
    assert "Self-attention lets every token" in text
    assert "alert" not in text and "Copyright" not in text and "Home | Blog" not in text
    assert [s.heading for s in doc.sections] == ["Attention", "Attention > Cost"]


def test_pdf_text_is_read_per_page_with_page_numbers():
    doc = load(DATA / "basics/prompting.pdf", "basics/prompting.pdf")
    assert doc.title == "Prompting Guide"
    assert [s.page for s in doc.sections] == [1, 2]
    assert "Few-shot examples" in doc.sections[1].text


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("empty.md", b"", "empty file"),
        ("binary.md", b"\x00\x01\x02binary\x00", "binary content"),
        ("broken.pdf", b"%PDF-1.4\nthis is not really a pdf", "PDF"),
        ("slides.pptx", b"PK\x03\x04", "unsupported file type"),
        ("cut.docx", b"PK\x03\x04", "not a readable Word document"),
    ],
)
def test_unreadable_files_raise_a_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(Unreadable, match=reason):
        load(path, name)


def test_a_pdf_whose_layout_reading_fails_is_still_read_as_plain_text(monkeypatch):
    # pypdf's layout reading (used only to find tables) can fail where its plain reading works;
    # no real PDF here makes it fail, so it is made to.
    from pypdf import PageObject

    plain = PageObject.extract_text

    def extract_text(self, *args, extraction_mode="plain", **kwargs):
        if extraction_mode == "layout":
            raise ValueError("layout reading failed")
        return plain(self, *args, **kwargs)

    monkeypatch.setattr(PageObject, "extract_text", extract_text)
    doc = load(DATA / "basics/prompting.pdf", "basics/prompting.pdf")
    assert "Few-shot examples" in doc.sections[1].text
