import json
import os

import pytest
from conftest import run_cli

from assistant.core.errors import IndexBusy
from assistant.index.ingestion import file_sha256


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
    from assistant.index.library import Library

    with Library(indexed.store).locked("held by this test ({holder})"):
        with pytest.raises(IndexBusy, match="already working on library 'notes'"):
            indexed.admin.ingest()
    assert indexed.admin.ingest().added == 0  # released: the next run goes ahead


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


# --- crashes at known points of the commit ------------------------------------------------------
# `ingest.py` runs in a fresh interpreter with ASSISTANT_TEST_CRASH_AT set: it ends itself with
# os._exit(70) (no cleanup, as a kill) right after the new chunks are written and before the
# manifest ("after-chunks"), or right after the manifest ("after-manifest"). Each state is read
# back by another fresh interpreter, as the next run or the app would see it.

CRASH_AT = "ASSISTANT_TEST_CRASH_AT"

SNAPSHOT = """
import json, sys
from assistant.core.config import Settings
from assistant.index.store import VectorStore
store = VectorStore(Settings.from_env(environ={}, data_dir=sys.argv[1]))
print(json.dumps({"manifest": {p: r.sha256 for p, r in store.files().items()},
                  "chunks": {c.id: c.text for c in store.all_chunks()}}))
"""


def ingest(settings, crash_at: str | None = None, *flags: str):
    env = {k: v for k, v in os.environ.items() if k != CRASH_AT}
    if crash_at:
        env[CRASH_AT] = crash_at
    return run_cli("ingest.py", "--knowledge", str(settings.knowledge_dir), "--db", str(settings.data_dir),
                   "--json", *flags, env=env)


def report_of(result) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def state(store) -> dict:
    """As SNAPSHOT prints it, from this process's store."""
    return {"manifest": {p: r.sha256 for p, r in store.files().items()},
            "chunks": {c.id: c.text for c in store.all_chunks()}}


def snapshot(settings) -> dict:
    """`state` (manifest: path -> sha256, chunks: id -> text) as a fresh process reads it."""
    result = run_cli("-c", SNAPSHOT, str(settings.data_dir))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def top_sources(settings, *queries: str) -> list[str]:
    """The best hit's file for each query, from `python -m assistant search` in a fresh process."""
    result = run_cli("-m", "assistant", "search", "--k", "1", "--json", "--db", str(settings.data_dir),
                     input="".join(q + "\n" for q in queries))
    assert result.returncode == 0, result.stderr
    return [json.loads(line)["hits"][0]["source"] for line in result.stdout.splitlines()]


def edit_and_add(notes) -> None:
    """One chunk of rag/retrieval.md changes; rag/agents.md is new. Both fit in one commit group."""
    retrieval = notes / "rag/retrieval.md"
    retrieval.write_text(retrieval.read_text().replace("mixes topics", "blurs two topics together"))
    (notes / "rag/agents.md").write_text("# Agents\n\nAn agent plans, calls tools and observes results.\n")


QUERIES = ("reciprocal rank fusion", "a chunk that spans two sections", "agent calls tools and observes")


def test_a_run_ended_after_writing_chunks_keeps_the_old_index_and_the_next_run_finishes(indexed):
    settings = indexed.settings
    before = state(indexed.store)
    assert [indexed.retriever.search(q, k=1)[0].chunk.source for q in QUERIES[:2]] == [
        "rag/retrieval.md", "rag/retrieval.md"]
    edit_and_add(settings.knowledge_dir)

    crashed = ingest(settings, "after-chunks")
    assert crashed.returncode == 70, crashed.stderr  # it ended at the hook: not earlier, not later
    during = snapshot(settings)
    # Nothing is committed: the manifest still holds the old versions. The new note is only marked
    # as started (no hash), so that a later run can remove its chunks if the note is deleted.
    assert {p: sha for p, sha in during["manifest"].items() if sha} == before["manifest"]
    assert during["manifest"]["rag/agents.md"] == ""
    # The old index is whole (the edited chunk's old text too) and the new chunks sit beside it.
    assert set(before["chunks"]) < set(during["chunks"])
    assert any("mixes topics" in t for t in during["chunks"].values())
    assert any("blurs two topics together" in t for t in during["chunks"].values())
    assert top_sources(settings, *QUERIES[:2]) == ["rag/retrieval.md", "rag/retrieval.md"]

    # The next run sees the manifest disagree and finishes: what was written is kept, not embedded
    # again; the stale chunk goes.
    finished = report_of(ingest(settings))
    assert (finished["added"], finished["updated"], finished["removed"]) == (0, 0, 1)
    after = snapshot(settings)
    notes = settings.knowledge_dir
    assert after["manifest"]["rag/retrieval.md"] == file_sha256(notes / "rag/retrieval.md")
    assert after["manifest"]["rag/agents.md"] == file_sha256(notes / "rag/agents.md")
    assert not any("mixes topics" in t for t in after["chunks"].values())
    assert top_sources(settings, *QUERIES) == ["rag/retrieval.md", "rag/retrieval.md", "rag/agents.md"]
    # Exactly the chunks of a clean build.
    report_of(ingest(settings, None, "--reset"))
    assert snapshot(settings) == after


def test_a_run_ended_after_writing_the_manifest_has_committed_its_files(indexed):
    settings = indexed.settings
    before = state(indexed.store)
    edit_and_add(settings.knowledge_dir)

    crashed = ingest(settings, "after-manifest")
    assert crashed.returncode == 70, crashed.stderr
    after = snapshot(settings)
    notes = settings.knowledge_dir
    assert after["manifest"] == {**before["manifest"],
                                 "rag/retrieval.md": file_sha256(notes / "rag/retrieval.md"),
                                 "rag/agents.md": file_sha256(notes / "rag/agents.md")}
    texts = after["chunks"].values()
    assert not any("mixes topics" in t for t in texts)
    assert any("blurs two topics together" in t for t in texts)
    assert top_sources(settings, *QUERIES) == ["rag/retrieval.md", "rag/retrieval.md", "rag/agents.md"]

    # Committed means done: the next run finds nothing to do.
    again = report_of(ingest(settings))
    assert (again["added"], again["updated"], again["removed"]) == (0, 0, 0)
    assert snapshot(settings) == after


def test_the_splitter_counts_tokens_as_the_model_does_without_loading_it(embedder, notes):
    """The indexer splits with the model's tokenizer alone (so reading and splitting run while the
    model loads): the same counts, and so the same chunks, as the loaded model's tokenizer."""
    from assistant.index.chunking import Chunker
    from assistant.index.embeddings import count_tokens
    from assistant.index.ingestion import scan
    from assistant.index.loaders import Unreadable, load

    by_model = lambda text: len(embedder._model.tokenizer.tokenize(text))  # noqa: E731
    for text in ["", "Hello, world!", "naïve café — ÜBER straße", "[CLS] x [SEP]", "日本語のテキスト",
                 "emoji 🤖 and tabs\tand\nnewlines", "a " * 600]:
        assert count_tokens(text) == by_model(text), text
    files, _ = scan(notes)
    for rel, path in files:
        try:
            sections = load(path, rel).sections
        except Unreadable:
            continue
        assert Chunker(count_tokens).chunk(rel, sections) == Chunker(by_model).chunk(rel, sections), rel


def test_the_model_loads_only_when_there_is_something_to_embed(indexed):
    """A run with nothing changed never loads the model; a changed note loads it (in a thread, while
    the notes are read) and is embedded with the same vectors as a query of the same text."""
    from assistant.index.ingestion import Indexer

    settings, loads = indexed.settings, []

    def load_model():
        loads.append(1)
        return indexed.embedder

    def run():
        return Indexer(settings.knowledge_dir, settings.data_dir, indexed.store, load_model).run()

    assert run().added == 0 and loads == []
    (settings.knowledge_dir / "rag/agents.md").write_text("# Agents\n\nAn agent plans, calls tools and observes.\n")
    assert run().added == 1 and loads == [1]
    chunk = next(c for c in indexed.store.all_chunks() if c.source == "rag/agents.md")
    stored = indexed.store.vectors([chunk.id])[chunk.id]
    assert float(stored @ indexed.embedder.embed([chunk.embedding_text()])[0]) > 0.9999


def test_bulk_embedding_matches_the_models_own_encode(embedder):
    """Bulk batches (length-sorted, one worker per core) give the model's own vectors, in order."""
    import numpy as np

    texts = [f"Passage {i}: " + "retrieval grounds answers in notes. " * (1 + i % 7) for i in range(70)]
    done = []
    vectors = embedder.embed(texts, batch_size=16, progress=done.append)
    expected = embedder._model.encode(texts, batch_size=16, normalize_embeddings=True)
    assert vectors.shape == (70, 384) and vectors.dtype == np.float32
    assert np.abs(vectors - expected).max() < 1e-5
    assert done == sorted(done) and done[-1] == 70


def test_a_passage_cut_between_sentences_starts_with_its_first_word_not_the_last_full_stop():
    from assistant.core.schema import Section
    from assistant.index.chunking import Chunker
    from assistant.index.embeddings import count_tokens

    text = " ".join(f"Sentence {i} says that a long paragraph of plain prose goes on and on." for i in range(60))
    chunks = Chunker(count_tokens).chunk("notes.md", [Section("Notes > Prose", text, start=0)])
    assert len(chunks) > 2
    assert all(c.text.startswith("Sentence") for c in chunks), [c.text[:12] for c in chunks]
    assert all(text[c.start:c.end] == c.text for c in chunks)  # still a verbatim slice, located
