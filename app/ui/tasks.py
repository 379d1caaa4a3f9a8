"""Run a slow core call off the GUI thread and hear back on it.

A :class:`Task` lives in the GUI thread; its callable runs in the global
``QThreadPool``. Its signals are emitted from the pool thread and, because the
task object belongs to the GUI thread, arrive there queued. Results are
immutable values, so nothing is shared between threads.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, Signal

from app.core.cancel import CancelToken
from app.core.errors import Cancelled, DriftlessError

log = logging.getLogger(__name__)


class Task(QObject):
    """One background call with ``succeeded``/``failed``/``cancelled`` signals."""

    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    # Byte counts: a C++ int would overflow past 2 GiB (a 7B model is 4-5 GB).
    progressed = Signal(object, object)

    def __init__(self, fn: Callable[[Task], Any], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._fn = fn
        self.cancel_token = CancelToken()

    def start(self) -> Task:
        runnable = _Runnable(self)
        QThreadPool.globalInstance().start(runnable)
        return self

    def cancel(self) -> None:
        self.cancel_token.cancel()

    def report_progress(self, done: int, total: int) -> None:
        """A ``(done, total)`` callback for core calls; safe from any thread."""
        self._emit(self.progressed, done, total)

    def _run(self) -> None:
        try:
            result = self._fn(self)
        except Cancelled:
            self._emit(self.cancelled)
        except DriftlessError as exc:
            log.warning("%s", exc)
            self._emit(self.failed, str(exc))
        except OSError as exc:
            log.warning("%s", exc)
            self._emit(self.failed, f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
        except Exception as exc:  # a worker must report, never die silently
            log.exception("Unexpected error in a background task")  # the traceback, for later
            self._emit(self.failed, f"Unexpected error: {type(exc).__name__}: {exc}")
        else:
            self._emit(self.succeeded, result)

    @staticmethod
    def _emit(signal: Any, *args: Any) -> None:
        # RuntimeError: the receiver's window closed while this ran; nobody is listening.
        with contextlib.suppress(RuntimeError):
            signal.emit(*args)


class _Runnable(QRunnable):
    def __init__(self, task: Task) -> None:
        super().__init__()
        self._task = task

    def run(self) -> None:
        self._task._run()


def stop_thread(thread: QThread, tokens: list[CancelToken], *_args: object) -> None:
    """End a worker thread in order: cancel its requests, ``quit()``, ``wait()``.

    Also connected to a controller's ``destroyed`` signal, so a page deleted without
    being closed still ends its thread (destroying a running QThread aborts).
    """
    for token in tokens:
        token.cancel()
    try:
        running = thread.isRunning()
    except RuntimeError:  # at interpreter exit the QThread may be deleted first; it had ended
        return
    if running:
        thread.quit()
        thread.wait()
