"""The Chat page's left column: new, search, the conversation list, delete and undo.

It reads the list (or the search hits) from the :class:`ConversationStore` and says
which conversation the user picked; the page opens it. Search remembers each hit's
first matching message, so opening a hit shows the branch that holds it.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLineEdit,
    QListView,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.core.chat.conversations import ConversationStore
from app.ui.chat.conversation_list import ConversationListModel
from app.ui.states import EmptyState, PageHeader, StateStack

UNDO_SECONDS = 10


class ConversationSidebar(QWidget):
    """``picked(id, message id or None)`` when another conversation is chosen in the list;
    ``hit_clicked(message id)`` when the open one is clicked in search results;
    ``hit_requested(id, message id)`` for the next match when Enter is pressed in search."""

    picked = Signal(int, object)
    hit_clicked = Signal(int)
    hit_requested = Signal(int, int)
    """Enter in the search box: show this conversation's matching message (ids)."""

    def __init__(self, conversations: ConversationStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.conversations = conversations
        self.current_id: int | None = None
        self._search_hits: dict[int, int] = {}  # conversation id -> first matching message
        self._matches: list[tuple[int, int]] = []
        """Every matching message (conversation id, message id), as the list shows them."""
        self._match_index = -1

        self.search_box = QLineEdit()
        self.search_box.setPlaceholderText("Search conversations")
        self.search_box.setAccessibleName("Search conversations")
        self.search_box.setClearButtonEnabled(True)
        self.new_button = QPushButton("&New conversation")
        self.list_model = ConversationListModel(self)
        self.list_view = QListView()
        self.list_view.setModel(self.list_model)
        self.list_view.setAccessibleName("Conversations")
        self.list_view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list_view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list_view.setEditTriggers(
            QListView.EditTrigger.EditKeyPressed | QListView.EditTrigger.DoubleClicked
        )
        # A search with no match says so in the list's place (the shared empty state).
        self.list_stack = StateStack(self.list_view, empty=EmptyState("search-x", "", compact=True))
        self.no_match_label = self.list_stack.empty.label
        self.no_match_label.setTextFormat(Qt.TextFormat.PlainText)
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Delete the selected conversation (you can undo)")
        self.undo_button = QPushButton("Undo delete")
        self.undo_button.hide()
        self._undo_timer = QTimer(self)
        self._undo_timer.setSingleShot(True)
        self._undo_timer.setInterval(UNDO_SECONDS * 1000)

        self.header = PageHeader("Chat")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.header)
        layout.addWidget(self.new_button)
        layout.addWidget(self.search_box)
        layout.addWidget(self.list_stack, 1)
        row = QHBoxLayout()
        row.addWidget(self.delete_button)
        row.addWidget(self.undo_button)
        layout.addLayout(row)

        self._undo_timer.timeout.connect(self.undo_button.hide)
        self.search_box.textChanged.connect(self.refresh)
        self.search_box.returnPressed.connect(self.next_match)
        self.list_view.selectionModel().currentChanged.connect(self._on_list_current_changed)
        self.list_view.clicked.connect(self._on_list_clicked)

    @property
    def focus_chain(self) -> list[QWidget]:
        """The column's controls in reading order, for the page's Tab order."""
        return [
            self.new_button,
            self.search_box,
            self.list_view,
            self.delete_button,
            self.undo_button,
        ]

    def refresh(self) -> None:
        """Re-read the list (or the search hits) and keep the open conversation selected."""
        query = self.search_box.text().strip()
        self._search_hits = {}
        matches: list[tuple[int, int]] = []
        if query:
            hits = self.conversations.search(query)
            for hit in hits:
                self._search_hits.setdefault(hit.conversation_id, hit.message_id)
            items = [self.conversations.get_conversation(i) for i in self._search_hits]
            order = {conversation_id: n for n, conversation_id in enumerate(self._search_hits)}
            matches = sorted(
                ((hit.conversation_id, hit.message_id) for hit in hits),
                key=lambda m: (order[m[0]], m[1]),
            )
        else:
            items = self.conversations.list_conversations()
        if matches != self._matches:
            self._matches, self._match_index = matches, -1
        self.list_model.set_conversations(items)
        if query and not items:
            self.list_stack.show_empty(f"No conversation mentions “{query}”.")
        else:
            self.no_match_label.clear()
            self.list_stack.show_content()
        if self.current_id is not None:
            self.select(self.current_id)

    def select(self, conversation_id: int | None) -> None:
        """Mark ``conversation_id`` as the open one (None: none is open)."""
        self.current_id = conversation_id
        if conversation_id is not None and (row := self.list_model.row_of(conversation_id)) >= 0:
            self.list_view.setCurrentIndex(self.list_model.index(row))

    def clear_search(self) -> None:
        self.search_box.clear()
        self.refresh()

    def offer_undo(self) -> None:
        """Show "Undo delete" for a while."""
        self.undo_button.show()
        self._undo_timer.start()

    def hide_undo(self) -> None:
        self.undo_button.hide()

    def focus_search(self) -> None:
        """Ctrl+F: to the search box, its text selected to type over."""
        self.search_box.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_box.selectAll()

    @Slot()
    def next_match(self) -> None:
        """The next matching message (after the last, the first again)."""
        if not self._matches:
            return
        self._match_index = (self._match_index + 1) % len(self._matches)
        conversation_id, message_id = self._matches[self._match_index]
        self.hit_requested.emit(conversation_id, message_id)

    def match_position(self) -> tuple[int, int]:
        """(which match was last shown, counting from 1; how many there are)."""
        return self._match_index + 1, len(self._matches)

    @Slot(QModelIndex, QModelIndex)
    def _on_list_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        item = self.list_model.conversation_at(current.row())
        if item is not None and item.id != self.current_id:
            self.picked.emit(item.id, self._search_hits.get(item.id))

    @Slot(QModelIndex)
    def _on_list_clicked(self, index: QModelIndex) -> None:
        # Clicking the open conversation in search results still goes to the match.
        item = self.list_model.conversation_at(index.row())
        if item is not None and item.id == self.current_id:
            hit = self._search_hits.get(item.id)
            if hit is not None:
                self.hit_clicked.emit(hit)
