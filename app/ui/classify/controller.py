"""The GUI-thread side of the classification thread: requests out, fresh answers in.

A user of the model-worker kit (:mod:`app.ui.model_worker`): each kind of work (a
tried text, a file run, an evaluation, teaching, an export, opening a past run) is a
:class:`~app.ui.model_worker.Lane` with at most one current request, whose own
``finished``/``failed``/``progressed`` signals carry only that request's answers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from app.core.classify import Columns, GoldMap, PauseToken
from app.core.classify.dialect import CsvDialect
from app.core.models.store import ModelStore
from app.core.paths import Paths
from app.ui.classify.worker import (
    FILE_CHUNK,
    ClassifyWorker,
    ExportRequest,
    FileRequest,
    Job,
    OpenRequest,
    RunRequest,
    TableRequest,
    TryRequest,
)
from app.ui.model_worker import Lane, WorkerController

KINDS = ("try", "file", "eval", "teach", "export", "open")


class ClassifyController(WorkerController):
    """Owns the classification thread and its worker."""

    file_started = Signal(object)  # FileStarted
    rows_classified = Signal(object)  # tuple[RowResult, ...]
    model_loading = Signal(str)  # model id
    model_loaded = Signal(object)  # RunnerInfo: the model and the weights it scores on
    progressed = Signal(str, object)  # kind, progress value
    finished = Signal(str, object)  # kind, outcome (None when cancelled)
    failed = Signal(str, str)  # kind, message
    """Every lane's answers, named by kind, for observers of all work (tests, logs)."""

    def __init__(self, paths: Paths, store: ModelStore, parent: QObject | None = None) -> None:
        worker = ClassifyWorker(paths, store)
        super().__init__(worker, "driftless-classify", parent)
        self._classify_worker = worker
        self.lanes = {kind: self.lane(kind) for kind in KINDS}
        self.try_lane, self.file_lane, self.eval_lane, self.teach_lane = (
            self.lanes[kind] for kind in ("try", "file", "eval", "teach")
        )
        self.export_lane, self.open_lane = self.lanes["export"], self.lanes["open"]
        self._pause: PauseToken | None = None
        self.on_cluster = False
        """The file run under way (or the last one) runs on a cluster: it cannot pause."""
        self.file_chunk_size = FILE_CHUNK
        """Rows classified between table updates and pause checks."""
        for kind, lane in self.lanes.items():
            lane.progressed.connect(functools.partial(self.progressed.emit, kind))
            lane.finished.connect(functools.partial(self.finished.emit, kind))
            lane.failed.connect(functools.partial(self.failed.emit, kind))
        worker.started.connect(self._on_worker_started)
        worker.model_loading.connect(self.model_loading)
        worker.model_loaded.connect(self.model_loaded)
        worker.rows_classified.connect(self._on_worker_rows_classified)
        self.start()

    # --- requests ---------------------------------------------------------------

    def busy(self, kind: str) -> bool:
        return self.lanes[kind].busy

    def open_model(self, model_id: str, unpack: bool = True) -> None:
        """Load the model ahead of the first request, so the first answer comes quickly."""
        self.post(self._classify_worker.open_model, OpenRequest(model_id, unpack))

    def classify_text(self, job: Job, text: str) -> None:
        request_id, token = self.try_lane.begin()
        self.post(self._classify_worker.classify_text, TryRequest(request_id, job, text, token))

    def classify_file(
        self, job: Job, path: Path, columns: Columns | None = None, *, cluster: str = ""
    ) -> None:
        """Classify a file here, or on the Ray cluster at ``cluster`` (no pausing there)."""
        self.cancel("file")
        request_id, token = self.file_lane.begin()
        self._pause = PauseToken()
        request = FileRequest(
            request_id, job, path, token, self._pause, self.file_chunk_size, columns, cluster
        )
        self.on_cluster = bool(cluster)
        self.post(self._classify_worker.classify_file, request)

    def evaluate_file(self, job: Job, path: Path, columns: Columns | None = None) -> None:
        self._post_table(self.eval_lane, self._classify_worker.evaluate_file, job, path, columns)

    def teach_file(self, job: Job, path: Path, columns: Columns | None = None) -> None:
        self._post_table(self.teach_lane, self._classify_worker.teach_file, job, path, columns)

    def _post_table(
        self,
        lane: Lane,
        method: Callable[[TableRequest], object],
        job: Job,
        path: Path,
        columns: Columns | None,
    ) -> None:
        request_id, token = lane.begin()
        self.post(method, TableRequest(request_id, job, path, token, columns))

    def export_run(self, run_id: int, path: Path, dialect: CsvDialect | None = None) -> None:
        """Write a run's results as CSV, laid out as ``dialect`` (None: like its input)."""
        request_id, _token = self.export_lane.begin()
        request = ExportRequest(request_id, run_id, path, dialect)
        self.post(self._classify_worker.export_run, request)

    def evaluate_run(self, run_id: int, gold_map: GoldMap | None = None) -> None:
        """Score a finished run's stored predictions (an "eval" request, no model needed)."""
        request_id, _token = self.eval_lane.begin()
        self.post(self._classify_worker.evaluate_run, RunRequest(request_id, run_id, gold_map))

    def open_run(self, run_id: int) -> None:
        """Read a past run's rows back (an "open" request)."""
        request_id, _token = self.open_lane.begin()
        self.post(self._classify_worker.open_run, RunRequest(request_id, run_id))

    def pause(self) -> None:
        """Hold the file run between chunks (a direct call: the worker is busy)."""
        if self._pause is not None and self.file_lane.busy:
            self._pause.pause()

    def resume(self) -> None:
        if self._pause is not None:
            self._pause.resume()

    @property
    def paused(self) -> bool:
        return self._pause is not None and self._pause.paused and self.file_lane.busy

    def cancel(self, kind: str) -> None:
        """Cancel the current request of ``kind``; the worker stops at its next check."""
        self.lanes[kind].cancel()
        if kind == "file":
            self.resume()  # a paused run must wake up to see the cancel

    def before_release(self) -> None:
        self.resume()

    # --- answers ---------------------------------------------------------------

    @Slot(int, object)
    def _on_worker_started(self, request_id: int, started: object) -> None:
        if self.file_lane.is_current(request_id):
            self.file_started.emit(started)

    @Slot(int, object)
    def _on_worker_rows_classified(self, request_id: int, rows: object) -> None:
        if self.file_lane.is_current(request_id):
            self.rows_classified.emit(rows)
