"""Ask on notes of other shapes (tests/data/shapes): Q&A entries under bold question lines, a long
entry over several chunks, a table under its caption, a figure caption, a Q:/A: pair, HTML in the
text; real model, real Chroma."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import DATA, ROOT, history_of, run_cli
from make_docx import serving_notes_docx
from make_pdf import pdf_bytes

from assistant.core.config import Settings
from assistant.index.pdf import reflow_pdf_page

ASSUMPTIONS = "What are the assumptions of k-means?"


@pytest.fixture(scope="module")
def shapes(tmp_path_factory, embedder):
    from assistant.services import Services

    base = tmp_path_factory.mktemp("shapes")
    shutil.copytree(DATA / "shapes", base / "notes")
    services = Services(Settings.from_env(environ={}, knowledge_dir=base / "notes", data_dir=base / "data"))
    services.__dict__["embedder"] = embedder
    services.admin.ingest()
    return services


def lines_of(answer) -> list[str]:
    return [line for line in answer.text.splitlines() if line.strip()]


def line_before(lines: list[str], text: str) -> str:
    """The line shown right before the one holding `text` ("" when that one leads)."""
    at = next(i for i, line in enumerate(lines) if text in line)
    return lines[at - 1] if at > 0 else ""


def one_note(tmp_path, embedder, name: str, content: str | bytes):
    """Services over a notes folder holding one note, indexed with the real model."""
    from assistant.services import Services

    notes = tmp_path / "notes"
    notes.mkdir()
    if isinstance(content, bytes):
        (notes / name).write_bytes(content)
    else:
        (notes / name).write_text(content, encoding="utf-8")
    services = Services(Settings.from_env(environ={}, knowledge_dir=notes, data_dir=tmp_path / "data"))
    services.__dict__["embedder"] = embedder
    services.admin.ingest()
    return services


def test_an_entry_too_long_for_one_chunk_keeps_its_title_and_is_answered_whole(shapes):
    parts = [c for c in shapes.retriever.chunks if c.heading.endswith(ASSUMPTIONS)]
    assert len(parts) >= 2  # the entry spans chunks, each carrying the question as its heading
    answer = shapes.ask.ask("Can I run k-means on categorical columns as they are?")
    assert not answer.refused and "should not be used with categorical data" in answer.text
    assert all(c.chunk.heading.endswith(ASSUMPTIONS) for c in answer.citations)


def test_question_lines_are_never_quoted(shapes):
    answer = shapes.ask.ask("How should I pick the number of clusters for k-means?")
    assert "elbow" in answer.text
    assert not any(line.rstrip(" []0123456789").endswith("?") for line in lines_of(answer))
    qa = shapes.ask.ask("Why do companies begin with tools for their own staff?")
    assert "lower risk" in qa.text and "Q:" not in qa.text and "A:" not in qa.text


def test_a_table_row_is_answered_with_its_header(shapes):
    answer = shapes.ask.ask("What is an enterprise example for conversational bots?")
    row = next(line for line in lines_of(answer) if "Customer support agents" in line)
    assert "Enterprise example" in row and "Conversational bots" in row


def test_captions_html_images_and_references_are_never_an_answer(shapes):
    for question in ("Where are applications deployed first?", "What does max pooling keep?",
                     "Who wrote about bagging predictors?"):
        answer = shapes.ask.ask(question)
        if answer.refused:
            continue
        assert "Figure 1-2" not in answer.text and "(1996)" not in answer.text
        assert "<b>" not in answer.text and "<img" not in answer.text and "<i>" not in answer.text
    assert "largest value" in shapes.ask.ask("What does max pooling keep?").text


def test_a_follow_up_naming_a_new_concept_leaves_the_old_passage(shapes):
    first = shapes.ask.ask("What is k-means clustering?")
    assert "nearest centroid" in first.text
    history = history_of(first)
    second = shapes.ask.ask("And how do I choose its k?", history)
    assert "elbow" in second.text
    assert second.citations[0].chunk.heading.endswith("How do you choose k for k-means?")
    # "And ..." with a question of its own is chosen for by its own words, not the last question's.
    third = shapes.ask.ask("And what's this pooling thing?", history)
    assert "pooling" in third.text.lower()
    assert all(c.chunk.heading.endswith("What does a pooling layer do?") for c in third.citations)


def test_a_follow_up_with_a_topic_of_its_own_is_searched_by_its_own_words(tmp_path, embedder):
    # The lecture PDFs of the benchmark: the first question's words ("vectors", "flat", "index")
    # fill the slides on index types, and the follow-up's "value" the serving notes' KV cache.
    # Its own "HNSW" must weigh more than the words it follows, as it does in meaning.
    from assistant.services import Services

    shutil.copytree(ROOT / "benchmarks/data/notes/pdf", tmp_path / "notes")
    services = Services(Settings.from_env(environ={}, knowledge_dir=tmp_path / "notes", data_dir=tmp_path / "data"))
    services.__dict__["embedder"] = embedder
    services.admin.ingest()
    first = services.ask.ask("up to roughly how many vectors is a plain flat index fine?")
    assert "100k vectors" in first.text
    follow = services.ask.ask("and what about HNSW, what value of M do people usually pick?", history_of(first))
    assert "links per node, typical value 16" in follow.text.splitlines()[0]


def test_a_near_domain_question_is_refused_naming_what_the_notes_lack(shapes):
    answer = shapes.ask.ask("How does DBSCAN decide which points form a cluster?")
    assert answer.refused and "DBSCAN" in answer.text
    assert shapes.ask.ask("How does LoRA cut the trainable parameters of a convolutional network?").refused
    # An acronym the notes spell out is not missing ("k-means" as written, "CNN" as the words).
    assert not shapes.ask.ask("What does pooling do in a CNN?").refused
    # A concept in lower case, rare in English and never in the notes, is what the question is
    # about when it opens the question ("How does dropout ...").
    answer = shapes.ask.ask("How does dropout help a convolutional network avoid overfitting?")
    assert answer.refused and "dropout" in answer.text
    answer = shapes.ask.ask("Can you explain how dropout works in a convolutional network?")
    assert answer.refused and "dropout" in answer.text
    # A hyphenated compound is a term of its own, however common its words: the notes lack
    # "self-attention" when they never write "attention", and know "k-means".
    answer = shapes.ask.ask("How does self-attention weigh the pixels of an image?")
    assert answer.refused and "self-attention" in answer.text
    assert not shapes.ask.ask("What does k-means minimise?").refused
    # A question far from every passage is refused by similarity alone; the refusal still says
    # what the notes never mention.
    answer = shapes.ask.ask("What is the capital of Australia?")
    assert answer.refused and "They never mention Australia." in answer.text
    # A rare word elsewhere is another way of saying what the notes say.
    assert not shapes.ask.ask("Why is k-means a poor fit for unscaled columns?").refused


def test_an_acronym_is_spelled_out_by_its_words_and_its_final_capital_is_a_letter():
    from assistant.ask.concepts import spelled_out

    assert spelled_out("KPIs", ["Map key performance indicators to model metrics."])
    # "AWS" is not the plural of "AW": "attention weights" does not spell it out.
    assert not spelled_out("AWS", ["Attention weights grow with the square of the length."])


def test_a_subject_word_is_neither_a_name_with_a_digit_nor_the_closing_verb():
    from assistant.ask.concepts import rare_subject_words

    # "BM25" was read as "BM", rare and unknown: "What does BM25 find?" was refused.
    assert rare_subject_words("What does BM25 find?") == []
    assert rare_subject_words("How does dropout help?") == ["dropout"]
    # After "does" the subject comes before the verb: "minimise" ends the question, it is no concept.
    assert rare_subject_words("What does k-means minimise?") == ["k-means"]


def test_pdf_pages_are_reflowed_and_lose_their_page_numbers():
    page = ("Serving notes\nA decoder-only transformer generates\ntext one token at a time, and a popular\n"
            "application answers millions of requests.\n- first item\n- second item\n3 / 22")
    assert reflow_pdf_page(page) == ("Serving notes\nA decoder-only transformer generates text one token at a "
                                     "time, and a popular application answers millions of requests.\n"
                                     "- first item\n- second item")


def test_ask_json_reads_conversations_from_stdin_and_names_malformed_lines(shapes):
    db, notes = str(shapes.settings.data_dir), str(shapes.settings.knowledge_dir)
    first = shapes.ask.ask("What is k-means clustering?")
    follow_up = {"question": "And how do I choose its k?",
                 "history": [{"role": "user", "content": first.question},
                             {"role": "assistant", "content": first.text}]}
    stdin = "\n".join([json.dumps(follow_up), '{"question": broken', '{"history": []}',
                       "What does a pooling layer do?"]) + "\n"
    result = run_cli("-m", "assistant", "ask", "--json", "--db", db, "--knowledge", notes, input=stdin)
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["question"] for a in answers] == ["And how do I choose its k?", "What does a pooling layer do?"]
    assert "elbow" in answers[0]["answer"]
    errors = result.stderr.strip().splitlines()
    assert errors[0].startswith("line 2: not valid JSON") and errors[1].startswith("line 3: a JSON line needs")


def test_pdf_sections_follow_the_headings_set_in_a_larger_font(tmp_path):
    """A PDF exported from a document: a section named by its heading line, across a page break."""
    from assistant.index.loaders import load

    path = tmp_path / "serving.pdf"
    path.write_bytes(pdf_bytes([
        "# 5. Batching and scheduling\nBatching turns idle arithmetic units into throughput.\n"
        "# 6. Speculative decoding\nA small draft model proposes several tokens ahead.",
        "Reported speedups are typically 2 to 3 times.\n# 7. Parallelism\nTensor parallelism splits weights.",
    ]))
    doc = load(path, "serving.pdf")
    named = [(s.heading.split(" > ")[-1], s.page, s.text.split("\n")[-1]) for s in doc.sections]
    assert named == [
        ("5. Batching and scheduling", 1, "Batching turns idle arithmetic units into throughput."),
        ("6. Speculative decoding", 1, "A small draft model proposes several tokens ahead."),
        ("6. Speculative decoding", 2, "Reported speedups are typically 2 to 3 times."),
        ("7. Parallelism", 2, "Tensor parallelism splits weights."),
    ]
    pages = dict(doc.pages)  # offsets point into the page's text, for the Sources view
    assert all(pages[s.page][s.start:s.start + len(s.text)] == s.text for s in doc.sections)


def test_a_sentence_cut_by_a_page_break_is_read_whole_on_the_page_where_it_starts(tmp_path):
    from assistant.index.loaders import load

    path = tmp_path / "serving.pdf"
    path.write_bytes(pdf_bytes([
        "# 4. Quantization\nWeights can be stored in 8 bits. The NVIDIA H100",
        "supports FP8 arithmetic in hardware, with the E4M3 and E5M2 formats. The difficulty is outliers.",
    ]))
    doc = load(path, "serving.pdf")
    texts = [s.text for s in doc.sections]
    assert any("The NVIDIA H100 supports FP8 arithmetic in hardware" in t for t in texts), texts
    assert [t.split("\n")[-1] for t in texts][-1] == "The difficulty is outliers."
    pages = dict(doc.pages)
    assert all(pages[s.page][s.start:s.start + len(s.text)] == s.text for s in doc.sections)


def test_a_pdf_heading_is_never_quoted_as_an_answer(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "serving.pdf", pdf_bytes([
        "# 6. Speculative decoding\nSpeculative decoding attacks the one-token-per-step limit directly. "
        "A small draft model proposes several tokens ahead.\nReported speedups are typically 2 to 3 times.",
    ]))
    answer = services.ask.ask("What does speculative decoding do?")
    assert "one-token-per-step limit" in answer.text
    assert [c.chunk.heading for c in answer.citations] == ["serving > 6. Speculative decoding"]
    assert not any(line.strip(" *").startswith(("Speculative decoding [", "6. Speculative decoding"))
                   for line in lines_of(answer))


def test_a_pdf_tables_row_is_answered_with_its_header_and_the_line_below_stays_a_sentence(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "rag.pdf", pdf_bytes([
        "# Chunk size trade-offs\nChunk size\tStrength\tWeakness\n"
        "Small (~128 tokens)\tPrecise matches\tLoses context\n"
        "Large (1000+ tokens)\tKeeps arguments whole\tDiluted embedding\n"
        "A useful trick is to retrieve small chunks but pass their parent section to the LLM.",
        "# Measuring similarity\nCosine similarity compares direction and ignores vector length.",
    ]))
    # Plain extraction runs a row's cells and the line under the table together.
    answer = services.ask.ask("What is the weakness of large chunks?")
    assert lines_of(answer)[0].startswith(
        "Chunk size: Large (1000+ tokens) · Strength: Keeps arguments whole · Weakness: Diluted embedding [1]")
    trick = services.ask.ask("Is there a trick to get small chunks' precision with more context for the LLM?")
    assert "A useful trick is to retrieve small chunks but pass their parent section to the LLM. [1]" in lines_of(trick)


SPACED_TABLES = (
    "SERVING NOTES\n\nQuantization basics:\n\nThe table is memory for the weights alone.\n\n"
    "    format        bytes/param    7B model    70B model\n"
    "    fp32          4              28 GB       280 GB\n"
    "    fp16/bf16     2              14 GB       140 GB\n"
    "    int4          0.5            3.5 GB      35 GB\n\n"
    "GPU numbers I keep looking up (memory, bandwidth)\n"
    "    A100 80GB        80 GB HBM2e    ~2.0 TB/s\n"
    "    H100 SXM         80 GB HBM3     ~3.35 TB/s\n\n"
    "Pricing I wrote down, per 1M tokens, and output tokens cost more than input tokens\n\n"
    "    model / option              input per 1M    output per 1M\n"
    "    gpt-4o (launch, May 2024)   $5.00           $15.00\n"
    "    gpt-4o-mini (July 2024)     $0.15           $0.60\n")


def test_a_plain_text_table_set_out_with_spaces_is_answered_row_by_row_with_its_header(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "serving.txt", SPACED_TABLES)
    lines = lines_of(services.ask.ask("How much memory do the weights of a 70B model need in int4?"))
    assert "format: int4 · bytes/param: 0.5 · 7B model: 3.5 GB · 70B model: 35 GB [1]" in lines[:2]
    # Rows under a line that ends without a colon or a wrap: never run together into one line.
    price = lines_of(services.ask.ask("How much does gpt-4o-mini cost per million output tokens?"))
    assert any(line.startswith("model / option: gpt-4o-mini (July 2024) · input per 1M: $0.15 · output per 1M: $0.60")
               for line in price[:2])
    # A table whose first line is a row like the others has no header.
    gpu = lines_of(services.ask.ask("What's the memory bandwidth of an H100 SXM?"))
    assert "H100 SXM · 80 GB HBM3 · ~3.35 TB/s [1]" in gpu[:2]


def test_a_row_of_a_long_table_is_answered_from_its_own_row(shapes):
    parts = [c for c in shapes.retriever.chunks if c.heading.endswith("Notebooks")]
    assert len(parts) >= 2  # the table spans chunks: the later one has no header line of its own
    answer = shapes.ask.ask("Which library does the notebook that removes duplicate samples use?")
    first = lines_of(answer)[0]
    assert "Rensa library" in first and "Open In Colab" not in answer.text
    assert "Eval Runner" not in answer.text  # a data row is never taken for the header


def test_a_reading_list_line_answers_only_when_reading_is_asked_for(shapes):
    answer = shapes.ask.ask("What is the weakness of judge models?")
    assert lines_of(answer)[0].startswith("**Judge models**") or "favour answers" in lines_of(answer)[0]
    reading = shapes.ask.ask("Which article should I read about judge models?")
    assert any("Judging the judges" in line for line in lines_of(reading)[:2])  # under its lead-in


def test_a_definition_is_quoted_without_its_list_marker(shapes):
    answer = shapes.ask.ask("What is greedy decoding?")
    assert "highest-probability token" in answer.text
    assert not any(line.startswith(":") for line in lines_of(answer))


def test_a_follow_up_that_only_points_back_is_answered_from_the_passage_just_quoted(shapes):
    first = shapes.ask.ask("Which Python version do I need at minimum?")
    assert "Python 3.10 or newer" in first.text
    history = history_of(first)
    # Alone, or searched with the question before it, this finds nothing close: only the
    # conversation says what "they" and "the older one" are.
    follow = shapes.ask.ask("Why did they stop supporting the older one?", history)
    assert not follow.refused and "stopped shipping wheels" in follow.text
    assert all(c.chunk.heading.endswith("Requirements") for c in follow.citations)
    # A pronoun does not make a question of its own topic a follow-up.
    assert shapes.ask.ask("How do I repot an orchid without hurting its roots?", history).refused


def test_a_bare_why_bother_is_about_what_was_just_said(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "rag.md", (
        "# RAG\n\n## Document ingestion\n\n- Keep metadata with every chunk: source file, page number, section, date\n"
        "- Metadata lets the answer cite a page and filter by permissions\n- Scanned pages need OCR first\n\n"
        "## Chunking\n\n- Fixed-size chunks of 256 to 512 tokens are a common start\n"
        "- Overlap neighbouring chunks by about 10 to 20 percent\n"))
    first = services.ask.ask("What info should I keep attached to each chunk when ingesting?")
    assert "Keep metadata with every chunk" in first.text
    # "Bother" is a word the notes never use, and alone the question names nothing to search.
    follow = services.ask.ask("Why bother?", history_of(first))
    assert not follow.refused and follow.citations[0].chunk.heading.endswith("Document ingestion")


INTERVIEW = (
    "# Interview questions\n\n## Statistics\n\n**Explain the Central Limit Theorem.**\n\n"
    "The Central Limit Theorem says that the distribution of the sample mean approaches a normal distribution "
    "as the sample size grows, whatever the shape of the underlying population, as long as the population has "
    "a finite variance. A common rule of thumb is that a sample size of about 30 is enough for moderately "
    "skewed data, while heavily skewed data needs more. The spread of the sample mean is the standard error, "
    "`sigma / sqrt(n)`, so quadrupling the sample size halves the standard error. The theorem is the reason "
    "z-tests, t-tests and normal-based confidence intervals work for means even when the raw data are not "
    "normal.\n\n## Neural networks\n\n**What is batch normalization?**\n\n"
    "Batch normalization (Ioffe and Szegedy, 2015) normalizes a layer's inputs using the mean and variance of "
    "the current mini-batch, then applies a learned scale and shift so the layer can still represent any "
    "distribution it needs. It allows higher learning rates, makes training less sensitive to initialization "
    "and has a mild regularizing effect. During training it uses batch statistics; at inference it uses "
    "running averages collected during training.\n")


def test_a_follow_up_that_names_nothing_new_stays_with_the_entry_just_quoted(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "interview.md", INTERVIEW)
    first = services.ask.ask("How many observations before the average of my sample is normally distributed?")
    assert "about 30" in first.text
    # "useful" and "practice" name nothing: the follow-up is about the theorem, though the
    # batch-normalization entry reads closer to "why is that useful in practice?".
    follow = services.ask.ask("ok, and why is that useful in practice?", history_of(first))
    assert "normal-based confidence intervals" in lines_of(follow)[0]
    assert all("Central Limit" in c.chunk.heading for c in follow.citations)
    # A follow-up naming another entry's topic moves on to it.
    moved = services.ask.ask("And does batch normalization rely on that too?", history_of(first))
    assert "mini-batch" in moved.text


LUMEN_RETRIEVAL = """# Lumen retrieval

## Hybrid search

By default Lumen combines two retrievers. Dense retrieval compares embedding vectors and handles \
paraphrases well. Sparse retrieval uses BM25 over the raw text and is better at exact terms such as \
error codes, function names and version numbers.

### The score threshold

After fusion, chunks scoring below `retrieval.min_score` (default 0.25) are dropped. If nothing \
survives, Lumen does not call the model at all and returns its refusal message. Raising the \
threshold makes the assistant refuse more often and hallucinate less; lowering it does the opposite.

## Troubleshooting

### The assistant refuses questions my documents do answer

The best chunk scored below `retrieval.min_score`. Run `lumen search` to see the actual scores. If \
the right chunk sits just below the threshold, lower `min_score` in steps of 0.05 and re-run your \
evaluation. If the right chunk is missing entirely, the question uses different words than the \
document: switch to `hybrid` mode if you are on `dense`, or add synonyms to the document.
"""


def test_a_follow_up_leans_towards_the_entries_under_the_one_just_quoted(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "retrieval.md", LUMEN_RETRIEVAL)
    first = services.ask.ask("Why combine keyword search with embeddings at all?")
    assert all(c.chunk.title == "Hybrid search" for c in first.citations)
    # "the cutoff" names a topic of its own, so the answer may move on, but a section under the
    # one just quoted continues it: the threshold's own entry is quoted beside the troubleshooting tip.
    follow = services.ask.ask("And what's the cutoff below which results are thrown out and it gives up?",
                              history_of(first))
    assert "(default 0.25)" in follow.text


def test_a_quoted_sentence_with_a_wiki_link_is_found_again_in_its_note(tmp_path, embedder):
    # An answer shows [[Agent Loop|the loop]] as "the loop" and ==x== as **x**; a follow-up must
    # still know which passage it quoted.
    services = one_note(tmp_path, embedder, "Memory.md", (
        "# Memory\n\n## Short-term memory\n\nShort-term memory is simply the context window, i.e. the "
        "message list from [[Agent Loop|the loop]]. It is bounded by the ==token limit== of the model.\n"))
    answer = services.ask.ask("What is an agent's short-term memory?")
    assert "the message list from the loop" in answer.text and "[[" not in answer.text
    lines = [line.split(" [")[0] for line in lines_of(answer)]
    assert [c.heading for c in services.retriever.containing(lines)] == ["Memory > Short-term memory"]


def test_a_how_many_question_is_answered_with_the_number_its_passage_gives(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "rag.md", (
        "# Retrieval\n\n## Reranking\n\n"
        "A cross-encoder reads the query and one chunk together and outputs a relevance score. "
        "It is much more accurate than a bi-encoder, but no scores can be precomputed. "
        "Example model: cross-encoder/ms-marco-MiniLM-L-6-v2, released in 2021. "
        "Reranking is often the single biggest quality win in a new RAG system. "
        "The usual pattern: retrieve 50 to 100 candidates cheaply, rerank them, keep the top few.\n\n"
        "## Chunking\n\nSplit documents on headings first, then on paragraphs, so that each chunk "
        "keeps one topic. Overlap between chunks keeps a sentence's context.\n"))
    answer = services.ask.ask("How many results should I pull back before running the cross-encoder over them?")
    # The sentences most like the question name no number (a digit in a model's name and a year
    # are not one); the answer still shows the one that does.
    assert not answer.refused and "50 to 100 candidates" in answer.text


def test_a_question_about_the_catch_is_answered_with_the_cost_its_passage_names(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "rag.md", (
        "# RAG pipeline\n\n## Query transformations\n\n"
        "- Query rewriting: an LLM turns a chatty follow-up into a standalone question\n"
        "- Multi-query: generate several paraphrases, retrieve for each, merge results\n"
        "- Decomposition: split a compound question into sub-questions\n"
        "- HyDE: embed a hypothetical answer instead of the question\n"
        "- Every transformation adds one LLM call to the latency budget\n\n"
        "## Reranking\n\nA cross-encoder reads the query and each candidate together and scores the pair. "
        "Retrieve 50 candidates, rerank, keep the top 5.\n"))
    answer = services.ask.ask("do query tricks like multi-query or rewriting cost me anything?")
    # The items most like the question describe the tricks; the one naming their cost answers.
    assert "adds one LLM call to the latency budget" in answer.text


def test_a_question_about_a_term_is_answered_by_the_line_the_note_gives_it(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "indexes.md", (
        "# Vector search\n\n## Vector indexes\n\n"
        "- Flat index: compare the query with every vector; exact but cost grows linearly with N\n"
        "- Approximate nearest neighbour (ANN) indexes trade a little recall for speed\n"
        "- HNSW: a layered graph; search walks from coarse to fine layers\n"
        "- IVF: cluster vectors with k-means and search only the nearest clusters\n\n"
        "## Tuning HNSW and IVF\n\n"
        "- efSearch: candidate list size at query time; raise it for recall, lower it for speed\n"
        "- IVF parameter nlist: number of clusters, FAISS suggests 4*sqrt(N) to 16*sqrt(N)\n"
        "- IVF parameter nprobe: clusters visited per query; nprobe = nlist makes it exact\n"))
    answer = services.ask.ask("how does an IVF index speed up search?")
    # The tuning lines name IVF and speed too; the line the notes give IVF itself says how.
    assert "IVF: cluster vectors with k-means" in answer.text


def test_a_question_only_a_figure_answers_is_refused_when_the_passages_give_none(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "finetuning.md", (
        "# Fine-tuning\n\n## LoRA\n\n"
        "LoRA freezes the pretrained weights and trains small low-rank matrices beside them instead. "
        "Because so few parameters are trained, fine-tuning fits on a single consumer GPU. "
        "The adapters can be merged into the weights after training, so serving costs nothing extra.\n\n"
        "## Full fine-tuning\n\nFull fine-tuning updates every weight of the model, which needs "
        "the memory for the optimizer state of each of them.\n"))
    answer = services.ask.ask("What learning rate should I use when fine-tuning with LoRA?")
    # The passages are about LoRA, but nothing in them is a learning rate.
    assert answer.refused and "give no figure" in answer.text
    assert not services.ask.ask("What does LoRA train instead of the pretrained weights?").refused


@pytest.mark.parametrize("question, figure", [
    ("What learning rate should I use with LoRA?", True),
    ("How many attention heads does it use?", True),
    ("what's the context window size of gpt-4o-mini?", True),
    ("What is reciprocal rank fusion?", False),  # a name that holds a measure's word
    ("What does the temperature setting change?", False),
])
def test_only_a_question_about_the_measure_itself_asks_for_a_figure(question, figure):
    from assistant.ask.cues import asks_for_figure

    assert asks_for_figure(question) is figure


def test_a_why_question_is_answered_with_what_the_step_prevents(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "attention.md", (
        "# Transformers\n\n## Scaled dot-product attention\n\n"
        "Each token is projected into a query, a key and a value. "
        "The attention scores are the dot products of one token's query with every key, divided by "
        "the square root of the key dimension, then passed through a softmax. "
        "The softmax turns the scores into weights that sum to one. "
        "The output is the weighted sum of the values. "
        "Multi-head attention runs several of these in parallel, each with its own projections. "
        "Dividing by √d_k keeps them from growing too large and saturating the softmax. "
        "A causal mask hides later tokens from earlier ones in a decoder.\n\n"
        "## Positional encodings\n\nAttention itself ignores order, so each token's position is "
        "added to its embedding, either as fixed sinusoids or as learned vectors.\n"))
    answer = services.ask.ask("Why is the attention score scaled by the square root of the key size?")
    # The sentences most like the question restate it; the reason is what the step prevents.
    assert not answer.refused and "keeps them from growing too large" in answer.text


def test_the_faq_entry_asked_is_answered_by_the_sentence_after_its_question(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "agents.md", (
        "# Agents\n\n## The loop\n\n"
        "An agent is a model called over and over inside a loop, choosing tool calls whose results "
        "are fed back into the next call. Each turn appends the tool result to the context.\n\n"
        "## Debugging\n\n"
        "#### Why does my agent keep calling the same tool?\n"
        "Usually because the result tells it nothing new, e.g. an empty list with no message. "
        "Return something explicit such as \"no results for X; try a broader query\".\n\n"
        "#### How many tools should one agent get?\n"
        "Keep the set small; past ten tools the model starts to pick the wrong one.\n"))
    answer = services.ask.ask("my agent keeps calling the same search over and over, what's usually going on?")
    # The answer alone shares no words with the question; the entry's question says what it answers.
    assert lines_of(answer)[0].startswith("Usually because the result tells it nothing new")


def test_flashcards_with_question_and_answer_on_one_line_are_answered_by_their_answer(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "flashcards.md", (
        "# RAG flashcards\n\n"
        "Q: What does a reranker do? A: It reorders the retrieved chunks by reading each one together with the query.\n"
        "Q: Why do chunks overlap? A: So that a sentence cut at a boundary is still found with its context.\n"
        "**Q:** What is hybrid search? **A:** Dense and keyword retrieval run together, their rankings fused.\n"))
    answer = services.ask.ask("Why should neighbouring chunks share some text?")
    assert lines_of(answer)[0].startswith("So that a sentence cut at a boundary is still found")
    assert "Q:" not in answer.text and "?" not in answer.text  # the answer, never the question
    # Each pair is an entry of its own, titled by its question.
    assert answer.citations[0].chunk.heading.endswith("Why do chunks overlap?")


def test_a_follow_up_naming_a_flashcards_subject_is_answered_by_that_card(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "metrics.md", (
        "# Retrieval metrics\n\n## Ranking\n\nThree metrics I keep mixing up.\n\n"
        "Q: What is recall@k?\nA: The fraction of relevant documents that appear in the top k results.\n\n"
        "Q: What is MRR?\nA: Mean Reciprocal Rank: the average of 1/rank of the first relevant result, "
        "taken over all queries.\n\n"
        "Q: What does nDCG reward?\nA: Putting highly relevant documents near the top, using graded "
        "relevance and a logarithmic discount by position.\n"))
    first = services.ask.ask("Can you explain mean reciprocal rank?")
    history = history_of(first)
    follow = services.ask.ask("How is nDCG different from that?", history)
    # "nDCG" is written only in its card's question: the card's answer is what the follow-up asks.
    assert lines_of(follow)[0].startswith("Putting highly relevant documents near the top")


def test_a_follow_up_naming_a_place_in_the_last_list_asks_about_that_item(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "rag-eval.md", (
        "# RAG evaluation\n\n## RAGAS\n\n"
        "Q: What are the core RAGAS metrics? A: Four metrics: faithfulness, answer relevancy, context "
        "precision and context recall.\n"
        "Q: What does faithfulness measure? A: The share of the answer's claims that can be inferred "
        "from the retrieved context.\n"
        "Q: What does context recall measure? A: Whether the retrieved chunks hold everything the "
        "reference answer needs.\n"))
    first = services.ask.ask("Which metrics does RAGAS focus on?")
    assert "faithfulness, answer relevancy" in first.text
    history = history_of(first)
    follow = services.ask.ask("What does the first of those actually measure?", history)
    assert follow.question == "What does the first of those actually measure?"
    assert lines_of(follow)[0].startswith("The share of the answer's claims")
    last = services.ask.ask("And what does the last one check?", history)
    assert "everything the reference answer needs" in last.text


def test_a_table_without_outer_pipes_is_answered_row_by_row_with_its_header(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "retrievers.md", (
        "# Retrieval\n\n## Retrievers compared\n\nThe retrievers I tried:\n\n"
        "Retriever | Kind | Strength\n--- | --- | ---\nBM25 | keyword | exact names and rare terms\n"
        "MiniLM | dense | paraphrases\n\n## Chunking\n\nSplit on headings first, then on paragraphs.\n"))
    answer = services.ask.ask("What kind of retriever is BM25, and what is its strength?")
    assert "Retriever: BM25 · Kind: keyword · Strength: exact names and rare terms" in answer.text
    assert "|" not in answer.text


def test_a_flashcard_export_with_question_and_answer_split_by_a_tab_is_answered_by_the_card(tmp_path, embedder):
    # Anki's "Notes in Plain Text" export: a header, then one card per line, front<TAB>back.
    services = one_note(tmp_path, embedder, "rag-deck.txt", (
        "#separator:tab\n#html:false\n"
        "What does a reranker do?\tIt reorders the retrieved chunks by reading each together with the query.\n"
        "Why do chunks overlap?\tSo that a sentence cut at a boundary is still found with its context.\n"
        "What is hybrid search?\tDense and keyword retrieval run together, their rankings fused.\n"))
    answer = services.ask.ask("Why should neighbouring chunks share some text?")
    # The card's back alone: not its front, and not the next card's back.
    assert lines_of(answer) == ["So that a sentence cut at a boundary is still found with its context. [1]"]
    assert answer.citations[0].chunk.heading.endswith("Why do chunks overlap?")  # each card an entry


def test_a_collapsible_faq_entry_is_answered_by_its_answer_not_its_summary(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "README.md", (
        "# Search FAQ\n\n## Retrieval\n\n"
        "<details>\n<summary>What is hybrid search?</summary>\n\n"
        "Hybrid search runs dense and keyword retrieval together and fuses their rankings.\n\n</details>\n\n"
        "<details><summary>Why rerank the results?</summary>A cross-encoder reads the query and each chunk "
        "together, which is more accurate than comparing their vectors.</details>\n"))
    answer = services.ask.ask("What's the point of reranking?")
    # The one-line block: its summary is the question, the rest of the line its answer.
    assert lines_of(answer)[0].startswith("A cross-encoder reads the query and each chunk together")
    assert "Why rerank" not in answer.text and "summary" not in answer.text
    assert answer.citations[0].chunk.heading.endswith("Why rerank the results?")


def test_a_who_question_is_answered_with_who_made_it(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "serving.md", (
        "# Serving\n\n## Continuous batching\n\n"
        "Continuous batching adds new requests to the running batch at every decoding step instead "
        "of waiting for the whole batch to finish. "
        "The idea was introduced by the Orca system (Yu et al., OSDI 2022). "
        "Finished sequences leave the batch at once, so the GPU never waits on the longest request. "
        "Batching is the main way to turn idle arithmetic units into throughput. "
        "Most servers schedule requests first come, first served, with a cap on batched tokens. "
        "Continuous batching with a paged KV cache is why modern servers handle many users at once.\n\n"
        "## Quantization\n\nStoring weights in 4 bits instead of 16 cuts memory four times, "
        "at a small cost in quality.\n"))
    # The sentences most like the question describe the method; the answer names who made it.
    for question in ("Which system first came up with continuous batching?",
                     "Which paper did continuous batching come from?"):
        answer = services.ask.ask(question)
        assert not answer.refused and "Yu et al., OSDI 2022" in answer.text, question


RAG_METRICS = (
    "# RAG evaluation\n\n## Evaluating generation\n\n"
    "- Faithfulness: is every claim in the answer supported by the retrieved context?\n"
    "- Answer relevance: does the answer address the question that was asked?\n"
    "- Context precision and context recall judge the retrieved set itself\n"
    "- These metrics are popularised by the RAGAS framework (Es et al. 2023)\n"
    "- LLM-as-judge scales well, but spot-check its verdicts by hand\n\n"
    "## Evaluating retrieval\n\n- Hit rate: the share of questions whose relevant chunk is in the top k\n"
    "- MRR rewards ranking the relevant chunk near the top\n")


def test_a_term_defined_by_the_question_it_answers_is_quoted_as_its_definition(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "rag.md", RAG_METRICS)
    answer = services.ask.ask("What does faithfulness mean when evaluating RAG answers?")
    assert lines_of(answer)[0] == "Faithfulness: is every claim in the answer supported by the retrieved context? [1]"


def test_where_a_thing_comes_from_is_answered_with_who_made_it(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "rag.md", RAG_METRICS)
    answer = services.ask.ask("Where do faithfulness and answer relevance come from?")
    assert any("RAGAS framework (Es et al. 2023)" in line for line in lines_of(answer)[:2])


RAG_DECK = (
    '# RAG and Vector Search Flashcards\n'
    '\n'
    'Exported from my flashcard deck after the "Building RAG Systems" course plus a few papers.\n'
    '\n'
    '## RAG Basics\n'
    'Core ideas of retrieval-augmented generation, the stuff I kept forgetting.\n'
    'Q: What does RAG stand for? A: Retrieval-augmented generation, an approach introduced by Lewis '
    'et al. at Facebook AI Research in 2020.\n'
    'Q: What are the two stages of a RAG pipeline? A: A retrieval stage that fetches relevant '
    'passages from an index, and a generation stage where the LLM answers using those passages as '
    'context.\n'
    'Q: Why use RAG instead of fine-tuning to add knowledge? A: RAG updates knowledge by re-indexing '
    'documents without retraining, and it makes answers traceable to cited sources.\n'
    'Q: What is the "lost in the middle" effect? A: Models use information at the start and end of a '
    'long context better than information in the middle (Liu et al., 2023).\n'
    'Q: How many chunks should I retrieve? A: A top-k of 3 to 10 chunks is common; more chunks raise '
    'recall but add noise, latency and token cost.\n'
    '**Q:** What does grounding mean in RAG? **A:** Constraining the answer to facts found in the '
    'retrieved context, ideally with citations to the source chunks.\n'
    '**Q:** What should the model do when the context lacks the answer? **A:** Say it does not know '
    'instead of guessing; the prompt should allow this explicitly.\n'
    '\n'
    '## Vector Indexes\n'
    'Approximate nearest neighbour (ANN) indexes trade a little recall for a lot of speed.\n'
    'Q: What does HNSW stand for? A: Hierarchical Navigable Small World, a graph index built from '
    'layered proximity graphs (Malkov and Yashunin, 2016).\n'
    'Q: What are the main HNSW parameters? A: Three knobs: M (links per node, often 16), '
    'efConstruction (build-time beam width, often 200) and efSearch (query-time beam width).\n'
    'Q: What happens when you raise efSearch? A: Recall goes up but queries get slower; it never '
    'changes the index itself.\n'
    'Q: How does an IVF index work? A: It clusters vectors with k-means into nlist cells and at '
    'query time only scans the nprobe closest cells.\n'
    'Q: What is product quantization (PQ)? A: Compressing vectors by splitting them into sub-vectors '
    'and replacing each with the id of its nearest centroid, often cutting memory by 90% or more.\n'
    'Q: What library from Meta implements IVF, PQ and HNSW? A: FAISS (Facebook AI Similarity '
    'Search), released in 2017.\n'
    'Q: Which vector databases are popular? A: Four common ones: Pinecone (managed), Weaviate, '
    'Qdrant and Milvus; pgvector adds vector search to PostgreSQL.\n'
    '\n'
    '## Measuring Retrieval\n'
    'Three metrics I keep mixing up.\n'
    '\n'
    'Q: What is recall@k?\n'
    'A: The fraction of relevant documents that appear in the top k results.\n'
    '\n'
    'Q: What is MRR?\n'
    'A: Mean Reciprocal Rank: the average of 1/rank of the first relevant result, taken over all queries.\n'
    '\n'
    'Q: What does nDCG reward?\n'
    'A: Putting highly relevant documents near the top, using graded relevance and a logarithmic '
    'discount by position.\n'
)


def test_a_who_question_whose_passages_found_name_nobody_is_answered_from_one_further_down(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "rag.md", RAG_DECK)
    # Search ranks the card naming who introduced RAG fifth, below four that name nobody (what
    # RAG is for; a card matching only "when" and "up"): it takes the fourth one's place.
    answer = services.ask.ask("Who came up with RAG in the first place, and when?")
    assert lines_of(answer)[0].startswith("Retrieval-augmented generation, an approach introduced by Lewis et al.")


def test_a_collapsible_html_block_is_never_quoted(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "course.md", (
        "# Course\n\n## Decoding\n\n<details>\n<summary>Notebooks</summary>\n\n"
        "| Notebook | Description |\n|---|---|\n"
        "| Decoding strategies | A guide to text generation from greedy search to nucleus sampling |\n"
        "</details>\n\n"
        "Greedy decoding always takes the most likely token.\n\n"
        "## Training\n\nPre-training predicts the next token over a large corpus.\n"))
    answer = services.ask.ask("What's the difference between greedy decoding and nucleus sampling?")
    assert not answer.refused and "most likely token" in answer.text
    assert "details>" not in answer.text and "summary>" not in answer.text


def test_a_saved_web_pages_table_caption_is_never_an_answer_alone(tmp_path, embedder):
    # The page's converter escapes "1." ("Table 1\\."), which must not hide that it is a caption.
    services = one_note(tmp_path, embedder, "vector-search.html", (
        "<html><body><article><h1>Vector search</h1><h2>Index types</h2>"
        "<p>HNSW builds a graph of neighbours and is the usual default for recall.</p>"
        "<table><caption>Table 1. Index types at a glance (1M vectors, my own benchmarks)</caption>"
        "<tr><th>Index</th><th>Recall</th></tr><tr><td>Flat</td><td>100%</td></tr>"
        "<tr><td>HNSW</td><td>about 98%</td></tr></table></article></body></html>"))
    for question in ("Which index types are there at a glance?", "What recall does HNSW reach?"):
        answer = services.ask.ask(question)
        lines = lines_of(answer)
        assert not answer.refused and "\\" not in answer.text
        # The caption is shown only above the row that answers, never as a sentence of its own.
        for i, line in enumerate(lines):
            if "Index types at a glance" in line:
                assert line.startswith("Table 1. Index types") and lines[i + 1].startswith("- Index:")


def test_a_follow_up_naming_an_everyday_acronym_is_answered(tmp_path, embedder):
    # "UI" is as common as a word: a detail of the question, not a concept the notes lack.
    services = one_note(tmp_path, embedder, "serving.md", (
        "# Serving\n\n## Latency metrics\n\n"
        "Time to first token (TTFT) is the wait before the first token appears. Time per output token "
        "(TPOT) is the gap between tokens; 20-50 ms is typical for a 7B model on one GPU. Streaming tokens "
        "to the user hides most of the decode time, so for chat interfaces TTFT is what people actually "
        "perceive as speed.\n\n## Batching\n\nContinuous batching adds requests to the running batch at "
        "every step.\n"))
    first = services.ask.ask("what's a normal per-token latency for something like a 7B model?")
    history = history_of(first)
    answer = services.ask.ask("and for a chat UI, is that the number users actually notice?", history)
    assert not answer.refused and "TTFT is what people actually perceive as speed" in answer.text
    # A rare acronym the notes never use still means they do not cover the question.
    assert services.ask.ask("How does KNN choose its neighbours?").refused


def test_a_bare_label_is_no_point_of_an_answer(tmp_path, embedder):
    # "The `lumen.yaml` file" alone says nothing: the room it took goes to a point that does.
    services = one_note(tmp_path, embedder, "configuration.mdx", (
        "# Configuration\n\nAll of Lumen's behaviour is controlled by one file, `lumen.yaml`, at the root of "
        "your project. Every option has a built-in default, so an empty file is a valid configuration.\n\n"
        "## How values are resolved\n\n"
        "Lumen merges settings from four layers. When the same option is set in several places, the higher "
        "layer wins:\n\n"
        "1. Command-line flags, such as `--top-k 8`\n2. Environment variables that start with `LUMEN_`\n"
        "3. The `lumen.yaml` file\n4. Built-in defaults\n\n"
        "Environment variables map to nested keys with a double underscore. Values are parsed as YAML, so "
        "`true`, `8` and `0.3` become a boolean, an integer and a float.\n\n"
        "## Profiles\n\nProfiles let you keep development and production settings in one file.\n"))
    answer = services.ask.ask("If I set the same option in the yaml file and as a command-line flag, "
                              "which one is used?")
    assert not answer.refused and "the higher layer wins" in answer.text
    assert not any(line.split(" [")[0].lstrip("- ") == "The `lumen.yaml` file" for line in lines_of(answer))


def test_a_tables_caption_is_shown_above_the_row_that_answers(tmp_path, embedder):
    # Two tables with the same header: only their captions say what the figures are.
    services = one_note(tmp_path, embedder, "engines.md", (
        "# Serving engines\n\n## Measurements\n\nI measured three engines on one A100.\n\n"
        "Table 1. Time to first token at 8 concurrent requests\n\n"
        "| Engine | Value |\n| --- | --- |\n| vLLM | 180 ms |\n| TGI | 210 ms |\n| llama.cpp | 900 ms |\n\n"
        "Table 2. GPU memory used with an 8B model loaded\n\n"
        "| Engine | Value |\n| --- | --- |\n| vLLM | 71 GB |\n| TGI | 64 GB |\n| llama.cpp | 17 GB |\n"))
    for question, caption, row in (
            ("How much GPU memory did llama.cpp use?", "Table 2. GPU memory used", "Engine: llama.cpp · Value: 17 GB"),
            ("What was the time to first token of llama.cpp?", "Table 1. Time to first token",
             "Engine: llama.cpp · Value: 900 ms")):
        lines = lines_of(services.ask.ask(question))
        assert lines[0].startswith(caption) and lines[1].startswith(f"- {row}"), question
    # A caption is never the whole answer: a question about its words is answered by a row.
    assert len(lines_of(services.ask.ask("What did I measure at 8 concurrent requests?"))) > 1


def test_an_answer_stops_before_a_label_line(tmp_path, embedder):
    # An admonition's title ("Note") or an outline's label starts another point: it is not quoted
    # as if it went on with the answer.
    services = one_note(tmp_path, embedder, "serving.md", (
        "# Serving\n\n## Load testing\n\n"
        "Pick the highest concurrency at which p99 latency is still within target, then set the autoscaler "
        "to add a replica at 80% of that value.\n\nNote\n\n"
        "Warm the server with at least 20 requests before measuring.\n\n"
        "## Quantization\n\nInt8 weights halve the memory of fp16 weights.\n"))
    answer = services.ask.ask("After a load test, at what point should the autoscaler add another replica?")
    assert not answer.refused and "80% of that value" in answer.text
    assert not any(line.startswith("Note") for line in lines_of(answer))


def test_code_is_quoted_only_under_the_sentence_that_introduces_it(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "configuration.mdx", (
        "# Configuration\n\n## Secrets and API keys\n\n"
        "Never write API keys directly into `lumen.yaml`. Reference an environment variable with the "
        "`${VAR}` syntax instead:\n\n```yaml\nmodel:\n  provider: openai\n  name: gpt-4o-mini\n"
        "  api_key: ${OPENAI_API_KEY}\n```\n\n"
        "Lumen refuses to start with error E101 when it finds a literal key.\n\n"
        "## Profiles\n\nProfiles keep development and production settings in one file.\n"))
    answer = services.ask.ask("Where should my OpenAI key go in the config?")
    # Code lines hang from "Reference an environment variable ... instead:", not from the sentence
    # before it: shown without it they answer nothing.
    assert not answer.refused and "Reference an environment variable" in answer.text


# A sentence or a line that leans on the one before it, the question it answers, the words it
# opens with, and the line it leans on.
LEANING = {
    # "It needs far less bandwidth ..." answers, but alone it never says which kind.
    "a sentence pointing back": (
        "# Serving\n\n## Splitting a model across GPUs\n\n"
        "When a model does not fit on one GPU, or when a single GPU is too slow, the model is split. "
        "Tensor parallelism, first described for Megatron-LM, splits each weight matrix across GPUs so "
        "that every GPU computes part of every layer. "
        "Tensor parallelism reduces latency because all GPUs work on each token at once. "
        "It needs fast communication after each layer and is therefore used within a single server "
        "whose GPUs are connected by NVLink. "
        "Pipeline parallelism instead places consecutive groups of layers on different GPUs, so "
        "activations pass from one stage to the next. "
        "It needs far less bandwidth and can span several servers, but a single request only uses one "
        "stage at a time.\n\n"
        "## Batching\n\nContinuous batching adds new requests to the running batch at every step.\n",
        "Which kind of parallelism can span several servers?",
        "It needs far less bandwidth", "Pipeline parallelism instead places"),
    # "That fake answer" means nothing without the bullet that says what it is.
    "a bullet pointing back": (
        "# Transforming the query\n\n"
        "- Query rewriting: an LLM turns a chatty follow-up into a standalone question\n"
        "- Multi-query: generate several paraphrases, retrieve for each, merge results\n"
        "- HyDE (Gao et al. 2022): the LLM writes a hypothetical answer document\n"
        "- That fake answer is embedded and used as the search vector\n"
        "- Every transformation adds one LLM call to the latency budget\n",
        "What's the trick where the model first makes up an answer and you search with that instead of the "
        "question?",
        "That fake answer", "HyDE (Gao et al. 2022)"),
    # "So ..." says what follows from the sentence before it, which holds the figures asked for.
    "a conclusion": (
        "# Serving notes\n\n## Quantization\n\n"
        "Quantization stores weights with fewer bits. Weight memory is simply parameters x bytes per "
        "parameter: a 70B model needs about 140 GB in FP16, 70 GB in INT8 and roughly 35 GB at 4 bits, plus "
        "some overhead. So a 4-bit 70B model fits on a single 80 GB A100 or H100 with room left for the KV "
        "cache, while the FP16 version needs at least two such GPUs.\n\n"
        "## Batching\n\nContinuous batching lets finished requests leave the batch at every decode step.\n",
        "roughly how much GPU memory does a 70B model need at 4-bit?",
        "So a 4-bit 70B model", "Weight memory is simply parameters x bytes"),
}


@pytest.mark.parametrize("case", LEANING)
def test_a_sentence_that_leans_back_is_shown_right_after_what_it_leans_on(tmp_path, embedder, case):
    note, question, leaning, leaned_on = LEANING[case]
    services = one_note(tmp_path, embedder, "note.md", note)
    lines = lines_of(services.ask.ask(question))
    assert line_before(lines, leaning).startswith(leaned_on)


def test_obsidian_links_highlights_tags_and_callouts_read_as_text(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "Tool Calling.md", (
        "---\ntags: [agents]\n---\n# Tool Calling\n\n"
        "Tool calling lets an agent reach beyond its training data. #agents #tools\n\n"
        "## Who runs the tool\n\n"
        "The model never runs anything itself: ==my code executes the call== and sends the result "
        "back into [[Agent Loop|the loop]], as in [[Agent Loop]].\n\n"
        "> [!tip] Use enums\n> List the allowed values of an argument in an enum, so the model cannot "
        "invent one.\n"))
    answer = services.ask.ask("Does the model execute the tool by itself?")
    assert "**my code executes the call**" in answer.text and "back into the loop, as in Agent Loop" in answer.text
    answer = services.ask.ask("Why list the allowed values of an argument?")
    assert "cannot invent one" in answer.text
    for question in ("Does the model execute the tool by itself?", "Why list the allowed values of an argument?",
                     "What is tool calling?"):
        text = services.ask.ask(question).text
        assert not any(mark in text for mark in ("[[", "]]", "==", "[!tip]", "#agents")), text


def test_a_table_belongs_to_the_sentence_that_introduces_it(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "tools.md", (
        "# Tool calling\n\n## What tool calling is\n\n"
        "Tool calling is how a chat model asks the application to run a function with arguments it "
        "chose. The model never runs anything itself.\n\n"
        "## Forcing or forbidding tools\n\n"
        "The `tool_choice` parameter of the chat API steers whether tools get used:\n\n"
        "| Value | Effect |\n|---|---|\n"
        "| `auto` | the model decides by itself whether to call a tool |\n"
        "| `none` | the model never calls a tool and answers in text |\n"
        "| `required` | the model must call at least one tool |\n\n"
        "Anthropic's API calls the same \"must use a tool\" option `any`.\n"))
    lines = lines_of(services.ask.ask("How does the tool_choice parameter steer tool use?"))
    # The rows are the lead-in's items, as a list's would be: all of them, under it.
    assert lines[0].startswith("The `tool_choice` parameter")
    assert [line.split(" · ")[0] for line in lines[1:4]] == [
        "- Value: `auto`", "- Value: `none`", "- Value: `required`"]


def test_an_answer_closing_its_paragraph_comes_with_the_sentences_before_it(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "loop.md", (
        "# Agent loop\n\n## Stopping conditions\n\n"
        "The loop ends when the model replies without asking for a tool. Without a step limit a "
        "confused agent can loop forever and keep burning money. Set one even in toy scripts.\n\n"
        "## Tool results\n\nEvery tool result goes back into the message list as a new turn.\n"))
    lines = lines_of(services.ask.ask("Should toy scripts have a limit too?"))
    # "Set one even in toy scripts." answers and ends its paragraph: the room left in the answer
    # shows what the paragraph says before it, the reason included.
    assert lines[0].startswith("Set one even in toy scripts") and any("loop forever" in line for line in lines)


def test_a_jupyter_notebook_is_read_as_its_markdown_code_and_printed_results(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "chunking.ipynb", (DATA / "notebooks/chunking.ipynb").read_bytes())
    chunks = services.retriever.chunks
    # Sections follow the Markdown cells' headings; the JSON and a plot's image data are never text.
    assert {c.heading for c in chunks} >= {"Chunking experiments > Chunk size", "Chunking experiments > Reranking"}
    assert not any('"cell_type"' in c.text or "iVBORw0KGgo" in c.text or "<Figure" in c.text for c in chunks)
    # What a cell printed is one line; an error keeps what went wrong, not the allocator's
    # statistics after it; an object's repr is no result.
    text = "\n".join(c.text for c in chunks)
    assert "Output: recall@5 with 500-char chunks: 0.82 · recall@5 with 1000-char chunks: 0.71" in text
    assert "Output: OutOfMemoryError: CUDA out of memory" in text and "Tried to allocate" not in text
    assert "object at 0x" not in text
    answer = services.ask.ask("What recall did the 500-character chunks get?")
    assert not answer.refused and "Output: recall@5 with 500-char chunks: 0.82" in answer.text
    answer = services.ask.ask("How did I get around the out-of-memory error with the reranker?")
    assert "Running the reranker on the CPU fixed the out-of-memory error" in answer.text


def test_a_code_block_cut_across_passages_stays_code_and_its_commented_lines_can_answer(tmp_path, embedder):
    setup = "\n".join(f"step_{i} = load_part({i}, cache=True, retries=3, timeout=30.0)" for i in range(40))
    services = one_note(tmp_path, embedder, "lora.md", (
        "# Fine-tuning\n\n## LoRA config\n\nThis is the whole training script I ran on the T4:\n\n"
        f"```python\n{setup}\nconfig = LoraConfig(\n    r=16,  # rank 8 underfit the JSON format\n"
        "    lora_alpha=32,\n    lora_dropout=0.05,\n)\nmodel = get_peft_model(model, config)\n```\n\n"
        "Training took 40 minutes for three epochs.\n"))
    code_chunks = [c for c in services.retriever.chunks if "lora_dropout" in c.text]
    assert code_chunks and not code_chunks[0].text.lstrip().startswith("```")  # cut out of the block
    answer = services.ask.ask("Which LoRA rank did I go with?")
    # The author's comment answers, shown as the code it is; no other line of the block is read as prose.
    assert "`r=16,  # rank 8 underfit the JSON format`" in answer.text
    assert not any(line.lstrip("- ").startswith(("lora_dropout", "model =", "config =", "step_"))
                   for line in answer.text.splitlines())


def test_a_word_document_is_read_by_its_styles(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "serving.docx", serving_notes_docx())
    chunks = services.retriever.chunks
    # "Title" and "Heading 1" paragraphs are the heading path; a table row is read with its header.
    assert {c.heading for c in chunks} == {"Serving notes > Batching", "Serving notes > Quantization"}
    answer = services.ask.ask("How much did continuous batching raise throughput in my test?")
    assert "throughput rose from 12 to 31 requests per second" in answer.text
    answer = services.ask.ask("How much memory does a 7B model need with AWQ?")
    assert "Format: AWQ · Bits: 4 · Memory for 7B: 4 GB" in answer.text
    # The Markdown escapes of the conversion ("2022\\)") are read, not quoted.
    answer = services.ask.ask("Which system introduced continuous batching?")
    assert "Orca (Yu et al., 2022) as iteration-level scheduling" in answer.text and "\\" not in answer.text


PLAIN_TEXT_NOTES = """RAG notes - what I learned
started 2024-02-20, I add to this whenever I read something

1) What RAG is

RAG = retrieve relevant text from your own documents at question time and paste
it into the prompt. The name comes from a 2020 paper by Lewis and colleagues.

2) Chunking

Chunk size is the most important knob; 256-512 tokens is a common start. Each chunk keeps its
position (source file, start offset, page) so that an answer can cite the exact passage.
Two ways to split I tried
  o fixed size: cut every N characters, with an overlap between chunks
  o by headings: one chunk per section, split again when a section is too long

PROMPT INJECTION

Any text the model reads can carry instructions that override yours. The term
was coined by Simon Willison in September 2022, by analogy with SQL injection.
- the leading space is usually glued onto the token, so " hello" and "hello"
  are different ids
vocab size - the number of distinct tokens the tokenizer knows about here
token id - an integer index into the model's embedding matrix
"""


def test_plain_text_notes_are_split_at_their_topic_lines_and_never_quote_them(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "rag.txt", PLAIN_TEXT_NOTES)
    headings = {c.heading for c in services.retriever.chunks}
    # The first line names the note; numbered and capitalised topic lines are its sections.
    assert headings == {"RAG notes - what I learned", "RAG notes - what I learned > 1) What RAG is",
                        "RAG notes - what I learned > 2) Chunking", "RAG notes - what I learned > PROMPT INJECTION"}
    answer = services.ask.ask("What is prompt injection?")
    assert not answer.refused and answer.citations[0].chunk.heading.endswith("PROMPT INJECTION")
    assert not any(line.startswith(("PROMPT INJECTION", "RAG notes")) for line in answer.text.splitlines())
    # Plain text's "o" bullets are list items, shown as the chat's own.
    split = lines_of(services.ask.ask("What ways of splitting into chunks did I try?"))
    assert any(line.startswith("- fixed size: cut every N characters") for line in split)
    assert not any(line.lstrip("- ").startswith("o ") for line in split)


def test_a_sentence_the_margin_cut_is_read_whole(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "rag.txt", PLAIN_TEXT_NOTES)
    answer = services.ask.ask("Who coined the term prompt injection?")
    # One sentence over two lines: it is quoted whole, not as "The term was coined by".
    assert "The term was coined by Simon Willison in September 2022" in answer.text
    # A list item's wrapped text is part of the item; glossary lines stay lines of their own.
    from assistant.ask.units import split_units
    chunk = next(c for c in services.retriever.chunks if c.heading.endswith("PROMPT INJECTION"))
    shown = [u.display for u in split_units(chunk)]
    assert 'the leading space is usually glued onto the token, so " hello" and "hello" are different ids' in shown
    assert "token id - an integer index into the model's embedding matrix" in shown
    # A word before a bracket is prose, not a call in code: the line it opens carries on.
    chunking = next(c for c in services.retriever.chunks if c.heading.endswith("2) Chunking"))
    assert ("Each chunk keeps its position (source file, start offset, page) so that an answer can cite the "
            "exact passage.") in [u.display for u in split_units(chunking)]


# A Logseq page: one outline, its topics short bullets (bold, plain or a heading bullet) with their
# points nested under them, and block properties.
OUTLINER_NOTE = """- Prompting
    - tags:: llm, prompts
    - Prompt engineering is writing and iterating on instructions until the model reliably does what you want.
    - **System prompts**
        - the system message sets role, rules, tone and output format for the whole conversation
        - not a security boundary: users can often extract the system prompt, so never put secrets in it
    - Few-shot prompting
        - put k input and output examples in the prompt and the model picks up the pattern
        - the order of the examples alone can swing accuracy a lot
        - source paper:: Brown et al., 2020, "Language Models are Few-Shot Learners"
          id:: 6523a1b2-4c1e-4f3a-9d2b-7e8f1a2b3c4d
    - ## Chain-of-thought
        - few-shot examples that show step-by-step reasoning before the answer
        - zero-shot CoT: just append "Let's think step by step."
"""


def test_an_outliners_topics_are_entries_and_its_titles_and_metadata_are_never_quoted(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "Prompting.md", OUTLINER_NOTE)
    assert {c.heading for c in services.retriever.chunks} == {
        "Prompting", "Prompting > System prompts", "Prompting > Few-shot prompting", "Prompting > Chain-of-thought"}
    answer = services.ask.ask("Should I put secrets in the system prompt?")
    assert lines_of(answer)[0].startswith("not a security boundary")
    assert answer.citations[0].chunk.heading == "Prompting > System prompts"
    for question in ("What is chain-of-thought prompting?", "Which paper introduced few-shot prompting?"):
        shown = lines_of(services.ask.ask(question))
        assert not any(line.lstrip("- ").startswith(("#", "tags", "id", "**")) for line in shown)
    # A property that holds content reads as "key: value".
    assert "source paper: Brown et al., 2020" in services.ask.ask("Which paper introduced few-shot prompting?").text


def test_an_outline_topics_card_shows_its_points_nested_under_it(tmp_path, embedder):
    from bs4 import BeautifulSoup

    from assistant.ui.render import citation_card

    services = one_note(tmp_path, embedder, "Prompting.md", OUTLINER_NOTE)
    answer = services.ask.ask("Should I put secrets in the system prompt?")
    card = BeautifulSoup(citation_card(answer.citations[0]), "html.parser")
    topic = card.find("strong", string="System prompts").parent  # the topic's own list item
    points = [li.get_text(" ", strip=True) for li in topic.find("ul").find_all("li")]
    assert points[0].startswith("the system message sets role") and len(points) == 2
    assert card.find("mark").get_text().startswith("not a security boundary")
    assert not card.find("pre") and not card.find("code")  # the points are not shown as code


REGULARIZATION_NOTE = """# Regularization

**What is the difference between L1 and L2 regularization?**

L1 regularization (Lasso) adds the sum of the absolute coefficients to the loss; L2 regularization (Ridge) adds the sum of their squares. Both pull coefficients towards zero, but in different ways.

L1 can set coefficients exactly to zero, so it selects features and gives sparse models, while L2 shrinks every coefficient smoothly and almost never to exactly zero.

The geometric explanation: draw the constraint region for two coefficients. For L1 it is a diamond with its corners on the axes; for L2 it is a circle. The loss contours usually meet the diamond first at a corner, where one coefficient is zero.

- Correlated features: Lasso keeps one feature of a correlated group and drops the rest; Ridge spreads the weight across them, which is more stable.
- Elastic net mixes both penalties; in scikit-learn the `l1_ratio` parameter sets the mix.
"""


def test_a_question_asking_two_things_is_answered_for_both(tmp_path, embedder):
    from assistant.ask.cues import question_parts

    services = one_note(tmp_path, embedder, "regularization.md", REGULARIZATION_NOTE)
    asked = "Why does Lasso end up with exact zeros while ridge doesn't? Is there a picture I can keep in mind?"
    answer = services.ask.ask(asked)
    assert "Lasso" in answer.text and "diamond" in answer.text  # the second question is answered too
    assert question_parts("What was the prize money, and what target did teams have to hit?") == [
        "What was the prize money", "what target did teams have to hit"]
    assert question_parts("Which metrics need a reference answer and which don't?") == [
        "Which metrics need a reference answer and which don't?"]  # "which don't" asks nothing new


# A list two levels deep inside a longer entry: the follow-up's item must win over the one just shown.
JUDGE_NOTE = """# Evaluation

## Judging with a model

A strong model grades another model's answers against a rubric. It scales to thousands of outputs, but it is itself a model with biases, so its scores need checking.

Paper: Zheng et al., 2023, "Judging LLM-as-a-Judge with MT-Bench and Chatbot Arena".

- modes
  - single-answer grading: a score from 1 to 10
  - pairwise comparison: which of two answers is better
- **biases**
  - position bias: in a pairwise comparison the judge tends to favour whichever answer it reads first
  - verbosity bias: the judge tends to favour longer answers even when the extra text adds nothing
  - self-preference bias: a judge rates answers written by its own model family higher
  - weak at grading maths it cannot solve itself
- good practice
  - a small scale (1-3 or 1-5) is more consistent than 1-10
  - ask for the reasoning before the score

## Human evaluation

Experts label a sample of outputs by hand; slow and costly, but the reference the judge is checked against.
"""


def test_a_bare_follow_up_naming_the_next_item_leads_with_that_item(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "evaluation.md", JUDGE_NOTE)
    first = services.ask.ask("What is position bias when you use an LLM as a judge?")
    assert "whichever answer it reads first" in first.text and "longer answers" not in first.text
    history = history_of(first)
    follow = lines_of(services.ask.ask("And verbosity bias?", history))
    items = [line for line in follow if line.startswith("- ")]
    assert items[0].startswith("- verbosity bias: the judge tends to favour longer answers")


# An outliner writes a code block inside a bullet, its fence after the bullet's dash.
LOOP_OUTLINE = """- ## The agent loop
  - An agent calls the model in a loop and runs the tools it asks for until it answers.
  - my minimal loop
    - ```python
      for step in range(MAX_STEPS):
          reply = client.chat(messages=messages, tools=TOOLS)
          if not reply.tool_calls:
              return reply.content
      raise RuntimeError("agent hit MAX_STEPS")
      ```
  - stop conditions
    - I cap every run at max_steps = 10
      - the model can keep calling tools forever, and every step costs tokens
"""


def test_a_code_block_inside_a_bullet_is_code_not_items(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "Agents.md", LOOP_OUTLINE)
    shown = lines_of(services.ask.ask("How many steps do I let my agent run before stopping it?"))
    assert any("max_steps = 10" in line for line in shown)
    assert not any("```" in line or "RuntimeError" in line or "client.chat" in line for line in shown)


RERANKER_NOTE = """# My RAG pipeline

## Retrieval

I embed every chunk with bge-small and keep the top 20 by cosine similarity.

## Adding a reranker

The first 20 results are cheap to get but noisy. I score those 20 with `cross-encoder/ms-marco-MiniLM-L-6-v2` and keep the best 5. This raised hit rate@5 from 0.84 to 0.91 and added about 120 ms per query on my CPU.

## Evaluation

I track two numbers on 50 hand-written questions. **MRR** (mean reciprocal rank) is the average of one over the rank of the first gold chunk. It rewards putting the right chunk first, not just somewhere in the top 5. Faithfulness is judged by reading every answer myself.
"""


def test_a_sentence_is_about_the_topic_its_heading_names(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "rag.md", RERANKER_NOTE)
    answer = services.ask.ask("Which reranker model did I plug in?")
    assert "cross-encoder/ms-marco-MiniLM-L-6-v2" in lines_of(answer)[0]


def test_the_sentence_holding_the_kind_of_answer_asked_for_comes_right_after_the_lead(tmp_path, embedder):
    services = one_note(tmp_path, embedder, "glossary.md", (
        "# Glossary\n\n## Prompt injection\n\n"
        "Prompt injection is an attack where text supplied by a user or by a third party contains "
        "instructions that make the model ignore or override the developer's instructions. It works because "
        "the model receives trusted instructions and untrusted data in the same stream of tokens and has no "
        "reliable way to tell them apart. The name was coined by Simon Willison in September 2022, after "
        "Riley Goodside publicly demonstrated the attack on GPT-3.\n\n"
        "## Jailbreak\n\nA jailbreak is a prompt that talks a model out of its safety training.\n"))
    lines = lines_of(services.ask.ask("Who came up with the name for prompt injection?"))
    # "Who ...?" is answered by the sentence naming who, not after the rest of the paragraph.
    assert any("coined by Simon Willison" in line for line in lines[:2])
