"""The one module that imports chromadb: a library's chunks, manifest and records, embedded or on a server.

The store never embeds; callers hand it vectors. All index state lives in Chroma, under the
library's name (settings.library): its chunks in collection NAME, one manifest record per indexed
file in NAME-files, and its ingest lock and generation in NAME-meta (index/library.py). So the
embedded store and a Chroma server behave the same, another machine can pick up a server's index
as it is, and libraries on one server never touch each other's collections.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.config import Settings
from ..core.errors import StoreUnavailable
from ..core.schema import Chunk

# Chroma caps how many records one call may carry; stay well under it.
_BATCH = 2000


@dataclass(frozen=True)
class FileRecord:
    """A file whose chunks are all in the index, as it was when they were written."""

    path: str
    sha256: str
    mtime: float
    size: int
    chunks: int
    indexed_at: float


def _client(settings: Settings):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=True)
    try:
        if settings.chroma_host:
            return chromadb.HttpClient(
                host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings
            )
        path = Path(settings.data_dir) / "chroma"
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except Exception as exc:  # chromadb raises plain ValueError/ConnectionError/OSError here
        where = (
            f"the Chroma server at {settings.chroma_host}:{settings.chroma_port}"
            if settings.chroma_host
            else f"the index folder {settings.data_dir}"
        )
        raise StoreUnavailable(
            f"Cannot open {where} ({type(exc).__name__}: {exc}); check that it is running "
            "and reachable, or unset CHROMA_HOST to use the embedded store."
            if settings.chroma_host
            else f"Cannot open {where} ({exc}); check that the folder is writable and has free space."
        ) from exc


def _chunk_metadata(chunk: Chunk, file_hash: str) -> dict:
    meta = {
        "source": chunk.source,
        "heading": chunk.heading,
        "start": chunk.start,
        "end": chunk.end,
        "content_hash": chunk.content_hash,
        "file_hash": file_hash,
    }
    if chunk.page is not None:
        meta["page"] = chunk.page
    return meta


def _chunk_from(chunk_id: str, text: str, meta: dict) -> Chunk:
    return Chunk(
        id=chunk_id,
        source=meta["source"],
        heading=meta.get("heading", ""),
        text=text,
        start=int(meta.get("start", 0)),
        end=int(meta.get("end", 0)),
        content_hash=meta.get("content_hash", ""),
        page=meta.get("page"),
    )


class VectorStore:
    """A library's chunks with their vectors, the manifest of files whose chunks are complete, and a
    few named records (the ingest lock, the generation)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.library = settings.library
        self._client = _client(settings)
        self._meta = None  # opened on first use: reading an old index never creates it
        self._guard(self._open)

    def _open(self) -> None:
        self._chunks = self._client.get_or_create_collection(
            self.library,
            embedding_function=None,  # we give vectors; None stops Chroma fetching its ONNX model
            metadata={"hnsw:space": "cosine"},
        )
        self._files = self._client.get_or_create_collection(f"{self.library}-files", embedding_function=None)
        self._meta = None

    def _do(self, which: str, method: str, **kwargs):
        """`method(**kwargs)` on the library's `which` collection ("chunks", "files" or "meta"),
        with failures as one sentence. A collection that another instance's --reset dropped and
        re-created is looked up again and the call retried."""
        def call():
            collection = getattr(self, f"_{which}")  # read once: another thread may reopen meanwhile
            if collection is None:  # the meta collection, opened on first use
                collection = self._meta = self._client.get_or_create_collection(f"{self.library}-meta",
                                                                                embedding_function=None)
            return getattr(collection, method)(**kwargs)

        for attempt in range(3):
            try:
                return self._guard(call)
            except Exception as exc:
                if attempt == 2:
                    raise
                if type(exc).__name__ == "NotFoundError":
                    self._guard(self._open)
                elif "error finding id" not in str(exc).lower():
                    # Chroma 1.5 can fail a search that runs while a delete of the same collection
                    # lands ("Error finding id"); the next try finds the index settled.
                    raise

    def _guard(self, call, *args, **kwargs):
        """Run a Chroma call, turning connection failures into one sentence for the user."""
        try:
            return call(*args, **kwargs)
        except StoreUnavailable:
            raise
        except Exception as exc:
            text = str(exc).lower()
            if "disk is full" in text or "no space left" in text:
                raise StoreUnavailable(
                    f"The disk holding the index ({self._where()}) is full; free some space and run "
                    "again. The index keeps everything written before."
                ) from None
            if "expecting embedding with dimension" in text:
                raise StoreUnavailable(
                    f"The index ({self._where()}) was built with a different embedding model; rebuild "
                    "it from your notes with python ingest.py --reset."
                ) from None
            if "readonly" in text or "read-only" in text:
                raise StoreUnavailable(
                    f"The index ({self._where()}) is read-only; make the folder writable or point "
                    "--db / ASSISTANT_DATA_DIR elsewhere."
                ) from None
            if self.settings.chroma_host and _looks_like_connection_error(exc):
                raise StoreUnavailable(
                    f"The Chroma server at {self.settings.chroma_host}:{self.settings.chroma_port} "
                    "is not answering; start it again (chroma run) and retry."
                ) from None
            raise

    def _where(self) -> str:
        if self.settings.chroma_host:
            return f"Chroma server {self.settings.chroma_host}:{self.settings.chroma_port}"
        return str(Path(self.settings.data_dir) / "chroma")

    # --- chunks ---------------------------------------------------------------------------

    def count(self) -> int:
        return self._do("chunks", "count")

    def upsert(self, chunks: list[Chunk], vectors: np.ndarray, file_hashes: list[str]) -> None:
        """Write chunks with their vectors; `file_hashes[i]` is the hash of chunk i's file."""
        for i in range(0, len(chunks), _BATCH):
            part = chunks[i : i + _BATCH]
            self._do("chunks", "upsert", ids=[c.id for c in part],
                embeddings=np.asarray(vectors[i : i + _BATCH], dtype=np.float32),
                documents=[c.text for c in part],
                metadatas=[_chunk_metadata(c, h) for c, h in zip(part, file_hashes[i : i + _BATCH])],
            )

    def update_metadata(self, chunks: list[Chunk], file_hashes: list[str]) -> None:
        """Move unchanged chunks to their new position without re-embedding them."""
        for i in range(0, len(chunks), _BATCH):
            part = chunks[i : i + _BATCH]
            self._do("chunks", "update", ids=[c.id for c in part],
                metadatas=[_chunk_metadata(c, h) for c, h in zip(part, file_hashes[i : i + _BATCH])],
            )

    def delete(self, ids: list[str]) -> None:
        for i in range(0, len(ids), _BATCH):
            self._do("chunks", "delete", ids=ids[i : i + _BATCH])

    def ids_for_source(self, source: str) -> set[str]:
        return self.ids_for_sources([source])[source]

    def ids_for_sources(self, sources: list[str]) -> dict[str, set[str]]:
        """Chunk ids per source file, in a few calls however many files there are."""
        found: dict[str, set[str]] = {s: set() for s in sources}
        for i in range(0, len(sources), 500):
            part = sources[i : i + 500]
            got = self._do("chunks", "get", where={"source": {"$in": part}}, include=["metadatas"])
            for cid, meta in zip(got["ids"], got["metadatas"]):
                found[meta["source"]].add(cid)
        return found

    def all_chunks(self) -> list[Chunk]:
        """Every chunk, in pages, for the keyword index and the source browser."""
        return [_chunk_from(cid, text, meta) for cid, text, meta in self._every_chunk()]

    def committed_chunks(self) -> list[Chunk]:
        """The chunks of the files as the manifest has them: a chunk is left out while its file's
        new version is being written (its file hash is not yet the manifest's) and after a run
        died half-way, so what an app loads during another process's ingest never holds two
        versions of a note. Chunks of a file the manifest does not list, or without a file hash,
        were written by other means (benchmarks/scale.py) and are always in."""
        manifest = {path: record.sha256 for path, record in self.files().items()}
        return [_chunk_from(cid, text, meta) for cid, text, meta in self._every_chunk()
                if meta.get("file_hash") is None or manifest.get(meta["source"], meta["file_hash"]) == meta["file_hash"]]

    def _every_chunk(self):
        offset = 0
        while True:
            got = self._do("chunks", "get", include=["documents", "metadatas"], limit=_BATCH, offset=offset)
            yield from ((i, t, m) for i, t, m in zip(got["ids"], got["documents"], got["metadatas"]) if m is not None)
            if len(got["ids"]) < _BATCH:
                return
            offset += _BATCH

    def catch_up(self) -> None:
        """Make this process's searches see what another process wrote. The embedded store reads
        other processes' writes into its in-memory vector index only when this process writes,
        so an empty delete is written; a server needs nothing (it is the one process)."""
        if not self.settings.chroma_host:
            self._do("chunks", "delete", ids=["~catch-up~"])

    def get(self, ids: list[str]) -> list[Chunk]:
        if not ids:
            return []
        got = self._do("chunks", "get", ids=list(ids), include=["documents", "metadatas"])
        by_id = {
            cid: _chunk_from(cid, text, meta)
            for cid, text, meta in zip(got["ids"], got["documents"], got["metadatas"])
            if meta is not None  # deleted while read
        }
        return [by_id[i] for i in ids if i in by_id]

    def vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        got = self._do("chunks", "get", ids=list(ids), include=["embeddings"])
        return {cid: np.asarray(v, dtype=np.float32) for cid, v in zip(got["ids"], got["embeddings"]) if v is not None}

    def query(
        self, vector: np.ndarray, k: int, sources: list[str] | None = None
    ) -> list[tuple[Chunk, float]]:
        """Nearest chunks by cosine similarity, optionally only from the given sources."""
        if k <= 0:
            return []
        where = None
        if sources is not None:
            if not sources:
                return []
            where = {"source": {"$in": list(sources)}}
        # No count() first: Chroma returns fewer than k (or none) by itself, and the extra round
        # trip cost 7 ms a search at 100k chunks, more through a server.
        got = self._do("chunks", "query", query_embeddings=[np.asarray(vector, dtype=np.float32)],
            n_results=k,
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        # A chunk deleted while the search ran comes back without its metadata: it is gone, skip it.
        return [
            (_chunk_from(cid, text, meta), 1.0 - float(dist))
            for cid, text, meta, dist in zip(
                got["ids"][0], got["documents"][0], got["metadatas"][0], got["distances"][0]
            )
            if meta is not None
        ]

    # --- file manifest --------------------------------------------------------------------

    def files(self) -> dict[str, FileRecord]:
        got = self._do("files", "get", include=["metadatas"])
        return {
            meta["path"]: FileRecord(
                path=meta["path"],
                sha256=meta["sha256"],
                mtime=float(meta["mtime"]),
                size=int(meta["size"]),
                chunks=int(meta["chunks"]),
                indexed_at=float(meta["indexed_at"]),
            )
            for meta in got["metadatas"]
        }

    def mark_files(self, records: list[FileRecord]) -> None:
        """Written only after all of the files' chunks are in: their commit point."""
        for i in range(0, len(records), _BATCH):
            part = records[i : i + _BATCH]
            self._do("files", "upsert", ids=[r.path for r in part],
                embeddings=[[1.0]] * len(part),  # the manifest is looked up by id, never searched
                metadatas=[r.__dict__ for r in part],
            )

    def unmark_file(self, path: str) -> None:
        self._do("files", "delete", ids=[path])

    def reset(self) -> None:
        """Drop the library's chunks and manifest (its lock and generation stay: a reset is a run)."""
        for name in (self.library, f"{self.library}-files"):
            try:
                self._guard(self._client.delete_collection, name)
            except Exception as exc:  # a collection that does not exist yet is fine
                if "does not exist" not in str(exc).lower() and "not found" not in str(exc).lower():
                    raise
        self._guard(self._open)

    # --- named records (index/library.py): small metadata dicts by id -----------------------

    def record(self, key: str) -> dict | None:
        got = self._do("meta", "get", ids=[key], include=["metadatas"])
        return dict(got["metadatas"][0]) if got["ids"] else None

    def add_record(self, key: str, values: dict) -> dict | None:
        """Write the record only when there is none under `key` (Chroma keeps the first of two
        adds of one id, also from two processes at once); returns the record stored now."""
        self._do("meta", "add", ids=[key], embeddings=[[1.0]], metadatas=[values])
        return self.record(key)

    def put_record(self, key: str, values: dict) -> None:
        self._do("meta", "upsert", ids=[key], embeddings=[[1.0]], metadatas=[values])

    def touch_record(self, key: str, values: dict) -> None:
        """Change some values of the record, if there is one (never creates it)."""
        self._do("meta", "update", ids=[key], metadatas=[values])

    def delete_record(self, key: str, where: dict | None = None) -> None:
        """Delete the record; with `where`, only while its values still match it."""
        self._do("meta", "delete", ids=[key], where=where)


def _looks_like_connection_error(exc: Exception) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return any(
        word in text
        for word in ("connect", "timeout", "timed out", "refused", "unreachable", "remoteprotocol")
    )
