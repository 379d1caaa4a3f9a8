"""Teach from examples: a classifier head fitted on a labelled file, for this label set."""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QPushButton, QVBoxLayout, QWidget

from app.ui.classify.choices import ChoicesBar
from app.ui.classify.controller import ClassifyController
from app.ui.classify.summary import teach_summary
from app.ui.classify.tabs import LabelledFileTab, wrapping_label
from app.ui.classify.worker import TeachOutcome


class TeachTab(LabelledFileTab):
    taught = Signal(object)  # TeachOutcome: the head is saved, the examples method finds it
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
        self.progress.setValue(0)
        self.result_label.setText(f"Reading {path.name} through the model…")
        self.controller.teach_file(job, path, columns)

    @Slot(object)
    def _on_teach_finished(self, outcome: TeachOutcome | None) -> None:
        if outcome is None:
            self.result_label.setText("Cancelled.")
            return
        self.progress.setValue(1000)
        self.result_label.setText(teach_summary(outcome))
        self.taught.emit(outcome)
