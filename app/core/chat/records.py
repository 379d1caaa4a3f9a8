"""The conversation records the store hands out, and how they are read from and written to rows.

Records are frozen dataclasses, safe to pass between threads. Decoding a row checks every
column; a row that does not fit raises :class:`BadRow`, which the store turns into a skipped
row instead of a failed read. Timestamps are UTC, fixed width and strictly increasing within
a process, so their text order is time order.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args

Role = Literal["system", "user", "assistant"]
Status = Literal["complete", "incomplete", "error", "cancelled"]
FinalStatus = Literal["complete", "error", "cancelled"]
ROLES: frozenset[str] = frozenset(get_args(Role))
STATUSES: frozenset[str] = frozenset(get_args(Status))

MATCH_START = "\x02"
"""Marks the start of a matched term in :attr:`SearchHit.snippet` (the UI turns it into bold)."""
MATCH_END = "\x03"


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


def utc_now() -> datetime:
    """Now, later than any earlier call in this process."""
    return _clock.now()


def stamp(moment: datetime) -> str:
    # Fixed width (always microseconds, always UTC), so text order is time order.
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def dump_json(data: Mapping[str, Any]) -> str:
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
            "created_at": stamp(self.created_at),
            "updated_at": stamp(self.updated_at),
            "model_id": self.model_id,
            "system_prompt": self.system_prompt,
            "preset": self.preset,
            "params": dict(self.params),
            "current_leaf_id": self.current_leaf_id,
            "deleted_at": stamp(self.deleted_at) if self.deleted_at else None,
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
            "created_at": stamp(self.created_at),
            "updated_at": stamp(self.updated_at),
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


class BadRow(Exception):
    """A row that cannot be decoded; the message says which column and why."""


def _time(value: object, column: str) -> datetime:
    if not isinstance(value, str):
        raise BadRow(f"{column} is not a timestamp")
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadRow(f"{column} is not a timestamp: {value!r}") from exc


def _json_object(value: object, column: str) -> dict[str, Any]:
    try:
        data = json.loads(value) if isinstance(value, str) else None
    except ValueError as exc:
        raise BadRow(f"{column} is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise BadRow(f"{column} is not a JSON object")
    return data


def _opt_str(value: object, column: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise BadRow(f"{column} is not text")
    return value


def _opt_int(value: object, column: str) -> int | None:
    if value is not None and not isinstance(value, int):
        raise BadRow(f"{column} is not a number")
    return value


def conversation_from_row(row: sqlite3.Row) -> Conversation:
    title, prompt = row["title"], row["system_prompt"]
    if not isinstance(title, str) or not isinstance(prompt, str):
        raise BadRow("title or system prompt is not text")
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


def message_from_row(row: sqlite3.Row) -> Message:
    role, status, content = row["role"], row["status"], row["content"]
    if role not in ROLES or status not in STATUSES:
        raise BadRow(f"unknown role or status ({role!r}, {status!r})")
    if not isinstance(content, str):
        raise BadRow("content is not text")
    params = row["params_json"]
    speed = row["tokens_per_second"]
    if speed is not None and not isinstance(speed, int | float):
        raise BadRow("tokens_per_second is not a number")
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
