"""Jupyter notebooks as notes: the Markdown a learner wrote, the code they ran, what it printed.

A notebook is JSON; nbformat reads every version of it (and upgrades old ones). Its Markdown cells
are the notes, kept as written, so their headings cut sections as in any Markdown note. A code
cell becomes a fenced block in the notebook's language, quoted only under the sentence that
introduces it, as code in Markdown notes is. What a cell printed is often what the learner found
("recall@5: 0.82", "CUDA out of memory"), so short text output stays, as one quoted "Output:"
line per cell that can answer; images, HTML, object reprs and long tables are left out.
"""

from __future__ import annotations

import re
import warnings

from .loaders import Unreadable

# How a line a cell printed starts in the Markdown of a notebook.
OUTPUT_MARK = "> Output: "
_OBJECT = re.compile(r"^<[\w.]+(?::| at 0x| object)[^>]*>$")
# Output lines kept per cell and characters per line: a result or an error, not a data dump.
OUTPUT_LINES = 8
OUTPUT_LINE_CHARS = 300


def notebook_to_markdown(text: str) -> str:
    """A notebook's cells as one Markdown text. Raises Unreadable when it is not a notebook."""
    import nbformat
    from nbformat.reader import NotJSONError

    try:
        with warnings.catch_warnings():  # an older notebook's missing cell ids are no problem here
            warnings.simplefilter("ignore")
            notebook = nbformat.reads(text, as_version=4)
        cells = list(notebook.cells)
    except NotJSONError:
        raise Unreadable("not a Jupyter notebook: it is not valid JSON") from None
    except Exception:  # JSON that is not a notebook, or a notebook format nbformat does not know
        raise Unreadable("not a Jupyter notebook: its JSON has no notebook cells") from None
    meta = notebook.get("metadata", {})
    language = (meta.get("language_info", {}).get("name") or meta.get("kernelspec", {}).get("language")
                or "python")
    blocks: list[str] = []
    for cell in cells:
        source = str(cell.get("source", "")).strip("\n")
        if cell.get("cell_type") == "markdown" and source.strip():
            blocks.append(source)
        elif cell.get("cell_type") == "code":
            if source.strip():
                blocks.append(f"```{language}\n{source}\n```")
            printed = _printed(cell.get("outputs", []))
            if printed:
                # What one cell printed is one finding ("paraphrase 0.26 · wrong 0.83"): one line.
                blocks.append(OUTPUT_MARK + " · ".join(" ".join(line.split()) for line in printed))
    return "\n\n".join(blocks) + "\n" if blocks else ""


def _printed(outputs: list) -> list[str]:
    """The text a code cell showed: printed lines, a result's plain text, an error's message."""
    lines: list[str] = []
    for output in outputs:
        kind = output.get("output_type")
        if kind == "stream":
            text = str(output.get("text", ""))
        elif kind in ("execute_result", "display_data"):
            data = output.get("data", {})
            # A rich result (a plot, an HTML table) has a plain-text stand-in like "<Figure ...>".
            text = str(data.get("text/plain", "")) if not (set(data) - {"text/plain"}) else ""
        elif kind == "error":
            # What went wrong, not the allocator's statistics that follow it.
            message = str(output.get("evalue", "")).strip().split("\n")[0].split(". ")[0]
            text = f"{output.get('ename', 'Error')}: {message}"
        else:
            text = ""
        # A plot's return value ("<Axes: title=...>") is an object, not a result.
        lines += [line.rstrip()[:OUTPUT_LINE_CHARS] for line in text.splitlines()
                  if line.strip() and not _OBJECT.match(line.strip())]
    return lines[:OUTPUT_LINES]
