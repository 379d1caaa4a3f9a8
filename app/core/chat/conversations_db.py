"""The conversations database: its schema and migrations, and the search index.

Connections and transactions are :mod:`app.core.db`'s: the GUI thread reads while a worker
appends a reply, each on its own connection. Every SQLite failure leaves as a
:class:`ConversationError` whose message says what to do.
"""

from __future__ import annotations

import sqlite3
from functools import cache
from pathlib import Path

from app.core.chat.records import stamp, utc_now
from app.core.db import Database
from app.core.errors import DriftlessError

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


def open_history(db_path: Path, *, fts: bool) -> Database:
    """The conversations file, ready to use; ``fts``: keep the full-text index."""

    def prepare(conn: sqlite3.Connection) -> None:
        _sync_fts(conn, fts)

    return Database(
        db_path,
        MIGRATIONS,
        what="The conversation history",
        error=ConversationError,
        prepare=prepare,
    )


def _sync_fts(conn: sqlite3.Connection, fts: bool) -> None:
    """Create (and fill) the full-text index, or drop its triggers if FTS5 is missing."""
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'messages_fts%'"
    ).fetchall()
    present = {row["name"] for row in rows}
    if fts == (present == set(_FTS_TRIGGERS)):
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for name in present:
            conn.execute(f"DROP TRIGGER IF EXISTS {name}")
        if fts:
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
