"""A combo box that shows a long choice whole where it can, else elided in the middle.

A model id such as ``bartowski/Llama-3.2-1B-Instruct-GGUF:Llama-3.2-1B-Instruct-Q4_1.gguf
(pinned @1a2b3c4)`` is wider than a combo box on a narrow window, and a plain combo box
cuts it on the right, so the part that tells two quantisations apart ("q4_1") and the
version are what is lost. This one elides the middle (or, for names whose start says
most, the end), keeps the whole text in its tooltip, and opens a list wide enough for
the whole names.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QPaintEvent, QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QStyle,
    QStyleOptionComboBox,
    QStylePainter,
    QWidget,
)

MIN_CHARACTERS = 12
"""How narrow the box may become, in average characters (its window stays narrow)."""


class ElidedComboBox(QComboBox):
    """A ``QComboBox`` whose current text is elided (in the middle, or where ``mode`` says),
    never cut."""

    def __init__(
        self,
        tip: str = "",
        parent: QWidget | None = None,
        *,
        mode: Qt.TextElideMode = Qt.TextElideMode.ElideMiddle,
    ) -> None:
        super().__init__(parent)
        self._tip = tip
        self._mode = mode
        """What the box is for; the tooltip adds the whole current text to it."""
        self.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(MIN_CHARACTERS)
        self.currentIndexChanged.connect(self._update_tooltip)
        self._update_tooltip()

    def shown_text(self) -> str:
        """The current text as drawn: whole if it fits, else elided."""
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        field = self.style().subControlRect(
            QStyle.ComplexControl.CC_ComboBox,
            option,
            QStyle.SubControl.SC_ComboBoxEditField,
            self,
        )
        return self.fontMetrics().elidedText(self.currentText(), self._mode, field.width())

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QStylePainter(self)
        option = QStyleOptionComboBox()
        self.initStyleOption(option)
        painter.drawComplexControl(QStyle.ComplexControl.CC_ComboBox, option)
        option.currentText = self.shown_text()
        painter.drawControl(QStyle.ControlElement.CE_ComboBoxLabel, option)

    def showPopup(self) -> None:
        # The list shows the whole names, wider than the box when it must be.
        view = self.view()
        view.setMinimumWidth(min(view.sizeHintForColumn(0) + 24, self.screen().size().width()))
        super().showPopup()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._update_tooltip()

    def _update_tooltip(self) -> None:
        text = self.currentText()
        self.setToolTip(f"{text}\n{self._tip}".strip() if text else self._tip)
