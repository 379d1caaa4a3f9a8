"""One owner thread per loaded model, and the bounded queue requests wait in.

``llama_cpp.Llama`` is not thread-safe, so (like the window's inference worker) one
thread loads the engine and runs every request for it; the HTTP side only submits jobs
and cancels their tokens. Jobs run in order of arrival (a FIFO is the fair order here: no
client can overtake another). The queue is bounded: a full queue refuses at once with
how long to wait, instead of letting requests pile up behind a slow model.

Results leave through each job's ``emit`` callback (the server passes one that hands the
event to its event loop), as :class:`Started`, :class:`Piece`..., then :class:`Finished`
or :class:`Failed`. A job whose token is cancelled while it waits is never started; one
cancelled while it runs stops at the engine's next check (between tokens).
"""

from __future__ import annotations

import collections
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from app.core.cancel import CancelToken
from app.core.errors import Cancelled, DriftlessError
from app.core.models.store import InstalledModel
from app.core.runtime.results import GenerationStats, LoadedModel, ModelUser

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Started:
    """The model is loaded and the prompt fits: the answer is about to stream."""

    loaded: LoadedModel


@dataclass(frozen=True)
class Piece:
    text: str


@dataclass(frozen=True)
class Finished:
    stats: GenerationStats | None
    cancelled: bool = False


@dataclass(frozen=True)
class Failed:
    error: BaseException


Event = Started | Piece | Finished | Failed


U = TypeVar("U", bound=ModelUser)


@dataclass
class Job(Generic[U]):
    """One request for the owner thread: ``start`` begins the work on the engine.

    ``start`` runs on the owner thread and returns the text pieces; raising before it
    returns (``ContextOverflow``, say) fails the job before anything was streamed.
    """

    start: Callable[[U], Iterator[str]]
    emit: Callable[[Event], None]
    cancel: CancelToken


class QueueFull(DriftlessError):
    """Too many requests are waiting for this model."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OwnerStopped(DriftlessError):
    """The server is shutting down: the request was not run."""


class ModelOwner(Generic[U]):
    """A thread that owns one engine (and so one model) and runs its jobs in order."""

    def __init__(
        self,
        model: InstalledModel,
        engine_factory: Callable[[], U],
        *,
        max_waiting: int = 8,
        n_ctx: int | None = None,
    ) -> None:
        self.model = model
        """The installed model, resolved once when the first request named it."""
        model_id = self.model_id = model.id
        self.max_waiting = max_waiting
        self._engine_factory = engine_factory
        self._n_ctx = n_ctx
        self._jobs: collections.deque[Job[U]] = collections.deque()
        self._ready = threading.Condition()
        self._stopping = False
        self._running: Job[U] | None = None
        self._seconds_per_job = 2.0  # a first guess, replaced by what jobs really take
        self.loaded: LoadedModel | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"serve-owner {model_id}", daemon=True
        )
        self._thread.start()

    # -- any thread --

    @property
    def waiting(self) -> int:
        with self._ready:
            return len(self._jobs)

    @property
    def busy(self) -> bool:
        with self._ready:
            return self._running is not None

    def submit(self, job: Job[U]) -> None:
        """Queue ``job``; ``QueueFull`` (with seconds to wait) when the queue is full."""
        with self._ready:
            if self._stopping:
                raise OwnerStopped("The server is stopping; the request was not run.")
            if len(self._jobs) >= self.max_waiting:
                retry = max(1, min(120, math.ceil(self._seconds_per_job * (len(self._jobs) + 1))))
                raise QueueFull(
                    f"{len(self._jobs)} requests are already waiting for {self.model_id}, "
                    f"the most this server queues. Try again in {retry} s.",
                    retry,
                )
            self._jobs.append(job)
            self._ready.notify()

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel the running job, fail the waiting ones, unload the model, end the thread."""
        with self._ready:
            self._stopping = True
            waiting = list(self._jobs)
            self._jobs.clear()
            if self._running is not None:
                self._running.cancel.cancel()
            self._ready.notify()
        for job in waiting:
            _emit(job, Failed(OwnerStopped("The server stopped before the request ran.")))
        self._thread.join(timeout)

    # -- the owner thread --

    def _run(self) -> None:
        engine: U | None = None
        try:
            while True:
                with self._ready:
                    while not self._jobs and not self._stopping:
                        self._ready.wait()
                    if self._stopping:
                        return
                    job = self._jobs.popleft()
                    self._running = job
                started = time.perf_counter()
                try:
                    if engine is None:
                        engine = self._engine_factory()
                    self._run_job(engine, job)
                finally:
                    elapsed = time.perf_counter() - started
                    with self._ready:
                        self._running = None
                        self._seconds_per_job = 0.8 * self._seconds_per_job + 0.2 * elapsed
        except Exception:  # the thread must never die silently with jobs waiting
            log.exception("The model owner thread of %s failed", self.model_id)
        finally:
            if engine is not None:
                try:
                    engine.unload()
                except Exception:
                    log.exception("Unloading %s failed", self.model_id)

    def _run_job(self, engine: U, job: Job[U]) -> None:
        if job.cancel.cancelled:  # its client left while it waited
            _emit(job, Finished(None, cancelled=True))
            return
        try:
            if engine.loaded is None:
                self.loaded = engine.load(self.model_id, n_ctx=self._n_ctx, cancel=job.cancel)
            loaded = engine.loaded
            assert loaded is not None
            pieces = job.start(engine)
            _emit(job, Started(loaded))
            for piece in pieces:
                _emit(job, Piece(piece))
        except Cancelled:
            _emit(job, Finished(engine.last_stats, cancelled=True))
        except Exception as exc:
            if not isinstance(exc, DriftlessError):
                log.error("A request to %s failed", self.model_id, exc_info=exc)
            _emit(job, Failed(exc))
        else:
            _emit(job, Finished(engine.last_stats))


def _emit(job: Job[U], event: Event) -> None:
    try:
        job.emit(event)
    except Exception:  # a closed event loop must not take the owner thread down
        log.debug("An event for a finished request was dropped", exc_info=True)
