"""A one-line label that never widens its window: long text is elided, the whole in a tooltip.

A ``QLabel``'s minimum width is its text's width, so a 3,000-character error in a status
line made the window 21,600 px wide (2,561 px on a 1,600 px screen in the wild). This
label asks for little width, draws what fits with "…", and keeps the full text in
:meth:`text`, the tooltip and the accessible description.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent, QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

PREFERRED_CHARACTERS = 60
"""How wide the label asks to be at most, in average characters."""


class ElidedLabel(QLabel):
    """Plain text on one line, elided on the right when it does not fit."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)  # status texts may quote model output
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:
        super().setText(text)
        self.setAccessibleDescription(text)
        self._update_tooltip()
        self.updateGeometry()
        self.update()

    def one_line(self) -> str:
        return " ".join(self.text().split())

    def shown_text(self) -> str:
        """What is drawn: the text on one line, elided to the width there is."""
        width = self.contentsRect().width()
        return self.fontMetrics().elidedText(self.one_line(), Qt.TextElideMode.ElideRight, width)

    def is_elided(self) -> bool:
        return self.shown_text() != self.one_line()

    def minimumSizeHint(self) -> QSize:
        metrics = self.fontMetrics()
        return QSize(metrics.horizontalAdvance("…") * 4, metrics.height() + 2)

    def sizeHint(self) -> QSize:
        metrics = self.fontMetrics()
        wanted = metrics.horizontalAdvance(self.one_line()) + 4
        cap = metrics.averageCharWidth() * PREFERRED_CHARACTERS
        return QSize(min(wanted, cap), metrics.height() + 2)

    def heightForWidth(self, _width: int) -> int:
        return self.sizeHint().height()

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._update_tooltip()

    def _update_tooltip(self) -> None:
        self.setToolTip(self.text() if self.is_elided() else "")

    def paintEvent(self, _event: QPaintEvent) -> None:
        painter = QPainter(self)
        self.style().drawItemText(
            painter,
            self.contentsRect(),
            int(self.alignment()),
            self.palette(),
            self.isEnabled(),
            self.shown_text(),
            self.foregroundRole(),
        )
        painter.end()
