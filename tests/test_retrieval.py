import json

import pytest
from conftest import run_cli


def test_hybrid_search_finds_the_passage_by_paraphrase_and_by_rare_term(indexed):
    hit = indexed.retriever.search("how do I combine keyword and vector rankings", k=1)[0]
    assert hit.chunk.heading == "Retrieval Notes > Hybrid search"
    hit = indexed.retriever.search("BM25", k=1)[0]
    assert "BM25" in hit.chunk.text


def test_scope_limits_results_to_a_folder_or_file_prefix(indexed):
    hits = indexed.retriever.search("tokens attention text", k=10, scope="basics/")
    assert hits and all(h.chunk.source.startswith("basics/") for h in hits)
    hits = indexed.retriever.search("passages", k=10, scope="rag/evaluation")
    assert hits and {h.chunk.source for h in hits} == {"rag/evaluation.mdx"}
    assert indexed.retriever.search("passages", k=5, scope="no-such-folder/") == []


def test_near_duplicate_chunks_are_collapsed(services):
    notes = services.settings.knowledge_dir
    original = (notes / "rag/retrieval.md").read_text()
    (notes / "rag/retrieval-copy.md").write_text(original)
    services.admin.ingest()
    hits = services.retriever.search("reciprocal rank fusion of rankings", k=5)
    texts = [h.chunk.text for h in hits]
    assert len(texts) == len(set(texts))


def test_search_cli_json_contract_and_stdin_batch(indexed):
    db = str(indexed.settings.data_dir)
    result = run_cli("-m", "assistant", "search", "mean reciprocal rank", "--k", "3", "--json", "--db", db)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["query"] == "mean reciprocal rank"
    assert [h["rank"] for h in payload["hits"]] == [1, 2, 3]
    first = payload["hits"][0]
    assert set(first) == {"rank", "chunk_id", "source", "heading", "text", "score"}
    assert first["source"] == "rag/evaluation.mdx"
    assert first["heading"] == "Evaluating RAG > Mean reciprocal rank"

    batch = run_cli("-m", "assistant", "search", "--json", "--db", db, "--k", "1",
                    input="self-attention cost\nfew-shot prompting\n")
    lines = [json.loads(line) for line in batch.stdout.splitlines()]
    assert [line["query"] for line in lines] == ["self-attention cost", "few-shot prompting"]
    assert lines[0]["hits"][0]["source"] == "basics/attention.html"
    assert lines[1]["hits"][0]["source"] == "basics/prompting.pdf"


def test_search_cli_table_is_readable(indexed):
    result = run_cli("-m", "assistant", "search", "quadratic cost", "--db", str(indexed.settings.data_dir))
    assert "basics/attention.html › Attention > Cost" in result.stdout


def _saved_indexes(services):
    folder = services.settings.data_dir / "keyword-index" / services.settings.collection
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []


def test_the_keyword_index_is_saved_and_reloaded_and_follows_note_changes(services, embedder, monkeypatch):
    from assistant.index import retrieval

    services.admin.ingest()
    first = services.retriever.search("BM25", k=3)
    saved = _saved_indexes(services)
    assert len(saved) == 1
    # A later start reads the saved index (no note is tokenised again) and finds the same.
    with monkeypatch.context() as patched:
        patched.setattr(retrieval, "_tokenize", lambda texts: pytest.fail("the index was rebuilt"))
        again = retrieval.Retriever(services.store, embedder, cache_dir=saved[0].parent)
    assert [h.chunk.id for h in again.search("BM25", k=3)] == [h.chunk.id for h in first]
    assert _saved_indexes(services) == saved
    # A changed note means a new index, found by its new words; the stale one is removed.
    note = services.settings.knowledge_dir / "rag/retrieval.md"
    note.write_text(note.read_text() + "\n\nZanzibarian reranking is a made-up word for this test.\n")
    services.admin.ingest()
    assert "Zanzibarian" in services.retriever.search("zanzibarian", k=1)[0].chunk.text
    assert len(_saved_indexes(services)) == 1 and _saved_indexes(services) != saved


def test_a_damaged_or_unwritable_saved_index_is_rebuilt_not_fatal(services, embedder):
    from assistant.index.retrieval import Retriever

    services.admin.ingest()
    services.retriever  # noqa: B018  (created on first use, which saves its index)
    saved = _saved_indexes(services)[0]
    for part in saved.iterdir():
        part.write_bytes(b"not an index")
    rebuilt = Retriever(services.store, embedder, cache_dir=saved.parent)
    assert "BM25" in rebuilt.search("BM25", k=1)[0].chunk.text
    # A cache folder that cannot be created (a file is in the way) only costs the saving.
    blocked = services.settings.data_dir / "blocked"
    blocked.write_text("a file, not a folder")
    unsaved = Retriever(services.store, embedder, cache_dir=blocked / "index")
    assert "BM25" in unsaved.search("BM25", k=1)[0].chunk.text
