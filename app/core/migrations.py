"""Versioned SQLite schemas: each migration runs once, in order, in its own transaction.

The version lives in ``PRAGMA user_version``. Two processes opening the same file at
once (the window and the command line) are safe: each migration re-reads the
version after taking the write lock, so a step another process already ran is
skipped rather than run twice.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from app.core.errors import DriftlessError


def apply_migrations(
    conn: sqlite3.Connection,
    migrations: Sequence[str],
    *,
    what: str,
    error: type[DriftlessError],
) -> None:
    """Bring ``conn``'s schema to ``len(migrations)``; ``what`` names the file for errors."""
    latest = len(migrations)
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > latest:
        raise error(
            f"{what} was written by a newer Driftless (schema {version}, this one knows "
            f"{latest}). Update Driftless."
        )
    while version < latest:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version < latest:
                # executescript would commit on its own; run statement by statement.
                for statement in migrations[version].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                version += 1
                conn.execute(f"PRAGMA user_version = {version}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
