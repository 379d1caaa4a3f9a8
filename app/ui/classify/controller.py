"""The GUI-thread side of the classification thread: requests out, fresh answers in.

Each kind of work (a tried text, a file run, an evaluation, teaching, an export)
has at most one current request; answers to any other id are stale and dropped,
so the page only hears about what it is waiting for. Shutdown is in order:
cancel every token, close the workbench, ``quit()``, ``wait()``.
"""

from __future__ import annotations

import functools
import itertools
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from app.core.cancel import CancelToken
from app.core.classify import Columns, GoldMap, PauseToken
from app.core.models.store import ModelStore
from app.core.paths import Paths
from app.ui.classify.worker import (
    FILE_CHUNK,
    ClassifyWorker,
    ExportRequest,
    FileRequest,
    Job,
    RunRequest,
    TableRequest,
    TryRequest,
)
from app.ui.tasks import stop_thread

KINDS = ("try", "file", "eval", "teach", "export", "open")


class ClassifyController(QObject):
    """Owns the classification thread and its worker."""

    file_started = Signal(object)  # FileStarted
    rows_classified = Signal(object)  # tuple[RowResult, ...]
    progressed = Signal(str, object)  # kind, progress value
    finished = Signal(str, object)  # kind, outcome (None when cancelled)
    failed = Signal(str, str)  # kind, message
    busy_changed = Signal()
    model_loading = Signal(str)  # model id
    model_loaded = Signal(object)  # RunnerInfo: the model and the weights it scores on

    _open_requested = Signal(str, bool)
    _try_requested = Signal(object)
    _file_requested = Signal(object)
    _eval_requested = Signal(object)
    _teach_requested = Signal(object)
    _export_requested = Signal(object)
    _run_eval_requested = Signal(object)
    _run_open_requested = Signal(object)
    _close_requested = Signal()

    def __init__(self, paths: Paths, store: ModelStore, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._current: dict[str, int] = {}
        self._tokens: list[CancelToken] = []  # every token under way, for teardown
        self._cancels: dict[str, CancelToken] = {}
        self._pause: PauseToken | None = None
        self.on_cluster = False
        """The file run under way (or the last one) runs on a cluster: it cannot pause."""
        self.file_chunk_size = FILE_CHUNK
        """Rows classified between table updates and pause checks."""
        self._thread = QThread()
        self._thread.setObjectName("driftless-classify")
        self._worker = ClassifyWorker(paths, store)
        self._worker.moveToThread(self._thread)
        self._open_requested.connect(self._worker.open_model)
        self._try_requested.connect(self._worker.classify_text)
        self._file_requested.connect(self._worker.classify_file)
        self._eval_requested.connect(self._worker.evaluate_file)
        self._teach_requested.connect(self._worker.teach_file)
        self._export_requested.connect(self._worker.export_run)
        self._run_eval_requested.connect(self._worker.evaluate_run)
        self._run_open_requested.connect(self._worker.open_run)
        self._close_requested.connect(self._worker.close)
        self._worker.started.connect(self._on_worker_started)
        self._worker.model_loading.connect(self.model_loading)
        self._worker.model_loaded.connect(self.model_loaded)
        self._worker.progressed.connect(self._on_worker_progressed)
        self._worker.rows_classified.connect(self._on_worker_rows_classified)
        self._worker.finished.connect(self._on_worker_finished)
        self._worker.failed.connect(self._on_worker_failed)
        self._thread.finished.connect(self._worker.deleteLater)
        # A page deleted without being closed must still end its thread in order.
        self.destroyed.connect(functools.partial(stop_thread, self._thread, self._tokens))
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self._thread.start()

    # --- requests ---------------------------------------------------------------

    def busy(self, kind: str) -> bool:
        return kind in self._current

    def open_model(self, model_id: str, unpack: bool = True) -> None:
        """Load the model ahead of the first request, so the first answer comes quickly."""
        self._open_requested.emit(model_id, unpack)

    def classify_text(self, job: Job, text: str) -> None:
        self.cancel("try")
        request = TryRequest(self._begin("try"), job, text, self._token("try"))
        self._try_requested.emit(request)

    def classify_file(
        self, job: Job, path: Path, columns: Columns | None = None, *, cluster: str = ""
    ) -> None:
        """Classify a file here, or on the Ray cluster at ``cluster`` (no pausing there)."""
        self.cancel("file")
        self._pause = PauseToken()
        request = FileRequest(
            self._begin("file"),
            job,
            path,
            self._token("file"),
            self._pause,
            self.file_chunk_size,
            columns,
            cluster,
        )
        self.on_cluster = bool(cluster)
        self._file_requested.emit(request)

    def evaluate_file(self, job: Job, path: Path, columns: Columns | None = None) -> None:
        self.cancel("eval")
        self._eval_requested.emit(
            TableRequest(self._begin("eval"), job, path, self._token("eval"), columns)
        )

    def teach_file(self, job: Job, path: Path, columns: Columns | None = None) -> None:
        self.cancel("teach")
        self._teach_requested.emit(
            TableRequest(self._begin("teach"), job, path, self._token("teach"), columns)
        )

    def export_run(self, run_id: int, path: Path) -> None:
        self._export_requested.emit(ExportRequest(self._begin("export"), run_id, path))

    def evaluate_run(self, run_id: int, gold_map: GoldMap | None = None) -> None:
        """Score a finished run's stored predictions (an "eval" request, no model needed)."""
        self.cancel("eval")
        self._run_eval_requested.emit(RunRequest(self._begin("eval"), run_id, gold_map))

    def open_run(self, run_id: int) -> None:
        """Read a past run's rows back (an "open" request)."""
        self._run_open_requested.emit(RunRequest(self._begin("open"), run_id))

    def pause(self) -> None:
        """Hold the file run between chunks (a direct call: the worker is busy)."""
        if self._pause is not None and self.busy("file"):
            self._pause.pause()

    def resume(self) -> None:
        if self._pause is not None:
            self._pause.resume()

    @property
    def paused(self) -> bool:
        return self._pause is not None and self._pause.paused and self.busy("file")

    def cancel(self, kind: str) -> None:
        """Cancel the current request of ``kind``; the worker stops at its next check."""
        if kind not in self._current:
            return
        token = self._cancels.get(kind)
        if token is not None:
            token.cancel()
        if kind == "file" and self._pause is not None:
            self._pause.resume()  # a paused run must wake up to see the cancel

    def shutdown(self) -> None:
        if self._pause is not None:
            self._pause.resume()
        if self._thread.isRunning():
            self._close_requested.emit()
        stop_thread(self._thread, self._tokens)

    def _begin(self, kind: str) -> int:
        request_id = next(self._ids)
        self._current[kind] = request_id
        self.busy_changed.emit()
        return request_id

    def _token(self, kind: str) -> CancelToken:
        self._tokens[:] = [t for t in self._tokens if not t.cancelled]
        token = CancelToken()
        self._tokens.append(token)
        self._cancels[kind] = token
        return token

    # --- answers ---------------------------------------------------------------

    def _kind_of(self, request_id: int) -> str | None:
        for kind, current in self._current.items():
            if current == request_id:
                return kind
        return None

    def _end(self, kind: str) -> None:
        del self._current[kind]
        self._cancels.pop(kind, None)
        if kind == "file":
            self._pause = None
        self.busy_changed.emit()

    @Slot(int, object)
    def _on_worker_started(self, request_id: int, started: object) -> None:
        if self._kind_of(request_id) == "file":
            self.file_started.emit(started)

    @Slot(int, object)
    def _on_worker_progressed(self, request_id: int, progress: object) -> None:
        kind = self._kind_of(request_id)
        if kind is not None:
            self.progressed.emit(kind, progress)

    @Slot(int, object)
    def _on_worker_rows_classified(self, request_id: int, rows: object) -> None:
        if self._kind_of(request_id) == "file":
            self.rows_classified.emit(rows)

    @Slot(int, object)
    def _on_worker_finished(self, request_id: int, outcome: object) -> None:
        kind = self._kind_of(request_id)
        if kind is not None:
            self._end(kind)
            self.finished.emit(kind, outcome)

    @Slot(int, str)
    def _on_worker_failed(self, request_id: int, message: str) -> None:
        kind = self._kind_of(request_id)
        if kind is not None:
            self._end(kind)
            self.failed.emit(kind, message)
