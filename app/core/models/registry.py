"""The SQLite file that records installed models.

SQLite gives the atomicity the registry needs: a crash at any moment leaves the
old or the new state. WAL lets the window read while the command line writes.
Connections, transactions and the versioned schema are :mod:`app.core.db`'s.
"""

from __future__ import annotations

from pathlib import Path

from app.core.db import Database
from app.core.errors import StoreError

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


def open_registry(db_path: Path) -> Database:
    """The registry file, ready to use (created and migrated on first use)."""
    return Database(db_path, MIGRATIONS, what="The model registry", error=StoreError)
