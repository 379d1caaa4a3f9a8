"""Conversations that survive anything: a crash, a kill, a bad row, a newer schema.

Everything lives in one SQLite file (WAL, so the window reads while a worker writes). Each
operation is one transaction on its own short-lived connection, because sqlite3 objects must
not cross threads and the GUI thread reads while a worker appends a reply.

Messages form a tree through ``parent_id``; a conversation points at the leaf of the thread
the user sees (``current_leaf_id``). Regenerating or editing starts a sibling branch instead
of deleting anything, so older branches stay retrievable (:meth:`ConversationStore.siblings`,
:meth:`ConversationStore.switch_branch`).

A reply is written while it grows (:class:`ReplyWriter`): its row is ``incomplete`` until
finished, so after a kill the text that was on screen is still there, labelled as such.

A row that cannot be decoded (bad JSON, an unknown role) is skipped, logged and listed by
:meth:`ConversationStore.skipped_rows`; the rest of the history stays readable.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, get_args

from app import __version__
from app.core.errors import Cancelled, DriftlessError
from app.core.fsutil import atomic_write_text
from app.core.paths import Paths

log = logging.getLogger(__name__)

Role = Literal["system", "user", "assistant"]
Status = Literal["complete", "incomplete", "error", "cancelled"]
FinalStatus = Literal["complete", "error", "cancelled"]
ROLES: frozenset[str] = frozenset(get_args(Role))
STATUSES: frozenset[str] = frozenset(get_args(Status))

MATCH_START = "\x02"
"""Marks the start of a matched term in :attr:`SearchHit.snippet` (the UI turns it into bold)."""
MATCH_END = "\x03"

EXPORT_FORMAT = "driftless.conversation"
EXPORT_FORMAT_VERSION = 1

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
_MAX_DEPTH = 100_000  # a parent_id cycle (a damaged file) must not loop forever


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


class _Clock:
    """UTC timestamps that strictly increase within a process, so ordering never ties."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_us = 0

    def now(self) -> datetime:
        with self._lock:
            micros = max(time.time_ns() // 1000, self._last_us + 1)
            self._last_us = micros
        seconds, micro = divmod(micros, 1_000_000)
        return datetime.fromtimestamp(seconds, UTC).replace(microsecond=micro)


_clock = _Clock()


def _stamp(moment: datetime) -> str:
    # Fixed width (always microseconds, always UTC), so text order is time order.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _dumps(data: Mapping[str, Any]) -> str:
    return json.dumps(dict(data), ensure_ascii=False, allow_nan=False, sort_keys=True)


# --- records ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Conversation:
    """One conversation's settings. ``params`` is a fresh dict no one else holds."""

    id: int
    title: str
    created_at: datetime
    updated_at: datetime
    model_id: str | None
    system_prompt: str
    preset: str | None
    params: Mapping[str, Any]
    current_leaf_id: int | None
    deleted_at: datetime | None

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "created_at": _stamp(self.created_at),
            "updated_at": _stamp(self.updated_at),
            "model_id": self.model_id,
            "system_prompt": self.system_prompt,
            "preset": self.preset,
            "params": dict(self.params),
            "current_leaf_id": self.current_leaf_id,
            "deleted_at": _stamp(self.deleted_at) if self.deleted_at else None,
        }


@dataclass(frozen=True)
class Message:
    """One message; assistant replies carry the provenance of the model that wrote them."""

    id: int
    conversation_id: int
    parent_id: int | None
    role: Role
    content: str
    status: Status
    created_at: datetime
    updated_at: datetime
    error: str | None = None
    model_lock_id: str | None = None
    model_sha256: str | None = None
    params: Mapping[str, Any] | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    tokens_per_second: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "parent_id": self.parent_id,
            "role": self.role,
            "content": self.content,
            "status": self.status,
            "error": self.error,
            "created_at": _stamp(self.created_at),
            "updated_at": _stamp(self.updated_at),
            "provenance": {
                "model_lock_id": self.model_lock_id,
                "model_sha256": self.model_sha256,
                "params": dict(self.params) if self.params is not None else None,
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "tokens_per_second": self.tokens_per_second,
            },
        }


@dataclass(frozen=True)
class ModelProvenance:
    """The exact model a reply comes from: its lock id (``repo@commit/file``) and sha256."""

    lock_id: str
    sha256: str


@dataclass(frozen=True)
class ReplyStats:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    tokens_per_second: float | None = None


@dataclass(frozen=True)
class SearchHit:
    conversation_id: int
    conversation_title: str
    message_id: int
    role: Role
    snippet: str
    """Text around the match; matched terms sit between MATCH_START and MATCH_END."""


@dataclass(frozen=True)
class SkippedRow:
    """A row that could not be decoded and was left out of a result."""

    table: str
    row_id: int
    reason: str


class _Unset(Enum):
    UNSET = "unset"


UNSET = _Unset.UNSET


class _BadRow(Exception):
    pass


def _time(value: object, column: str) -> datetime:
    if not isinstance(value, str):
        raise _BadRow(f"{column} is not a timestamp")
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise _BadRow(f"{column} is not a timestamp: {value!r}") from exc


def _json_object(value: object, column: str) -> dict[str, Any]:
    try:
        data = json.loads(value) if isinstance(value, str) else None
    except ValueError as exc:
        raise _BadRow(f"{column} is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise _BadRow(f"{column} is not a JSON object")
    return data


def _opt_str(value: object, column: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise _BadRow(f"{column} is not text")
    return value


def _opt_int(value: object, column: str) -> int | None:
    if value is not None and not isinstance(value, int):
        raise _BadRow(f"{column} is not a number")
    return value


def _conversation_from_row(row: sqlite3.Row) -> Conversation:
    title, prompt = row["title"], row["system_prompt"]
    if not isinstance(title, str) or not isinstance(prompt, str):
        raise _BadRow("title or system prompt is not text")
    deleted = row["deleted_at"]
    return Conversation(
        id=row["id"],
        title=title,
        created_at=_time(row["created_at"], "created_at"),
        updated_at=_time(row["updated_at"], "updated_at"),
        model_id=_opt_str(row["model_id"], "model_id"),
        system_prompt=prompt,
        preset=_opt_str(row["preset"], "preset"),
        params=_json_object(row["params_json"], "params_json"),
        current_leaf_id=_opt_int(row["current_leaf_id"], "current_leaf_id"),
        deleted_at=_time(deleted, "deleted_at") if deleted is not None else None,
    )


def _message_from_row(row: sqlite3.Row) -> Message:
    role, status, content = row["role"], row["status"], row["content"]
    if role not in ROLES or status not in STATUSES:
        raise _BadRow(f"unknown role or status ({role!r}, {status!r})")
    if not isinstance(content, str):
        raise _BadRow("content is not text")
    params = row["params_json"]
    speed = row["tokens_per_second"]
    if speed is not None and not isinstance(speed, int | float):
        raise _BadRow("tokens_per_second is not a number")
    return Message(
        id=row["id"],
        conversation_id=row["conversation_id"],
        parent_id=_opt_int(row["parent_id"], "parent_id"),
        role=role,
        content=content,
        status=status,
        created_at=_time(row["created_at"], "created_at"),
        updated_at=_time(row["updated_at"], "updated_at"),
        error=_opt_str(row["error"], "error"),
        model_lock_id=_opt_str(row["model_lock_id"], "model_lock_id"),
        model_sha256=_opt_str(row["model_sha256"], "model_sha256"),
        params=_json_object(params, "params_json") if params is not None else None,
        prompt_tokens=_opt_int(row["prompt_tokens"], "prompt_tokens"),
        completion_tokens=_opt_int(row["completion_tokens"], "completion_tokens"),
        tokens_per_second=float(speed) if speed is not None else None,
    )


# --- the store -------------------------------------------------------------------------


class ConversationStore:
    """The conversations under one data folder. Safe across threads and processes."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths.ensure()
        self.db_path = self.paths.conversations_db
        self._fts = fts5_available()
        self._fts_synced = False
        self._lock = threading.Lock()
        self._skipped: dict[tuple[str, int], SkippedRow] = {}
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

    # --- plumbing ------------------------------------------------------------------

    @contextmanager
    def _transaction(self, *, write: bool, durable: bool = True) -> Iterator[sqlite3.Connection]:
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
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ConversationError(
                f"The conversation history {self.db_path} was written by a newer Driftless "
                f"(schema {version}, this one knows {SCHEMA_VERSION}). Update Driftless."
            )
        while version < SCHEMA_VERSION:
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Another process may have migrated while this one waited for the lock.
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version < SCHEMA_VERSION:
                    # executescript would commit on its own; run statement by statement.
                    for statement in MIGRATIONS[version].split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    version += 1
                    conn.execute(f"PRAGMA user_version = {version}")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

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

    def _skip(self, table: str, row_id: int, reason: str) -> None:
        with self._lock:
            if (table, row_id) not in self._skipped:
                log.warning("Skipped %s row %s in %s: %s", table, row_id, self.db_path, reason)
                self._skipped[(table, row_id)] = SkippedRow(table, row_id, reason)

    def skipped_rows(self) -> list[SkippedRow]:
        """Rows left out of results so far because they could not be decoded."""
        with self._lock:
            return list(self._skipped.values())

    def _conversations(self, rows: list[sqlite3.Row]) -> list[Conversation]:
        result = []
        for row in rows:
            try:
                result.append(_conversation_from_row(row))
            except _BadRow as exc:
                self._skip("conversations", row["id"], str(exc))
        return result

    def _messages(self, rows: list[sqlite3.Row]) -> list[Message]:
        result = []
        for row in rows:
            try:
                result.append(_message_from_row(row))
            except _BadRow as exc:
                self._skip("messages", row["id"], str(exc))
        return result

    def _conversation(self, conn: sqlite3.Connection, conversation_id: int) -> Conversation:
        row = conn.execute(
            "SELECT * FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        if row is None:
            raise ConversationNotFound(f"There is no conversation {conversation_id}.")
        found = self._conversations([row])
        if not found:
            raise ConversationError(
                f"Conversation {conversation_id} cannot be read: "
                f"{self._skipped[('conversations', conversation_id)].reason}."
            )
        return found[0]

    def _message_row(self, conn: sqlite3.Connection, message_id: int) -> sqlite3.Row:
        row: sqlite3.Row | None = conn.execute(
            "SELECT * FROM messages WHERE id = ?", (message_id,)
        ).fetchone()
        if row is None:
            raise ConversationNotFound(f"There is no message {message_id}.")
        return row

    def _touch(self, conn: sqlite3.Connection, conversation_id: int, **columns: object) -> None:
        """Set ``columns`` and bump updated_at; every change moves a conversation to the top."""
        assignments = "".join(f", {name} = ?" for name in columns)
        cursor = conn.execute(
            f"UPDATE conversations SET updated_at = ?{assignments} WHERE id = ?",
            (_stamp(_clock.now()), *columns.values(), conversation_id),
        )
        if cursor.rowcount == 0:
            raise ConversationNotFound(f"There is no conversation {conversation_id}.")

    # --- conversations -------------------------------------------------------------

    def create_conversation(
        self,
        title: str = "New conversation",
        *,
        model_id: str | None = None,
        system_prompt: str = "",
        preset: str | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Conversation:
        now = _stamp(_clock.now())
        with self._transaction(write=True) as conn:
            cursor = conn.execute(
                "INSERT INTO conversations (title, created_at, updated_at, model_id, "
                "system_prompt, preset, params_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (title, now, now, model_id, system_prompt, preset, _dumps(params or {})),
            )
            assert cursor.lastrowid is not None
            return self._conversation(conn, cursor.lastrowid)

    def get_conversation(self, conversation_id: int) -> Conversation:
        """A conversation by id, deleted or not (a deleted one can still be restored)."""
        with self._transaction(write=False) as conn:
            return self._conversation(conn, conversation_id)

    def list_conversations(self, *, deleted: bool = False) -> list[Conversation]:
        """Most recently updated first; ``deleted=True`` lists the ones awaiting purge."""
        condition = "IS NOT NULL" if deleted else "IS NULL"
        with self._transaction(write=False) as conn:
            rows = conn.execute(
                f"SELECT * FROM conversations WHERE deleted_at {condition} "
                "ORDER BY updated_at DESC, id DESC"
            ).fetchall()
        return self._conversations(rows)

    def rename_conversation(self, conversation_id: int, title: str) -> Conversation:
        with self._transaction(write=True) as conn:
            self._touch(conn, conversation_id, title=title)
            return self._conversation(conn, conversation_id)

    def update_settings(
        self,
        conversation_id: int,
        *,
        model_id: str | _Unset | None = UNSET,
        system_prompt: str | _Unset = UNSET,
        preset: str | _Unset | None = UNSET,
        params: Mapping[str, Any] | _Unset = UNSET,
    ) -> Conversation:
        """Change the given settings (leave the others as they are) in one transaction."""
        columns: dict[str, object] = {}
        if model_id is not UNSET:
            columns["model_id"] = model_id
        if system_prompt is not UNSET:
            columns["system_prompt"] = system_prompt
        if preset is not UNSET:
            columns["preset"] = preset
        if not isinstance(params, _Unset):
            columns["params_json"] = _dumps(params)
        with self._transaction(write=True) as conn:
            self._touch(conn, conversation_id, **columns)
            return self._conversation(conn, conversation_id)

    def delete_conversation(self, conversation_id: int) -> None:
        """Move to the bin: hidden from lists and search until restored or purged."""
        with self._transaction(write=True) as conn:
            cursor = conn.execute(
                "UPDATE conversations SET deleted_at = ? WHERE id = ?",
                (_stamp(_clock.now()), conversation_id),
            )
            if cursor.rowcount == 0:
                raise ConversationNotFound(f"There is no conversation {conversation_id}.")

    def restore_conversation(self, conversation_id: int) -> Conversation:
        with self._transaction(write=True) as conn:
            conn.execute(
                "UPDATE conversations SET deleted_at = NULL WHERE id = ?", (conversation_id,)
            )
            return self._conversation(conn, conversation_id)

    def purge_deleted(self, *, older_than: timedelta | None = None) -> int:
        """Remove for good the conversations deleted before ``older_than`` ago (all if None)."""
        cutoff = _clock.now() - (older_than or timedelta(0))
        with self._transaction(write=True) as conn:
            ids = [
                row["id"]
                for row in conn.execute(
                    "SELECT id FROM conversations WHERE deleted_at IS NOT NULL AND deleted_at <= ?",
                    (_stamp(cutoff),),
                )
            ]
            for conversation_id in ids:
                # Messages first and explicitly, so the full-text triggers see every delete.
                conn.execute("DELETE FROM messages WHERE conversation_id = ?", (conversation_id,))
                conn.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
        return len(ids)

    # --- messages and branches -----------------------------------------------------

    def _leaf(self, conn: sqlite3.Connection, conversation_id: int) -> int | None:
        # A leaf pointing nowhere (a damaged row) falls back to the newest message.
        leaf: int | None = conn.execute(
            "SELECT COALESCE("
            " (SELECT m.id FROM messages m"
            "  WHERE m.id = c.current_leaf_id AND m.conversation_id = c.id),"
            " (SELECT max(m.id) FROM messages m WHERE m.conversation_id = c.id))"
            " FROM conversations c WHERE c.id = ?",
            (conversation_id,),
        ).fetchone()[0]
        return leaf

    def _thread(self, conn: sqlite3.Connection, conversation_id: int) -> list[Message]:
        rows = conn.execute(
            """
            WITH RECURSIVE thread (id, depth) AS (
                SELECT :leaf, 0 WHERE :leaf IS NOT NULL
                UNION ALL
                SELECT m.parent_id, thread.depth + 1 FROM messages m JOIN thread ON m.id = thread.id
                WHERE m.parent_id IS NOT NULL AND thread.depth < :max_depth
            )
            SELECT m.* FROM thread JOIN messages m ON m.id = thread.id
            WHERE m.conversation_id = :conversation
            ORDER BY thread.depth DESC
            """,
            {
                "leaf": self._leaf(conn, conversation_id),
                "conversation": conversation_id,
                "max_depth": _MAX_DEPTH,
            },
        ).fetchall()
        return self._messages(rows)

    def get_thread(self, conversation_id: int) -> list[Message]:
        """The messages of the current branch, oldest first."""
        with self._transaction(write=False) as conn:
            self._conversation(conn, conversation_id)
            return self._thread(conn, conversation_id)

    def get_message(self, message_id: int) -> Message:
        with self._transaction(write=False) as conn:
            row = self._message_row(conn, message_id)
        found = self._messages([row])
        if not found:
            raise ConversationError(
                f"Message {message_id} cannot be read: "
                f"{self._skipped[('messages', message_id)].reason}."
            )
        return found[0]

    def all_messages(self, conversation_id: int) -> list[Message]:
        """Every message of every branch, oldest first."""
        with self._transaction(write=False) as conn:
            self._conversation(conn, conversation_id)
            rows = conn.execute(
                "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (conversation_id,)
            ).fetchall()
        return self._messages(rows)

    def siblings(self, message_id: int) -> list[Message]:
        """The alternatives to a message (itself included), oldest first: the branch picker."""
        with self._transaction(write=False) as conn:
            row = self._message_row(conn, message_id)
            rows = conn.execute(
                "SELECT * FROM messages WHERE conversation_id = ? AND parent_id IS ? ORDER BY id",
                (row["conversation_id"], row["parent_id"]),
            ).fetchall()
        return self._messages(rows)

    def switch_branch(self, message_id: int) -> list[Message]:
        """Make the branch through ``message_id`` current (its newest leaf); return the thread."""
        with self._transaction(write=True) as conn:
            row = self._message_row(conn, message_id)
            leaf = conn.execute(
                """
                WITH RECURSIVE below (id, depth) AS (
                    SELECT :start, 0
                    UNION ALL
                    SELECT m.id, below.depth + 1 FROM messages m
                    JOIN below ON m.parent_id = below.id WHERE below.depth < :max_depth
                )
                SELECT max(b.id) FROM below b
                WHERE NOT EXISTS (SELECT 1 FROM messages c WHERE c.parent_id = b.id)
                """,
                {"start": message_id, "max_depth": _MAX_DEPTH},
            ).fetchone()[0]
            conversation_id = row["conversation_id"]
            self._touch(conn, conversation_id, current_leaf_id=leaf or message_id)
            return self._thread(conn, conversation_id)

    def _insert_message(
        self,
        conn: sqlite3.Connection,
        conversation_id: int,
        role: Role,
        content: str,
        *,
        parent_id: int | _Unset | None = UNSET,
        status: Status = "complete",
        provenance: ModelProvenance | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> int:
        if role not in ROLES:
            raise ValueError(f"Unknown role {role!r}.")
        self._conversation(conn, conversation_id)
        if isinstance(parent_id, _Unset):
            parent_id = self._leaf(conn, conversation_id)
        elif parent_id is not None:
            parent = self._message_row(conn, parent_id)
            if parent["conversation_id"] != conversation_id:
                raise ValueError(f"Message {parent_id} is not in conversation {conversation_id}.")
        now = _stamp(_clock.now())
        cursor = conn.execute(
            "INSERT INTO messages (conversation_id, parent_id, role, content, status, "
            "created_at, updated_at, model_lock_id, model_sha256, params_json) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                conversation_id,
                parent_id,
                role,
                content,
                status,
                now,
                now,
                provenance.lock_id if provenance else None,
                provenance.sha256 if provenance else None,
                _dumps(params) if params is not None else None,
            ),
        )
        new_id = cursor.lastrowid
        assert new_id is not None
        self._touch(conn, conversation_id, current_leaf_id=new_id)
        return new_id

    def add_message(
        self,
        conversation_id: int,
        role: Role,
        content: str,
        *,
        parent_id: int | _Unset | None = UNSET,
    ) -> Message:
        """Append a complete message to the current thread (or under ``parent_id``)."""
        with self._transaction(write=True) as conn:
            new_id = self._insert_message(conn, conversation_id, role, content, parent_id=parent_id)
            return _message_from_row(self._message_row(conn, new_id))

    def add_user_message(self, conversation_id: int, content: str) -> Message:
        return self.add_message(conversation_id, "user", content)

    def begin_reply(
        self,
        conversation_id: int,
        provenance: ModelProvenance | None,
        params: Mapping[str, Any],
        *,
        parent_id: int | _Unset | None = UNSET,
        flush_every: int = 32,
        flush_interval: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> ReplyWriter:
        """Start an assistant reply (saved at once as empty and incomplete) and return its writer.

        It is written every ``flush_every`` chunks or ``flush_interval`` seconds, whichever
        comes first; the interval is checked when a chunk arrives.
        """
        with self._transaction(write=True) as conn:
            new_id = self._insert_message(
                conn,
                conversation_id,
                "assistant",
                "",
                parent_id=parent_id,
                status="incomplete",
                provenance=provenance,
                params=params,
            )
        return ReplyWriter(
            self,
            conversation_id,
            new_id,
            flush_every=flush_every,
            flush_interval=flush_interval,
            clock=clock,
        )

    def regenerate(self, conversation_id: int) -> list[Message]:
        """Set the last reply aside (kept as a branch); return the thread to answer again.

        The next :meth:`begin_reply` becomes a sibling of the reply set aside.
        """
        with self._transaction(write=True) as conn:
            thread = self._thread(conn, self._conversation(conn, conversation_id).id)
            if thread and thread[-1].role == "assistant":
                self._touch(conn, conversation_id, current_leaf_id=thread[-1].parent_id)
                thread.pop()
            return thread

    def edit_message(self, message_id: int, content: str) -> list[Message]:
        """Replace a user message by a new sibling; return the thread ending with it.

        The old message and everything after it stay as a branch.
        """
        with self._transaction(write=True) as conn:
            row = self._message_row(conn, message_id)
            if row["role"] != "user":
                raise ConversationError("Only your own messages can be edited.")
            conversation_id = row["conversation_id"]
            self._insert_message(conn, conversation_id, "user", content, parent_id=row["parent_id"])
            return self._thread(conn, conversation_id)

    # --- search and export ---------------------------------------------------------

    def search(self, query: str, *, limit: int = 50) -> list[SearchHit]:
        """Messages of conversations not deleted that contain every word of ``query``."""
        terms = query.split()
        if not terms:
            return []
        with self._transaction(write=False) as conn:
            if self._fts:
                # Quoted terms, so user input is never FTS syntax; the last one is a prefix
                # so results appear while the user is still typing.
                match = " ".join('"' + term.replace('"', '""') + '"' for term in terms) + "*"
                rows = conn.execute(
                    "SELECT m.id, m.conversation_id, m.role, c.title, "
                    "snippet(messages_fts, 0, ?, ?, '…', 12) AS snippet "
                    "FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid "
                    "JOIN conversations c ON c.id = m.conversation_id "
                    "WHERE messages_fts MATCH ? AND c.deleted_at IS NULL "
                    "ORDER BY rank LIMIT ?",
                    (MATCH_START, MATCH_END, match, limit),
                ).fetchall()
            else:
                like = " AND ".join("m.content LIKE ? ESCAPE '\\'" for _ in terms)
                patterns = ["%" + re.sub(r"([\\%_])", r"\\\1", term) + "%" for term in terms]
                rows = conn.execute(
                    "SELECT m.id, m.conversation_id, m.role, c.title, m.content AS snippet "
                    "FROM messages m JOIN conversations c ON c.id = m.conversation_id "
                    f"WHERE {like} AND c.deleted_at IS NULL ORDER BY m.id DESC LIMIT ?",
                    (*patterns, limit),
                ).fetchall()
        hits = []
        for row in rows:
            snippet = row["snippet"] if self._fts else _like_snippet(row["snippet"], terms)
            hits.append(
                SearchHit(row["conversation_id"], row["title"], row["id"], row["role"], snippet)
            )
        return hits

    def to_json(self, conversation_id: int) -> dict[str, Any]:
        """Every branch, every message with its provenance, and which thread is current."""
        # One read transaction, so an export never mixes states from before and after a write.
        with self._transaction(write=False) as conn:
            conversation = self._conversation(conn, conversation_id)
            thread = self._thread(conn, conversation_id)
            rows = conn.execute(
                "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (conversation_id,)
            ).fetchall()
        return {
            "format": EXPORT_FORMAT,
            "format_version": EXPORT_FORMAT_VERSION,
            "exported_by": f"Driftless {__version__}",
            "exported_at": _stamp(_clock.now()),
            "conversation": conversation.to_json(),
            "current_thread": [message.id for message in thread],
            "messages": [message.to_json() for message in self._messages(rows)],
        }

    def render_markdown(self, conversation_id: int) -> str:
        """The current thread as Markdown a person can read."""
        with self._transaction(write=False) as conn:
            conversation = self._conversation(conn, conversation_id)
            thread = self._thread(conn, conversation_id)
        lines = [f"# {conversation.title}", ""]
        lines.append(f"- Created: {conversation.created_at:%Y-%m-%d %H:%M} UTC")
        if conversation.model_id:
            lines.append(f"- Model: `{conversation.model_id}`")
        if conversation.preset:
            lines.append(f"- Preset: {conversation.preset}")
        if conversation.system_prompt:
            lines += ["", "## System prompt", "", conversation.system_prompt]
        for message in thread:
            heading = f"## {message.role.capitalize()}"
            if message.status != "complete":
                heading += f" ({message.status})"
            lines += ["", heading, ""]
            details = [f"`{message.model_lock_id}`"] if message.model_lock_id else []
            if message.completion_tokens is not None:
                details.append(f"{message.completion_tokens} tokens")
            if message.tokens_per_second is not None:
                details.append(f"{message.tokens_per_second:.1f} tokens/s")
            if details:
                lines += ["_" + " · ".join(details) + "_", ""]
            lines.append(message.content)
            if message.error:
                lines += ["", f"> Error: {message.error}"]
        return "\n".join(lines) + "\n"

    def export_markdown(self, conversation_id: int, path: Path) -> None:
        atomic_write_text(path, self.render_markdown(conversation_id))

    def export_json(self, conversation_id: int, path: Path) -> None:
        text = json.dumps(self.to_json(conversation_id), ensure_ascii=False, indent=2)
        atomic_write_text(path, text + "\n")


def _like_snippet(content: str, terms: list[str], width: int = 60) -> str:
    """A snippet like FTS5's for the LIKE fallback: text around the first match, marked."""
    pattern = re.compile("|".join(re.escape(term) for term in terms), re.IGNORECASE)
    first = pattern.search(content)
    start = max(0, first.start() - width) if first else 0
    end = min(len(content), start + 2 * width + (first.end() - first.start() if first else 0))
    window = pattern.sub(lambda m: f"{MATCH_START}{m.group(0)}{MATCH_END}", content[start:end])
    return ("…" if start else "") + window + ("…" if end < len(content) else "")


class ReplyWriter:
    """Saves an assistant reply while it is generated; used from one (worker) thread.

    Use it as a context manager: leaving the block by an exception finishes the reply as
    ``cancelled`` (for :class:`Cancelled`) or ``error``; leaving it normally as ``complete``
    unless :meth:`finish` was already called.
    """

    def __init__(
        self,
        store: ConversationStore,
        conversation_id: int,
        message_id: int,
        *,
        flush_every: int,
        flush_interval: float,
        clock: Callable[[], float],
    ) -> None:
        if flush_every < 1:
            raise ValueError("flush_every must be at least 1.")
        self._store = store
        self.conversation_id = conversation_id
        self.message_id = message_id
        self._flush_every = flush_every
        self._flush_interval = flush_interval
        self._clock = clock
        self._pending: list[str] = []
        self._saved: list[str] = []
        self._last_flush = clock()
        self._finished = False

    @property
    def text(self) -> str:
        """Everything appended so far, saved or not."""
        return "".join(self._saved) + "".join(self._pending)

    @property
    def finished(self) -> bool:
        return self._finished

    def append(self, chunk: str) -> None:
        if self._finished:
            raise RuntimeError(f"Reply {self.message_id} is already finished.")
        self._pending.append(chunk)
        if (
            len(self._pending) >= self._flush_every
            or self._clock() - self._last_flush >= self._flush_interval
        ):
            self.flush()

    def flush(self) -> None:
        """Write the buffered text now. On failure it stays buffered for the next try."""
        if not self._pending:
            return
        with self._store._transaction(write=True, durable=False) as conn:
            self._write(conn, "".join(self._pending))
        self._saved.extend(self._pending)
        self._pending.clear()
        self._last_flush = self._clock()

    def _write(self, conn: sqlite3.Connection, text: str, **columns: object) -> None:
        assignments = "".join(f", {name} = ?" for name in columns)
        cursor = conn.execute(
            f"UPDATE messages SET content = content || ?, updated_at = ?{assignments} WHERE id = ?",
            (text, _stamp(_clock.now()), *columns.values(), self.message_id),
        )
        if cursor.rowcount == 0:
            raise ConversationNotFound(
                f"Reply {self.message_id} no longer exists (its conversation was purged)."
            )

    def finish(
        self,
        status: FinalStatus = "complete",
        *,
        stats: ReplyStats | None = None,
        error: str | None = None,
    ) -> Message:
        """Write what is left with the final status and statistics, durably; return the row."""
        if status not in ("complete", "error", "cancelled"):
            raise ValueError(f"A reply cannot finish as {status!r}.")
        stats = stats or ReplyStats()
        with self._store._transaction(write=True) as conn:
            self._write(
                conn,
                "".join(self._pending),
                status=status,
                error=error,
                prompt_tokens=stats.prompt_tokens,
                completion_tokens=stats.completion_tokens,
                tokens_per_second=stats.tokens_per_second,
            )
            self._store._touch(conn, self.conversation_id)
            row = self._store._message_row(conn, self.message_id)
        self._saved.extend(self._pending)
        self._pending.clear()
        self._finished = True
        return _message_from_row(row)

    def __enter__(self) -> ReplyWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._finished:
            return
        if exc is None:
            self.finish("complete")
        elif isinstance(exc, Cancelled):
            self.finish("cancelled")
        elif isinstance(exc, Exception):
            self.finish("error", error=str(exc) or type(exc).__name__)
        # KeyboardInterrupt/SystemExit: leave the row incomplete, as a kill would.
