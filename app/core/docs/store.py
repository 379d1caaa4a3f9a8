"""Document collections on disk: ``documents.sqlite3`` in the data folder.

One file (through :mod:`app.core.db`: WAL, 0600, versioned migrations) holds every
collection: its pinned embedder and chunking, its folders, its files (path, size, mtime,
sha256, or why it was skipped), their passages with float32 vectors, and an FTS5 index
over the passages (Porter-stemmed, so "refunds" finds "refund").

Each file is written in one transaction (its row, its passages, their vectors and index
entries together), so a killed add leaves every file either as it was or wholly new, and
adding again resumes. Vectors are searched exactly in numpy (:mod:`app.core.docs.search`);
the matrix of a collection is read once and kept until the collection changes.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from app.core.db import Database
from app.core.docs.passages import Chunking, Passage
from app.core.docs.records import (
    CollectionInfo,
    CollectionNotFound,
    DocsError,
    EmbedderInfo,
    search_title,
)
from app.core.docs.vectors import Matrix, SearchVectors, prepare

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE collections (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        embedder TEXT NOT NULL,
        chunking TEXT NOT NULL,
        version INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE roots (
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        PRIMARY KEY (collection_id, path)
    );
    CREATE TABLE files (
        id INTEGER PRIMARY KEY,
        collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        sha256 TEXT,
        kind TEXT,
        encoding TEXT,
        title TEXT NOT NULL DEFAULT '',
        skipped TEXT,
        indexed_at TEXT NOT NULL,
        UNIQUE (collection_id, path)
    );
    CREATE TABLE passages (
        id INTEGER PRIMARY KEY,
        file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
        ord INTEGER NOT NULL,
        page INTEGER,
        line INTEGER NOT NULL,
        start INTEGER NOT NULL,
        "end" INTEGER NOT NULL,
        heading TEXT NOT NULL,
        text TEXT NOT NULL,
        vector BLOB NOT NULL,
        next_vector BLOB
    );
    CREATE INDEX passages_file ON passages(file_id);
    CREATE VIRTUAL TABLE passages_fts USING fts5(
        title, heading, text, tokenize = 'porter unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER passages_deleted AFTER DELETE ON passages BEGIN
        DELETE FROM passages_fts WHERE rowid = old.id;
    END;
    """,
)

BM25_WEIGHTS = (4.0, 2.0, 1.0)
"""bm25 weights of the title, heading and text columns: a word of the title counts most."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class FileState:
    id: int
    path: str
    size: int
    mtime_ns: int
    sha256: str | None
    skipped: str | None


class DocsStore:
    """Every collection of one data folder. One instance per process is enough."""

    def __init__(self, path: Path) -> None:
        self.db = Database(path, MIGRATIONS, what="The document index", error=DocsError)
        self._cache: dict[int, tuple[int, str, SearchVectors]] = {}
        self._cache_lock = threading.Lock()

    def close(self) -> None:
        self.db.close()

    # --- collections -----------------------------------------------------------------

    def create(self, name: str, embedder: EmbedderInfo, chunking: Chunking) -> CollectionInfo:
        with self.db.write() as conn:
            if conn.execute("SELECT 1 FROM collections WHERE name = ?", (name,)).fetchone():
                raise DocsError(f"There is already a collection named '{name}'.")
            conn.execute(
                "INSERT INTO collections (name, created_at, updated_at, embedder, chunking) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    name,
                    _now(),
                    _now(),
                    json.dumps(embedder.to_json()),
                    json.dumps(chunking.to_json()),
                ),
            )
        return self.get(name)

    def find(self, name: str) -> CollectionInfo | None:
        with self.db.read() as conn:
            row = conn.execute("SELECT id FROM collections WHERE name = ?", (name,)).fetchone()
            return None if row is None else self._info(conn, int(row["id"]))

    def get(self, name: str) -> CollectionInfo:
        info = self.find(name)
        if info is None:
            raise CollectionNotFound(
                f"There is no collection named '{name}'. `driftless docs list` shows them; "
                f"`driftless docs add {name} FOLDER` makes it."
            )
        return info

    def collections(self) -> list[CollectionInfo]:
        with self.db.read() as conn:
            ids = [
                int(row["id"]) for row in conn.execute("SELECT id FROM collections ORDER BY name")
            ]
            return [self._info(conn, cid) for cid in ids]

    def _info(self, conn: sqlite3.Connection, cid: int) -> CollectionInfo:
        row = conn.execute("SELECT * FROM collections WHERE id = ?", (cid,)).fetchone()
        counts = conn.execute(
            "SELECT count(*) FILTER (WHERE skipped IS NULL) AS files, "
            "count(*) FILTER (WHERE skipped IS NOT NULL) AS skipped, "
            "coalesce(sum(size) FILTER (WHERE skipped IS NULL), 0) AS bytes "
            "FROM files WHERE collection_id = ?",
            (cid,),
        ).fetchone()
        passages = conn.execute(
            "SELECT count(*) FROM passages JOIN files ON files.id = passages.file_id "
            "WHERE files.collection_id = ?",
            (cid,),
        ).fetchone()[0]
        roots = tuple(
            r["path"]
            for r in conn.execute(
                "SELECT path FROM roots WHERE collection_id = ? ORDER BY path", (cid,)
            )
        )
        return CollectionInfo(
            id=cid,
            name=row["name"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            embedder=EmbedderInfo.from_json(json.loads(row["embedder"])),
            chunking=Chunking.from_json(json.loads(row["chunking"])),
            roots=roots,
            files=int(counts["files"]),
            passages=int(passages),
            skipped=int(counts["skipped"]),
            bytes=int(counts["bytes"]),
            version=int(row["version"]),
        )

    def remove(self, name: str) -> None:
        info = self.get(name)
        with self.db.write() as conn:
            conn.execute(
                "DELETE FROM passages WHERE file_id IN "
                "(SELECT id FROM files WHERE collection_id = ?)",
                (info.id,),
            )
            conn.execute("DELETE FROM collections WHERE id = ?", (info.id,))
        self._cache.pop(info.id, None)

    def add_roots(self, cid: int, roots: Sequence[str]) -> None:
        with self.db.write() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO roots (collection_id, path) VALUES (?, ?)",
                [(cid, root) for root in roots],
            )

    # --- files -----------------------------------------------------------------------

    def file_states(self, cid: int) -> dict[str, FileState]:
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT id, path, size, mtime_ns, sha256, skipped FROM files "
                "WHERE collection_id = ?",
                (cid,),
            ).fetchall()
        return {
            row["path"]: FileState(
                row["id"], row["path"], row["size"], row["mtime_ns"], row["sha256"], row["skipped"]
            )
            for row in rows
        }

    def save_file(
        self,
        cid: int,
        path: str,
        *,
        size: int,
        mtime_ns: int,
        sha256: str,
        kind: str,
        encoding: str | None,
        title: str,
        passages: Sequence[Passage],
        vectors: Matrix,
    ) -> None:
        """Replace ``path``'s passages with these, in one transaction."""
        if len(passages) != len(vectors):
            raise ValueError("one vector per passage")
        with self.db.write() as conn:
            self._drop_passages(conn, cid, path)
            cursor = conn.execute(
                "INSERT INTO files (collection_id, path, size, mtime_ns, sha256, kind, encoding, "
                "title, skipped, indexed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?) "
                "ON CONFLICT (collection_id, path) DO UPDATE SET size = excluded.size, "
                "mtime_ns = excluded.mtime_ns, sha256 = excluded.sha256, kind = excluded.kind, "
                "encoding = excluded.encoding, title = excluded.title, skipped = NULL, "
                "indexed_at = excluded.indexed_at RETURNING id",
                (cid, path, size, mtime_ns, sha256, kind, encoding, title, _now()),
            )
            file_id = int(cursor.fetchone()[0])
            indexed_title = search_title(title, path)
            for order, (passage, vector) in enumerate(zip(passages, vectors, strict=True)):
                row = conn.execute(
                    'INSERT INTO passages (file_id, ord, page, line, start, "end", heading, text, '
                    "vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        file_id,
                        order,
                        passage.page,
                        passage.line,
                        passage.start,
                        passage.end,
                        passage.heading,
                        passage.text,
                        np.asarray(vector, dtype=np.float32).tobytes(),
                    ),
                )
                conn.execute(
                    "INSERT INTO passages_fts (rowid, title, heading, text) VALUES (?, ?, ?, ?)",
                    (row.lastrowid, indexed_title, passage.heading, passage.text),
                )
            self._changed(conn, cid)

    def save_skipped(self, cid: int, path: str, *, size: int, mtime_ns: int, reason: str) -> None:
        with self.db.write() as conn:
            self._drop_passages(conn, cid, path)
            conn.execute(
                "INSERT INTO files (collection_id, path, size, mtime_ns, skipped, indexed_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (collection_id, path) DO UPDATE SET "
                "size = excluded.size, mtime_ns = excluded.mtime_ns, sha256 = NULL, "
                "skipped = excluded.skipped, indexed_at = excluded.indexed_at",
                (cid, path, size, mtime_ns, reason, _now()),
            )
            self._changed(conn, cid)

    def touch_file(self, file_id: int, *, size: int, mtime_ns: int) -> None:
        """Record a new size and mtime for a file whose content (sha256) did not change."""
        with self.db.write() as conn:
            conn.execute(
                "UPDATE files SET size = ?, mtime_ns = ? WHERE id = ?", (size, mtime_ns, file_id)
            )

    def drop_files(self, cid: int, paths: Sequence[str]) -> None:
        with self.db.write() as conn:
            for path in paths:
                self._drop_passages(conn, cid, path)
                conn.execute("DELETE FROM files WHERE collection_id = ? AND path = ?", (cid, path))
            self._changed(conn, cid)

    def _drop_passages(self, conn: sqlite3.Connection, cid: int, path: str) -> None:
        conn.execute(
            "DELETE FROM passages WHERE file_id IN "
            "(SELECT id FROM files WHERE collection_id = ? AND path = ?)",
            (cid, path),
        )

    def _changed(self, conn: sqlite3.Connection, cid: int) -> None:
        conn.execute(
            "UPDATE collections SET version = version + 1, updated_at = ? WHERE id = ?",
            (_now(), cid),
        )

    # --- re-embedding ----------------------------------------------------------------

    def passages_to_embed(self, cid: int) -> list[tuple[int, str, str, str]]:
        """(passage id, file title, heading, text) of every passage, in file order."""
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT p.id, f.title, f.path, p.heading, p.text FROM passages p "
                "JOIN files f ON f.id = p.file_id WHERE f.collection_id = ? ORDER BY p.id",
                (cid,),
            ).fetchall()
        return [
            (int(r["id"]), search_title(r["title"], r["path"]), r["heading"], r["text"])
            for r in rows
        ]

    def stage_vectors(self, ids: Sequence[int], vectors: Matrix) -> None:
        """Keep new vectors beside the current ones (searches still use the current)."""
        with self.db.write() as conn:
            conn.executemany(
                "UPDATE passages SET next_vector = ? WHERE id = ?",
                [
                    (np.asarray(v, np.float32).tobytes(), pid)
                    for pid, v in zip(ids, vectors, strict=True)
                ],
            )

    def clear_staged(self, cid: int) -> None:
        """Drop new vectors that were never switched to (a cancelled re-embed)."""
        with self.db.write() as conn:
            conn.execute(
                "UPDATE passages SET next_vector = NULL WHERE next_vector IS NOT NULL AND "
                "file_id IN (SELECT id FROM files WHERE collection_id = ?)",
                (cid,),
            )

    def switch_embedder(self, cid: int, embedder: EmbedderInfo) -> None:
        """Make the staged vectors current and record their embedder, in one transaction."""
        with self.db.write() as conn:
            missing = conn.execute(
                "SELECT count(*) FROM passages p JOIN files f ON f.id = p.file_id "
                "WHERE f.collection_id = ? AND p.next_vector IS NULL",
                (cid,),
            ).fetchone()[0]
            if missing:
                raise DocsError(
                    f"{missing:,} passages have no new vector yet; nothing was switched."
                )
            conn.execute(
                "UPDATE passages SET vector = next_vector, next_vector = NULL WHERE file_id IN "
                "(SELECT id FROM files WHERE collection_id = ?)",
                (cid,),
            )
            conn.execute(
                "UPDATE collections SET embedder = ? WHERE id = ?",
                (json.dumps(embedder.to_json()), cid),
            )
            self._changed(conn, cid)

    # --- searching -------------------------------------------------------------------

    def keyword_search(self, cid: int, match: str, limit: int) -> list[tuple[int, float]]:
        """(passage id, bm25 score, higher is better) best first for an FTS5 ``match``."""
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT passages_fts.rowid AS id, bm25(passages_fts, ?, ?, ?) AS score "
                "FROM passages_fts JOIN passages p ON p.id = passages_fts.rowid "
                "JOIN files f ON f.id = p.file_id "
                "WHERE passages_fts MATCH ? AND f.collection_id = ? ORDER BY score LIMIT ?",
                (*BM25_WEIGHTS, match, cid, limit),
            ).fetchall()
        return [(int(row["id"]), -float(row["score"])) for row in rows]

    def vectors(self, cid: int, scaling: str = "unit") -> SearchVectors:
        """Every passage id of the collection and its vector, comparable as ``scaling``
        says (:func:`app.core.docs.vectors.prepare`); cached until the collection changes."""
        with self.db.read() as conn:
            version = int(
                conn.execute("SELECT version FROM collections WHERE id = ?", (cid,)).fetchone()[0]
            )
            with self._cache_lock:
                cached = self._cache.get(cid)
            if cached is not None and cached[:2] == (version, scaling):
                return cached[2]
            rows = conn.execute(
                "SELECT p.id, p.vector FROM passages p JOIN files f ON f.id = p.file_id "
                "WHERE f.collection_id = ? ORDER BY p.id",
                (cid,),
            ).fetchall()
        ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        if rows:
            blob = b"".join(row[1] for row in rows)
            matrix = np.frombuffer(blob, dtype=np.float32).reshape(len(rows), -1)
        else:
            matrix = np.zeros((0, 0), dtype=np.float32)
        prepared = prepare(ids, matrix, scaling)
        with self._cache_lock:
            self._cache[cid] = (version, scaling, prepared)
        return prepared

    def passages(self, ids: Sequence[int]) -> Iterator[dict[str, object]]:
        """The rows of these passages (with their file's path and title), in the given order."""
        if not ids:
            return
        with self.db.read() as conn:
            marks = ",".join("?" * len(ids))
            rows = conn.execute(
                'SELECT p.id, p.page, p.line, p.start, p."end", p.heading, p.text, f.path, '
                f"f.title FROM passages p JOIN files f ON f.id = p.file_id WHERE p.id IN ({marks})",
                list(ids),
            ).fetchall()
        by_id = {int(row["id"]): dict(row) for row in rows}
        for pid in ids:
            if pid in by_id:
                yield by_id[pid]
