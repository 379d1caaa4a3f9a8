"""Long work in the status line: a label and a progress bar, whatever the page.

Several jobs may run at once (the starter check, a model load); the latest one shows
until it ends, then the one before it. A job without an estimate shows a busy bar.
"""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QSizePolicy, QWidget

from app.ui.elided_label import ElidedLabel


class StatusProgress(QWidget):
    """``begin``/``update`` a named job with a text (and a fraction done), ``end`` it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = ElidedLabel()  # plain text (names from the Hub), never widens the window
        # Up to its capped size hint: with ElidedLabel's Ignored width the status bar gave it
        # no room at all, and only the bar showed.
        self.label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.bar = QProgressBar()
        self.bar.setAccessibleName("Progress")
        self.bar.setMaximumWidth(160)
        self.bar.setMaximumHeight(14)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        self._jobs: dict[str, tuple[str, float | None]] = {}
        self.hide()

    @property
    def jobs(self) -> list[str]:
        return list(self._jobs)

    def begin(self, job: str, text: str, fraction: float | None = None) -> None:
        """Start or update ``job``; ``fraction`` None means "no estimate"."""
        self._jobs[job] = (text, fraction)
        self._show()

    def end(self, job: str) -> None:
        self._jobs.pop(job, None)
        self._show()

    def _show(self) -> None:
        self.setVisible(bool(self._jobs))
        if not self._jobs:
            return
        text, fraction = list(self._jobs.values())[-1]
        self.label.setText(text)
        self.bar.setAccessibleDescription(text)
        if fraction is None:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(round(fraction * 1000))
