"""Finding messages by their words: the full-text index when SQLite has FTS5, LIKE otherwise.

Both give the same hits in the same shape: a snippet of the message around the first
match, the matched words between :data:`~app.core.chat.records.MATCH_START` and
:data:`~app.core.chat.records.MATCH_END`. Deleted conversations are never searched.
"""

from __future__ import annotations

import re
import sqlite3

from app.core.chat.records import MATCH_END, MATCH_START, SearchHit


def search_messages(
    conn: sqlite3.Connection, query: str, *, fts: bool, limit: int
) -> list[SearchHit]:
    """Messages of conversations not deleted that contain every word of ``query``."""
    terms = query.split()
    if not terms:
        return []
    if fts:
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
        snippet = row["snippet"] if fts else _like_snippet(row["snippet"], terms)
        hits.append(
            SearchHit(row["conversation_id"], row["title"], row["id"], row["role"], snippet)
        )
    return hits


def _like_snippet(content: str, terms: list[str], width: int = 60) -> str:
    """A snippet like FTS5's for the LIKE fallback: text around the first match, marked."""
    pattern = re.compile("|".join(re.escape(term) for term in terms), re.IGNORECASE)
    first = pattern.search(content)
    start = max(0, first.start() - width) if first else 0
    end = min(len(content), start + 2 * width + (first.end() - first.start() if first else 0))
    window = pattern.sub(lambda m: f"{MATCH_START}{m.group(0)}{MATCH_END}", content[start:end])
    return ("…" if start else "") + window + ("…" if end < len(content) else "")
