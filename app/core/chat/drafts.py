"""What the chat page had on screen at quit: the open conversation and each unsent draft.

Kept in a small JSON file next to the conversations (not in their database, whose schema
an older Driftless must still read), written atomically. A damaged or missing file means
no drafts and no remembered conversation, never an error.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from app.core.fsutil import atomic_write_text
from app.core.paths import Paths

log = logging.getLogger(__name__)

FILE_NAME = "chat-session.json"


class ChatSession:
    """The open conversation and the drafts, by conversation id."""

    def __init__(self, paths: Paths) -> None:
        self.path: Path = paths.home / FILE_NAME
        self.open_conversation: int | None = None
        self.drafts: dict[int, str] = {}
        self._read()

    def _read(self) -> None:
        try:
            data: Any = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.warning("Ignoring %s: %s", self.path, exc)
            return
        if not isinstance(data, dict):
            return
        opened = data.get("open_conversation")
        self.open_conversation = opened if isinstance(opened, int) else None
        drafts = data.get("drafts")
        if isinstance(drafts, dict):
            self.drafts = {
                int(key): text
                for key, text in drafts.items()
                if isinstance(key, str) and key.isdigit() and isinstance(text, str) and text
            }

    def draft(self, conversation_id: int) -> str:
        return self.drafts.get(conversation_id, "")

    def set_draft(self, conversation_id: int, text: str) -> None:
        if text.strip():
            self.drafts[conversation_id] = text
        else:
            self.drafts.pop(conversation_id, None)

    def save(self) -> None:
        document = {
            "open_conversation": self.open_conversation,
            "drafts": {str(key): text for key, text in sorted(self.drafts.items())},
        }
        try:
            atomic_write_text(self.path, json.dumps(document, ensure_ascii=False, indent=2) + "\n")
        except OSError as exc:  # a read-only data folder: the drafts stay in memory
            log.warning("Could not save %s: %s", self.path, exc)
