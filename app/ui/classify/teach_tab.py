"""Teach from examples: a classifier head fitted on a labelled file, for this label set."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QPushButton, QVBoxLayout, QWidget

from app.core.classify import Columns
from app.core.classify.coverage import gold_coverage
from app.core.classify.goldmap import survey_gold
from app.core.classify.table import gold_values
from app.ui.classify.choices import ChoicesBar
from app.ui.classify.controller import ClassifyController
from app.ui.classify.dialogs import CoverageDialog
from app.ui.classify.summary import teach_summary
from app.ui.classify.tabs import LabelledFileTab, wrapping_label
from app.ui.classify.worker import Job, TeachOutcome
from app.ui.tasks import Task


class TeachTab(LabelledFileTab):
    taught = Signal(object)  # TeachOutcome: the head is saved, the examples method finds it
    coverage_checked = Signal(object)  # Coverage: the file's examples per label, before teaching
    staged_progress = True

    def __init__(
        self, controller: ClassifyController, choices: ChoicesBar, parent: QWidget | None = None
    ) -> None:
        open_button = QPushButton("Teach from a labelled file…")
        open_button.setToolTip(
            "A CSV or TSV file with a text column and a label column; "
            "the taught head is saved for this label set and model"
        )
        super().__init__(controller, choices, controller.teach_lane, open_button, parent)
        self._count_task: Task | None = None
        self._pending: tuple[Job, Path, Columns] | None = None
        self.result_label = wrapping_label(
            "Teach the model your labels from examples, then choose "
            "'Taught by examples' as the method."
        )
        layout = QVBoxLayout(self)
        layout.addLayout(self.buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.result_label)
        layout.addStretch(1)

        self.lane.finished.connect(self._on_teach_finished)
        self.lane.failed.connect(self.result_label.setText)
        self.update_buttons()

    @Slot()
    def _on_open_button_clicked(self) -> None:
        chosen = self.ask_file("Teach from a labelled file", need_gold=True)
        if chosen is None:
            return
        job, path, columns = chosen
        # Count the examples per label first (reading the file is a background task):
        # labels without examples, or with few, are named before anything is taught.
        self.result_label.setText(f"Counting the examples in {path.name}…")
        self.open_button.setEnabled(False)
        task = Task(lambda t: gold_values(columns, t.cancel_token), self)
        task.succeeded.connect(self._on_count_succeeded)
        task.failed.connect(self._on_count_failed)
        self._count_task = task
        self._pending = (job, path, columns)
        task.start()

    @Slot()
    def update_buttons(self) -> None:
        super().update_buttons()
        if getattr(self, "_count_task", None) is not None:
            self.open_button.setEnabled(False)

    @Slot(object)
    def _on_count_succeeded(self, values: object) -> None:
        if self.sender() is not self._count_task or self._pending is None:
            return
        job, path, columns = self._pending
        self._count_task = self._pending = None
        self.update_buttons()
        assert isinstance(values, list)
        surveyed = survey_gold(values, job.label_set, columns.gold_map)
        coverage = gold_coverage(surveyed, job.label_set)
        self.coverage_checked.emit(coverage)
        if not CoverageDialog.ask(self, coverage):
            self.result_label.setText("Not taught: " + " ".join(coverage.sentences()))
            return
        self.progress.setValue(0)
        self.result_label.setText(f"Reading {path.name} through the model…")
        self.controller.teach_file(job, path, columns)

    @Slot(str)
    def _on_count_failed(self, message: str) -> None:
        self._count_task = self._pending = None
        self.update_buttons()
        self.result_label.setText(message)

    @Slot(object)
    def _on_teach_finished(self, outcome: TeachOutcome | None) -> None:
        if outcome is None:
            self.result_label.setText("Cancelled.")
            return
        self.progress.setValue(1000)
        self.result_label.setText(teach_summary(outcome))
        self.taught.emit(outcome)
