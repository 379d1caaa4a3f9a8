"""Conversations as files: Markdown a person reads, JSON that keeps every branch and provenance.

The JSON export is also what Import reads back (:func:`read_document` checks it first).

These functions only render records the store has already read (in one transaction, so an
export never mixes states from before and after a write) and write the result atomically.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app import __version__
from app.core.chat.records import ROLES, STATUSES, Conversation, Message, stamp, utc_now
from app.core.errors import DriftlessError
from app.core.fsutil import atomic_write_text

EXPORT_FORMAT = "driftless.conversation"
EXPORT_FORMAT_VERSION = 1


def export_document(
    conversation: Conversation, thread: Sequence[Message], messages: Sequence[Message]
) -> dict[str, Any]:
    """Every branch (``messages``), every message with its provenance, and the current thread."""
    return {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_FORMAT_VERSION,
        "exported_by": f"Driftless {__version__}",
        "exported_at": stamp(utc_now()),
        "conversation": conversation.to_json(),
        "current_thread": [message.id for message in thread],
        "messages": [with_finish(message) for message in messages],
    }


def finish_of(message: Message) -> str | None:
    """How a reply ended, in the words of an export: "stop" (the model ended it), "length"
    (cut at its token limit), "stopped" (by the person), "error" or "incomplete"
    (interrupted); ``None`` for what is not a reply.

    The store keeps a cut reply as complete; its limit is in its parameters, and a reply
    that used every token it was allowed was cut there (the engine ends it at the limit).
    """
    if message.role != "assistant":
        return None
    if message.status == "cancelled":
        return "stopped"
    if message.status != "complete":
        return message.status
    limit = (message.params or {}).get("max_tokens")
    tokens = message.completion_tokens
    if isinstance(limit, int) and tokens is not None and tokens >= limit:
        return "length"
    return "stop"


def with_finish(message: Message) -> dict[str, Any]:
    """The message's JSON and, for a reply, how it ended (``status`` stays as stored, so
    Import reads it back unchanged)."""
    document = message.to_json()
    finish = finish_of(message)
    if finish is not None:
        document["finish"] = finish
    return document


def _heading_note(message: Message) -> str | None:
    finish = finish_of(message)
    if finish == "length":
        return f"stopped at the {(message.params or {})['max_tokens']:,}-token limit"
    if finish in (None, "stop"):
        return None if message.status == "complete" else message.status
    return finish


def render_markdown(conversation: Conversation, thread: Sequence[Message]) -> str:
    """The thread as Markdown a person can read."""
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
        note = _heading_note(message)
        if note is not None:
            heading += f" ({note})"
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


def write_markdown(path: Path, markdown: str) -> None:
    atomic_write_text(path, markdown)


def write_json(path: Path, document: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(document, ensure_ascii=False, indent=2) + "\n")


class ImportProblem(DriftlessError):
    """A file that is not a conversation Driftless exported, said in a sentence."""


def read_document(path: Path) -> dict[str, Any]:
    """A conversation export, checked enough that every message can be inserted again.

    Messages are returned parents first; ``current_thread`` is kept as it was written.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImportProblem(f"{path.name} cannot be read as JSON: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != EXPORT_FORMAT:
        raise ImportProblem(f"{path.name} is not a conversation exported by Driftless.")
    version = document.get("format_version")
    if not isinstance(version, int) or version > EXPORT_FORMAT_VERSION:
        raise ImportProblem(
            f"{path.name} was written by a newer Driftless (format {version}); update to import it."
        )
    conversation = document.get("conversation")
    messages = document.get("messages")
    if not isinstance(conversation, dict) or not isinstance(messages, list):
        raise ImportProblem(f"{path.name} has no conversation or no messages in it.")
    ids: set[int] = set()
    for number, message in enumerate(messages, 1):
        if (
            not isinstance(message, dict)
            or not isinstance(message.get("id"), int)
            or message.get("role") not in ROLES
            or message.get("status") not in STATUSES
            or not isinstance(message.get("content"), str)
        ):
            raise ImportProblem(f"Message {number} of {path.name} is damaged.")
        parent = message.get("parent_id")
        if parent is not None and parent not in ids:
            raise ImportProblem(f"Message {number} of {path.name} answers a message not before it.")
        ids.add(message["id"])
    return document
