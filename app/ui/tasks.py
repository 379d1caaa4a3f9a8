"""The window's one kind of background work: a :class:`Task` runs a core call in the pool.

A task lives in the GUI thread; its callable runs in the global ``QThreadPool``. Its
signals are emitted from the pool thread and, because the task object belongs to the GUI
thread, arrive there queued. Results and progress are immutable values, so nothing is
shared between threads. Progress goes through the core's one throttle, so a loop may
report every chunk or row; the exception-to-sentence rule is the core's
:func:`~app.core.errors.describe_failure`, which logs the traceback of anything unexpected.

Work that needs more signals (the download queue's commit and status lines) subclasses
:class:`Task` and emits them with :meth:`Task.send`. Long-lived workers that own a model
(chat, classification) run on a thread of their own; :func:`stop_thread` ends them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, Signal, SignalInstance

from app.core.cancel import CancelToken
from app.core.errors import Cancelled, describe_failure
from app.core.throttle import PROGRESS_INTERVAL, throttled

log = logging.getLogger(__name__)


class Task(QObject):
    """One background call: exactly one of ``succeeded``, ``failed`` or ``cancelled`` follows."""

    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    progressed = Signal(object)
    """A progress value: a ``(done, total)`` pair or the core's progress object. Byte
    counts travel as Python objects: a C++ int would overflow past 2 GiB."""

    def __init__(
        self,
        fn: Callable[[Task], Any],
        parent: QObject | None = None,
        *,
        progress_interval: float = PROGRESS_INTERVAL,
    ) -> None:
        super().__init__(parent)
        self._fn = fn
        self.cancel_token = CancelToken()
        self.report = throttled(self._report_now, interval=progress_interval)
        """A progress callback for core calls, safe from any thread: a few a second, and
        always the final one."""

    def start(self) -> Task:
        QThreadPool.globalInstance().start(_Runnable(self))
        return self

    def cancel(self) -> None:
        self.cancel_token.cancel()

    def report_progress(self, done: int, total: int) -> None:
        """:attr:`report` for the ``(done, total)`` callbacks of hashing and copying."""
        self.report((done, total))

    def send(self, signal: SignalInstance, *args: Any) -> None:
        """Emit one of this task's signals from the pool thread."""
        # RuntimeError: the receiver's window closed while this ran; nobody is listening.
        with contextlib.suppress(RuntimeError):
            signal.emit(*args)

    def _report_now(self, progress: object) -> None:
        self.send(self.progressed, progress)

    def _run(self) -> None:
        try:
            result = self._fn(self)
        except Cancelled:
            self.send(self.cancelled)
        except Exception as exc:  # a worker must report, never die silently
            self.send(self.failed, describe_failure(exc, log))
        else:
            self.send(self.succeeded, result)


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
