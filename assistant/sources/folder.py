"""The knowledge folder on disk: safe paths inside it, uploads into it, deletes, and which files the
index has not caught up with.

Every path from the browser goes through `resolve_note` / `resolve_folder`, which keep it inside
the knowledge folder (no `..`, no absolute paths, no links out of it).
"""

from __future__ import annotations

import os
import re
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cachetools import LRUCache, cached

from ..core.errors import AssistantError
from ..core.wording import shorten
from ..index.ingestion import file_sha256, scan
from ..index.loaders import (
    MAX_FILE_BYTES,
    NOTEBOOK,
    PDF,
    WORD,
    Unreadable,
    decode,
    load,
)
from ..index.notebooks import notebook_to_markdown
from ..index.word import docx_to_markdown

# What may be uploaded from the browser (the loaders also read `.text`; it is not offered here).
UPLOAD_TYPES = (".md", ".markdown", ".mdx", ".txt", ".pdf", ".html", ".htm", ".ipynb", ".docx")
MAX_UPLOAD_BYTES = MAX_FILE_BYTES
_MAX_NAME = 120  # characters in an uploaded file's name, extension included


class SourceError(AssistantError):
    """A request the Sources tab refuses; the message is one sentence for the learner."""


# --- paths ----------------------------------------------------------------------------------


def _check_rel(rel: str, what: str = "note") -> PurePosixPath:
    if not isinstance(rel, str) or not rel.strip():
        raise SourceError(f"No {what} was chosen; pick one from the list.")
    if "\x00" in rel or "\\" in rel or len(rel) > 1024:
        raise SourceError(f"'{shorten(rel)}' is not a valid {what} path; pick one from the list.")
    if rel.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", rel):
        raise SourceError(
            f"'{shorten(rel)}' is an absolute path; only notes inside the knowledge folder can be used."
        )
    pure = PurePosixPath(rel)
    parts = rel.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise SourceError(
            f"'{shorten(rel)}' leaves the knowledge folder or is malformed; "
            "only notes inside it can be used."
        )
    if any(p.startswith(".") for p in parts):
        raise SourceError(f"'{shorten(rel)}' is hidden; hidden files are not notes.")
    return pure


def _inside(root: Path, candidate: Path) -> bool:
    try:
        return candidate.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a link loop
        return False


def resolve_note(root: Path, rel: str, must_exist: bool = True) -> Path:
    """The file for `rel` inside `root`, or SourceError. Links are allowed only within the folder.

    Returns the unresolved path, so that deleting a link inside the folder deletes the link itself.
    """
    _check_rel(rel)
    root = Path(root)
    candidate = root / rel
    if not _inside(root, candidate):
        raise SourceError(
            f"'{shorten(rel)}' points outside the knowledge folder, so it cannot be opened or changed."
        )
    if must_exist and not candidate.is_file():
        raise SourceError(f"'{shorten(rel)}' is no longer in the notes folder; re-index to update the list.")
    return candidate


def resolve_folder(root: Path, folder: str | None) -> Path:
    """A folder inside `root` for uploads: '' (or None) is the top level."""
    root = Path(root)
    folder = (folder or "").strip().strip("/")
    if not folder:
        return root
    _check_rel(folder, "folder")
    candidate = root / folder
    if not _inside(root, candidate):
        raise SourceError(f"'{shorten(folder)}' points outside the knowledge folder; choose another folder.")
    if not candidate.is_dir():
        raise SourceError(f"The folder '{shorten(folder)}' does not exist; choose one from the list.")
    return candidate


def note_folders(root: Path) -> list[str]:
    """Sub-folders of the knowledge folder (relative, with a trailing slash), hidden ones left out."""
    root = Path(root)
    found: list[str] = []
    for dirpath, dirnames, _ in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for d in dirnames:
            rel = (Path(dirpath) / d).relative_to(root).as_posix()
            found.append(rel + "/")
    return found


# --- uploads --------------------------------------------------------------------------------

_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                     *(f"lpt{i}" for i in range(1, 10))}


def safe_filename(name: str) -> str:
    """A file name that is safe to create in the knowledge folder, keeping what the learner typed.

    Directories are dropped, control and path characters become '-', leading dots go (no hidden
    files), the extension is lower-cased and the name is kept under 120 characters.
    """
    name = unicodedata.normalize("NFC", str(name or ""))
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(ch if unicodedata.category(ch)[0] != "C" else "-" for ch in name)
    name = re.sub(r'[<>:"|?*]+', "-", name)
    name = re.sub(r"\s*-(?:\s*-)*\s*", lambda m: " - " if m.group(0).strip(" -") == "" and " " in m.group(0)
                  else "-", name)
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    stem = re.sub(r"\s+", " ", stem)
    stem = re.sub(r"-{2,}", "-", stem).strip(" .-_")
    ext = re.sub(r"[^A-Za-z0-9]", "", ext).lower()
    if not stem:
        stem = "note"
    if stem.split(".")[0].lower() in _WINDOWS_RESERVED:
        stem = f"{stem}-note"
    suffix = f".{ext}" if ext else ""
    stem = stem[: max(1, _MAX_NAME - len(suffix))].rstrip(" .")
    return stem + suffix


def check_type(name: str) -> None:
    """Refuse a file whose extension is not one of the note types."""
    suffix = Path(str(name)).suffix.lower()
    if suffix not in UPLOAD_TYPES:
        raise SourceError(
            f"{shorten(Path(str(name)).name, 60)} was not added: only "
            f"{', '.join(t[1:] for t in UPLOAD_TYPES)} files can be notes."
        )


def _too_big(name: str, size: int, limit: int | None = None) -> str:
    limit = limit or MAX_UPLOAD_BYTES
    return (f"{shorten(Path(str(name)).name, 60)} was not added: it is {size / 2**20:.1f} MB, over the "
            f"{limit / 2**20:g} MB limit for one note; split it into smaller notes.")


def check_upload(name: str, data: bytes) -> None:
    """Refuse, with one sentence, a file of the wrong type, size or content."""
    check_type(name)
    shown = shorten(Path(str(name)).name, 60)
    suffix = Path(str(name)).suffix.lower()
    if not data:
        raise SourceError(f"{shown} was not added: the file is empty.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise SourceError(_too_big(name, len(data)))
    if suffix in PDF:
        if not data.lstrip()[:5].startswith(b"%PDF"):
            raise SourceError(f"{shown} was not added: it is not a PDF file.")
    elif suffix in WORD:
        try:
            docx_to_markdown(data)
        except Unreadable as exc:
            raise SourceError(f"{shown} was not added: {exc}.") from None
    else:
        try:
            text = decode(data)
            if suffix in NOTEBOOK:
                notebook_to_markdown(text)
        except Unreadable as exc:
            raise SourceError(f"{shown} was not added: {exc}.") from None


@dataclass(frozen=True)
class Saved:
    rel: str  # where the note now is, relative to the knowledge folder
    message: str
    new: bool  # False when the very same file was already there


def save_upload(root: Path, original_name: str, data: bytes, folder: str | None = "") -> Saved:
    """Write an uploaded note into the knowledge folder without ever replacing an existing file."""
    check_upload(original_name, data)
    Path(root).mkdir(parents=True, exist_ok=True)  # a fresh install may not have the folder yet
    target_dir = resolve_folder(root, folder)
    name = safe_filename(original_name)
    stem, suffix = name[: -len(Path(name).suffix)] or name, Path(name).suffix
    root = Path(root)
    for n in range(1, 1000):
        candidate_name = name if n == 1 else f"{stem}-{n}{suffix}"
        target = target_dir / candidate_name
        rel = target.relative_to(root).as_posix()
        if target.exists() or target.is_symlink():
            try:
                same = target.is_file() and _inside(root, target) and target.read_bytes() == data
            except OSError:
                same = False
            if same:
                return Saved(rel, f"{rel} is already in your notes with the same content; nothing was added.", False)
            continue
        try:
            with open(target, "xb") as fh:  # exclusive: never overwrites, never follows a link
                fh.write(data)
        except FileExistsError:
            continue
        except OSError as exc:
            raise SourceError(
                f"{name} could not be saved in the notes folder ({exc.strerror}); "
                "check that the folder is writable."
            ) from None
        shown = Path(str(original_name)).name
        if n > 1:
            message = f"A different {name} already exists, so this one was saved as {rel}."
        elif candidate_name != shown:
            message = f"Saved {shown} as {rel} (the name was made safe)."
        else:
            message = f"Saved {rel}."
        return Saved(rel, message, True)
    raise SourceError(f"{name} was not added: too many notes share that name; rename it and try again.")


def save_uploaded_file(root: Path, path: Path, folder: str | None = "", max_mb: float | None = None) -> Saved:
    """Save a file the browser uploaded (a temporary path named as the learner's file).

    Its type and size are checked before it is read, so an oversized upload never fills memory.
    `max_mb` (the app's setting) can only lower the cap.
    """
    limit = min(MAX_UPLOAD_BYTES, int(max_mb * 2**20)) if max_mb else MAX_UPLOAD_BYTES
    name = path.name
    try:
        check_type(name)
        size = path.stat().st_size
        if size > limit:
            raise SourceError(_too_big(name, size, limit))
        return save_upload(root, name, path.read_bytes(), folder)
    except OSError as exc:
        raise SourceError(f"{shorten(name, 60)} could not be read ({exc.strerror or str(exc)}); "
                          "try uploading it again.") from None


# --- what the index has not caught up with --------------------------------------------------


@dataclass(frozen=True)
class IndexStatus:
    files: int
    chunks: int
    last_indexed: float | None
    stale: dict[str, str]  # path -> "new" | "edited" | "deleted" | "interrupted"
    skipped: dict[str, str]  # path -> why it cannot be indexed


@cached(LRUCache(maxsize=4096), key=lambda path, rel, stat: (str(path), stat.st_mtime_ns, stat.st_size),
        lock=threading.Lock())
def _unreadable(path: Path, rel: str, stat: os.stat_result) -> str | None:
    """Why a note on disk cannot be indexed, or None. Loads the file once per version."""
    if stat.st_size == 0:
        return "empty file"
    try:
        if not load(path, rel).sections:
            return "no text to index"
    except Unreadable as exc:
        return str(exc)
    except Exception as exc:  # a loader bug must not break the status line
        return f"could not be read ({type(exc).__name__})"
    return None


def file_state(rel: str, path: Path | None, record) -> tuple[str, str]:
    """(state, reason) of one note: state is "" (indexed and unchanged), "new", "edited",
    "deleted", "interrupted" or "skipped" (cannot be indexed; `reason` says why)."""
    if path is None:
        return ("deleted", "") if record is not None else ("", "")
    try:
        stat = path.stat()
    except OSError:
        return "", ""
    if record is not None and not record.sha256:
        return "interrupted", ""
    if record is not None and record.size == stat.st_size and record.mtime == stat.st_mtime:
        return "", ""
    if record is not None:
        try:
            if file_sha256(path) == record.sha256:
                return "", ""  # touched, not changed
        except OSError:
            return "", ""
    reason = _unreadable(path, rel, stat)
    if reason:
        return "skipped", reason + ("; the indexed version is kept" if record is not None else "")
    return ("edited" if record is not None else "new"), ""


def note_file_state(root: Path, rel: str, record) -> tuple[str, str]:
    """`file_state` of the note at `rel` (SourceError for a path that is not a note's); a file that
    is gone or points outside the folder counts as deleted."""
    _check_rel(rel)
    root = Path(root)
    path = root / rel
    return file_state(rel, path if path.is_file() and _inside(root, path) else None, record)


def index_status(root: Path, manifest: dict, chunks: int) -> IndexStatus:
    """Compare the manifest (store.files()) with the notes on disk: what is stale and why."""
    found, _ = scan(Path(root))
    on_disk = dict(found)
    stale: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for rel in sorted(set(on_disk) | set(manifest)):
        state, reason = file_state(rel, on_disk.get(rel), manifest.get(rel))
        if state == "skipped":
            skipped[rel] = reason
        elif state:
            stale[rel] = state
    complete = [r for r in manifest.values() if r.sha256]
    last = max((r.indexed_at for r in complete), default=None)
    return IndexStatus(len(complete), chunks, last or None, stale, skipped)
