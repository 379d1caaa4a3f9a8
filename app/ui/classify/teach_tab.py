"""Teach from examples: a classifier head fitted on a labelled file, for this label set."""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from app.ui.classify.choices import ChoicesBar
from app.ui.classify.controller import ClassifyController
from app.ui.classify.dialogs import TableFileDialog
from app.ui.classify.summary import teach_summary
from app.ui.classify.tabs import ClassifyTab, progress_bar, show_progress, wrapping_label
from app.ui.classify.worker import TeachOutcome


class TeachTab(ClassifyTab):
    taught = Signal(object)  # TeachOutcome: the head is saved, the examples method finds it

    def __init__(
        self, controller: ClassifyController, choices: ChoicesBar, parent: QWidget | None = None
    ) -> None:
        super().__init__(controller, choices, parent)
        self.open_button = QPushButton("Teach from a labelled file…")
        self.open_button.setToolTip(
            "A CSV or TSV file with a text column and a label column; "
            "the taught head is saved for this label set and model"
        )
        self.cancel_button = QPushButton("Cancel")
        self.progress = progress_bar()
        self.result_label = wrapping_label(
            "Teach the model your labels from examples, then choose "
            "'Taught by examples' as the method."
        )
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.cancel_button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.result_label)
        layout.addStretch(1)

        self.open_button.clicked.connect(self._on_open_button_clicked)
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        lane = controller.teach_lane
        lane.progressed.connect(self._on_teach_progressed)
        lane.finished.connect(self._on_teach_finished)
        lane.failed.connect(self.result_label.setText)
        self.update_buttons()

    @Slot()
    def update_buttons(self) -> None:
        teaching = self.controller.teach_lane.busy
        self.open_button.setEnabled(self.choices.ready and not teaching)
        self.cancel_button.setEnabled(teaching)

    @Slot()
    def _on_open_button_clicked(self) -> None:
        job = self.choices.job()
        path = TableFileDialog.ask_open(self, "Teach from a labelled file") if job else None
        columns = self.choices.ask_columns(path, need_gold=True) if path is not None else None
        if job is None or path is None or columns is None:
            return
        self.progress.setValue(0)
        self.result_label.setText(f"Reading {path.name} through the model…")
        self.controller.teach_file(job, path, columns)

    @Slot()
    def _on_cancel_button_clicked(self) -> None:
        self.controller.cancel("teach")

    @Slot(object)
    def _on_teach_progressed(self, progress: object) -> None:
        show_progress(self.progress, progress, staged=True)

    @Slot(object)
    def _on_teach_finished(self, outcome: TeachOutcome | None) -> None:
        if outcome is None:
            self.result_label.setText("Cancelled.")
            return
        self.progress.setValue(1000)
        self.result_label.setText(teach_summary(outcome))
        self.taught.emit(outcome)
