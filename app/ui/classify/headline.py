"""An evaluation at a glance: the accuracy as a headline, macro-F1 and the row count
beside it in the secondary style, and each label's precision, recall and F1 in a table.

The Evaluate tab shows these above the details and beside the confusion matrix.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.core.classify.metrics import Scores
from app.ui import theme

COLUMNS = ("Label", "Precision", "Recall", "F1", "Gold texts")


def secondary_line(scores: Scores) -> str:
    """macro-F1, the row count and the rows to review, in one line."""
    parts = [
        f"macro-F1 {scores.macro_f1:.3f} over {scores.macro_f1_labels} labels",
        f"{scores.n:,} texts",
    ]
    if scores.needs_review:
        parts.append(f"{scores.needs_review:,} to review")
    return " · ".join(parts)


class AccuracyHeadline(QWidget):
    """The accuracy in large type; macro-F1 and how many texts in secondary type."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.number = QLabel()
        self.number.setAccessibleName("Accuracy")
        theme.set_type(self.number, theme.Type.DISPLAY)
        self.caption = QLabel("accuracy")
        theme.set_type(self.caption, theme.Type.HEADING)
        self.details = QLabel()
        self.details.setAccessibleName("Macro-F1 and texts")
        self.details.setWordWrap(True)
        theme.set_type(self.details, theme.Type.SECONDARY)
        words = QVBoxLayout()
        words.setSpacing(0)
        words.addStretch(1)
        words.addWidget(self.caption)
        words.addWidget(self.details)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, theme.XS, 0, theme.XS)
        layout.setSpacing(theme.M)
        layout.addWidget(self.number, 0, Qt.AlignmentFlag.AlignBottom)
        layout.addLayout(words, 1)
        self.clear()

    def show_scores(self, scores: Scores) -> None:
        self.number.setText(f"{scores.accuracy:.1%}")
        self.details.setText(secondary_line(scores))
        self.show()

    def clear(self) -> None:
        self.number.setText("")
        self.details.setText("")
        self.hide()

    def text(self) -> str:
        """What it says, in one line (tests and screen readers)."""
        return f"{self.number.text()} {self.caption.text()}; {self.details.text()}"


class PerLabelTable(QTableWidget):
    """Each gold label's precision, recall, F1 and how many gold texts it has."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setAccessibleName("Scores per label")
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().hide()
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)

    def _fit_columns(self) -> None:
        """The label column takes the room left when there is some; in a narrow pane it
        keeps its labels' width and the table scrolls sideways (stretched, it was squeezed
        to "…" at 800x600)."""
        header = self.horizontalHeader()
        wanted = sum(
            max(self.sizeHintForColumn(c), header.sectionSizeHint(c))
            for c in range(self.columnCount())
        )
        roomy = self.viewport().width() >= wanted
        mode = QHeaderView.ResizeMode.Stretch if roomy else QHeaderView.ResizeMode.ResizeToContents
        if header.sectionResizeMode(0) != mode:
            header.setSectionResizeMode(0, mode)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_columns()

    def show_scores(self, scores: Scores) -> None:
        self.setRowCount(len(scores.per_class))
        for row, c in enumerate(scores.per_class):
            cells = (
                c.label,
                f"{c.precision:.2f}",
                f"{c.recall:.2f}",
                f"{c.f1:.2f}",
                f"{c.support:,}",
            )
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column:
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                self.setItem(row, column, item)
        # As tall as its rows (a long label set scrolls), so no empty box sits below.
        height = self.horizontalHeader().height() + 2 * self.frameWidth()
        height += sum(self.rowHeight(r) for r in range(min(self.rowCount(), 8)))
        self.setMaximumHeight(height)
        self.show()
        self._fit_columns()

    def clear_scores(self) -> None:
        self.setRowCount(0)
        self.hide()
