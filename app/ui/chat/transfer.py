"""Export a conversation (Markdown, or JSON with provenance) and import a JSON export.

The three commands are actions, shared by the Chat page's Export button and the
window's File menu. ``choose_export_path`` and ``choose_import_path`` are where the file
dialogs open; tests replace them.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QWidget

from app.core.chat.conversations import ConversationStore
from app.core.chat.records import Conversation
from app.core.chat.saved import title_from
from app.core.errors import DriftlessError
from app.core.fsutil import safe_file_name


class ConversationTransfer(QObject):
    """``imported(conversation)`` after an import; ``reported(text)`` for the status line."""

    imported = Signal(object)
    reported = Signal(str)

    def __init__(self, conversations: ConversationStore, parent: QWidget) -> None:
        super().__init__(parent)
        self.conversations = conversations
        self.window = parent
        self.current: Conversation | None = None
        self.export_markdown_action = QAction("Export as &Markdown…", parent)
        self.export_json_action = QAction("Export as &JSON (with provenance)…", parent)
        self.import_action = QAction("&Import conversation…", parent)
        self.import_action.setToolTip("Add a conversation from a JSON export")
        self.export_markdown_action.triggered.connect(lambda: self.export("md"))
        self.export_json_action.triggered.connect(lambda: self.export("json"))
        self.import_action.triggered.connect(self.import_conversation)
        self.set_current(None)

    @property
    def actions(self) -> list[QAction]:
        return [self.export_markdown_action, self.export_json_action, self.import_action]

    def set_current(self, conversation: Conversation | None) -> None:
        """The conversation an export writes; none open: nothing to export."""
        self.current = conversation
        self.export_markdown_action.setEnabled(conversation is not None)
        self.export_json_action.setEnabled(conversation is not None)

    def choose_export_path(self, suffix: str) -> Path | None:
        assert self.current is not None
        stem = safe_file_name(title_from(self.current.title), "conversation")
        name, _ = QFileDialog.getSaveFileName(
            self.window, "Export conversation", f"{stem}.{suffix}"
        )
        return Path(name) if name else None

    def choose_import_path(self) -> Path | None:
        name, _ = QFileDialog.getOpenFileName(
            self.window, "Import conversation", "", "Conversation exports (*.json)"
        )
        return Path(name) if name else None

    def export(self, kind: str) -> None:
        if self.current is None:
            return
        path = self.choose_export_path(kind)
        if path is None:
            return
        try:
            if kind == "md":
                self.conversations.export_markdown(self.current.id, path)
            else:
                self.conversations.export_json(self.current.id, path)
        except (DriftlessError, OSError) as exc:
            self.reported.emit(f"Could not export: {exc}")
            return
        self.reported.emit(f"Exported to {path}.")

    def import_conversation(self) -> Conversation | None:
        """Add a conversation from a JSON export (every branch); ``imported`` opens it."""
        path = self.choose_import_path()
        if path is None:
            return None
        try:
            imported = self.conversations.import_json(path)
        except (DriftlessError, OSError) as exc:
            self.reported.emit(f"Could not import: {exc}")
            return None
        self.imported.emit(imported)
        self.reported.emit(f"Imported “{imported.title}” from {path.name}.")
        return imported
