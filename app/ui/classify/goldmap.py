"""Which label each gold value is: the values found, their counts, and a marked guess.

Shown in the column picker (evaluate, teach) and before a finished run is evaluated.
Values that are label names are matched by name; any other value gets a label only
when the person leaves the guess in place or picks one, and a guess is marked as such.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.classify import GoldMap, GoldValue, LabelSet
from app.core.classify.goldmap import needs_map

LEAVE_OUT = "(leave out)"
NOTES = {
    "name": "its own name",
    "given": "as you said",
    "guess-name": "guess, from the label names: check it",
    "guess-order": "guess, from the order of the labels: check it",
    "none": "matches no label",
}


class GoldMapEditor(QWidget):
    """A table of gold values (value, rows, label, how) with a label chooser per value."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.values: tuple[GoldValue, ...] = ()
        self.label_set: LabelSet | None = None
        self.intro = QLabel()
        self.intro.setWordWrap(True)
        self.table = QTableWidget(0, 4)
        self.table.setAccessibleName("Gold values and their labels")
        self.table.setHorizontalHeaderLabels(["Gold value", "Rows", "Label", "How it was matched"])
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.combos: list[QComboBox] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.intro)
        layout.addWidget(self.table)

    def show_values(self, values: Sequence[GoldValue], label_set: LabelSet) -> None:
        self.values = tuple(values)
        self.label_set = label_set
        self.combos = []
        self.table.setRowCount(len(values))
        needed = needs_map(self.values)
        for row, value in enumerate(values):
            self.table.setItem(row, 0, QTableWidgetItem(value.value))
            count = QTableWidgetItem(f"{value.count:,}")
            count.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, 1, count)
            combo = QComboBox()
            combo.setAccessibleName(f"Label of the gold value {value.value}")
            combo.addItem(LEAVE_OUT, None)
            for name in label_set.label_names:
                combo.addItem(name, name)
            combo.setCurrentIndex(max(0, combo.findData(value.label)) if value.label else 0)
            combo.currentIndexChanged.connect(self._on_combo_changed)
            # Choosing the guessed label itself changes no index, but confirms the guess.
            combo.activated.connect(functools.partial(self._on_combo_activated, row))
            self.combos.append(combo)
            self.table.setCellWidget(row, 2, combo)
            self._set_note(row, value.source)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        # As tall as its rows (up to eight), so no empty box sits under two values.
        shown = min(len(values), 8) or 1
        rows_height = sum(self.table.rowHeight(r) for r in range(shown)) or 30
        frame = 2 * self.table.frameWidth() + self.table.horizontalHeader().sizeHint().height()
        self.table.setFixedHeight(rows_height + frame + 2)
        if needed:
            self.intro.setText(
                f"<b>The gold values are not label names.</b> Say which label of "
                f"{label_set.name} each one is; a guess is filled in and marked. "
                "Values are never matched to labels by their order without asking."
            )
        else:
            self.intro.setText(
                "Gold values found in the file and the label each one is "
                "(values that match no label are left out and listed)."
            )

    def _set_note(self, row: int, source: str) -> None:
        item = QTableWidgetItem(NOTES.get(source, source))
        if source in ("guess-name", "guess-order"):
            font = QFont(item.font())
            font.setItalic(True)
            font.setBold(True)
            item.setFont(font)
            item.setForeground(self.palette().link())
        self.table.setItem(row, 3, item)

    @Slot(int)
    def _on_combo_changed(self, _index: int) -> None:
        for row, combo in enumerate(self.combos):
            value = self.values[row]
            if combo.currentData() != value.label or value.source == "given":
                self._set_note(row, "given")

    def _on_combo_activated(self, row: int, _index: int) -> None:
        self._set_note(row, "given")

    def guessed(self) -> list[str]:
        """The values whose label is still an unconfirmed guess."""
        notes = [self.table.item(r, 3) for r in range(self.table.rowCount())]
        return [
            v.value
            for v, note in zip(self.values, notes, strict=True)
            if v.guessed and note is not None and note.text() == NOTES[v.source]
        ]

    def gold_map(self) -> GoldMap | None:
        """The map as chosen; None when every value is simply matched by its name."""
        pairs = tuple(
            (v.value, combo.currentData())
            for v, combo in zip(self.values, self.combos, strict=True)
        )
        by_name = tuple((v.value, v.label if v.source == "name" else None) for v in self.values)
        if pairs == by_name:
            return None
        return GoldMap(pairs)

    def problem(self) -> str | None:
        """Why the choice cannot be used yet, or None."""
        if self.values and not any(c.currentData() for c in self.combos):
            return "Choose a label for at least one gold value."
        return None


@dataclass(frozen=True)
class GoldMapChoice:
    gold_map: GoldMap | None


class GoldMapDialog(QDialog):
    """Which label each gold value of a finished run is, before it is evaluated."""

    def __init__(
        self,
        title: str,
        values: Sequence[GoldValue],
        label_set: LabelSet,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.editor = GoldMapEditor()
        self.editor.show_values(values, label_set)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Evaluate")
        self.buttons.accepted.connect(self._on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.editor, 1)
        layout.addWidget(self.error_label)
        layout.addWidget(self.buttons)
        self.resize(560, 320)

    @Slot()
    def _on_buttons_accepted(self) -> None:
        problem = self.editor.problem()
        if problem:
            self.error_label.setText(problem)
            return
        self.accept()

    @classmethod
    def ask(
        cls, parent: QWidget, title: str, values: Sequence[GoldValue], label_set: LabelSet
    ) -> GoldMapChoice | None:
        """The map to evaluate with (asked only when a value is not a label name)."""
        if not values or all(v.source == "name" for v in values):
            return GoldMapChoice(None)
        dialog = cls(title, values, label_set, parent)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return GoldMapChoice(dialog.editor.gold_map())
