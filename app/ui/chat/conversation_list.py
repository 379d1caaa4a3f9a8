"""The list of conversations: an item model, most recently used first."""

from __future__ import annotations

from collections import Counter
from enum import IntEnum
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

from app.core.chat.records import Conversation

Index = QModelIndex | QPersistentModelIndex


class ConversationRole(IntEnum):
    CONVERSATION = Qt.ItemDataRole.UserRole + 1
    CONVERSATION_ID = Qt.ItemDataRole.UserRole + 2


class ConversationListModel(QAbstractListModel):
    """Rows of :class:`Conversation`; titles are editable in place (F2 or double-click)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._items: list[Conversation] = []
        self._shared_titles: set[str] = set()
        self.rename_requested: Any = None  # callable(conversation_id, title), set by the page

    def set_conversations(self, items: list[Conversation]) -> None:
        self.beginResetModel()
        self._items = list(items)
        titles = Counter(c.title for c in self._items)
        self._shared_titles = {title for title, count in titles.items() if count > 1}
        self.endResetModel()

    def conversation_at(self, row: int) -> Conversation | None:
        return self._items[row] if 0 <= row < len(self._items) else None

    def row_of(self, conversation_id: int) -> int:
        for row, item in enumerate(self._items):
            if item.id == conversation_id:
                return row
        return -1

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(self._items)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._items):
            return None
        item = self._items[index.row()]
        if role == Qt.ItemDataRole.DisplayRole and item.title in self._shared_titles:
            # Two conversations with one title are told apart by when they were last used.
            return f"{item.title} · {item.updated_at.astimezone().strftime('%d %b %H:%M')}"
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole):
            return item.title
        if role == Qt.ItemDataRole.ToolTipRole:
            when = item.updated_at.astimezone().strftime("%Y-%m-%d %H:%M")
            model = f"\nModel: {item.model_id}" if item.model_id else ""
            return f"{item.title}\nLast used {when}{model}"
        if role == ConversationRole.CONVERSATION:
            return item
        if role == ConversationRole.CONVERSATION_ID:
            return item.id
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = super().flags(index)
        return base | Qt.ItemFlag.ItemIsEditable if index.isValid() else base

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or not index.isValid():
            return False
        title = str(value).strip()
        item = self.conversation_at(index.row())
        if not title or item is None or self.rename_requested is None:
            return False
        self.rename_requested(item.id, title)
        return True
