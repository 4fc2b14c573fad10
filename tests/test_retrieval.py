import json

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


def test_near_duplicate_chunks_are_collapsed(runtime):
    notes = runtime.settings.knowledge_dir
    original = (notes / "rag/retrieval.md").read_text()
    (notes / "rag/retrieval-copy.md").write_text(original)
    runtime.ingest()
    hits = runtime.retriever.search("reciprocal rank fusion of rankings", k=5)
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
