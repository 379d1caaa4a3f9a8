"""Adding a conversation from a JSON export: every branch, every message's provenance.

:func:`app.core.chat.export.read_document` has checked the document; here its messages
are written under new ids, in one transaction, keeping their tree and the thread that
was current.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from app.core.chat.conversations_db import touch
from app.core.chat.records import dump_json, stamp, utc_now


def insert_messages(
    conn: sqlite3.Connection, conversation_id: int, document: dict[str, Any]
) -> None:
    """Write the document's messages into the (new, empty) conversation; point at its thread."""
    new_ids: dict[int, int] = {}
    for message in document["messages"]:
        provenance = message.get("provenance") or {}
        reply_params = provenance.get("params")
        now = stamp(utc_now())
        cursor = conn.execute(
            "INSERT INTO messages (conversation_id, parent_id, role, content, status, "
            "error, created_at, updated_at, model_lock_id, model_sha256, params_json, "
            "prompt_tokens, completion_tokens, tokens_per_second) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                conversation_id,
                new_ids.get(message["parent_id"]) if message.get("parent_id") else None,
                message["role"],
                message["content"],
                message["status"],
                message.get("error"),
                _timestamp(message.get("created_at"), now),
                _timestamp(message.get("updated_at"), now),
                provenance.get("model_lock_id"),
                provenance.get("model_sha256"),
                dump_json(reply_params) if isinstance(reply_params, dict) else None,
                provenance.get("prompt_tokens"),
                provenance.get("completion_tokens"),
                provenance.get("tokens_per_second"),
            ),
        )
        assert cursor.lastrowid is not None
        new_ids[message["id"]] = cursor.lastrowid
    thread = document.get("current_thread") or []
    leaf = new_ids.get(thread[-1]) if thread and isinstance(thread[-1], int) else None
    if leaf is None and new_ids:
        leaf = max(new_ids.values())
    touch(conn, conversation_id, current_leaf_id=leaf)


def _timestamp(value: object, default: str) -> str:
    """An imported timestamp in the store's own form, or ``default`` if it is not one."""
    if isinstance(value, str):
        try:
            return stamp(datetime.fromisoformat(value))
        except ValueError:
            pass
    return default
