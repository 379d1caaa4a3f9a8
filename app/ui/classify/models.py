"""Item models and small widgets of the Classify page: the results table, probability bars."""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import QGridLayout, QLabel, QProgressBar, QWidget

from app.core.classify import Prediction, RowResult
from app.ui import colors

AnyIndex = QModelIndex | QPersistentModelIndex


class ResultColumn(IntEnum):
    LINE = 0
    TEXT = 1
    ANSWER = 2
    CONFIDENCE = 3
    GOLD = 4


HEADERS = {
    ResultColumn.LINE: "Line",
    ResultColumn.TEXT: "Text",
    ResultColumn.ANSWER: "Answer",
    ResultColumn.CONFIDENCE: "Confidence",
    ResultColumn.GOLD: "Gold",
}
TEXT_LIMIT = 200


class ResultsModel(QAbstractTableModel):
    """The classified rows of a file run, in file order; malformed rows are kept aside."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[RowResult] = []
        self.problems: list[RowResult] = []
        self._seen: set[int] = set()

    def clear(self) -> None:
        self.beginResetModel()
        self._rows.clear()
        self.problems.clear()
        self._seen.clear()
        self.endResetModel()

    def add(self, rows: Sequence[RowResult]) -> None:
        fresh = [r for r in rows if r.number not in self._seen]
        self._seen.update(r.number for r in fresh)
        self.problems += [r for r in fresh if r.prediction is None]
        good = [r for r in fresh if r.prediction is not None]
        if not good:
            return
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(good) - 1)
        self._rows += good
        self.endInsertRows()

    def row_result(self, row: int) -> RowResult:
        return self._rows[row]

    @property
    def has_gold(self) -> bool:
        return any(r.gold for r in self._rows)

    @property
    def needs_review(self) -> int:
        return sum(1 for r in self._rows if r.prediction is not None and r.prediction.needs_review)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(ResultColumn)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(ResultColumn):
            return HEADERS[ResultColumn(section)]
        if orientation == Qt.Orientation.Vertical:
            return section + 1
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        result = self._rows[index.row()]
        prediction = result.prediction
        column = ResultColumn(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return _display(result, column)
        if role == Qt.ItemDataRole.ToolTipRole and column == ResultColumn.TEXT:
            return result.text
        if (
            role == Qt.ItemDataRole.ToolTipRole
            and column == ResultColumn.ANSWER
            and prediction is not None
            and prediction.needs_review
        ):
            return f"Best guess {prediction.label}, below the confidence threshold"
        if (
            role == Qt.ItemDataRole.ForegroundRole
            and column == ResultColumn.ANSWER
            and prediction is not None
            and prediction.needs_review
        ):
            return QBrush(colors.note())
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (
            ResultColumn.LINE,
            ResultColumn.CONFIDENCE,
        ):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


def _display(result: RowResult, column: ResultColumn) -> str:
    prediction = result.prediction
    if column == ResultColumn.LINE:
        return str(result.line)
    if column == ResultColumn.TEXT:
        text = " ".join(result.text.split())
        return text if len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 1] + "…"
    if column == ResultColumn.ANSWER:
        return prediction.answer if prediction else ""
    if column == ResultColumn.CONFIDENCE:
        return f"{prediction.confidence:.0%}" if prediction else ""
    return result.gold or ""


class ProbabilityBars(QWidget):
    """One bar per label: the whole distribution of a prediction, best label first."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setColumnStretch(1, 1)
        self.bars: dict[str, QProgressBar] = {}

    def show_prediction(self, labels: Sequence[str], prediction: Prediction) -> None:
        while self._grid.count():
            item = self._grid.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        self.bars = {}
        ranked = sorted(zip(labels, prediction.probabilities, strict=True), key=lambda p: -p[1])
        for row, (label, probability) in enumerate(ranked):
            name = QLabel(label)
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setValue(round(probability * 1000))
            bar.setFormat(f"{probability:.1%}")
            bar.setAccessibleName(f"Probability of {label}")
            self._grid.addWidget(name, row, 0)
            self._grid.addWidget(bar, row, 1)
            self.bars[label] = bar
