"""Errors a person sees: a dialog in plain words, the details one click away and in the log.

:func:`show_error` is for failures that stop what someone was doing (a model that will
not load, a damaged starter model); smaller ones stay inline, next to what failed.
:class:`ExceptionReporter` turns an unexpected exception anywhere in the window into
the same kind of dialog, with the traceback in the log, instead of a silent crash.
"""

from __future__ import annotations

import logging
import sys
import threading
import traceback
from types import TracebackType

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

from app import APP_NAME
from app.core.logs import current_log_file

log = logging.getLogger(__name__)

UNEXPECTED = (
    "Something unexpected went wrong inside Driftless. Your conversations and models are "
    "saved; you can keep working, or restart Driftless if something looks wrong."
)


class ErrorDialog(QMessageBox):
    """A critical message: what happened, what to do; the technical details folded away."""

    def __init__(self, parent: QWidget | None, summary: str, details: str = "") -> None:
        super().__init__(parent)
        self.setIcon(QMessageBox.Icon.Critical)
        self.setWindowTitle(APP_NAME)
        self.setTextFormat(Qt.TextFormat.PlainText)  # a message can embed a hostile name
        self.setText(summary)
        self.setAccessibleName("Error")
        self.setAccessibleDescription(summary)
        where = current_log_file()
        if where is not None:
            self.setInformativeText(f"The details are also in the log file:\n{where}")
        if details:
            self.setDetailedText(details)
        self.setStandardButtons(QMessageBox.StandardButton.Ok)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)


def show_error(parent: QWidget | None, summary: str, details: str = "") -> ErrorDialog:
    """Log the error and show it without blocking (``open()``, not ``exec()``)."""
    log.error("%s%s", summary, f"\n{details}" if details else "")
    dialog = ErrorDialog(parent, summary, details)
    dialog.open()
    return dialog


class ExceptionReporter(QObject):
    """Catches what nobody caught: logs it and shows one dialog at a time.

    It lives on the GUI thread; an exception raised on another thread reaches it through
    a queued signal, because only the GUI thread may open a dialog.
    """

    reported = Signal(str, str)

    def __init__(self) -> None:
        super().__init__()
        self.open_dialog: ErrorDialog | None = None
        self.suppressed = 0
        self._previous = sys.excepthook
        self._previous_threading = threading.excepthook
        self.reported.connect(self._on_reported)

    def install(self) -> ExceptionReporter:
        sys.excepthook = self.handle
        threading.excepthook = self._handle_thread
        return self

    def uninstall(self) -> None:
        sys.excepthook = self._previous
        threading.excepthook = self._previous_threading

    def handle(
        self, kind: type[BaseException], exc: BaseException, tb: TracebackType | None
    ) -> None:
        if issubclass(kind, KeyboardInterrupt):
            self._previous(kind, exc, tb)
            return
        details = "".join(traceback.format_exception(kind, exc, tb))
        where = QThread.currentThread().objectName() or threading.current_thread().name
        log.critical("Unexpected error (thread %s):\n%s", where, details)
        try:
            self.reported.emit(UNEXPECTED, details)  # queued when not on the GUI thread
        except RuntimeError:  # the application is being torn down
            self._previous(kind, exc, tb)

    def _handle_thread(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            self.handle(args.exc_type, args.exc_value, args.exc_traceback)

    @Slot(str, str)
    def _on_reported(self, summary: str, details: str) -> None:
        if self.open_dialog is not None:
            # One dialog at a time: an error repeating in a paint event must not bury the
            # window under dialogs. Every occurrence is in the log all the same.
            self.suppressed += 1
            return
        dialog = ErrorDialog(QApplication.activeWindow(), summary, details)
        dialog.finished.connect(self._on_dialog_finished)
        self.open_dialog = dialog
        dialog.open()

    @Slot()
    def _on_dialog_finished(self) -> None:
        self.open_dialog = None
