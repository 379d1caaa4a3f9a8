"""The Classify page's past runs: a list to reopen, evaluate from stored results, or export."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
    Slot,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.classify import ClassifyError, RunEvaluation, RunRecord, RunStore
from app.ui.classify.choices import ChoicesBar
from app.ui.classify.controller import ClassifyController
from app.ui.classify.tabs import ClassifyTab
from app.ui.states import EmptyState, ErrorState, StateStack

AnyIndex = QModelIndex | QPersistentModelIndex


class RunColumn(IntEnum):
    FILE = 0
    LABEL_SET = 1
    MODEL = 2
    ROWS = 3
    DATE = 4
    ACCURACY = 5


HEADERS = {
    RunColumn.FILE: "File",
    RunColumn.LABEL_SET: "Label set",
    RunColumn.MODEL: "Method · model",
    RunColumn.ROWS: "Rows",
    RunColumn.DATE: "Date",
    RunColumn.ACCURACY: "Accuracy",
}


@dataclass(frozen=True)
class PastRun:
    run: RunRecord
    evaluation: RunEvaluation | None
    """The latest evaluation from its stored results, if any."""


class RunsModel(QAbstractTableModel):
    """Past runs, the newest first."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._runs: list[PastRun] = []

    def set_runs(self, runs: Sequence[RunRecord], evaluations: Sequence[RunEvaluation]) -> None:
        latest = {e.run_id: e for e in evaluations}  # later evaluations replace earlier
        self.beginResetModel()
        self._runs = [PastRun(r, latest.get(r.id)) for r in sorted(runs, key=lambda r: -r.id)]
        self.endResetModel()

    def past_run(self, row: int) -> PastRun:
        return self._runs[row]

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._runs)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(RunColumn)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS.get(RunColumn(section)) if 0 <= section < len(RunColumn) else None
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._runs):
            return None
        past = self._runs[index.row()]
        run, column = past.run, RunColumn(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return _cell(past, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            tip = f"Run {run.id}: {run.input_path}\nLock id {run.info.lock_id}"
            if past.evaluation is not None and past.evaluation.gold_map:
                tip += f"\nGold values read as {past.evaluation.gold_map}"
            return tip
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (
            RunColumn.ROWS,
            RunColumn.ACCURACY,
        ):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


def _cell(past: PastRun, column: RunColumn) -> str:
    run = past.run
    if column == RunColumn.FILE:
        return Path(run.input_path).name
    if column == RunColumn.LABEL_SET:
        return run.info.label_set
    if column == RunColumn.MODEL:
        return f"{run.info.method} · {run.info.model_id}"
    if column == RunColumn.ROWS:
        rows = f"{run.total_rows or 0:,}"
        return rows if run.finished_at else f"{rows} (unfinished)"
    if column == RunColumn.DATE:
        return _local_time(run.created_at)
    if past.evaluation is not None:
        return f"{past.evaluation.accuracy:.1%}"
    return "—" if run.gold_column else "no gold"


def _local_time(stamp: str) -> str:
    """A stored UTC time as the person's local time, to the minute."""
    try:
        return datetime.fromisoformat(stamp).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp


class RunsTab(ClassifyTab):
    """The list of past runs and what can be done with one."""

    evaluate_requested = Signal(int)  # the run's id: score its stored predictions

    def __init__(
        self,
        controller: ClassifyController,
        choices: ChoicesBar,
        runs: RunStore,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(controller, choices, parent)
        self.runs = runs
        self.model = RunsModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Past runs")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(RunColumn.FILE, QHeaderView.ResizeMode.Stretch)
        self.open_button = QPushButton("Open results")
        self.open_button.setToolTip("Show the run's rows in 'Classify a file'")
        self.evaluate_button = QPushButton("Evaluate…")
        self.evaluate_button.setToolTip(
            "Score the stored predictions against the file's gold column; nothing is "
            "classified again"
        )
        self.export_button = QPushButton("Export CSV…")
        self.empty_label = EmptyState(
            "history",
            "No file has been classified yet.",
            hint="Each file classified or evaluated is kept here, with its accuracy.",
        )
        self.error_state = ErrorState()
        self.error_state.retry_requested.connect(self.refresh)
        self.table_stack = StateStack(self.table, empty=self.empty_label, error=self.error_state)
        buttons = QHBoxLayout()
        for button in (self.open_button, self.evaluate_button, self.export_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.table_stack, 1)

        self.open_button.clicked.connect(self._on_open_button_clicked)
        self.evaluate_button.clicked.connect(self._on_evaluate_button_clicked)
        self.export_button.clicked.connect(self._on_export_button_clicked)
        self.table.selectionModel().selectionChanged.connect(self.update_buttons)
        self.table.doubleClicked.connect(self._on_open_button_clicked)
        self.refresh()

    def refresh(self) -> None:
        """List past runs (newest first) with the accuracy of their latest evaluation."""
        try:
            runs, evaluations = self.runs.list_runs(), self.runs.evaluations()
        except ClassifyError as exc:
            self.table_stack.show_error(f"The past runs could not be read: {exc}")
            return
        chosen = self.selected()
        self.model.set_runs(runs, evaluations)
        if chosen is not None:  # the same run stays selected (its accuracy may be new)
            ids = [self.model.past_run(r).run.id for r in range(self.model.rowCount())]
            if chosen.run.id in ids:
                self.table.selectRow(ids.index(chosen.run.id))
        if runs:
            self.table_stack.show_content()
        else:
            self.table_stack.show_empty()
        self.update_buttons()

    @Slot()
    def update_buttons(self) -> None:
        chosen = self.selected()
        self.open_button.setEnabled(chosen is not None and not self.controller.file_lane.busy)
        self.export_button.setEnabled(chosen is not None)
        self.evaluate_button.setEnabled(
            chosen is not None
            and bool(chosen.run.gold_column)
            and chosen.run.finished_at is not None
            and not self.controller.eval_lane.busy
        )

    @Slot()
    def _on_open_button_clicked(self) -> None:
        past = self.selected()
        if past is not None:
            self.controller.open_run(past.run.id)

    @Slot()
    def _on_evaluate_button_clicked(self) -> None:
        past = self.selected()
        if past is not None:
            self.evaluate_requested.emit(past.run.id)

    @Slot()
    def _on_export_button_clicked(self) -> None:
        past = self.selected()
        if past is None:
            return
        suggested = Path.home() / f"{Path(past.run.input_path).stem}-classified.csv"
        self.export_run(past.run.id, suggested)

    def selected(self) -> PastRun | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.past_run(rows[0].row()) if rows else None
