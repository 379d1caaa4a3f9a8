"""What each stored check set's file was when Driftless wrote it, and who is recording one.

A check set's file says what a model answered; a hand edit (a recorded text, a setting,
the environment's model sha256, a prompt removed with its answer) would otherwise be
trusted and checked "identical". So the canonical sha256 of every file Driftless writes
(recorded, re-recorded, imported) is kept here, outside the file, and reading a check
set compares the two: a file that differs "changed since it was recorded".

The same table makes concurrent recordings of one name safe: a recording first claims
the name in an immediate transaction, and a second claim is refused while the first
one's process lives (a killed recorder's claim is taken over).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from app.core.db import Database
from app.core.drift.checkset import CheckSetError

REGISTRY_NAME = ".registry.sqlite3"

MIGRATIONS = (
    """
    CREATE TABLE check_sets (
        name TEXT PRIMARY KEY,
        sha256 TEXT,
        recorder_pid INTEGER,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE adopted (done INTEGER NOT NULL);
    """,
)


@dataclass(frozen=True)
class Entry:
    name: str
    sha256: str | None
    """The canonical sha256 of the stored file; None while its first recording runs."""
    recorder_pid: int | None


class CheckSetRegistry:
    """The ``check_sets`` table beside the files (``checks/.registry.sqlite3``)."""

    def __init__(self, folder: Path) -> None:
        self.db = Database(
            folder / REGISTRY_NAME, MIGRATIONS, what="The check-set registry", error=CheckSetError
        )

    def adopt(self, files: Iterable[tuple[str, str]]) -> None:
        """Once per folder: register the files written before there was a registry."""
        with self.db.write() as conn:
            if conn.execute("SELECT done FROM adopted").fetchone():
                return
            for name, sha256 in files:
                conn.execute(
                    "INSERT OR IGNORE INTO check_sets (name, sha256, updated_at) VALUES (?, ?, ?)",
                    (name, sha256, _now()),
                )
            conn.execute("INSERT INTO adopted (done) VALUES (1)")

    def get(self, name: str) -> Entry | None:
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT name, sha256, recorder_pid FROM check_sets WHERE name = ?", (name,)
            ).fetchone()
        return Entry(*row) if row else None

    def claim(self, name: str, *, again: bool, file_exists: bool) -> None:
        """Claim ``name`` for a recording by this process, or refuse with a sentence."""
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT sha256, recorder_pid FROM check_sets WHERE name = ?", (name,)
            ).fetchone()
            sha256, pid = row if row else (None, None)
            if pid is not None and pid != os.getpid() and _alive(pid):
                raise CheckSetError(
                    f"The check set '{name}' is being recorded by another Driftless "
                    f"(process {pid}). Wait for it to finish, then check against it."
                )
            if not again and (file_exists or sha256 is not None):
                raise CheckSetError(
                    f"A check set called '{name}' exists already. Check against it "
                    f"(driftless drift check {name}), re-record it with --again, or remove it."
                )
            conn.execute(
                "INSERT INTO check_sets (name, sha256, recorder_pid, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "recorder_pid = excluded.recorder_pid, updated_at = excluded.updated_at",
                (name, sha256, os.getpid(), _now()),
            )

    def release(self, name: str) -> None:
        """A recording ended without storing: drop the claim (and a name never stored)."""
        with self.db.write() as conn:
            conn.execute(
                "DELETE FROM check_sets WHERE name = ? AND sha256 IS NULL AND recorder_pid = ?",
                (name, os.getpid()),
            )
            conn.execute(
                "UPDATE check_sets SET recorder_pid = NULL WHERE name = ? AND recorder_pid = ?",
                (name, os.getpid()),
            )

    def store(self, name: str, sha256: str, write: Callable[[], None]) -> None:
        """Write the file of ``name`` (``write``) and record its canonical sha256, as one
        step under the registry's write lock, unless another process is recording it."""
        with self.db.write() as conn:
            row = conn.execute(
                "SELECT recorder_pid FROM check_sets WHERE name = ?", (name,)
            ).fetchone()
            pid = row[0] if row else None
            if pid is not None and pid != os.getpid() and _alive(pid):
                raise CheckSetError(
                    f"The check set '{name}' is being recorded by another Driftless "
                    f"(process {pid}); nothing was stored."
                )
            write()
            conn.execute(
                "INSERT INTO check_sets (name, sha256, recorder_pid, updated_at) "
                "VALUES (?, ?, NULL, ?) ON CONFLICT (name) DO UPDATE SET "
                "sha256 = excluded.sha256, recorder_pid = NULL, updated_at = excluded.updated_at",
                (name, sha256, _now()),
            )

    def forget(self, name: str) -> None:
        with self.db.write() as conn:
            conn.execute("DELETE FROM check_sets WHERE name = ?", (name,))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
