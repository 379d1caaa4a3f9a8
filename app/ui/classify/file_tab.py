"""Classify a file: every row of a CSV or TSV, here or on a cluster, paused and resumed.

The same tab shows a past run opened from the list of runs.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.classify import BatchProgress, Columns, RowResult
from app.core.units import duration
from app.ui.classify.choices import ChoicesBar
from app.ui.classify.controller import ClassifyController
from app.ui.classify.models import ResultColumn, ResultsModel
from app.ui.classify.tabs import ClassifyTab, progress_bar, wrapping_label
from app.ui.classify.worker import FileOutcome, FileStarted, Job, RunOpened
from app.ui.states import EmptyState, ErrorState, StateStack

PROBLEMS_SHOWN = 3
BEFORE_A_RUN = (
    "No file classified here yet. Classify a CSV or TSV file with a text column: every "
    "row gets a label, kept with the run so you can export or evaluate it later."
)


class FileTab(ClassifyTab):
    run_ended = Signal(object)  # FileOutcome, or None when it was cancelled before it began
    evaluate_requested = Signal(int)  # the run's id: score its stored predictions
    run_shown = Signal(int)  # the id of a past run opened here

    def __init__(
        self, controller: ClassifyController, choices: ChoicesBar, parent: QWidget | None = None
    ) -> None:
        super().__init__(controller, choices, parent)
        self.run_id: int | None = None
        self.resumed_rows = 0
        self.run_description = ""
        self.cluster_address = ""
        """Where "Run on a cluster…" runs (Settings); the page reads it when it shows."""
        self._last_run: tuple[Job, Path, Columns, str] | None = None
        """The last run asked for (job, path, columns, cluster): what Retry runs again."""
        self._build()
        self.open_button.clicked.connect(self._on_open_button_clicked)
        self.cluster_button.clicked.connect(self._on_cluster_button_clicked)
        self.pause_button.clicked.connect(self._on_pause_button_clicked)
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        self.export_button.clicked.connect(self._on_export_button_clicked)
        self.evaluate_button.clicked.connect(self._on_evaluate_button_clicked)
        controller.file_started.connect(self._on_controller_file_started)
        controller.rows_classified.connect(self._on_controller_rows_classified)
        controller.file_lane.progressed.connect(self._on_file_progressed)
        controller.file_lane.finished.connect(self._on_file_finished)
        controller.file_lane.failed.connect(self._on_file_failed)
        self.table_stack.error.retry_requested.connect(self._on_retry_requested)
        controller.open_lane.finished.connect(self._on_run_opened)
        self.update_buttons()

    def _build(self) -> None:
        self.open_button = QPushButton("Classify a file…")
        self.open_button.setToolTip("Classify every row of a CSV or TSV file")
        self.cluster_button = QPushButton("Run on a cluster…")
        self.cluster_button.setToolTip(
            "Classify every row of a file on the Ray cluster set in Settings: the same "
            "model, label set and method, the same results"
        )
        self.cluster_button.hide()  # shown when Settings name a cluster
        self.pause_button = QPushButton("Pause")
        self.cancel_button = QPushButton("Cancel")
        self.export_button = QPushButton("Export CSV…")
        self.evaluate_button = QPushButton("Evaluate this run…")
        self.evaluate_button.setToolTip(
            "Score the stored predictions against the file's gold column; nothing is "
            "classified again"
        )
        self.progress = progress_bar()
        self.rate_label = QLabel()
        self.summary_label = wrapping_label("Choose a CSV or TSV file with a text column.")
        self.problems_label = wrapping_label()
        self.problems_label.hide()
        self.model = ResultsModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Results")
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(ResultColumn.TEXT, QHeaderView.ResizeMode.Stretch)
        for column in (ResultColumn.LINE, ResultColumn.CONFIDENCE):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        # Rows arrive while the tab may be hidden: size the answer for its longest value.
        metrics = self.table.fontMetrics()
        header.resizeSection(ResultColumn.ANSWER, metrics.horizontalAdvance("needs review") + 24)
        header.resizeSection(ResultColumn.GOLD, metrics.horizontalAdvance("needs review") + 24)
        self.table.verticalHeader().setDefaultSectionSize(metrics.height() + 8)
        # Before a run, while the file opens, and when a run failed before any row.
        self.table_stack = StateStack(
            self.table,
            empty=EmptyState("tags", BEFORE_A_RUN, compact=True),
            error=ErrorState(compact=True),
        )
        self.table_stack.show_empty()
        buttons = QHBoxLayout()
        buttons_row = (self.open_button, self.cluster_button, self.pause_button, self.cancel_button)
        for button in buttons_row:
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.evaluate_button)
        buttons.addWidget(self.export_button)
        progress = QHBoxLayout()
        progress.addWidget(self.progress, 1)
        progress.addWidget(self.rate_label)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addLayout(progress)
        layout.addWidget(self.summary_label)
        layout.addWidget(self.problems_label)
        layout.addWidget(self.table_stack, 1)

    @Slot()
    def update_buttons(self) -> None:
        controller = self.controller
        ready = self.choices.ready
        running = controller.file_lane.busy
        self.open_button.setEnabled(ready and not running)
        self.cluster_button.setVisible(bool(self.cluster_address))
        self.cluster_button.setEnabled(ready and not running)
        self.pause_button.setEnabled(running and not controller.on_cluster)
        self.pause_button.setText("Resume" if controller.paused else "Pause")
        self.cancel_button.setEnabled(running)
        self.export_button.setEnabled(self.run_id is not None and not running)
        self.evaluate_button.setEnabled(
            self.run_id is not None
            and not running
            and self.model.has_gold
            and not controller.eval_lane.busy
        )

    # --- requests ---------------------------------------------------------------------

    @Slot()
    def _on_open_button_clicked(self) -> None:
        self._start_run("")

    @Slot()
    def _on_cluster_button_clicked(self) -> None:
        self._start_run(self.cluster_address)

    def _start_run(self, cluster: str) -> None:
        title = "Classify a file on the cluster" if cluster else "Classify a file"
        chosen = self.ask_file(title, need_gold=False)
        if chosen is None:
            return
        job, path, columns = chosen
        self._last_run = (job, path, columns, cluster)
        self._run(job, path, columns, cluster)

    def _run(self, job: Job, path: Path, columns: Columns, cluster: str) -> None:
        where = f" for the cluster at {cluster}" if cluster else ""
        self._clear(f"Opening {path.name}{where}…")
        self.table_stack.show_loading(f"Opening {path.name}{where}…")
        self.progress.setValue(0)
        self.controller.classify_file(job, path, columns, cluster=cluster)

    @Slot()
    def _on_retry_requested(self) -> None:
        if self._last_run is not None and not self.controller.file_lane.busy:
            self._run(*self._last_run)

    @Slot(str)
    def _on_file_failed(self, message: str) -> None:
        self.summary_label.setText(message)
        if self.model.rowCount() == 0:  # rows already shown stay in view
            self.table_stack.show_error(message)
        self.update_buttons()

    def _clear(self, summary: str) -> None:
        self.run_id = None
        self.resumed_rows = 0
        self.run_description = ""
        self.model.clear()
        self.problems_label.hide()
        self.rate_label.clear()
        self.summary_label.setText(summary)

    @Slot()
    def _on_pause_button_clicked(self) -> None:
        if self.controller.paused:
            self.controller.resume()
            self.summary_label.setText("Resumed.")
        else:
            self.controller.pause()
            self.summary_label.setText("Pausing after the rows under way…")
        self.update_buttons()

    @Slot()
    def _on_cancel_button_clicked(self) -> None:
        self.controller.cancel("file")

    @Slot()
    def _on_export_button_clicked(self) -> None:
        if self.run_id is None:
            return
        self.export_run(self.run_id, Path.home() / "classified.csv")

    @Slot()
    def _on_evaluate_button_clicked(self) -> None:
        if self.run_id is not None:
            self.evaluate_requested.emit(self.run_id)

    # --- answers ----------------------------------------------------------------------

    @Slot(object)
    def _on_controller_file_started(self, started: FileStarted) -> None:
        self.run_id = started.run_id
        self.resumed_rows = sum(1 for r in started.earlier if r.prediction is not None)
        resumed = f" Resuming: {len(started.earlier):,} rows were done before." * bool(
            started.earlier
        )
        self.run_description = (
            f"Run {started.run_id}: {started.total:,} rows, label set {started.label_set}, "
            f"model lock {started.lock_id}, weights {started.weights}."
        )
        if started.weights_note:
            self.run_description += f" The faster 16-bit copy was not used: {started.weights_note}."
        self.summary_label.setText(self.run_description + resumed)
        self.table_stack.show_content()
        self._add_rows(started.earlier)

    @Slot(object)
    def _on_controller_rows_classified(self, rows: tuple[RowResult, ...]) -> None:
        self._add_rows(rows)

    def _add_rows(self, rows: tuple[RowResult, ...]) -> None:
        model = self.model
        model.add(rows)
        self.table.setColumnHidden(ResultColumn.GOLD, not model.has_gold)
        if model.problems:
            shown = "; ".join(
                f"line {r.line}: {r.problem}" for r in model.problems[:PROBLEMS_SHOWN]
            )
            more = len(model.problems) - PROBLEMS_SHOWN
            tail = f"; and {more} more" if more > 0 else ""
            self.problems_label.setText(
                f"{len(model.problems)} malformed row(s) skipped: {shown}{tail}."
            )
            self.problems_label.show()

    @Slot(object)
    def _on_file_progressed(self, progress: BatchProgress) -> None:
        self.progress.setValue(round(progress.fraction * 1000))
        self.progress.setFormat(f"{progress.done:,} / {progress.total:,}")
        eta = progress.eta_seconds
        running = not progress.paused and progress.done < progress.total
        left = f", {duration(eta)} left" if eta is not None and running else ""
        state = "paused" if progress.paused else f"{progress.texts_per_second:.1f} texts/s{left}"
        self.rate_label.setText(state)

    @Slot(object)
    def _on_file_finished(self, outcome: FileOutcome | None) -> None:
        model = self.model
        review = f"; {model.needs_review:,} need review" if model.needs_review else ""
        if outcome is None or outcome.status == "cancelled":
            text = (
                f"Cancelled after {model.rowCount():,} rows{review}. "
                "Classify the same file again to resume where it stopped."
            )
        else:
            resumed = (
                f", {self.resumed_rows:,} of them resumed from an earlier run"
                if self.resumed_rows
                else ""
            )
            text = f"Done: {model.rowCount():,} rows classified{resumed}{review}."
        self.summary_label.setText(f"{text} {self.run_description}".strip())
        self.rate_label.setText(self.rate_label.text().replace("paused", ""))
        self.run_ended.emit(outcome)
        self.update_buttons()

    @Slot(object)
    def _on_run_opened(self, opened: RunOpened | None) -> None:
        if opened is None:
            return
        run = opened.run
        done = sum(1 for r in opened.rows if r.prediction is not None)
        state = "finished" if run.finished_at else "unfinished: classify the file again to resume"
        self._clear(
            f"Run {run.id}, {Path(run.input_path).name} ({state}): {done:,} rows, label set "
            f"{run.info.label_set}, {run.info.method} on {run.info.model_id}, "
            f"weights {run.info.weights}, {run.created_at[:16].replace('T', ' ')}."
        )
        self.run_id = run.id
        self.table_stack.show_content()
        self.run_description = self.summary_label.text()
        self.progress.setValue(1000 if run.finished_at else 0)
        self.progress.setFormat(f"{len(opened.rows):,} / {run.total_rows or 0:,}")
        self._add_rows(opened.rows)
        self.update_buttons()
        self.run_shown.emit(run.id)
