"""Writing an assistant reply while it is generated, so a kill loses at most a moment of it.

The row is saved at once as ``incomplete`` and grows in small, cheap transactions; finishing
writes the final status and statistics durably.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from types import TracebackType

from app.core.chat.conversations_db import (
    ConversationNotFound,
    message_row,
    touch,
)
from app.core.chat.records import (
    FinalStatus,
    Message,
    ReplyStats,
    message_from_row,
    stamp,
    utc_now,
)
from app.core.db import Database
from app.core.errors import Cancelled


class ReplyWriter:
    """Saves an assistant reply while it is generated; used from one (worker) thread.

    Use it as a context manager: leaving the block by an exception finishes the reply as
    ``cancelled`` (for :class:`Cancelled`) or ``error``; leaving it normally as ``complete``
    unless :meth:`finish` was already called.
    """

    def __init__(
        self,
        db: Database,
        conversation_id: int,
        message_id: int,
        *,
        flush_every: int,
        flush_interval: float,
        clock: Callable[[], float],
    ) -> None:
        if flush_every < 1:
            raise ValueError("flush_every must be at least 1.")
        self._db = db
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
        with self._db.write(durable=False) as conn:
            self._write(conn, "".join(self._pending))
        self._saved.extend(self._pending)
        self._pending.clear()
        self._last_flush = self._clock()

    def _write(self, conn: sqlite3.Connection, text: str, **columns: object) -> None:
        assignments = "".join(f", {name} = ?" for name in columns)
        cursor = conn.execute(
            f"UPDATE messages SET content = content || ?, updated_at = ?{assignments} WHERE id = ?",
            (text, stamp(utc_now()), *columns.values(), self.message_id),
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
        with self._db.write() as conn:
            self._write(
                conn,
                "".join(self._pending),
                status=status,
                error=error,
                prompt_tokens=stats.prompt_tokens,
                completion_tokens=stats.completion_tokens,
                tokens_per_second=stats.tokens_per_second,
            )
            touch(conn, self.conversation_id)
            row = message_row(conn, self.message_id)
        self._saved.extend(self._pending)
        self._pending.clear()
        self._finished = True
        return message_from_row(row)

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
