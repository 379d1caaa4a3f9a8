"""One background job at a time for a tab: its progress bar, its Cancel button, its end.

Hashing, copying, lockfile imports and update checks run as :class:`Task` in the
pool, reporting ``(done, total)`` with ``task.report_progress``; this strip shows their
progress and lets the person cancel them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from app.ui.tasks import Task


class BusyStrip(QWidget):
    """A label, a progress bar and a Cancel button, shown while a task runs."""

    started = Signal()
    finished = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.task: Task | None = None
        self.label = QLabel()
        self.label.setTextFormat(Qt.TextFormat.PlainText)  # names from the Hub or a lockfile
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)
        self.bar.setMaximumHeight(16)
        self.cancel_button = QPushButton("Cancel")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar, 1)
        layout.addWidget(self.cancel_button)
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.hide()

    @property
    def busy(self) -> bool:
        return self.task is not None

    def run(
        self,
        text: str,
        fn: Callable[[Task], Any],
        on_success: Callable[[Any], None],
        on_failure: Callable[[str], None],
        on_cancel: Callable[[], None] | None = None,
    ) -> Task:
        """Start ``fn`` in the pool; exactly one of the callbacks runs, in the GUI thread."""
        assert self.task is None, "one background job at a time"
        task = Task(fn, self)
        self.task = task

        def done(callback: Callable[..., None], *args: Any) -> None:
            self._end()
            callback(*args)

        task.succeeded.connect(lambda result: done(on_success, result))
        task.failed.connect(lambda message: done(on_failure, message))
        task.cancelled.connect(lambda: done(on_cancel or (lambda: on_failure("Cancelled."))))
        task.progressed.connect(self._on_task_progressed)
        self.label.setText(text)
        self.bar.setRange(0, 0)
        self.cancel_button.setEnabled(True)
        self.show()
        self.started.emit()
        task.start()
        return task

    def _end(self) -> None:
        self.task = None
        self.hide()
        self.finished.emit()

    @Slot(object)
    def _on_task_progressed(self, progress: tuple[int, int]) -> None:
        done, total = progress
        if total > 0:
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * done / total))

    @Slot()
    def _on_cancel_clicked(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.cancel_button.setEnabled(False)
