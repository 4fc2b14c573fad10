"""The Sources tab in a real browser: upload then search, sections in view, sanitising, delete, status."""

from __future__ import annotations

import re
import shutil

import pytest
from browser import DATA, assert_readable, shot, use_scheme
from conftest import run_cli
from playwright.sync_api import expect

UNSAFE = """# Unsafe note

A harmless paragraph about prompt injection.

<img src="http://127.0.0.1:9/x.png" onerror="window.__pwned = 'onerror'">

<img src=x onerror="window.__pwned = 'relative onerror'">

<script>window.__pwned = 'script'</script>

<svg onload="window.__pwned = 'svg'"></svg>

[a javascript link](javascript:window.__pwned='link') and [a web link](https://example.com)
"""


def long_note() -> str:
    parts = ["# Long lesson\n\nAn introduction to the lesson.\n"]
    for i in range(1, 31):
        sentence = f"Paragraph {i} explains idea number {i} at some length, so that the note is tall. "
        parts.append(f"## Topic {i}\n\n{sentence * 3}\n")
    parts.append("## Gradient checkpointing\n\nGradient checkpointing trades compute for memory by "
                 "recomputing activations in the backward pass.\n")
    return "\n".join(parts)


@pytest.fixture(scope="module")
def app_notes(tmp_path_factory):
    notes = tmp_path_factory.mktemp("sources-notes")
    shutil.copytree(DATA / "notes", notes, dirs_exist_ok=True)
    (notes / "rag" / "unsafe.md").write_text(UNSAFE)
    (notes / "long-lesson.md").write_text(long_note())
    (notes / "scratch").mkdir()
    (notes / "scratch" / "delete-me.md").write_text("# Delete me\n\nA note about zebra crossings.\n")
    return notes


def open_sources(pg):
    pg.get_by_role("tab", name="Sources").click()
    expect(pg.locator("#sources-tree button.file").first).to_be_visible()


def search(pg, query: str):
    box = pg.locator("#sources-search textarea, #sources-search input").first
    box.fill(query)
    box.press("Enter")
    return pg.locator("#sources-hits button.hit")


def test_upload_a_note_then_find_it_by_search(page, app_server, tmp_path):
    open_sources(page)
    note = tmp_path / "Vector DBs - HNSW.md"
    note.write_text("# Vector databases\n\n## HNSW\n\nHierarchical navigable small world graphs give "
                    "approximate nearest neighbour search in logarithmic time.\n")
    page.get_by_text("Add notes").click()
    page.locator("#sources-upload input[type=file]").set_input_files(str(note))
    status = page.locator("#sources-status")
    expect(status).to_contain_text("Re-indexed", timeout=180_000)
    expect(status).to_contain_text("1 added")
    expect(page.locator("#sources-add")).to_contain_text("Saved Vector DBs - HNSW.md.")
    assert (app_server.knowledge / "Vector DBs - HNSW.md").read_text() == note.read_text()
    expect(page.locator("#sources-tree")).to_contain_text("Vector DBs - HNSW.md")
    shot(page, "sources-uploaded")

    hits = search(page, "navigable small world graphs")
    first = hits.first
    expect(first).to_contain_text("Vector DBs - HNSW.md › Vector databases › HNSW")
    expect(first).to_contain_text("score")
    expect(first.locator("mark.term")).to_have_count(4)  # navigable, small, world, graphs
    first.click()
    mark = page.locator("#sources-view mark.cited").first
    expect(mark).to_contain_text("Hierarchical navigable small world graphs")
    expect(mark).to_be_in_viewport()
    shot(page, "sources-search")

    # Uploading the same file again adds nothing; a different file of that name is kept apart.
    page.locator("#sources-upload input[type=file]").set_input_files(str(note))
    expect(page.locator("#sources-add")).to_contain_text("same content; nothing was added", timeout=60_000)
    note.write_text("# Vector databases\n\nA second version.\n")
    page.locator("#sources-upload input[type=file]").set_input_files(str(note))
    expect(page.locator("#sources-add")).to_contain_text("saved as Vector DBs - HNSW-2.md", timeout=60_000)
    assert not page.errors


def test_an_upload_of_the_wrong_type_is_refused_with_a_sentence(page, app_server, tmp_path):
    open_sources(page)
    bad = tmp_path / "tool.exe"
    bad.write_bytes(b"MZ\x00\x00binary")
    page.get_by_text("Add notes").click()
    page.locator("#sources-upload input[type=file]").set_input_files(str(bad))
    expect(page.locator("#sources-add")).to_contain_text("tool.exe was not added: only md, markdown", timeout=60_000)
    assert not (app_server.knowledge / "tool.exe").exists()


def test_selecting_a_section_shows_the_rendered_note_with_it_in_view(page):
    open_sources(page)
    page.locator("#sources-tree button.file", has_text="long-lesson.md").click()  # a long tree is folded
    expect(page.locator("#sources-view .note-path")).to_contain_text("long-lesson.md")
    page.locator('#sources-tree button.heading[data-heading="Long lesson > Gradient checkpointing"]').click()
    view = page.locator("#sources-view")
    expect(view.locator(".note-path")).to_contain_text("long-lesson.md")
    expect(view.locator("h2", has_text="Topic 1").first).to_be_attached()  # the whole note is rendered
    mark = view.locator("mark.section").first
    expect(mark).to_contain_text("Gradient checkpointing trades compute for memory")
    expect(mark).to_be_in_viewport()
    expect(view.locator("h2", has_text="Gradient checkpointing")).to_be_in_viewport()
    expect(view.get_by_role("heading", name="Topic 2", exact=True)).not_to_be_in_viewport()
    shot(page, "sources-section")

    # The chunk view of the same note: boundaries, ids and metadata.
    page.locator("#sources-mode").get_by_text("Chunks").click()
    cards = view.locator("section.chunk")
    expect(cards.first).to_contain_text("#1")
    expect(view.locator("section.chunk.cited")).to_contain_text("Gradient checkpointing")
    expect(view.locator("section.chunk.cited")).to_be_in_viewport()
    expect(cards.first.locator(".chunk-facts")).to_contain_text(re.compile(r"characters 15–45 · .* · id [0-9a-f]{20}"))
    shot(page, "sources-chunks")
    # Back to the note from a chunk card, passage highlighted.
    view.locator("section.chunk.cited button", has_text="Show in the note").click()
    expect(view.locator("mark.cited").first).to_contain_text("Gradient checkpointing trades")
    expect(view.locator("mark.cited").first).to_be_in_viewport()
    assert (view.evaluate("e => document.documentElement.scrollWidth <= window.innerWidth"))
    assert not page.errors



def test_a_click_made_while_the_last_one_loads_is_still_followed(page):
    # A learner who clicks a note and at once one of its sections must land on the section: the
    # second click reaches the server while the first is still being answered.
    open_sources(page)
    page.evaluate("""() => {
        document.querySelector('#sources-tree button.file[data-source="long-lesson.md"]').click();
        document.querySelector('#sources-tree button.heading[data-heading="Long lesson > Gradient checkpointing"]').click();
    }""")
    mark = page.locator("#sources-view mark.section").first
    expect(mark).to_contain_text("Gradient checkpointing trades compute for memory")
    expect(mark).to_be_in_viewport()

def test_a_note_with_script_and_onerror_runs_nothing(page):
    open_sources(page)
    page.locator("#sources-tree button.file", has_text="unsafe.md").click()
    view = page.locator("#sources-view")
    expect(view).to_contain_text("A harmless paragraph about prompt injection.")
    expect(view).to_contain_text("onerror=")  # the note's HTML is shown as the text it is
    expect(view.locator("img")).to_have_count(0)
    page.wait_for_timeout(1500)  # long enough for any handler to run
    assert page.evaluate("window.__pwned") is None
    assert view.locator("script, svg, iframe").count() == 0
    assert view.get_by_text("a javascript link").get_attribute("href") is None
    expect(view.get_by_role("link", name="a web link")).to_have_attribute("target", "_blank")
    shot(page, "sources-unsafe")
    assert not page.errors


def test_delete_a_note_with_confirmation(page, app_server):
    open_sources(page)
    page.locator("#sources-tree button.file", has_text="delete-me.md").click()
    expect(page.locator("#sources-view .note-path")).to_contain_text("delete-me.md")
    page.locator("#sources-delete").click()
    confirm = page.locator("#sources-confirm")
    expect(confirm).to_contain_text("Delete scratch/delete-me.md from the notes folder and the index?")
    shot(page, "sources-confirm-delete")
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_be_hidden()
    assert (app_server.knowledge / "scratch/delete-me.md").exists()

    page.locator("#sources-delete").click()
    page.locator("#sources-confirm-delete").click()
    expect(page.locator("#sources-status")).to_contain_text("Deleted scratch/delete-me.md")
    expect(page.locator("#sources-tree")).not_to_contain_text("delete-me.md")
    assert not (app_server.knowledge / "scratch/delete-me.md").exists()
    expect(search(page, "zebra crossings").first).not_to_contain_text("delete-me.md")


def test_status_shows_notes_changed_on_disk_until_reindexed(page, app_server):
    (app_server.knowledge / "rag" / "retrieval.md").write_text(
        (app_server.knowledge / "rag" / "retrieval.md").read_text() + "\nA line added later.\n")
    page.reload()
    open_sources(page)
    status = page.locator("#sources-status")
    expect(status).to_contain_text("changed on disk since: rag/retrieval.md (changed)")
    expect(page.locator("#sources-tree .badge.edited")).to_have_count(1)
    shot(page, "sources-stale")
    page.locator("#sources-reindex").click()
    expect(status).to_contain_text("Re-indexed", timeout=180_000)
    expect(status).to_contain_text("search is up to date")
    expect(page.locator("#sources-tree .badge.edited")).to_have_count(0)


def test_an_ingest_by_another_process_shows_in_the_open_page(page, app_server):
    open_sources(page)
    expect(page.locator("#sources-status")).to_contain_text("search is up to date")
    (app_server.knowledge / "from-elsewhere.md").write_text(
        "# From elsewhere\n\nA note indexed by python ingest.py while the page was open.\n")
    done = run_cli("ingest.py", "--knowledge", str(app_server.knowledge), "--db", str(app_server.data))
    assert done.returncode == 0, done.stderr
    # No reload: the page notices the library's new generation by itself.
    expect(page.locator("#sources-tree")).to_contain_text("from-elsewhere.md", timeout=30_000)
    expect(page.locator("#sources-status")).to_contain_text("search is up to date")
    assert not page.errors


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_highlights_and_badges_are_readable_in_both_themes(page, app_server, scheme):
    use_scheme(page, scheme)
    open_sources(page)
    hits = search(page, "gradient checkpointing")
    expect(hits.first.locator("mark.term").first).to_be_visible()
    lowest = {"search": assert_readable(page, "#sources-hits", must_see="mark.term")}
    hits.first.click()
    expect(page.locator("#sources-view mark.cited").first).to_be_in_viewport()
    lowest["passage"] = assert_readable(page, "#sources-view", must_see="mark.cited")
    shot(page, f"sources-passage-{scheme}")
    page.locator("#sources-tree button.file", has_text="long-lesson.md").click()  # unfolds its sections
    page.locator('#sources-tree button.heading[data-heading="Long lesson > Gradient checkpointing"]').click()
    expect(page.locator("#sources-view mark.section").first).to_be_in_viewport()
    lowest["section"] = assert_readable(page, "#sources-view", must_see="mark.section")

    # A note changed on disk: the tree's badge and the status line.
    note = app_server.knowledge / "long-lesson.md"
    note.write_text(note.read_text() + f"\nA line added in the {scheme} theme.\n")
    page.reload()
    open_sources(page)
    expect(page.locator("#sources-tree .badge.edited")).to_have_count(1)
    lowest["badge"] = assert_readable(page, "#sources-tree", must_see=".badge")
    lowest["status"] = assert_readable(page, "#sources-status", must_see=".stale")
    shot(page, f"sources-stale-{scheme}")
    page.locator("#sources-reindex").click()
    expect(page.locator("#sources-status")).to_contain_text("search is up to date", timeout=180_000)
    lowest["re-indexed"] = assert_readable(page, "#sources-status", must_see=".done")
    print(f"lowest contrast, {scheme}: " + ", ".join(f"{k} {v:.2f}" for k, v in lowest.items()))
    assert not page.errors
