"""Small dialogs of the chat page. Each has an ``ask`` classmethod tests can replace."""

from __future__ import annotations

from enum import Enum

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.core.chat.sampling import MAX_SEED, SamplingParams


class ContextChoice(Enum):
    NEW_CONVERSATION = "new"
    DROP_OLDEST = "drop"
    RAISE_CONTEXT = "raise"


class ContextChoiceDialog:
    """The conversation no longer fits: the user chooses, nothing is cut silently."""

    @classmethod
    def ask(cls, parent: QWidget, message: str, raise_to: int | None) -> ContextChoice | None:
        box = QMessageBox(parent)
        box.setIcon(QMessageBox.Icon.Information)
        box.setWindowTitle("The conversation is too long")
        box.setText(message)
        new = box.addButton("Start a new conversation", QMessageBox.ButtonRole.AcceptRole)
        drop = box.addButton(
            "Leave out the oldest turns (keep the system prompt)",
            QMessageBox.ButtonRole.AcceptRole,
        )
        bigger = None
        if raise_to is not None:
            bigger = box.addButton(
                f"Raise the context to {raise_to:,} tokens", QMessageBox.ButtonRole.AcceptRole
            )
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        clicked = box.clickedButton()
        if clicked is new:
            return ContextChoice.NEW_CONVERSATION
        if clicked is drop:
            return ContextChoice.DROP_OLDEST
        if bigger is not None and clicked is bigger:
            return ContextChoice.RAISE_CONTEXT
        return None


class SystemPromptDialog(QDialog):
    """Edit a conversation's system prompt."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("System prompt")
        self.editor = QPlainTextEdit(text)
        self.editor.setAccessibleName("System prompt")
        self.editor.setPlaceholderText(
            "For example: You are a concise assistant. Answer in English."
        )
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Instructions the model sees before every conversation turn:"))
        layout.addWidget(self.editor)
        layout.addWidget(buttons)
        self.resize(520, 300)

    @classmethod
    def ask(cls, parent: QWidget, text: str) -> str | None:
        dialog = cls(text, parent)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.editor.toPlainText().strip()


class SamplingDialog(QDialog):
    """The sampling settings behind a preset, one click from the chat."""

    def __init__(self, params: SamplingParams, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Sampling settings")
        self.temperature = _double(0.0, 5.0, 0.05, params.temperature)
        self.top_p = _double(0.0, 1.0, 0.01, params.top_p)
        self.top_k = _int(0, 1000, params.top_k)
        self.min_p = _double(0.0, 1.0, 0.01, params.min_p)
        self.repeat_penalty = _double(0.5, 5.0, 0.01, params.repeat_penalty)
        self.max_tokens = _int(1, 32768, params.max_tokens)
        self.fixed_seed = QCheckBox("Fixed seed (with temperature 0: the same reply every time)")
        self.fixed_seed.setChecked(params.seed is not None)
        self.seed = _int(0, min(MAX_SEED, 2**31 - 1), params.seed or 0)  # QSpinBox is 32-bit
        self.seed.setEnabled(params.seed is not None)
        self.fixed_seed.toggled.connect(self.seed.setEnabled)
        self.stop = QLineEdit(", ".join(params.stop))
        self.stop.setPlaceholderText("Comma-separated texts that end the reply")
        form = QFormLayout()
        form.addRow("&Temperature", self.temperature)
        form.addRow("Top-&p", self.top_p)
        form.addRow("Top-&k", self.top_k)
        form.addRow("&Min-p", self.min_p)
        form.addRow("&Repeat penalty", self.repeat_penalty)
        form.addRow("Max &tokens per reply", self.max_tokens)
        form.addRow(self.fixed_seed)
        form.addRow("&Seed", self.seed)
        form.addRow("Sto&p strings", self.stop)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

    def params(self) -> SamplingParams:
        stops = tuple(s.strip() for s in self.stop.text().split(",") if s.strip())
        return SamplingParams(
            temperature=self.temperature.value(),
            top_p=self.top_p.value(),
            top_k=self.top_k.value(),
            min_p=self.min_p.value(),
            repeat_penalty=self.repeat_penalty.value(),
            max_tokens=self.max_tokens.value(),
            seed=self.seed.value() if self.fixed_seed.isChecked() else None,
            stop=stops,
        )

    @classmethod
    def ask(cls, parent: QWidget, params: SamplingParams) -> SamplingParams | None:
        dialog = cls(params, parent)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.params()


def _double(low: float, high: float, step: float, value: float) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setDecimals(2)
    box.setValue(value)
    return box


def _int(low: int, high: int, value: int) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    return box
