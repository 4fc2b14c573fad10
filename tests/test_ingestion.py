import json
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, run_cli

from assistant.core.errors import IndexBusy


def test_first_run_indexes_every_readable_file_and_reports_skips(services):
    report = services.admin.ingest()
    assert report.files == 5  # md, mdx, txt, html, pdf
    assert report.added == report.chunks > 0
    skipped = {s.path: s.reason for s in report.skipped}
    assert skipped["basics/empty.md"] == "empty file"
    assert "unsupported file type" in skipped["basics/diagram.png"]
    sources = {c.source for c in services.store.all_chunks()}
    assert sources == {
        "rag/retrieval.md", "rag/evaluation.mdx", "basics/tokens.txt",
        "basics/attention.html", "basics/prompting.pdf",
    }


def test_chunks_carry_heading_position_page_and_hash(indexed):
    chunks = indexed.store.all_chunks()
    overlap = next(c for c in chunks if c.heading.endswith("Overlap"))
    assert overlap.heading == "Retrieval Notes > Chunking > Overlap"
    text = (indexed.settings.knowledge_dir / overlap.source).read_text()
    assert text[overlap.start : overlap.end] == overlap.text
    assert len(overlap.content_hash) == 16
    pdf_pages = sorted(c.page for c in chunks if c.source.endswith(".pdf"))
    assert pdf_pages == [1, 2]


def test_second_run_with_nothing_changed_embeds_nothing(indexed):
    before = {c.id for c in indexed.store.all_chunks()}
    report = indexed.admin.ingest()
    assert (report.added, report.updated, report.removed) == (0, 0, 0)
    assert report.unchanged == report.chunks == len(before)
    assert {c.id for c in indexed.store.all_chunks()} == before


def test_add_change_delete_are_applied_incrementally(indexed):
    notes = indexed.settings.knowledge_dir
    (notes / "rag/new-note.md").write_text("# Agents\n\nAn agent plans, calls tools and observes results.\n")
    retrieval = notes / "rag/retrieval.md"
    retrieval.write_text(retrieval.read_text().replace("mixes topics", "blurs two topics together"))
    (notes / "basics/tokens.txt").unlink()

    report = indexed.admin.ingest()
    assert report.added == 1
    assert report.updated == 1  # only the edited chunk, not the whole file
    assert report.removed == 1
    sources = {c.source for c in indexed.store.all_chunks()}
    assert "basics/tokens.txt" not in sources and "rag/new-note.md" in sources
    hits = indexed.retriever.search("agent calls tools", k=1)
    assert hits[0].chunk.source == "rag/new-note.md"
    assert any("blurs two topics" in c.text for c in indexed.store.all_chunks())
    assert not any("mixes topics" in c.text for c in indexed.store.all_chunks())


def test_a_note_that_turns_unreadable_keeps_its_last_good_version(indexed):
    pdf = indexed.settings.knowledge_dir / "basics/prompting.pdf"
    pdf.write_bytes(b"%PDF-1.4 truncated by a failed sync")
    report = indexed.admin.ingest()
    reason = {s.path: s.reason for s in report.skipped}["basics/prompting.pdf"]
    assert "previously indexed version is kept" in reason
    assert indexed.retriever.search("few-shot examples", k=1)[0].chunk.source == "basics/prompting.pdf"


def test_reset_rebuilds_from_scratch(indexed):
    n = indexed.store.count()
    report = indexed.admin.ingest(reset=True)
    assert report.added == n and report.unchanged == 0


def test_a_second_run_at_the_same_time_is_refused(indexed):
    from filelock import FileLock

    with FileLock(str(indexed.settings.data_dir / "ingest.lock")):
        with pytest.raises(IndexBusy, match="already working"):
            indexed.admin.ingest()


def test_links_out_of_the_folder_and_link_loops_are_skipped(services, tmp_path):
    notes = services.settings.knowledge_dir
    secret = tmp_path / "secret.md"
    secret.write_text("# Secret\n\nnot a note\n")
    (notes / "escape.md").symlink_to(secret)
    (notes / "loop").symlink_to(notes / "loop")
    report = services.admin.ingest()
    reasons = {s.path: s.reason for s in report.skipped}
    assert reasons["escape.md"] == "link points outside the knowledge folder"
    assert "secret.md" not in {c.source for c in services.store.all_chunks()}


def test_ingest_json_contract(settings):
    result = run_cli("ingest.py", "--knowledge", str(settings.knowledge_dir),
                     "--db", str(settings.data_dir), "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(payload) == {"files", "chunks", "added", "updated", "removed", "unchanged", "skipped"}
    assert payload["files"] == 5 and payload["added"] == payload["chunks"]
    assert {"path": "basics/empty.md", "reason": "empty file"} in payload["skipped"]
    assert "chunks in the index" in result.stderr  # the one-line summary


def test_an_interrupted_ingest_leaves_the_old_index_and_the_next_run_finishes(indexed, embedder):
    notes = indexed.settings.knowledge_dir
    before = indexed.store.count()
    # Enough new text that the run is still embedding when it is killed.
    for i in range(40):
        body = "\n\n".join(
            f"## Topic {i}-{j}\n\nParagraph {j} about subject {i}: " + "token " * 150 for j in range(6)
        )
        (notes / f"bulk/file{i:02d}.md").parent.mkdir(exist_ok=True)
        (notes / f"bulk/file{i:02d}.md").write_text(f"# Bulk {i}\n\n{body}\n")
    proc = subprocess.Popen(
        [sys.executable, "ingest.py", "--knowledge", str(notes), "--db", str(indexed.settings.data_dir)],
        cwd=ROOT, stderr=subprocess.PIPE, text=True,
    )
    seen = ""
    deadline = time.time() + 120
    while time.time() < deadline:
        seen += proc.stderr.read(1)
        if "Embedding" in seen and "/" in seen.split("Embedding")[-1]:
            time.sleep(1.5)  # let it write part of the work
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    # The previous index is still searchable from a fresh process.
    result = run_cli("-m", "assistant", "search", "reciprocal rank fusion", "--json",
                     "--db", str(indexed.settings.data_dir))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["hits"][0]["source"] == "rag/retrieval.md"

    report = indexed.admin.ingest()
    assert report.files == 45
    # Every file's chunks are present exactly once: same as a clean build.
    chunks = indexed.store.all_chunks()
    assert len({c.id for c in chunks}) == len(chunks) == report.chunks
    clean = indexed.admin.ingest(reset=True)
    assert clean.chunks == report.chunks > before
