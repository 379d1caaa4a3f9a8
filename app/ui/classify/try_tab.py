"""Try a text: its label and the probability of each, as the person types."""

from __future__ import annotations

from PySide6.QtCore import QTimer, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from app.ui import theme
from app.ui.classify.choices import ChoicesBar
from app.ui.classify.controller import ClassifyController
from app.ui.classify.models import ProbabilityBars
from app.ui.classify.tabs import ClassifyTab, wrapping_label
from app.ui.classify.worker import TryOutcome
from app.ui.states import EmptyState, ErrorState, StateStack

TYPING_PAUSE_MS = 350
"""Typing pauses this long before the text is classified."""
BEFORE_A_TEXT = (
    "Type or paste a text above: its label, and how likely each label is, show here as you type."
)


class TryTab(ClassifyTab):
    def __init__(
        self, controller: ClassifyController, choices: ChoicesBar, parent: QWidget | None = None
    ) -> None:
        super().__init__(controller, choices, parent)
        self.text_edit = QPlainTextEdit()
        self.text_edit.setPlaceholderText("Type or paste a text; its label appears as you type.")
        self.text_edit.setAccessibleName("Text to classify")
        self.text_edit.setFixedHeight(110)
        self.classify_button = QPushButton("Classify")
        self.answer_label = QLabel("—")
        theme.set_type(self.answer_label, theme.Type.TITLE)
        self.detail_label = wrapping_label()
        self.bars = ProbabilityBars()
        result = QWidget()
        result_layout = QVBoxLayout(result)
        result_layout.setContentsMargins(0, 0, 0, 0)
        result_layout.addWidget(self.answer_label)
        result_layout.addWidget(self.detail_label)
        result_layout.addWidget(self.bars)
        result_layout.addStretch(1)
        # Before a text is classified, and when classifying it failed: the shared states.
        self.result_stack = StateStack(
            result,
            empty=EmptyState("text-cursor-input", BEFORE_A_TEXT, compact=True),
            error=ErrorState(retry="Try &again", compact=True),
        )
        self.result_stack.show_empty()
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.classify_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text_edit)
        layout.addLayout(row)
        layout.addWidget(self.result_stack, 1)

        self.typing_timer = QTimer(self)
        self.typing_timer.setSingleShot(True)
        self.typing_timer.setInterval(TYPING_PAUSE_MS)
        self.typing_timer.timeout.connect(self._on_typing_timer_timeout)
        self.text_edit.textChanged.connect(self.typing_timer.start)
        self.classify_button.clicked.connect(self._on_typing_timer_timeout)
        self.result_stack.error.retry_requested.connect(self._on_typing_timer_timeout)
        choices.changed.connect(self._on_choices_changed)
        controller.try_lane.finished.connect(self._on_try_finished)
        controller.try_lane.failed.connect(self._on_try_failed)
        self.update_buttons()

    @Slot()
    def update_buttons(self) -> None:
        self.classify_button.setEnabled(self.choices.ready)

    def stop(self) -> None:
        self.typing_timer.stop()

    @Slot()
    def _on_choices_changed(self) -> None:
        if self.text_edit.toPlainText().strip():
            self.typing_timer.start()  # the text again, with what is chosen now

    @Slot()
    def _on_typing_timer_timeout(self) -> None:
        self.typing_timer.stop()
        text = self.text_edit.toPlainText().strip()
        job = self.choices.job()
        if text and job is not None:
            self.controller.classify_text(job, text)

    @Slot(object)
    def _on_try_finished(self, outcome: TryOutcome | None) -> None:
        if outcome is None:  # cancelled: a newer text is on its way
            return
        prediction = outcome.prediction
        self.answer_label.setText(prediction.answer)
        notes = [f"best label {prediction.label}, {prediction.confidence:.1%}"]
        if prediction.needs_review:
            notes.append("below the confidence threshold: needs review")
        if prediction.truncated:
            notes.append("the text was too long; its beginning was classified")
        line = "; ".join(notes)
        self.detail_label.setText(line[:1].upper() + line[1:] + ".")
        self.bars.show_prediction(outcome.labels, prediction)
        self.result_stack.show_content()

    @Slot(str)
    def _on_try_failed(self, message: str) -> None:
        self.detail_label.clear()
        self.answer_label.setText("—")
        self.result_stack.show_error(message)
