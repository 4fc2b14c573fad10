"""The one text toolkit: where sentences end, front matter, JSON in a model's reply."""

from __future__ import annotations

from assistant.core.text import (
    content_words,
    first_json_object,
    sentence_spans,
    sentences,
    split_front_matter,
    terms,
)


def test_sentences_are_verbatim_slices_and_respect_abbreviations_and_list_numbers():
    text = "Use a splitter, e.g. The recursive one. 1. **Three factors:** cost. Demo vs. Product matters."
    got = sentences(text)
    # "e.g." followed by a capital is read as a sentence end (as a careful reader would guess too);
    # a list number and "vs." are not.
    assert got == ["Use a splitter, e.g.", "The recursive one.", "1. **Three factors:** cost.",
                   "Demo vs. Product matters."]
    assert all(text[a:b] == s for (a, b), s in zip(sentence_spans(text), got))
    assert sentences("Breiman, L. (1996). Bagging predictors.") == ["Breiman, L. (1996).", "Bagging predictors."]
    link = "[Merge models](https://example.com/a.html) by M. Labonne: a tutorial. Next."
    assert sentences(link) == ["[Merge models](https://example.com/a.html) by M. Labonne: a tutorial.", "Next."]


def test_question_words_and_stop_words_are_not_topic_terms():
    assert content_words("How long did the LinkedIn team need?") == ["linkedin", "team", "need"]
    assert terms("chunking chunks") == {"chunk"}


def test_front_matter_gives_its_title_and_where_the_body_starts():
    text = "---\ntitle: Retrieval notes\ntags: [rag]\n---\n# Heading\n"
    meta, start = split_front_matter(text)
    assert meta["title"] == "Retrieval notes" and text[start:] == "# Heading\n"
    assert split_front_matter("---\n\nA rule, then text.\n") == ({}, 0)
    assert split_front_matter("# No front matter\n") == ({}, 0)


def test_the_first_json_object_in_chatter_or_fences():
    assert first_json_object('Sure! ```json\n{"a": {"b": 1}}\n``` hope it helps') == {"a": {"b": 1}}
    assert first_json_object('{"broken": } then {"ok": true}') == {"ok": True}
    assert first_json_object("[1, 2]") is None and first_json_object("no json") is None


def test_a_link_whose_text_ends_a_sentence_stays_one_sentence():
    link = "[3Blue1Brown - But what is a Neural Network?](https://www.youtube.com/watch?v=aircAruvnKk)"
    assert sentences(f"{link}: This video explains. Next.") == [f"{link}: This video explains.", "Next."]


def test_a_formula_is_not_cut_where_a_letter_in_brackets_looks_like_a_list_number():
    assert sentences("score(d) = sum over lists of 1 / (k + rank)") == ["score(d) = sum over lists of 1 / (k + rank)"]


def test_a_link_followed_by_an_aside_and_a_citation_after_et_al_stay_in_their_sentence():
    link = "[AutoGen](https://github.com/microsoft/autogen)"
    assert sentences(f"Such as {link} (conversation-driven agents). Next.") == [
        f"Such as {link} (conversation-driven agents).", "Next."]
    assert sentences("From Rafailov et al. (Stanford, 2023). It uses pairs.") == [
        "From Rafailov et al. (Stanford, 2023).", "It uses pairs."]


def test_a_cited_work_named_by_et_al_is_the_subject_of_its_sentence():
    # As glossaries cite: "Kaplan et al. (OpenAI, 2020) found ...", never "Kaplan et al." alone.
    assert sentences("Rules for loss. Kaplan et al. (OpenAI, 2020) found power laws. Wei et al. showed CoT.") == [
        "Rules for loss.", "Kaplan et al. (OpenAI, 2020) found power laws.", "Wei et al. showed CoT."]
    # A sentence that ends on "et al." still ends there.
    assert sentences("It was shown by Wei et al. The next one starts.") == [
        "It was shown by Wei et al.", "The next one starts."]
