""" "Record behaviour check…": pick messages from kept chats, or a labelled file.

:meth:`RecordDialog.ask` returns what to record (a :class:`RecordRequest`) or None;
tests replace it, and :meth:`RecordDialog.open_table` (the file chooser), with
``monkeypatch``. Conversations are read through the core (:mod:`app.core.drift.sources`),
never through the chat page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.drift.checkset import NAME_PATTERN, PromptItem
from app.core.drift.library import CheckSetLibrary
from app.core.drift.sources import (
    ChatPrompts,
    LabelledFile,
    chat_prompts,
    file_columns,
    label_set_names,
    prompt_items,
)
from app.core.errors import DriftlessError
from app.core.paths import Paths
from app.ui import theme
from app.ui.states import EmptyState, StateStack

TABLE_FILTER = "Tables (*.csv *.tsv *.tab *.txt);;All files (*)"
NO_GOLD = "(no gold labels)"


@dataclass(frozen=True)
class RecordRequest:
    """A new check set: its name, prompts picked from chats, and/or a labelled file."""

    name: str
    prompts: tuple[PromptItem, ...] = ()
    labelled: LabelledFile | None = None

    @property
    def empty(self) -> bool:
        return not self.prompts and self.labelled is None


def default_name(model_id: str, taken: list[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", model_id).strip("-._")[:50] or "checks"
    name, number = f"{base}-checks", 2
    while name in taken:
        name, number = f"{base}-checks-{number}", number + 1
    return name


class RecordDialog(QDialog):
    def __init__(self, paths: Paths, model_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.paths = paths
        self.setWindowTitle(f"Record a behaviour check on {model_id}")
        self.resize(760, 520)
        self.taken = CheckSetLibrary.for_paths(paths).names()
        intro = QLabel(
            "The model answers each item greedily, and the answers are kept. Later checks "
            "(at start when the runtime changed, before an update, or driftless drift check) "
            "compare with them, token by token."
        )
        intro.setWordWrap(True)
        self.name_edit = QLineEdit(default_name(model_id, self.taken))
        self.name_edit.setAccessibleName("Check set name")
        name_row = QFormLayout()
        name_row.addRow("&Name:", self.name_edit)

        # --- from chats
        self.chats: list[ChatPrompts] = chat_prompts(paths)
        self.picked: dict[int, set[int]] = {}
        """Conversation id -> indexes of its picked messages (kept across conversations)."""
        self.conversation_list = QListWidget()
        self.conversation_list.setAccessibleName("Conversations")
        for chat in self.chats:
            count = len(chat.prompts)
            item = QListWidgetItem(f"{chat.title} · {count} message{'s' * (count != 1)}")
            item.setToolTip(chat.title)
            self.conversation_list.addItem(item)
        self.message_list = QListWidget()
        self.message_list.setAccessibleName("Your messages in this conversation")
        self.message_list.setWordWrap(True)
        self.system_label = QLabel()
        self.system_label.setWordWrap(True)
        self.system_label.setTextFormat(Qt.TextFormat.PlainText)
        theme.set_type(self.system_label, theme.Type.SECONDARY)
        messages = QWidget()
        messages_layout = QVBoxLayout(messages)
        messages_layout.setContentsMargins(0, 0, 0, 0)
        messages_layout.addWidget(QLabel("Tick the messages to check:"))
        messages_layout.addWidget(self.message_list, 1)
        messages_layout.addWidget(self.system_label)
        splitter = QSplitter()
        splitter.addWidget(self.conversation_list)
        splitter.addWidget(messages)
        splitter.setSizes([260, 480])
        chats_tab = QWidget()
        chats_layout = QVBoxLayout(chats_tab)
        self.chats_stack = StateStack(
            splitter,
            empty=EmptyState(
                "message-circle",
                "No kept conversation has a message of yours yet. Chat first, or record "
                "from a labelled file (the next tab).",
                compact=True,
            ),
        )
        if not self.chats:
            self.chats_stack.show_empty()
        chats_layout.addWidget(self.chats_stack, 1)

        # --- from a labelled file
        self.file_edit = QLineEdit()
        self.file_edit.setReadOnly(True)
        self.file_edit.setPlaceholderText("A CSV or TSV file with a text column")
        self.file_edit.setAccessibleName("Labelled file")
        self.browse_button = QPushButton("&Browse…")
        self.text_combo = QComboBox()
        self.text_combo.setAccessibleName("Text column")
        self.gold_combo = QComboBox()
        self.gold_combo.setAccessibleName("Gold label column")
        self.label_set_combo = QComboBox()
        self.label_set_combo.setAccessibleName("Label set")
        self.label_set_combo.addItems(label_set_names(paths))
        self.file_note = QLabel()
        self.file_note.setWordWrap(True)
        self.file_note.setTextFormat(Qt.TextFormat.PlainText)
        file_row = QHBoxLayout()
        file_row.addWidget(self.file_edit, 1)
        file_row.addWidget(self.browse_button)
        form = QFormLayout()
        form.addRow("File:", file_row)  # Alt+F is the tab's; Alt+B browses
        form.addRow("&Text column:", self.text_combo)
        form.addRow("&Gold labels:", self.gold_combo)
        form.addRow("&Label set:", self.label_set_combo)
        file_tab = QWidget()
        file_layout = QVBoxLayout(file_tab)
        file_layout.addLayout(form)
        file_layout.addWidget(self.file_note)
        file_layout.addStretch(1)

        self.tabs = QTabWidget()
        self.tabs.addTab(chats_tab, "From &chats you keep")
        self.tabs.addTab(file_tab, "From a labelled &file")
        self.summary = QLabel()
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.record_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.record_button.setText("&Record")
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(name_row)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.summary)
        layout.addWidget(self.buttons)

        self.conversation_list.currentRowChanged.connect(self._on_conversation_changed)
        self.message_list.itemChanged.connect(self._on_message_item_changed)
        self.browse_button.clicked.connect(self._on_browse_clicked)
        self.name_edit.textChanged.connect(self._update)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        if self.chats:
            self.conversation_list.setCurrentRow(0)
        else:
            self.tabs.setCurrentIndex(1)
        self._update()

    # --- entry points tests replace --------------------------------------------

    @classmethod
    def ask(cls, parent: QWidget | None, paths: Paths, model_id: str) -> RecordRequest | None:
        dialog = cls(paths, model_id, parent)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.request()

    @classmethod
    def open_table(cls, parent: QWidget | None) -> Path | None:
        name, _ = QFileDialog.getOpenFileName(parent, "A labelled file", "", TABLE_FILTER)
        return Path(name) if name else None

    # --- what was chosen ----------------------------------------------------------

    def picked_prompts(self) -> tuple[PromptItem, ...]:
        pairs = []
        for chat in self.chats:
            for index in sorted(self.picked.get(chat.conversation_id, ())):
                pairs.append((chat.system, chat.prompts[index]))
        return prompt_items(pairs)

    def labelled_file(self) -> LabelledFile | None:
        if not self.file_edit.text() or not self.text_combo.count():
            return None
        gold = self.gold_combo.currentText()
        return LabelledFile(
            Path(self.file_edit.text()),
            self.label_set_combo.currentText(),
            text_column=self.text_combo.currentText(),
            label_column=None if gold == NO_GOLD else gold,
        )

    def request(self) -> RecordRequest:
        return RecordRequest(
            self.name_edit.text().strip(), self.picked_prompts(), self.labelled_file()
        )

    def name_problem(self) -> str | None:
        name = self.name_edit.text().strip()
        if not NAME_PATTERN.fullmatch(name):
            return "A name uses letters, digits, '.', '_' or '-'."
        if name in self.taken:
            return f"A check set called '{name}' exists already."
        return None

    # --- slots ------------------------------------------------------------------------

    def pick(self, conversation_row: int, message_rows: list[int]) -> None:
        """Tick messages of one conversation (what a click on their boxes does)."""
        self.conversation_list.setCurrentRow(conversation_row)
        for row in message_rows:
            self.message_list.item(row).setCheckState(Qt.CheckState.Checked)

    def choose_file(self, path: Path) -> None:
        try:
            columns, text, gold = file_columns(path)
        except DriftlessError as exc:
            self.file_note.setText(str(exc))
            return
        self.file_edit.setText(str(path))
        self.text_combo.clear()
        self.text_combo.addItems(list(columns))
        self.text_combo.setCurrentText(text)
        self.gold_combo.clear()
        self.gold_combo.addItems([NO_GOLD, *columns])
        self.gold_combo.setCurrentText(gold or NO_GOLD)
        self.file_note.setText(
            "Each text's label distribution is recorded (on the model file as it is); gold "
            "labels, when the file has them, add accuracy before and after to a report."
        )
        self._update()

    @Slot(int)
    def _on_conversation_changed(self, row: int) -> None:
        self.message_list.blockSignals(True)
        self.message_list.clear()
        if 0 <= row < len(self.chats):
            chat = self.chats[row]
            picked = self.picked.get(chat.conversation_id, set())
            for index, text in enumerate(chat.prompts):
                item = QListWidgetItem(" ".join(text.split())[:300])
                item.setToolTip(text[:2000])
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                checked = index in picked
                item.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)
                self.message_list.addItem(item)
            self.system_label.setText(
                f"System prompt (goes with them): {chat.system}"
                if chat.system
                else "This conversation has no system prompt."
            )
        self.message_list.blockSignals(False)

    @Slot(QListWidgetItem)
    def _on_message_item_changed(self, item: QListWidgetItem) -> None:
        row = self.conversation_list.currentRow()
        if not 0 <= row < len(self.chats):
            return
        picked = self.picked.setdefault(self.chats[row].conversation_id, set())
        index = self.message_list.row(item)
        if item.checkState() == Qt.CheckState.Checked:
            picked.add(index)
        else:
            picked.discard(index)
        self._update()

    @Slot()
    def _on_browse_clicked(self) -> None:
        path = self.open_table(self)
        if path is not None:
            self.choose_file(path)

    @Slot()
    def _update(self) -> None:
        prompts = len(self.picked_prompts())
        labelled = self.labelled_file()
        problem = self.name_problem()
        if problem:
            self.summary.setText(problem)
        elif not prompts and labelled is None:
            self.summary.setText("Tick some of your messages, or choose a labelled file.")
        else:
            parts = [f"{prompts} prompt{'s' * (prompts != 1)}"] if prompts else []
            if labelled is not None:
                parts.append(f"the texts of {labelled.path.name}")
            self.summary.setText("To record: " + " and ".join(parts) + ".")
        self.record_button.setEnabled(problem is None and bool(prompts or labelled))
