"""Dialogs of the Classify page, each behind an ``ask()`` classmethod tests can replace."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from pathlib import Path

from PySide6.QtCore import QLocale, Qt, Slot
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.classify import Label, LabelSet, LabelSetError
from app.core.classify.coverage import Coverage
from app.core.classify.dialect import EXPORT_LAYOUTS, excel_dialect

TABLE_FILTER = "Tables (*.csv *.tsv *.txt);;All files (*)"


@dataclass(frozen=True)
class ExportChoice:
    """Where to write results, and how to lay them out (one of ``EXPORT_LAYOUTS``)."""

    path: Path
    layout: str


def export_filters(decimal_point: str) -> dict[str, str]:
    """The save dialog's file types, one per layout: what each one writes, in words."""
    excel = (
        "semicolons, decimal commas, UTF-8 with BOM"
        if excel_dialect(decimal_point).delimiter == ";"
        else "commas, UTF-8 with BOM"
    )
    return {
        "input": "CSV like the file classified: its delimiter, BOM and line ends (*.csv)",
        "excel": f"CSV for Excel: {excel} (*.csv)",
        "plain": "Plain CSV: commas, UTF-8 (*.csv)",
    }


class TableFileDialog:
    """Choose a CSV/TSV file to read, or where (and how) to write results."""

    @classmethod
    def ask_open(cls, parent: QWidget, title: str) -> Path | None:
        name, _ = QFileDialog.getOpenFileName(parent, title, "", TABLE_FILTER)
        return Path(name) if name else None

    @classmethod
    def ask_export(cls, parent: QWidget, suggested: Path, layout: str) -> ExportChoice | None:
        """The file and its layout, chosen by file type (``layout`` offered first)."""
        filters = export_filters(QLocale().decimalPoint())
        name, chosen = QFileDialog.getSaveFileName(
            parent,
            "Export results",
            str(suggested),
            ";;".join(filters.values()),
            filters.get(layout, filters["input"]),
        )
        if not name:
            return None
        picked = next((key for key, text in filters.items() if text == chosen), layout)
        return ExportChoice(Path(name), picked if picked in EXPORT_LAYOUTS else "input")


class LabelSetDialog(QDialog):
    """Edit a label set's name, instruction and labels; the caller saves a new version."""

    def __init__(self, label_set: LabelSet, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Edit label set")
        self.original = label_set
        self.name_edit = QLineEdit(label_set.name)
        self.instruction_edit = QPlainTextEdit(label_set.instruction)
        self.instruction_edit.setFixedHeight(70)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Label", "Description"])
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        for label in label_set.labels:
            self._add_row(label.name, label.description)
        add = QPushButton("Add label")
        remove = QPushButton("Remove label")
        paste = QPushButton("Paste labels…")
        paste.setToolTip("Add many labels at once: one a line (or comma-separated)")
        add.clicked.connect(self._on_add_clicked)
        remove.clicked.connect(self._on_remove_clicked)
        paste.clicked.connect(self._on_paste_clicked)
        # Ctrl+V on the table adds the clipboard's lines as labels too.
        shortcut = QShortcut(QKeySequence.StandardKey.Paste, self.table)
        shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
        shortcut.activated.connect(self._on_paste_shortcut_activated)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._on_buttons_accepted)
        buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Name", self.name_edit)
        form.addRow("Instruction", self.instruction_edit)
        row = QHBoxLayout()
        row.addWidget(add)
        row.addWidget(remove)
        row.addWidget(paste)
        row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.table, 1)
        layout.addLayout(row)
        layout.addWidget(self.error_label)
        layout.addWidget(buttons)
        self.result_set: LabelSet | None = None
        self.resize(560, 420)

    def _add_row(self, name: str = "", description: str = "") -> None:
        row = self.table.rowCount()
        self.table.insertRow(row)
        self.table.setItem(row, 0, QTableWidgetItem(name))
        self.table.setItem(row, 1, QTableWidgetItem(description))

    def _on_add_clicked(self) -> None:
        self._add_row()
        item = self.table.item(self.table.rowCount() - 1, 0)
        if item is not None:
            self.table.editItem(item)

    def add_names(self, text: str) -> int:
        """Add a row per label name in ``text`` (one a line, or comma- or tab-separated on
        one line), leaving out names already in the table; how many were added."""
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) == 1:
            lines = [part for part in lines[0].replace("\t", ",").split(",")]
        present = {
            item.text().strip().casefold()
            for row in range(self.table.rowCount())
            if (item := self.table.item(row, 0)) is not None
        }
        added = 0
        for line in lines:
            name, _, description = line.partition("\t")
            name = name.strip()
            if name and name.casefold() not in present:
                present.add(name.casefold())
                self._add_row(name, description.strip())
                added += 1
        self.error_label.setText(f"Added {added} label(s)." if added else "No new label names.")
        return added

    @Slot()
    def _on_paste_clicked(self) -> None:
        text = PasteLabelsDialog.ask(self)
        if text:
            self.add_names(text)

    @Slot()
    def _on_paste_shortcut_activated(self) -> None:
        text = QGuiApplication.clipboard().text()
        if text.strip():
            self.add_names(text)

    def _on_remove_clicked(self) -> None:
        for row in sorted({i.row() for i in self.table.selectedIndexes()}, reverse=True):
            self.table.removeRow(row)

    def edited(self) -> LabelSet:
        """The label set as edited; raises ``LabelSetError`` when it is not valid."""
        examples = {label.name: label.examples for label in self.original.labels}
        labels = []
        for row in range(self.table.rowCount()):
            name_item, description_item = self.table.item(row, 0), self.table.item(row, 1)
            name = name_item.text().strip() if name_item else ""
            if name:
                description = description_item.text().strip() if description_item else ""
                labels.append(Label(name, description, examples.get(name, ())))
        edited = self.original.edited(
            instruction=self.instruction_edit.toPlainText().strip(), labels=labels
        )
        name = self.name_edit.text().strip()
        return edited.renamed(name) if name != self.original.name else edited

    def _on_buttons_accepted(self) -> None:
        try:
            self.result_set = self.edited()
        except LabelSetError as exc:
            self.error_label.setText(str(exc))
            return
        self.accept()

    @classmethod
    def ask(cls, parent: QWidget, label_set: LabelSet) -> LabelSet | None:
        dialog = cls(label_set, parent)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.result_set


class PasteLabelsDialog:
    """Many label names at once, pasted or typed one a line."""

    @classmethod
    def ask(cls, parent: QWidget) -> str | None:
        text, ok = QInputDialog.getMultiLineText(
            parent,
            "Paste labels",
            "Label names, one a line (a tab then a description is kept as its description):",
        )
        return text if ok else None


class CoverageDialog(QDialog):
    """Before teaching: which labels the file has no examples of, or only a few."""

    def __init__(self, coverage: Coverage, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Not every label has examples")
        message = QLabel(
            "<p>"
            + "</p><p>".join(escape(s) for s in coverage.sentences())
            + "</p><p>A head taught from this file never answers a label without examples. "
            "Teach anyway?</p>"
        )
        message.setWordWrap(True)
        message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Teach anyway")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(message)
        layout.addWidget(buttons)
        self.resize(520, self.sizeHint().height())

    @classmethod
    def ask(cls, parent: QWidget, coverage: Coverage) -> bool:
        """True to teach: at once when every label has enough examples, else if the
        person says so."""
        if coverage.complete:
            return True
        return cls(coverage, parent).exec() == QDialog.DialogCode.Accepted
