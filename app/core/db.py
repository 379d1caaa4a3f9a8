"""Every SQLite file Driftless keeps goes through here: the registry of models, the
conversation history, the classification runs.

One :class:`Database` per file and store:

- **Pragmas in one place.** WAL (the window reads while the command line writes), a busy
  timeout, foreign keys on, and ``synchronous=FULL`` unless a write asks for less.
- **A long-lived connection per thread.** ``sqlite3`` connections must not cross threads,
  and opening one per call cost ~30 ms: when the last connection to a WAL file closes,
  SQLite checkpoints and deletes the WAL, with fsyncs. Each thread keeps its own until
  the thread ends or :meth:`Database.close` is called.
- **Deferred transactions for reads, immediate ones for writes**, so a read never takes the
  write lock and a write never fails half-way on a lock it could have waited for.
- **Versioned schemas.** ``PRAGMA user_version`` counts the migrations applied; each runs
  once, in order, in its own transaction, split into statements with
  ``sqlite3.complete_statement`` (a trigger's body or a string holding ``;`` stays whole).
  Two processes migrating at once are safe: the version is re-read under the write lock.
- **Errors a person can act on.** Each SQLite failure leaves as the store's own error type,
  naming the file and what to do: wait for a busy file, free disk space, fix permissions;
  only a damaged file is ever to be moved aside, and never one opened read-only (what
  looks like damage there may be a write that only a writable folder can finish).
- **Private files.** A new file is created readable by its owner alone (0600); SQLite
  gives its ``-wal`` and ``-shm`` files the same mode.
- **Read-only use.** ``read_only=True`` reads a file in a folder this process cannot write
  (a read-only mount, another user's folder): ``mode=ro`` first, and SQLite's
  ``immutable`` mode when even that needs a file it cannot create (a WAL file's ``-shm``);
  :attr:`Database.access` says which. Nothing is migrated or written; a missing file reads
  as an empty one.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal

from app.core.errors import DriftlessError
from app.core.fsutil import create_private
from app.core.paths import PRIVATE_DIR

BUSY_TIMEOUT = 10.0
"""Seconds a transaction waits for another process's write lock before giving up."""

Access = Literal["read-write", "read-only", "immutable"]
"""How a :class:`Database` reads its file: ``read-write``, ``read-only`` or ``immutable``."""


class Database:
    """One SQLite file: opened, migrated and configured once, then used a transaction a call.

    ``what`` names the file in sentences ("The model registry /path/registry.sqlite3");
    ``error`` is the store's error type; ``prepare`` runs once after the migrations, in
    autocommit mode, for what lives outside the versioned schema (the search index).
    """

    def __init__(
        self,
        path: Path,
        migrations: Sequence[str],
        *,
        what: str,
        error: type[DriftlessError],
        prepare: Callable[[sqlite3.Connection], None] | None = None,
        read_only: bool = False,
        readable_since: int | None = None,
    ) -> None:
        """``readable_since`` is the oldest schema this code can read without migrating
        (for ``read_only``); by default only the latest."""
        self.path = path
        self.migrations = tuple(migrations)
        self.what = f"{what} {path}"
        self.error = error
        self._prepare = prepare
        self._local = threading.local()
        self._ready = False
        self._lock = threading.Lock()
        self._open: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self.read_only = read_only
        self.readable_since = len(self.migrations) if readable_since is None else readable_since
        self.access: Access = "read-only" if read_only else "read-write"

    # --- transactions ----------------------------------------------------------------

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A deferred transaction: a consistent snapshot, no write lock taken."""
        with self._transaction("BEGIN DEFERRED", durable=True) as conn:
            yield conn

    @contextlib.contextmanager
    def write(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """An immediate transaction, committed on success and rolled back on error.

        ``durable=False`` commits with ``synchronous=NORMAL``: it survives a killed process
        (the WAL is in the OS cache) but not a power cut. Replies being streamed use it,
        several times a second; everything else is FULL.
        """
        if self.read_only:
            raise self.error(
                f"{self.what} is open read-only (its folder cannot be written here), so "
                "nothing was changed. Run Driftless where you may write to its data folder."
            )
        with self._transaction("BEGIN IMMEDIATE", durable=durable) as conn:
            yield conn

    @contextlib.contextmanager
    def _transaction(self, begin: str, *, durable: bool) -> Iterator[sqlite3.Connection]:
        try:
            held = self._connection()
            conn = held.conn
            if conn.in_transaction:
                # Nested in this thread's transaction: join it, unless a write would hide
                # inside a read (its lock would be taken late, and could fail half-way).
                if begin == "BEGIN IMMEDIATE" and not held.writing:
                    raise RuntimeError("a write transaction cannot nest inside a read")
                yield conn
                return
            level = "FULL" if durable else "NORMAL"
            if held.synchronous != level:
                conn.execute(f"PRAGMA synchronous={level}")
                held.synchronous = level
            conn.execute(begin)
            held.writing = begin == "BEGIN IMMEDIATE"
            try:
                self._check_version(conn)
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            finally:
                held.writing = False
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._describe(exc) from exc

    # --- connections -----------------------------------------------------------------

    def _connection(self) -> _Connection:
        held: _Connection | None = getattr(self._local, "held", None)
        if held is not None:
            return held
        if self.read_only:
            conn = self._connect_read_only()
        else:
            self.path.parent.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
            create_private(self.path)
            conn = _connect(str(self.path))
        try:
            conn.row_factory = sqlite3.Row
            if not self.read_only:
                _use_wal(conn)
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=FULL")
            self._make_ready(conn)
        except BaseException:
            conn.close()
            raise
        held = _Connection(conn)
        self._local.held = held
        with self._lock:
            self._open.add(held)
        return held

    def _connect_read_only(self) -> sqlite3.Connection:
        if not self.path.exists():
            # Nothing recorded yet: an empty database, in memory, reads the same.
            conn = _connect(":memory:")
            apply_migrations(conn, self.migrations, what=self.what, error=self.error)
            self.access = "read-only"
            return conn
        uri = self.path.absolute().as_uri()
        conn = _connect(f"{uri}?mode=ro", uri=True)
        try:
            # Opening is lazy: the first read is what needs a WAL file's -shm.
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            self.access = "read-only"
            return conn
        except sqlite3.OperationalError:
            conn.close()
        # immutable: SQLite reads the main file as it is, ignoring any -wal (changes a
        # writer has not yet checkpointed do not show) and taking no locks.
        conn = _connect(f"{uri}?immutable=1", uri=True)
        self.access = "immutable"
        return conn

    def _make_ready(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            if self._ready:
                return
            if self.read_only:
                self._check_readable(conn)
                self._ready = True
                return
            apply_migrations(conn, self.migrations, what=self.what, error=self.error)
            if self._prepare is not None:
                self._prepare(conn)
            self._ready = True

    def _check_readable(self, conn: sqlite3.Connection) -> None:
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(self.migrations):
            raise _newer(self.what, version, len(self.migrations), self.error)
        if version < self.readable_since:
            raise self.error(
                f"{self.what} was written by an older Driftless and must be upgraded before "
                "this one can read it, which needs write access. Open it once where you may "
                "write to its folder; nothing in it was changed."
            )

    def _check_version(self, conn: sqlite3.Connection) -> None:
        """Refuse a file that a newer Driftless migrated while this one had it open."""
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(self.migrations):
            raise _newer(self.what, version, len(self.migrations), self.error)

    def close(self) -> None:
        """Close every connection (at shutdown, or before the file is moved or deleted)."""
        with self._lock:
            held, self._open = list(self._open), weakref.WeakSet()
        for connection in held:
            connection.close()
        self._local = threading.local()

    # --- errors ----------------------------------------------------------------------

    def _describe(self, exc: sqlite3.Error) -> DriftlessError:
        text = str(exc)
        lowered = text.lower()
        if self.read_only and not ("locked" in lowered or "busy" in lowered):
            # Without write access SQLite cannot finish what a writer left half done, so
            # what reads as damage may not be: never advise discarding the file from here.
            return self.error(
                f"{self.what} could not be read without write access ({text}). It is "
                "probably intact: open it where you may write to its folder; nothing in "
                "it was changed."
            )
        if "locked" in lowered or "busy" in lowered:
            return self.error(
                f"{self.what} is busy: another Driftless is writing to it. Try again in a moment."
            )
        if "disk is full" in lowered or "database or disk is full" in lowered:
            return self.error(
                f"{self.what} cannot be written: the disk is full. Free some space and "
                "try again; nothing in it was lost."
            )
        if "readonly" in lowered or "read-only" in lowered or "unable to open" in lowered:
            return self.error(
                f"{self.what} cannot be opened for writing ({text}). Check that its folder "
                "exists, that you may write to it and that its disk is not full; nothing in "
                "it was lost."
            )
        if isinstance(exc, sqlite3.DatabaseError) and (
            "malformed" in lowered or "not a database" in lowered or "corrupt" in lowered
        ):
            return self.error(
                f"{self.what} is damaged ({text}). Quit Driftless, move the file aside (keep "
                "it: it may be recoverable; your other data is not affected) and start again "
                "to begin a new one."
            )
        if "disk i/o error" in lowered:
            return self.error(
                f"{self.what} cannot be used: the disk reported an error ({text}). Check that "
                "the disk is not full and is working, then try again."
            )
        return self.error(f"{self.what} cannot be used: {text}.")


def _connect(target: str, *, uri: bool = False) -> sqlite3.Connection:
    # check_same_thread is off only so that close() may run on any thread; each
    # connection is used by the thread that opened it.
    return sqlite3.connect(
        target, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False, uri=uri
    )


def _use_wal(conn: sqlite3.Connection) -> None:
    """Put the file in WAL mode (a setting of the file, kept once made).

    Switching needs the file to itself, and SQLite answers "database is locked" at once,
    without its busy handler, while another process has it open: as when several
    processes start on a fresh data folder together. So wait and try again, as the busy
    timeout would.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT
    pause = 0.01
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


class _Connection:
    """One thread's connection; closed when the thread ends and its locals go."""

    __slots__ = ("__weakref__", "conn", "synchronous", "writing")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.synchronous = "FULL"
        self.writing = False

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()

    def __del__(self) -> None:
        self.close()


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
        raise _newer(what, version, latest, error)
    while version < latest:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version < latest:
                # executescript would commit on its own; run statement by statement.
                for statement in split_statements(migrations[version]):
                    conn.execute(statement)
                version += 1
                conn.execute(f"PRAGMA user_version = {version}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


def _newer(what: str, version: int, latest: int, error: type[DriftlessError]) -> DriftlessError:
    return error(
        f"{what} was written by a newer Driftless (schema {version}, this one knows "
        f"{latest}). Update Driftless."
    )


def split_statements(script: str) -> list[str]:
    """The SQL statements of ``script``, each whole: a ``;`` inside a string literal, a
    comment or a trigger's body does not end a statement."""
    statements: list[str] = []
    pending = ""
    pieces = script.split(";")
    for index, piece in enumerate(pieces):
        pending += piece if index == len(pieces) - 1 else piece + ";"
        if sqlite3.complete_statement(pending) or index == len(pieces) - 1:
            if _COMMENTS.sub("", pending).strip(" \t\r\n;"):
                statements.append(pending.strip())
            pending = ""
    return statements


_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)
