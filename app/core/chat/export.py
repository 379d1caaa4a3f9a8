"""Conversations as files: Markdown a person reads, JSON that keeps every branch and provenance.

These functions only render records the store has already read (in one transaction, so an
export never mixes states from before and after a write) and write the result atomically.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app import __version__
from app.core.chat.records import Conversation, Message, stamp, utc_now
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
        "messages": [message.to_json() for message in messages],
    }


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


def write_markdown(path: Path, markdown: str) -> None:
    atomic_write_text(path, markdown)


def write_json(path: Path, document: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(document, ensure_ascii=False, indent=2) + "\n")
