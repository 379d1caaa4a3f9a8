"""The window's one kind of background work: a :class:`Task` runs a core call in the pool.

A task lives in the GUI thread; its callable runs in the global ``QThreadPool``. Its
signals are emitted from the pool thread and, because the task object belongs to the GUI
thread, arrive there queued. Results and progress are immutable values, so nothing is
shared between threads. Progress goes through the core's one throttle, so a loop may
report every chunk or row; the exception-to-sentence rule is the core's
:func:`~app.core.errors.describe_failure`, which logs the traceback of anything unexpected.

Work that needs more signals (the download queue's commit and status lines) subclasses
:class:`Task` and emits them with :meth:`Task.send`. Long-lived workers that own a model
(chat, classification) run on a thread of their own, through the kit in
:mod:`app.ui.model_worker`; :func:`stop_thread` ends them.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, Signal, SignalInstance

from app.core.cancel import CancelToken
from app.core.errors import Cancelled, describe_failure
from app.core.throttle import PROGRESS_INTERVAL, throttled

log = logging.getLogger(__name__)

STOP_TIMEOUT_MS = 900
"""How long closing waits for a worker thread to see its cancel token."""

_abandoned: list[QThread] = []
"""Threads that did not end in time, kept referenced so no one destroys them running."""


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


def stop_thread(
    thread: QThread,
    tokens: list[CancelToken],
    *_args: object,
    timeout_ms: int = STOP_TIMEOUT_MS,
    quits_itself: bool = False,
) -> bool:
    """End a worker thread in order: cancel its requests, ``quit()``, ``wait()`` a while.

    ``quits_itself``: the thread was asked to finish its queue and quit on its own (a
    model worker releasing its model first); only wait for it.

    Also connected to a controller's ``destroyed`` signal, so a page deleted without
    being closed still ends its thread (destroying a running QThread aborts). Returns
    True when the thread has ended.

    Every core call checks its cancel token (between tokens, inside prompt batches,
    inside a chat template's render), so the thread normally ends within milliseconds.
    If it does not (a native call that cannot be interrupted), the window must still
    close: the thread is *abandoned*, not killed. ``QThread.terminate()`` would stop it
    at any instruction, possibly holding the GIL, the SQLite write lock or llama.cpp's
    memory, and hang or corrupt what survives; destroying a running QThread aborts the
    process. So it is kept referenced here, it ends by itself when its call returns,
    and :func:`wait_for_abandoned` lets the process exit past it.
    """
    for token in tokens:
        token.cancel()
    try:
        running = thread.isRunning()
    except RuntimeError:  # at interpreter exit the QThread may be deleted first; it had ended
        return True
    if not running:
        return True
    if not quits_itself:
        thread.quit()
    if thread.wait(timeout_ms):
        return True
    log.warning(
        "The thread %s did not stop within %d ms; leaving it to end by itself.",
        thread.objectName() or thread,
        timeout_ms,
    )
    _abandoned.append(thread)
    return False


def abandoned_threads() -> list[QThread]:
    """Threads :func:`stop_thread` left running, minus those that have ended since."""
    _abandoned[:] = [t for t in _abandoned if _still_running(t)]
    return list(_abandoned)


def wait_for_abandoned(seconds: float) -> bool:
    """Give abandoned threads up to ``seconds`` to end; True if none is left."""
    deadline = time.monotonic() + seconds
    while abandoned_threads():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        abandoned_threads()[0].wait(max(1, int(left * 1000)))
    return True


def _still_running(thread: QThread) -> bool:
    try:
        return thread.isRunning()
    except RuntimeError:
        return False
