"""A button that copies a text to the clipboard and says "Copied" for a moment."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QTimer, Slot
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QAbstractButton, QPushButton, QWidget

from app.ui.icons import icon

COPIED_MS = 1500
"""How long a copy button says "Copied" after a click."""


def flash_copied(button: QAbstractButton, label: str = "Copy") -> None:
    """Say "Copied" (with a check mark) on an icon button where the person is looking;
    ``label`` and the copy icon come back after :data:`COPIED_MS`."""
    button.setText("Copied")
    button.setIcon(icon("check"))

    def back() -> None:
        button.setText(label)
        button.setIcon(icon("copy"))

    QTimer.singleShot(COPIED_MS, button, back)


class CopyButton(QPushButton):
    """Copies ``text()`` of its source when clicked; its label says so, then comes back."""

    def __init__(
        self, label: str, source: Callable[[], str], parent: QWidget | None = None
    ) -> None:
        super().__init__(label, parent)
        self.label = label
        self.source = source
        self._back = QTimer(self)
        self._back.setSingleShot(True)
        self._back.setInterval(COPIED_MS)
        self._back.timeout.connect(self._on_back_timeout)
        self.clicked.connect(self._on_clicked)

    @Slot()
    def _on_clicked(self) -> None:
        text = self.source()
        if not text:
            return
        QGuiApplication.clipboard().setText(text)
        self.setText("Copied")
        self._back.start()

    @Slot()
    def _on_back_timeout(self) -> None:
        self.setText(self.label)
