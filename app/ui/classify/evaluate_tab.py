"""Evaluate: the accuracy as a headline, each label's scores and a confusion matrix, on a
labelled file or a past run's results.

An evaluation on a file is a run kept with the others (Past runs lists it, with its
accuracy), and a run evaluated again is read with the gold map confirmed the first time.
Evaluations of one file in a session are shown side by side, so a change of method or
options can be compared with what it replaced.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QPushButton, QScrollArea, QSplitter, QVBoxLayout, QWidget

from app.core.classify import ClassifyError, EvalReport, GoldMap, RunStore, gold_survey_of_run
from app.ui.classify.choices import ChoicesBar
from app.ui.classify.controller import ClassifyController
from app.ui.classify.goldmap import GoldMapDialog
from app.ui.classify.headline import AccuracyHeadline, PerLabelTable
from app.ui.classify.matrix import ConfusionMatrixView
from app.ui.classify.summary import comparison_html, eval_summary_html
from app.ui.classify.tabs import LabelledFileTab, wrapping_label
from app.ui.classify.worker import EvalOutcome
from app.ui.states import EmptyState, ErrorState, StateStack

MAX_COMPARED = 4
BEFORE_AN_EVALUATION = (
    "No evaluation yet. Evaluate on a file with a gold label column, or a past run from "
    "its stored results: the accuracy, each label's scores and the confusion matrix show "
    "here."
)


class EvaluateTab(LabelledFileTab):
    run_evaluated = Signal(int)  # the id of a past run whose stored results were scored

    def __init__(
        self,
        controller: ClassifyController,
        choices: ChoicesBar,
        runs: RunStore,
        parent: QWidget | None = None,
    ) -> None:
        open_button = QPushButton("Evaluate on a file…")
        open_button.setToolTip("A CSV or TSV file with a text column and a gold label column")
        super().__init__(controller, choices, controller.eval_lane, open_button, parent)
        self.runs = runs
        self.eval_path: Path | None = None
        self.eval_history: list[EvalReport] = []
        """This session's evaluations of ``eval_path``, shown side by side."""
        self._again: Callable[[], None] | None = None
        """The last evaluation asked for, as it was asked: what Evaluate again runs."""
        self._build()
        self.lane.finished.connect(self._on_eval_finished)
        self.lane.failed.connect(self._on_eval_failed)
        self.results_stack.error.retry_requested.connect(self._on_retry_requested)
        self.results_stack.currentChanged.connect(self._on_results_stack_current_changed)
        self.update_buttons()

    def _build(self) -> None:
        self.summary_label = wrapping_label(
            "Choose a file with gold labels to measure accuracy and see the confusion matrix."
        )
        self.matrix = ConfusionMatrixView()
        self.matrix.status_changed.connect(self.status_changed)
        self.compare_label = wrapping_label()
        self.compare_label.setAccessibleName("Comparison with earlier evaluations")
        self.compare_label.hide()
        self.headline = AccuracyHeadline()
        self.per_label = PerLabelTable()
        self.per_label.hide()
        scroll = QScrollArea()
        scroll.setAccessibleName("Evaluation results")
        scroll.setWidgetResizable(True)
        body = QWidget()
        outer = QVBoxLayout(body)
        outer.addWidget(self.per_label)
        outer.addWidget(self.summary_label)
        outer.addWidget(self.compare_label)
        outer.addStretch(1)
        scroll.setWidget(body)
        # The numbers on the left, the matrix (scrolled and zoomed on its own) beside them.
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(scroll)
        self.splitter.addWidget(self.matrix)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)
        self._split = False
        # Before the first evaluation, and when one failed: the shared states.
        self.results_stack = StateStack(
            self.splitter,
            empty=EmptyState("tags", BEFORE_AN_EVALUATION, compact=True),
            error=ErrorState(retry="Evaluate &again", compact=True),
        )
        self.results_stack.show_empty()
        layout = QVBoxLayout(self)
        layout.addLayout(self.buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.headline)
        layout.addWidget(self.results_stack, 1)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._split_once()

    @Slot(int)
    def _on_results_stack_current_changed(self, _index: int) -> None:
        QTimer.singleShot(0, self._split_once)  # once the splitter has its width

    def _split_once(self) -> None:
        if not self._split and self.splitter.isVisible() and self.splitter.width() > 0:
            # Once, when first shown: the scores and details take two fifths, the matrix
            # the rest (left alone, the splitter squeezed the details to a sliver); half
            # on a narrow window, where two fifths would not hold the table.
            self._split = True
            width = self.splitter.width()
            left = width // 2 if width < 700 else width * 2 // 5
            self.splitter.setSizes([left, width - left])

    # --- requests ---------------------------------------------------------------------

    @Slot()
    def _on_open_button_clicked(self) -> None:
        chosen = self.ask_file("Evaluate on a file", need_gold=True)
        if chosen is None:
            return
        job, path, columns = chosen

        def evaluate() -> None:
            self._begin(path, f"Evaluating on {path.name}…")
            self.controller.evaluate_file(job, path, columns)

        self._again = evaluate
        evaluate()

    def evaluate_run(self, run_id: int) -> bool:
        """Evaluate a finished run from its stored results, with the gold map confirmed
        when it was last evaluated, else asking what its gold values are. False when it
        does not start (refused, or the person cancelled)."""
        try:
            label_set, values = gold_survey_of_run(self.runs, run_id)
            kept = self.runs.kept_gold_map(run_id)
            gold_map = GoldMap.parse(kept, label_set) if kept else None
        except ClassifyError as exc:
            self.status_changed.emit(str(exc))
            return False
        if gold_map is None:
            choice = GoldMapDialog.ask(self, f"Evaluate run {run_id}", values, label_set)
            if choice is None:
                return False
            gold_map = choice.gold_map
        confirmed = gold_map

        def evaluate() -> None:
            self._begin(Path(f"run:{run_id}"), f"Evaluating run {run_id} from its stored results…")
            self.controller.evaluate_run(run_id, confirmed)

        self._again = evaluate
        evaluate()
        return True

    @Slot()
    def _on_retry_requested(self) -> None:
        if self._again is not None and not self.lane.busy:
            self._again()

    @Slot(str)
    def _on_eval_failed(self, message: str) -> None:
        self.summary_label.setText(message)
        self.results_stack.show_error(message)

    def _begin(self, key: Path, summary: str) -> None:
        self.progress.setValue(0)
        self.matrix.clear()
        self.headline.clear()
        self.per_label.clear_scores()
        self.summary_label.setText(summary)
        self.summary_label.setToolTip("")
        self.results_stack.show_content()
        if key != self.eval_path:  # another file: a new comparison
            self.eval_path = key
            self.eval_history = []
            self.compare_label.hide()

    # --- answers ----------------------------------------------------------------------

    @Slot(object)
    def _on_eval_finished(self, outcome: EvalOutcome | None) -> None:
        if outcome is None:  # only a file's evaluation can be cancelled: it classifies
            self.summary_label.setText(
                "Cancelled. The rows classified so far are kept: evaluating the file again "
                "with the same settings goes on from there."
            )
            return
        self.progress.setValue(1000)
        report = outcome.report
        self.headline.show_scores(report.scores)
        self.per_label.show_scores(report.scores)
        self.summary_label.setText(eval_summary_html(report))
        self.summary_label.setToolTip(f"Lock id: {report.info.lock_id}")  # shortened in it
        if self.eval_history and self.eval_history[-1].scores.labels != report.scores.labels:
            self.eval_history = []  # another label set: not comparable
        self.eval_history = [*self.eval_history, report][-MAX_COMPARED:]
        self.compare_label.setText(comparison_html(self.eval_history))
        self.compare_label.setVisible(len(self.eval_history) > 1)
        self.matrix.set_scores(report.scores, f"{report.info.method} on {report.info.model_id}")
        if report.run_id is not None:
            self.run_evaluated.emit(report.run_id)
