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

The store is built from :mod:`app.core.chat.conversations_db` (schema, connections, search index),
:mod:`app.core.chat.records` (records and row decoding), :mod:`app.core.chat.branches` (the
message tree), :mod:`app.core.chat.reply_writer`, :mod:`app.core.chat.search`,
:mod:`app.core.chat.export` and :mod:`app.core.chat.importing`; the public names of the
first ones are re-exported here.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from enum import Enum
from pathlib import Path
from typing import Any

from app.core.chat import export
from app.core.chat.branches import current_leaf, newest_leaf_below, sibling_groups, thread_rows
from app.core.chat.conversations_db import (
    MIGRATIONS,
    SCHEMA_VERSION,
    ConversationError,
    ConversationNotFound,
    fts5_available,
    message_row,
    open_history,
    touch,
)
from app.core.chat.export import EXPORT_FORMAT, EXPORT_FORMAT_VERSION
from app.core.chat.importing import insert_messages
from app.core.chat.records import (
    MATCH_END,
    MATCH_START,
    ROLES,
    STATUSES,
    BadRow,
    Conversation,
    FinalStatus,
    Message,
    ModelProvenance,
    ReplyStats,
    Role,
    SearchHit,
    SkippedRow,
    Status,
    conversation_from_row,
    dump_json,
    message_from_row,
    stamp,
    utc_now,
)
from app.core.chat.reply_writer import ReplyWriter
from app.core.chat.search import search_messages
from app.core.paths import Paths

__all__ = [
    "EXPORT_FORMAT",
    "EXPORT_FORMAT_VERSION",
    "MATCH_END",
    "MATCH_START",
    "MIGRATIONS",
    "ROLES",
    "SCHEMA_VERSION",
    "STATUSES",
    "UNSET",
    "Conversation",
    "ConversationError",
    "ConversationNotFound",
    "ConversationStore",
    "FinalStatus",
    "Message",
    "ModelProvenance",
    "ReplyStats",
    "ReplyWriter",
    "Role",
    "SearchHit",
    "SkippedRow",
    "Status",
    "fts5_available",
]

log = logging.getLogger(__name__)


class _Unset(Enum):
    UNSET = "unset"


UNSET = _Unset.UNSET


class ConversationStore:
    """The conversations under one data folder. Safe across threads and processes."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths.ensure()
        self.db_path = self.paths.conversations_db
        self._fts = fts5_available()
        self._db = open_history(self.db_path, fts=self._fts)
        self._lock = threading.Lock()
        self._skipped: dict[tuple[str, int], SkippedRow] = {}

    def close(self) -> None:
        """Let go of the file (optional: its connections also close with their threads)."""
        self._db.close()

    # --- decoding ------------------------------------------------------------------

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
                result.append(conversation_from_row(row))
            except BadRow as exc:
                self._skip("conversations", row["id"], str(exc))
        return result

    def _messages(self, rows: list[sqlite3.Row]) -> list[Message]:
        result = []
        for row in rows:
            try:
                result.append(message_from_row(row))
            except BadRow as exc:
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
        now = stamp(utc_now())
        with self._db.write() as conn:
            cursor = conn.execute(
                "INSERT INTO conversations (title, created_at, updated_at, model_id, "
                "system_prompt, preset, params_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (title, now, now, model_id, system_prompt, preset, dump_json(params or {})),
            )
            assert cursor.lastrowid is not None
            return self._conversation(conn, cursor.lastrowid)

    def get_conversation(self, conversation_id: int) -> Conversation:
        """A conversation by id, deleted or not (a deleted one can still be restored)."""
        with self._db.read() as conn:
            return self._conversation(conn, conversation_id)

    def list_conversations(self, *, deleted: bool = False) -> list[Conversation]:
        """Most recently updated first; ``deleted=True`` lists the ones awaiting purge."""
        condition = "IS NOT NULL" if deleted else "IS NULL"
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT * FROM conversations WHERE deleted_at {condition} "
                "ORDER BY updated_at DESC, id DESC"
            ).fetchall()
        return self._conversations(rows)

    def rename_conversation(self, conversation_id: int, title: str) -> Conversation:
        with self._db.write() as conn:
            touch(conn, conversation_id, title=title)
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
            columns["params_json"] = dump_json(params)
        with self._db.write() as conn:
            touch(conn, conversation_id, **columns)
            return self._conversation(conn, conversation_id)

    def delete_conversation(self, conversation_id: int) -> None:
        """Move to the bin: hidden from lists and search until restored or purged."""
        with self._db.write() as conn:
            cursor = conn.execute(
                "UPDATE conversations SET deleted_at = ? WHERE id = ?",
                (stamp(utc_now()), conversation_id),
            )
            if cursor.rowcount == 0:
                raise ConversationNotFound(f"There is no conversation {conversation_id}.")

    def restore_conversation(self, conversation_id: int) -> Conversation:
        with self._db.write() as conn:
            conn.execute(
                "UPDATE conversations SET deleted_at = NULL WHERE id = ?", (conversation_id,)
            )
            return self._conversation(conn, conversation_id)

    def purge_deleted(self, *, older_than: timedelta | None = None) -> int:
        """Remove for good the conversations deleted before ``older_than`` ago (all if None)."""
        cutoff = utc_now() - (older_than or timedelta(0))
        with self._db.write() as conn:
            ids = [
                row["id"]
                for row in conn.execute(
                    "SELECT id FROM conversations WHERE deleted_at IS NOT NULL AND deleted_at <= ?",
                    (stamp(cutoff),),
                )
            ]
            for conversation_id in ids:
                # Messages first and explicitly, so the full-text triggers see every delete.
                conn.execute("DELETE FROM messages WHERE conversation_id = ?", (conversation_id,))
                conn.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
        return len(ids)

    # --- messages and branches -----------------------------------------------------

    def _thread(self, conn: sqlite3.Connection, conversation_id: int) -> list[Message]:
        return self._messages(thread_rows(conn, conversation_id))

    def get_thread(self, conversation_id: int) -> list[Message]:
        """The messages of the current branch, oldest first."""
        with self._db.read() as conn:
            self._conversation(conn, conversation_id)
            return self._thread(conn, conversation_id)

    def get_message(self, message_id: int) -> Message:
        with self._db.read() as conn:
            row = message_row(conn, message_id)
        found = self._messages([row])
        if not found:
            raise ConversationError(
                f"Message {message_id} cannot be read: "
                f"{self._skipped[('messages', message_id)].reason}."
            )
        return found[0]

    def all_messages(self, conversation_id: int) -> list[Message]:
        """Every message of every branch, oldest first."""
        with self._db.read() as conn:
            self._conversation(conn, conversation_id)
            rows = conn.execute(
                "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (conversation_id,)
            ).fetchall()
        return self._messages(rows)

    def siblings(self, message_id: int) -> list[Message]:
        """The alternatives to a message (itself included), oldest first: the branch picker."""
        with self._db.read() as conn:
            row = message_row(conn, message_id)
            rows = conn.execute(
                "SELECT * FROM messages WHERE conversation_id = ? AND parent_id IS ? ORDER BY id",
                (row["conversation_id"], row["parent_id"]),
            ).fetchall()
        return self._messages(rows)

    def branch_siblings(self, conversation_id: int) -> dict[int, tuple[int, ...]]:
        """For each message that has alternatives, the ids of all of them, oldest first.

        One read for the whole conversation, so the transcript can show a ``‹ 2/3 ›``
        switcher on every message that Regenerate or Edit gave a sibling.
        """
        with self._db.read() as conn:
            self._conversation(conn, conversation_id)
            return sibling_groups(conn, conversation_id)

    def switch_branch(self, message_id: int) -> list[Message]:
        """Make the branch through ``message_id`` current (its newest leaf); return the thread."""
        with self._db.write() as conn:
            row = message_row(conn, message_id)
            leaf = newest_leaf_below(conn, message_id)
            conversation_id = row["conversation_id"]
            touch(conn, conversation_id, current_leaf_id=leaf or message_id)
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
            parent_id = current_leaf(conn, conversation_id)
        elif parent_id is not None:
            parent = message_row(conn, parent_id)
            if parent["conversation_id"] != conversation_id:
                raise ValueError(f"Message {parent_id} is not in conversation {conversation_id}.")
        now = stamp(utc_now())
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
                dump_json(params) if params is not None else None,
            ),
        )
        new_id = cursor.lastrowid
        assert new_id is not None
        touch(conn, conversation_id, current_leaf_id=new_id)
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
        with self._db.write() as conn:
            new_id = self._insert_message(conn, conversation_id, role, content, parent_id=parent_id)
            return message_from_row(message_row(conn, new_id))

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
        with self._db.write() as conn:
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
            self._db,
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
        with self._db.write() as conn:
            thread = self._thread(conn, self._conversation(conn, conversation_id).id)
            if thread and thread[-1].role == "assistant":
                touch(conn, conversation_id, current_leaf_id=thread[-1].parent_id)
                thread.pop()
            return thread

    def edit_message(self, message_id: int, content: str) -> list[Message]:
        """Replace a user message by a new sibling; return the thread ending with it.

        The old message and everything after it stay as a branch.
        """
        with self._db.write() as conn:
            row = message_row(conn, message_id)
            if row["role"] != "user":
                raise ConversationError("Only your own messages can be edited.")
            conversation_id = row["conversation_id"]
            self._insert_message(conn, conversation_id, "user", content, parent_id=row["parent_id"])
            return self._thread(conn, conversation_id)

    # --- search and export ---------------------------------------------------------

    def search(self, query: str, *, limit: int = 50) -> list[SearchHit]:
        """Messages of conversations not deleted that contain every word of ``query``."""
        with self._db.read() as conn:
            return search_messages(conn, query, fts=self._fts, limit=limit)

    def to_json(self, conversation_id: int) -> dict[str, Any]:
        """Every branch, every message with its provenance, and which thread is current."""
        # One read transaction, so an export never mixes states from before and after a write.
        with self._db.read() as conn:
            conversation = self._conversation(conn, conversation_id)
            thread = self._thread(conn, conversation_id)
            rows = conn.execute(
                "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (conversation_id,)
            ).fetchall()
        return export.export_document(conversation, thread, self._messages(rows))

    def render_markdown(self, conversation_id: int) -> str:
        """The current thread as Markdown a person can read."""
        with self._db.read() as conn:
            conversation = self._conversation(conn, conversation_id)
            thread = self._thread(conn, conversation_id)
        return export.render_markdown(conversation, thread)

    def export_markdown(self, conversation_id: int, path: Path) -> None:
        export.write_markdown(path, self.render_markdown(conversation_id))

    def export_json(self, conversation_id: int, path: Path) -> None:
        export.write_json(path, self.to_json(conversation_id))

    def import_json(self, path: Path) -> Conversation:
        """Add the conversation in a JSON export (every branch, provenance) as a new one.

        Messages get new ids; their tree and the current thread are kept as exported.
        """
        document = export.read_document(path)
        data: dict[str, Any] = document["conversation"]
        params = data.get("params")
        conversation = self.create_conversation(
            str(data.get("title") or "Imported conversation"),
            model_id=data.get("model_id") if isinstance(data.get("model_id"), str) else None,
            system_prompt=str(data.get("system_prompt") or ""),
            preset=data.get("preset") if isinstance(data.get("preset"), str) else None,
            params=params if isinstance(params, dict) else None,
        )
        with self._db.write() as conn:
            insert_messages(conn, conversation.id, document)
            return self._conversation(conn, conversation.id)
