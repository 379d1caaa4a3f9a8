"""The message tree: the thread a conversation shows, and the branches beside it.

Messages form a tree through ``parent_id``; a conversation points at the leaf of the
thread the user sees (``current_leaf_id``). These queries walk the tree inside the
store's transactions. A ``parent_id`` cycle (a damaged file) stops at :data:`MAX_DEPTH`
instead of looping forever.
"""

from __future__ import annotations

import sqlite3

MAX_DEPTH = 100_000


def current_leaf(conn: sqlite3.Connection, conversation_id: int) -> int | None:
    """The leaf of the current thread; the newest message when it points nowhere."""
    leaf: int | None = conn.execute(
        "SELECT COALESCE("
        " (SELECT m.id FROM messages m"
        "  WHERE m.id = c.current_leaf_id AND m.conversation_id = c.id),"
        " (SELECT max(m.id) FROM messages m WHERE m.conversation_id = c.id))"
        " FROM conversations c WHERE c.id = ?",
        (conversation_id,),
    ).fetchone()[0]
    return leaf


def thread_rows(conn: sqlite3.Connection, conversation_id: int) -> list[sqlite3.Row]:
    """The rows of the current thread, oldest first."""
    rows: list[sqlite3.Row] = conn.execute(
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
            "leaf": current_leaf(conn, conversation_id),
            "conversation": conversation_id,
            "max_depth": MAX_DEPTH,
        },
    ).fetchall()
    return rows


def newest_leaf_below(conn: sqlite3.Connection, message_id: int) -> int | None:
    """The newest message with no replies in the subtree under ``message_id`` (itself included)."""
    leaf: int | None = conn.execute(
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
        {"start": message_id, "max_depth": MAX_DEPTH},
    ).fetchone()[0]
    return leaf


def sibling_groups(conn: sqlite3.Connection, conversation_id: int) -> dict[int, tuple[int, ...]]:
    """For each message that has alternatives, the ids of all of them, oldest first."""
    rows = conn.execute(
        "SELECT id, parent_id FROM messages WHERE conversation_id = ? ORDER BY id",
        (conversation_id,),
    ).fetchall()
    groups: dict[int | None, list[int]] = {}
    for row in rows:
        groups.setdefault(row["parent_id"], []).append(row["id"])
    return {message_id: tuple(ids) for ids in groups.values() if len(ids) > 1 for message_id in ids}
