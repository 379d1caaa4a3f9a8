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
    # 2: one row per version. Processes starting at once could each register the starter,
    # and imports of one file each add a row. Merge what is there (the oldest row stays,
    # pinned if any copy was, and stays active if any copy was), then forbid it again:
    # repo + commit + filename for Hub and bundled models, sha256 for local files.
    """
    CREATE TEMP TABLE merge_plan AS
        SELECT id,
            FIRST_VALUE(id) OVER versions AS keeper,
            MAX(pinned) OVER versions AS any_pinned
        FROM models
        WHERE repo IS NOT NULL AND commit_sha IS NOT NULL
        WINDOW versions AS (
            PARTITION BY repo, commit_sha, filename ORDER BY installed_at, rowid
            ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
        );
    INSERT INTO merge_plan
        SELECT id,
            FIRST_VALUE(id) OVER files AS keeper,
            MAX(pinned) OVER files AS any_pinned
        FROM models
        WHERE source = 'local-file' AND id NOT IN (SELECT id FROM merge_plan)
        WINDOW files AS (
            PARTITION BY sha256 ORDER BY installed_at, rowid
            ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
        );
    UPDATE models SET pinned = 1
        WHERE id IN (SELECT keeper FROM merge_plan WHERE any_pinned = 1);
    UPDATE settings
        SET value = (SELECT keeper FROM merge_plan WHERE merge_plan.id = settings.value)
        WHERE key = 'active_model'
        AND value IN (SELECT id FROM merge_plan WHERE id != keeper);
    DELETE FROM models WHERE id IN (SELECT id FROM merge_plan WHERE id != keeper);
    DROP TABLE merge_plan;
    CREATE UNIQUE INDEX models_version ON models (repo, commit_sha, filename)
        WHERE repo IS NOT NULL AND commit_sha IS NOT NULL;
    CREATE UNIQUE INDEX models_local_sha256 ON models (sha256) WHERE source = 'local-file';
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


READABLE_SINCE = 1
"""The oldest schema read-only use can read as it is (2 only added unique indexes)."""


def open_registry(db_path: Path, *, read_only: bool = False) -> Database:
    """The registry file, ready to use (created and migrated on first use).

    ``read_only`` reads it without changing anything, for a data folder this process
    cannot write (see :class:`Database`).
    """
    return Database(
        db_path,
        MIGRATIONS,
        what="The model registry",
        error=StoreError,
        read_only=read_only,
        readable_since=READABLE_SINCE,
    )
