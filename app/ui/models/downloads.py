"""The download queue: it outlives every tab and dialog, and runs each pull in a worker.

``DownloadQueue`` belongs to the main window. Each attempt at a download is a
:class:`~app.ui.tasks.Task` running ``Downloader.pull`` in the global thread pool. Pause
cancels the task: the core stops between chunks, raises ``Cancelled`` and keeps the
partial file, so resume is simply another attempt, which continues with an HTTP Range
request. Cancel pauses, then discards the partial. Progress arrives from the worker
thread at most a few times a second, as signals carrying immutable values; a signal
from an attempt that is no longer its download's current one is dropped.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from app.core.hub.client import COMMIT_RE
from app.core.hub.download import Downloader, DownloadProgress
from app.core.models.store import InstalledModel, ModelStore
from app.core.settings import Settings, load_settings
from app.ui.models.download_model import (
    DownloadRequest,
    DownloadsModel,
    DownloadSnapshot,
    DownloadState,
)
from app.ui.tasks import Task


class _PullTask(Task):
    """One attempt at one download, in a pool thread; ``report`` carries its progress."""

    commit_resolved = Signal(str)
    status_reported = Signal(str)

    def __init__(
        self,
        downloader: Downloader,
        request: DownloadRequest,
        commit: str | None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(lambda _task: self._pull(), parent)
        self.downloader, self.request, self.commit = downloader, request, commit

    def _pull(self) -> InstalledModel:
        """The work of one attempt (in the pool thread: it touches nothing of the queue's)."""
        request, downloader, commit = self.request, self.downloader, self.commit
        if commit is None:
            # Resolve once, so a resume continues this exact commit even if the branch moves.
            if COMMIT_RE.match(request.revision):
                commit = request.revision
            else:
                commit = downloader.client.resolve(request.repo, request.revision)
            self.send(self.commit_resolved, commit)
        model = downloader.pull(
            request.repo,
            request.filename,
            commit,
            pin=request.pin,
            on_progress=self.report,
            on_status=lambda text: self.send(self.status_reported, text),
            cancel=self.cancel_token,
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


@dataclass
class _Job:
    """The queue's mutable record of one download; only the GUI thread touches it."""

    snapshot: DownloadSnapshot
    task: _PullTask | None = None
    """The attempt running now; signals of any other attempt are stale and dropped."""
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
        self._keys = itertools.count(1)

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
            assert job.task is not None
            job.task.cancel()
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
            assert job.task is not None
            job.discard_when_stopped = True
            job.task.cancel()
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
            if job.task is not None:
                job.task.cancel()

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
        snap = job.snapshot
        task = _PullTask(self.downloader, snap.request, snap.commit, self)
        job.task = task
        task.commit_resolved.connect(self._on_run_commit_resolved)
        task.progressed.connect(self._on_run_progressed)
        task.status_reported.connect(self._on_run_status_reported)
        task.succeeded.connect(self._on_run_succeeded)
        task.failed.connect(self._on_run_failed)
        task.cancelled.connect(self._on_run_cancelled)
        self._set(key, state=DownloadState.DOWNLOADING, message="", bytes_per_second=0.0)
        task.start()

    def _job_of_run(self) -> tuple[int, _Job] | None:
        """The job whose running attempt sent the signal being handled, if it still is."""
        task = self.sender()
        for key, job in self._jobs.items():
            if job.task is not None and job.task is task:
                return key, job
        return None

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

    def _finish_run(self) -> tuple[int, _Job] | None:
        found = self._job_of_run()
        if found is not None:
            task = found[1].task
            found[1].task = None
            assert task is not None
            task.deleteLater()
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

    @Slot(str)
    def _on_run_commit_resolved(self, commit: str) -> None:
        if found := self._job_of_run():
            self._set(found[0], commit=commit)

    @Slot(object)
    def _on_run_progressed(self, progress: DownloadProgress) -> None:
        found = self._job_of_run()
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

    @Slot(str)
    def _on_run_status_reported(self, text: str) -> None:
        if found := self._job_of_run():
            self._set(found[0], message=text)

    @Slot(object)
    def _on_run_succeeded(self, model: InstalledModel) -> None:
        found = self._finish_run()
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

    @Slot(str)
    def _on_run_failed(self, message: str) -> None:
        found = self._finish_run()
        if found is None:
            return
        key, job = found
        if job.discard_when_stopped:
            self._discard(job.snapshot)
            self._drop(key)
        else:
            self._set(key, state=DownloadState.FAILED, message=message, eta_seconds=None)
        self._pump()

    @Slot()
    def _on_run_cancelled(self) -> None:
        found = self._finish_run()
        if found is None:
            return
        key, job = found
        if job.discard_when_stopped:
            self._discard(job.snapshot)
            self._drop(key)
        else:
            self._set(key, state=DownloadState.PAUSED, message="", eta_seconds=None)
        self._pump()
