"""The download queue: it outlives every tab and dialog, and runs each pull in a worker.

``DownloadQueue`` belongs to the main window. Each download runs
``Downloader.pull`` in the global thread pool. Pause sets the download's cancel
token: the core stops between chunks, raises ``Cancelled`` and keeps the partial
file, so resume is simply another pull, which continues with an HTTP Range
request. Cancel pauses, then discards the partial. Progress arrives from the
worker thread at most a few times a second, as signals carrying immutable values;
every signal names the run it belongs to, and a stale run's signals are dropped.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from dataclasses import dataclass, replace
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from app.core.cancel import CancelToken
from app.core.download import Downloader, DownloadProgress
from app.core.errors import Cancelled, DriftlessError
from app.core.hub import COMMIT_RE
from app.core.settings import Settings, load_settings
from app.core.store import InstalledModel, ModelStore
from app.ui.manager.download_model import (
    DownloadRequest,
    DownloadsModel,
    DownloadSnapshot,
    DownloadState,
)

PROGRESS_INTERVAL = 0.2
"""Seconds between two progress signals of one download (the last one always goes)."""


class _Signals(QObject):
    """The worker's voice. Created in the GUI thread, so its signals arrive there queued."""

    commit_resolved = Signal(int, str)
    progressed = Signal(int, object)
    status_reported = Signal(int, str)
    succeeded = Signal(int, object)
    failed = Signal(int, str)
    cancelled = Signal(int)


class _Run(QRunnable):
    """One attempt at one download, in a pool thread."""

    def __init__(
        self,
        run_id: int,
        signals: _Signals,
        downloader: Downloader,
        request: DownloadRequest,
        commit: str | None,
        token: CancelToken,
    ) -> None:
        super().__init__()
        self.run_id, self.signals, self.downloader = run_id, signals, downloader
        self.request, self.commit, self.token = request, commit, token
        self._last_progress = 0.0

    def run(self) -> None:
        try:
            model = self._pull()
        except Cancelled:
            self._emit(self.signals.cancelled)
        except DriftlessError as exc:
            self._emit(self.signals.failed, str(exc))
        except OSError as exc:
            self._emit(self.signals.failed, f"{exc.strerror or exc}: {exc.filename or ''}")
        except Exception as exc:  # a worker must report, never die silently
            self._emit(self.signals.failed, f"Unexpected error: {type(exc).__name__}: {exc}")
        else:
            self._emit(self.signals.succeeded, model)

    def _pull(self) -> InstalledModel:
        request, downloader = self.request, self.downloader
        commit = self.commit
        if commit is None:
            # Resolve once, so a resume continues this exact commit even if the branch moves.
            if COMMIT_RE.match(request.revision):
                commit = request.revision
            else:
                commit = downloader.client.resolve(request.repo, request.revision)
            self._emit(self.signals.commit_resolved, commit)
        model = downloader.pull(
            request.repo,
            request.filename,
            commit,
            pin=request.pin,
            on_progress=self._on_progress,
            on_status=lambda text: self._emit(self.signals.status_reported, text),
            cancel=self.token,
        )
        store = downloader.store
        track = request.track
        if track is None and not COMMIT_RE.match(request.revision):
            track = request.revision
        if track and model.revision is None:
            model = store.set_tracked_revision(model.id, track)
        if request.activate:
            model = store.set_active(model.id)
        return model

    def _on_progress(self, progress: DownloadProgress) -> None:
        now = time.monotonic()
        if progress.done < progress.total and now - self._last_progress < PROGRESS_INTERVAL:
            return
        self._last_progress = now
        self._emit(self.signals.progressed, progress)

    def _emit(self, signal: Any, *args: Any) -> None:
        # RuntimeError: the queue was deleted while this ran (the app is closing).
        with contextlib.suppress(RuntimeError):
            signal.emit(self.run_id, *args)


@dataclass
class _Job:
    """The queue's mutable record of one download; only the GUI thread touches it."""

    snapshot: DownloadSnapshot
    token: CancelToken | None = None
    run_id: int | None = None
    discard_when_stopped: bool = False


class DownloadQueue(QObject):
    """Every download of this window, running or paused or failed, with its model."""

    model_installed = Signal(object)
    jobs_changed = Signal()
    settings_changed = Signal(object)

    def __init__(
        self,
        store: ModelStore,
        settings: Settings | None = None,
        parent: QObject | None = None,
        *,
        max_parallel: int = 2,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.settings = settings if settings is not None else load_settings(store.paths)
        self.downloader = Downloader(store, self.settings)
        self.max_parallel = max_parallel
        self.model = DownloadsModel(self)
        self._jobs: dict[int, _Job] = {}
        self._runs: dict[int, int] = {}  # run id -> job key
        self._keys = itertools.count(1)
        self._run_ids = itertools.count(1)
        self._signals = _Signals()
        self._signals.commit_resolved.connect(self._on_run_commit_resolved)
        self._signals.progressed.connect(self._on_run_progressed)
        self._signals.status_reported.connect(self._on_run_status_reported)
        self._signals.succeeded.connect(self._on_run_succeeded)
        self._signals.failed.connect(self._on_run_failed)
        self._signals.cancelled.connect(self._on_run_cancelled)

    # --- settings ---------------------------------------------------------

    def set_settings(self, settings: Settings) -> None:
        """New downloads use these settings. Going offline pauses every download at once;
        other changes apply from each download's next start."""
        self.settings = settings
        self.downloader = Downloader(self.store, settings)
        if settings.offline:
            for key in list(self._jobs):
                self.pause(key)
        self.settings_changed.emit(settings)

    # --- public -----------------------------------------------------------

    def enqueue(self, request: DownloadRequest) -> int:
        """Add a download (or return the one already there for the same file) and start it."""
        for job in self._jobs.values():
            same = job.snapshot.request
            if (same.repo, same.filename) == (request.repo, request.filename) and (
                job.snapshot.state is not DownloadState.DONE
            ):
                if job.snapshot.state.resumable:
                    self.resume(job.snapshot.key)
                return job.snapshot.key
        key = next(self._keys)
        commit = request.revision if COMMIT_RE.match(request.revision) else None
        self._jobs[key] = _Job(DownloadSnapshot(key, request, DownloadState.QUEUED, commit))
        self._publish(key)
        self._pump()
        return key

    def restore_partials(self) -> int:
        """Offer downloads interrupted before this start (paused, closed, killed)."""
        added = 0
        known = {
            (j.snapshot.request.repo, j.snapshot.request.filename) for j in self._jobs.values()
        }
        for partial in self.downloader.partials():
            if (partial.repo, partial.filename) in known:
                continue
            known.add((partial.repo, partial.filename))
            track = None if COMMIT_RE.match(partial.revision) else partial.revision
            request = DownloadRequest(partial.repo, partial.filename, partial.commit, track=track)
            key = next(self._keys)
            snapshot = DownloadSnapshot(
                key,
                request,
                DownloadState.PAUSED,
                partial.commit,
                done=partial.done,
                total=partial.size,
                message="Interrupted before Driftless last closed. Resume to continue "
                "where it stopped.",
            )
            self._jobs[key] = _Job(snapshot)
            self._publish(key)
            added += 1
        return added

    def pause(self, key: int) -> None:
        job = self._jobs.get(key)
        if job is None:
            return
        if job.snapshot.state is DownloadState.QUEUED:
            self._set(key, state=DownloadState.PAUSED, message="")
        elif job.snapshot.state in (DownloadState.DOWNLOADING, DownloadState.CHECKING):
            assert job.token is not None
            job.token.cancel()
            self._set(key, state=DownloadState.PAUSING)

    def resume(self, key: int) -> None:
        job = self._jobs.get(key)
        if job is not None and job.snapshot.state.resumable:
            self._set(key, state=DownloadState.QUEUED, message="")
            self._pump()

    retry = resume

    def cancel(self, key: int) -> None:
        """Stop for good: the partial file is deleted and the row goes."""
        job = self._jobs.get(key)
        if job is None:
            return
        if job.snapshot.state.running:
            assert job.token is not None
            job.discard_when_stopped = True
            job.token.cancel()
            self._set(key, state=DownloadState.CANCELLING)
            return
        if job.snapshot.state is not DownloadState.DONE:
            self._discard(job.snapshot)
        self._drop(key)

    def clear(self, key: int) -> None:
        """Remove a finished row from the list (the model stays installed)."""
        job = self._jobs.get(key)
        if job is not None and job.snapshot.state is DownloadState.DONE:
            self._drop(key)

    def shutdown(self) -> None:
        """Pause everything running (partials are kept to resume at the next start)."""
        for job in self._jobs.values():
            if job.token is not None:
                job.token.cancel()

    def snapshot(self, key: int) -> DownloadSnapshot | None:
        job = self._jobs.get(key)
        return job.snapshot if job else None

    @property
    def active_count(self) -> int:
        return sum(1 for j in self._jobs.values() if j.snapshot.state is not DownloadState.DONE)

    @property
    def running_count(self) -> int:
        return sum(1 for j in self._jobs.values() if j.snapshot.state.running)

    # --- internals --------------------------------------------------------

    def _pump(self) -> None:
        for key, job in list(self._jobs.items()):
            if self.running_count >= self.max_parallel:
                return
            if job.snapshot.state is DownloadState.QUEUED:
                self._start(key, job)

    def _start(self, key: int, job: _Job) -> None:
        run_id = next(self._run_ids)
        job.run_id, job.token = run_id, CancelToken()
        self._runs[run_id] = key
        snap = job.snapshot
        self._set(key, state=DownloadState.DOWNLOADING, message="", bytes_per_second=0.0)
        run = _Run(run_id, self._signals, self.downloader, snap.request, snap.commit, job.token)
        QThreadPool.globalInstance().start(run)

    def _job_of_run(self, run_id: int) -> tuple[int, _Job] | None:
        key = self._runs.get(run_id)
        job = self._jobs.get(key) if key is not None else None
        if key is None or job is None or job.run_id != run_id:
            return None
        return key, job

    def _set(self, key: int, **changes: Any) -> None:
        job = self._jobs[key]
        job.snapshot = replace(job.snapshot, **changes)
        self._publish(key)

    def _publish(self, key: int) -> None:
        self.model.upsert(self._jobs[key].snapshot)
        self.jobs_changed.emit()

    def _drop(self, key: int) -> None:
        self._jobs.pop(key, None)
        self.model.remove(key)
        self.jobs_changed.emit()

    def _finish_run(self, run_id: int) -> tuple[int, _Job] | None:
        found = self._job_of_run(run_id)
        self._runs.pop(run_id, None)
        if found is not None:
            found[1].run_id = found[1].token = None
        return found

    def _discard(self, snapshot: DownloadSnapshot) -> None:
        if snapshot.commit is None:
            return  # nothing was written before the commit was known
        request = snapshot.request
        for partial in self.downloader.partials():
            if (partial.repo, partial.commit, partial.filename) == (
                request.repo,
                snapshot.commit,
                request.filename,
            ):
                self.downloader.discard(partial)

    # --- worker signals ---------------------------------------------------

    @Slot(int, str)
    def _on_run_commit_resolved(self, run_id: int, commit: str) -> None:
        if found := self._job_of_run(run_id):
            self._set(found[0], commit=commit)

    @Slot(int, object)
    def _on_run_progressed(self, run_id: int, progress: DownloadProgress) -> None:
        found = self._job_of_run(run_id)
        if found is None:
            return
        key, job = found
        state = job.snapshot.state
        if state in (DownloadState.DOWNLOADING, DownloadState.CHECKING):
            state = DownloadState.CHECKING if progress.done >= progress.total else state
        self._set(
            key,
            state=state,
            done=progress.done,
            total=progress.total,
            bytes_per_second=progress.bytes_per_second,
            eta_seconds=progress.eta_seconds,
        )

    @Slot(int, str)
    def _on_run_status_reported(self, run_id: int, text: str) -> None:
        if found := self._job_of_run(run_id):
            self._set(found[0], message=text)

    @Slot(int, object)
    def _on_run_succeeded(self, run_id: int, model: InstalledModel) -> None:
        found = self._finish_run(run_id)
        if found is None:
            return
        key, _job = found
        self._set(
            key,
            state=DownloadState.DONE,
            done=model.size,
            total=model.size,
            eta_seconds=None,
            model_id=model.id,
            message=f"Installed as {model.id} ({model.repo}@{model.short_commit}), "
            "sha256 and GGUF header verified.",
        )
        self.model_installed.emit(model)
        self._pump()

    @Slot(int, str)
    def _on_run_failed(self, run_id: int, message: str) -> None:
        found = self._finish_run(run_id)
        if found is None:
            return
        key, job = found
        if job.discard_when_stopped:
            self._discard(job.snapshot)
            self._drop(key)
        else:
            self._set(key, state=DownloadState.FAILED, message=message, eta_seconds=None)
        self._pump()

    @Slot(int)
    def _on_run_cancelled(self, run_id: int) -> None:
        found = self._finish_run(run_id)
        if found is None:
            return
        key, job = found
        if job.discard_when_stopped:
            self._discard(job.snapshot)
            self._drop(key)
        else:
            self._set(key, state=DownloadState.PAUSED, message="", eta_seconds=None)
        self._pump()
