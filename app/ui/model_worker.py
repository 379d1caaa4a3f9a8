"""The window's one kit for workers that own a model (GPT4All's inference thread).

A model (a chat :class:`~app.core.chat.engine.Engine`, a classification
:class:`~app.core.classify.Workbench`) is not thread-safe, so one long-lived
:class:`ModelWorker` owns it on a ``QThread`` of its own and only touches it there.
The GUI-thread side is a :class:`WorkerController`:

- **Requests** go out with :meth:`WorkerController.post`, a queued call of one of the
  worker's methods with a frozen request; each carries an id and a cancel token from
  a :class:`Lane`, the one current request of one kind.
- **Answers** come back as the worker's signals tagged with the request's id. An answer
  whose id is not its lane's current one is stale (a stopped reply, a model switched
  away from) and is dropped (Orange3's ``ConcurrentMixin`` does the same), so a page
  only hears about what it waits for. The generic ``finished``/``failed``/``progressed``
  answers reach the lane's own signals of those names.
- **Stop** is :meth:`Lane.cancel`, a direct call that sets the token: a queued "stop"
  would wait behind the busy worker.
- **Shutdown** is in order: cancel every request, release the model on the worker
  thread, ``quit()`` (the worker's own, after releasing), ``wait()``
  (:func:`~app.ui.tasks.stop_thread`, which abandons a thread stuck in native code
  rather than kill it).
"""

from __future__ import annotations

import functools
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from app.core.cancel import CancelToken
from app.core.errors import Cancelled, describe_failure
from app.core.throttle import throttled
from app.ui.tasks import stop_thread

log = logging.getLogger(__name__)

R = TypeVar("R")


@dataclass(frozen=True)
class _Call(Generic[R]):
    """A worker method and its request, run on the worker's thread."""

    method: Callable[[R], object]
    request: R

    def run(self) -> None:
        self.method(self.request)


class ModelWorker(QObject):
    """Lives on its own thread and owns a model there; every slot runs on that thread.

    Subclasses add their request methods (plain methods, called through
    :meth:`WorkerController.post`) and :meth:`release`. Answers leave as signals whose
    first value is the request's id; the three generic ones are here.
    """

    progressed = Signal(int, object)  # request id, a progress value
    finished = Signal(int, object)  # request id, the outcome (None when cancelled)
    failed = Signal(int, str)  # request id, a sentence for the user

    def release(self) -> None:
        """Let go of the model (unload, close); called on the worker's thread at shutdown."""

    def guarded(self, request_id: int, work: Callable[[], object]) -> None:
        """Run ``work`` and answer with exactly one of ``finished`` or ``failed``.

        Cancelling is a normal ending (``finished`` with None); any other exception
        becomes a sentence, its traceback logged when unexpected.
        """
        try:
            outcome = work()
        except Cancelled:
            self.finished.emit(request_id, None)
        except Exception as exc:  # a worker must report, never die silently
            self.failed.emit(request_id, describe_failure(exc, log))
        else:
            self.finished.emit(request_id, outcome)

    def reporter(self, request_id: int) -> Callable[[Any], None]:
        """A progress callback for a core call: ``progressed``, a few times a second."""
        return throttled(lambda progress: self.progressed.emit(request_id, progress))

    @Slot(object)
    def _on_call_posted(self, call: _Call[Any]) -> None:
        call.run()

    @Slot()
    def _on_release_requested(self) -> None:
        # The last request of the thread's queue: a quit() from the GUI thread would end
        # the event loop before this queued call, leaving the model to the garbage collector.
        try:
            self.release()
        finally:
            self.thread().quit()


class Lane(QObject):
    """One kind of request: at most one is current, and only its answers are news."""

    progressed = Signal(object)
    finished = Signal(object)  # the outcome; None when the request was cancelled
    failed = Signal(str)

    def __init__(self, name: str, controller: WorkerController) -> None:
        super().__init__(controller)
        self.name = name
        self._controller = controller
        self.request_id: int | None = None
        self.token: CancelToken | None = None

    @property
    def busy(self) -> bool:
        return self.request_id is not None

    def begin(self) -> tuple[int, CancelToken]:
        """Start a request of this kind: the one under way (if any) is cancelled and
        becomes stale. Returns the new request's id and cancel token."""
        self.cancel()
        self.request_id, self.token = self._controller._open_request()
        self._controller.busy_changed.emit()
        return self.request_id, self.token

    def cancel(self) -> None:
        """Stop the current request: a direct call, seen at the worker's next check."""
        if self.token is not None:
            self.token.cancel()

    def is_current(self, request_id: int) -> bool:
        return self.request_id == request_id

    def end(self, request_id: int) -> bool:
        """The answer that ends ``request_id`` arrived: True if it is news (current)."""
        if not self.is_current(request_id):
            return False
        self._controller._close_request(self.token)
        self.request_id = self.token = None
        self._controller.busy_changed.emit()
        return True


class WorkerController(QObject):
    """The GUI-thread side of a :class:`ModelWorker`: its thread, lanes and shutdown."""

    busy_changed = Signal()
    """A lane began or ended a request."""

    _call_posted = Signal(object)
    _release_requested = Signal()

    def __init__(
        self, worker: ModelWorker, thread_name: str, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._tokens: list[CancelToken] = []  # of the requests under way, for teardown
        self._lanes: list[Lane] = []
        self._thread = QThread()
        self._thread.setObjectName(thread_name)
        self._worker = worker
        worker.moveToThread(self._thread)
        self._call_posted.connect(worker._on_call_posted)
        self._release_requested.connect(worker._on_release_requested)
        worker.progressed.connect(self._on_worker_progressed)
        worker.finished.connect(self._on_worker_finished)
        worker.failed.connect(self._on_worker_failed)
        self._thread.finished.connect(worker.deleteLater)
        # A page deleted without being closed (its window garbage-collected) must still
        # end the thread: destroying a running QThread aborts the process.
        self.destroyed.connect(functools.partial(stop_thread, self._thread, self._tokens))
        app = QCoreApplication.instance()
        if app is not None:  # a window closed by quitting still ends its thread in order
            app.aboutToQuit.connect(self.shutdown)

    def start(self) -> None:
        """Start the thread, once the subclass has connected the worker's own signals."""
        self._thread.start()

    def lane(self, name: str) -> Lane:
        lane = Lane(name, self)
        self._lanes.append(lane)
        return lane

    def post(self, method: Callable[[R], object], request: R) -> None:
        """Have the worker run ``method(request)`` on its thread, after what it is doing."""
        self._call_posted.emit(_Call(method, request))

    def shutdown(self) -> None:
        """Cancel, release the model on the worker thread, ``quit()``, ``wait()`` a while."""
        for token in self._tokens:
            token.cancel()
        self.before_release()
        if not self._thread.isRunning():
            return
        self._release_requested.emit()  # released on the worker thread, which then quits
        stop_thread(self._thread, self._tokens, quits_itself=True)

    def before_release(self) -> None:
        """Wake whatever would hold the worker past its cancel token (a paused run)."""

    # --- bookkeeping, for the lanes ---------------------------------------------------

    def _open_request(self) -> tuple[int, CancelToken]:
        self._tokens[:] = [t for t in self._tokens if not t.cancelled]
        token = CancelToken()
        self._tokens.append(token)
        return next(self._ids), token

    def _close_request(self, token: CancelToken | None) -> None:
        self._tokens[:] = [t for t in self._tokens if t is not token]

    def lane_of(self, request_id: int) -> Lane | None:
        """The lane whose current request is ``request_id``; None for a stale answer."""
        return next((lane for lane in self._lanes if lane.is_current(request_id)), None)

    # --- the generic answers ---------------------------------------------------------

    @Slot(int, object)
    def _on_worker_progressed(self, request_id: int, progress: object) -> None:
        lane = self.lane_of(request_id)
        if lane is not None:
            lane.progressed.emit(progress)

    @Slot(int, object)
    def _on_worker_finished(self, request_id: int, outcome: object) -> None:
        lane = self.lane_of(request_id)
        if lane is not None and lane.end(request_id):
            lane.finished.emit(outcome)

    @Slot(int, str)
    def _on_worker_failed(self, request_id: int, message: str) -> None:
        lane = self.lane_of(request_id)
        if lane is not None and lane.end(request_id):
            lane.failed.emit(message)
