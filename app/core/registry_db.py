"""The SQLite file that records installed models.

SQLite gives the atomicity the registry needs: a crash at any moment leaves the
old or the new state. WAL lets the window read while the command line writes.
The schema is versioned with ``PRAGMA user_version``; each migration runs once,
in order, inside one transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.core.errors import StoreError
from app.core.migrations import apply_migrations

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema.
    """
    CREATE TABLE models (
        id TEXT PRIMARY KEY,
        base_id TEXT NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('hub', 'bundled', 'local-file')),
        repo TEXT,
        commit_sha TEXT,
        revision TEXT,
        filename TEXT NOT NULL,
        path TEXT NOT NULL,
        managed INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        license TEXT,
        installed_at TEXT NOT NULL,
        architecture TEXT,
        model_name TEXT,
        context_length INTEGER,
        quantization TEXT,
        parameter_count INTEGER,
        chat_template_sha256 TEXT,
        pinned INTEGER NOT NULL DEFAULT 0,
        verified_at TEXT
    );
    CREATE INDEX models_sha256 ON models (sha256);
    CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


@contextmanager
def connect(db_path: Path) -> Iterator[sqlite3.Connection]:
    """One connection, one transaction: committed on success, rolled back on error."""
    try:
        conn = sqlite3.connect(db_path, timeout=10.0, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"Cannot open the model registry {db_path}: {exc}.") from exc
    conn.row_factory = sqlite3.Row
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        _migrate(conn, db_path)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"The model registry {db_path} cannot be used: {exc}. "
            "Move it aside and restart Driftless to rebuild it."
        ) from exc
    finally:
        conn.close()


def _migrate(conn: sqlite3.Connection, db_path: Path) -> None:
    apply_migrations(conn, MIGRATIONS, what=f"The model registry {db_path}", error=StoreError)
