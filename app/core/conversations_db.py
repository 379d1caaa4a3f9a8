"""The conversations database: its schema and migrations, connections, and the search index.

Each operation is one transaction on its own short-lived connection, because sqlite3 objects
must not cross threads and the GUI thread reads while a worker appends a reply. Every SQLite
failure leaves here as a :class:`ConversationError` whose message says what to do.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from app.core.conversation_records import stamp, utc_now
from app.core.errors import DriftlessError
from app.core.migrations import apply_migrations

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema. current_leaf_id is not a foreign key: it would be circular.
    """
    CREATE TABLE conversations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        title TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        model_id TEXT,
        system_prompt TEXT NOT NULL DEFAULT '',
        preset TEXT,
        params_json TEXT NOT NULL DEFAULT '{}',
        current_leaf_id INTEGER,
        deleted_at TEXT
    );
    CREATE INDEX conversations_updated ON conversations (updated_at);
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        parent_id INTEGER REFERENCES messages (id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
        content TEXT NOT NULL,
        status TEXT NOT NULL
            CHECK (status IN ('complete', 'incomplete', 'error', 'cancelled')),
        error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        model_lock_id TEXT,
        model_sha256 TEXT,
        params_json TEXT,
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        tokens_per_second REAL
    );
    CREATE INDEX messages_conversation ON messages (conversation_id, id);
    CREATE INDEX messages_parent ON messages (parent_id);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

# The full-text index is kept outside the versioned schema: a Python whose SQLite lacks FTS5
# must still open the file, so the index is (re)built whenever its triggers are missing.
_FTS_TRIGGERS = {
    "messages_fts_insert": """
        CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
            INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
        END""",
    "messages_fts_delete": """
        CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, content)
            VALUES ('delete', old.id, old.content);
        END""",
    "messages_fts_update": """
        CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN
            INSERT INTO messages_fts (messages_fts, rowid, content)
            VALUES ('delete', old.id, old.content);
            INSERT INTO messages_fts (rowid, content) VALUES (new.id, new.content);
        END""",
}


class ConversationError(DriftlessError):
    """The conversation history cannot be read or written, or a request does not fit it."""


class ConversationNotFound(ConversationError):
    """No conversation (or message) has the id asked for."""


@cache
def fts5_available() -> bool:
    """Whether this Python's SQLite has FTS5 (most builds do; search falls back to LIKE)."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.execute("CREATE VIRTUAL TABLE probe USING fts5(x)")
    except sqlite3.Error:
        return False
    finally:
        conn.close()
    return True


class ConversationDatabase:
    """The SQLite file behind a store: opens, migrates and indexes it, one transaction a call."""

    def __init__(self, db_path: Path, *, fts: bool) -> None:
        self.db_path = db_path
        self._fts = fts
        self._fts_synced = False
        self._lock = threading.Lock()
        self._keeper: sqlite3.Connection | None = None

    def close(self) -> None:
        """Let go of the file (optional: the keeper connection also closes when collected)."""
        with self._lock:
            if self._keeper is not None:
                self._keeper.close()
                self._keeper = None

    def _keep_open(self) -> None:
        # When the last connection to a WAL database closes, SQLite checkpoints and deletes
        # the WAL, with fsyncs: that made every short-lived connection cost ~30 ms. One idle
        # connection held for the store's lifetime keeps the WAL open (used by no thread, so
        # check_same_thread is off only to let close() run anywhere).
        with self._lock:
            if self._keeper is None:
                keeper = sqlite3.connect(self.db_path, timeout=10.0, check_same_thread=False)
                keeper.execute("SELECT count(*) FROM sqlite_master").fetchone()
                self._keeper = keeper

    @contextmanager
    def transaction(self, *, write: bool, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One connection, one transaction; every SQLite failure becomes a readable error."""
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(self.db_path, timeout=10.0, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL survives a killed process (the WAL is in the OS cache); FULL also
            # survives a power cut. Reply flushes use NORMAL: they happen 4 times a second.
            conn.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            conn.execute("PRAGMA foreign_keys=ON")
            self._migrate(conn)
            if not self._fts_synced:
                self._sync_fts(conn)
            if self._keeper is None:
                self._keep_open()
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise ConversationError(
                    f"The conversation history {self.db_path} is busy: another Driftless "
                    "is writing to it. Try again in a moment."
                ) from exc
            raise self._unusable(exc) from exc
        except sqlite3.DatabaseError as exc:
            raise self._unusable(exc) from exc
        finally:
            if conn is not None:
                conn.close()

    def _unusable(self, exc: sqlite3.Error) -> ConversationError:
        return ConversationError(
            f"The conversation history {self.db_path} cannot be used: {exc}. "
            "Quit Driftless, move the file aside (your other data is not affected) "
            "and start again to begin a new history."
        )

    def _migrate(self, conn: sqlite3.Connection) -> None:
        apply_migrations(
            conn,
            MIGRATIONS,
            what=f"The conversation history {self.db_path}",
            error=ConversationError,
        )

    def _sync_fts(self, conn: sqlite3.Connection) -> None:
        """Create (and fill) the full-text index, or drop its triggers if FTS5 is missing."""
        with self._lock:
            if self._fts_synced:
                return
            rows = conn.execute(
                "SELECT name FROM sqlite_master "
                "WHERE type = 'trigger' AND name LIKE 'messages_fts%'"
            ).fetchall()
            present = {row["name"] for row in rows}
            if self._fts != (present == set(_FTS_TRIGGERS)):
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for name in present:
                        conn.execute(f"DROP TRIGGER IF EXISTS {name}")
                    if self._fts:
                        conn.execute(
                            "CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5("
                            "content, content='messages', content_rowid='id', "
                            "tokenize='unicode61 remove_diacritics 2')"
                        )
                        for sql in _FTS_TRIGGERS.values():
                            conn.execute(sql)
                        # Messages written while the triggers were missing are indexed here.
                        conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            self._fts_synced = True


def message_row(conn: sqlite3.Connection, message_id: int) -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute(
        "SELECT * FROM messages WHERE id = ?", (message_id,)
    ).fetchone()
    if row is None:
        raise ConversationNotFound(f"There is no message {message_id}.")
    return row


def touch(conn: sqlite3.Connection, conversation_id: int, **columns: object) -> None:
    """Set ``columns`` and bump updated_at; every change moves a conversation to the top."""
    assignments = "".join(f", {name} = ?" for name in columns)
    cursor = conn.execute(
        f"UPDATE conversations SET updated_at = ?{assignments} WHERE id = ?",
        (stamp(utc_now()), *columns.values(), conversation_id),
    )
    if cursor.rowcount == 0:
        raise ConversationNotFound(f"There is no conversation {conversation_id}.")
