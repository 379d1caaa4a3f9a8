"""The GUI-thread side of the Documents page's background work.

Searches and removals go to the documents thread (:class:`DocsWorker`, lanes "search"
and "remove": a newer search makes an older one stale); indexing is one
:class:`~app.ui.tasks.Task` at a time, with progress and Cancel.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from app.ui.doc_access import DocsAccess
from app.ui.docs.worker import (
    DocsWorker,
    IndexJob,
    IndexOutcome,
    IndexProgress,
    RemoveRequest,
    SearchRequest,
    SearchResult,
    index_collection,
)
from app.ui.model_worker import WorkerController
from app.ui.tasks import STOP_TIMEOUT_MS, Task

SEARCH_TOP = 10


class DocsController(WorkerController):
    """Owns the documents thread and the indexing task."""

    index_progressed = Signal(object)  # IndexProgress
    index_finished = Signal(object)  # IndexOutcome
    index_cancelled = Signal(object)  # the IndexJob that was cancelled
    index_failed = Signal(str)  # a sentence
    searched = Signal(object)  # SearchResult
    search_failed = Signal(str)
    removed = Signal(str)  # the collection
    remove_failed = Signal(str)

    def __init__(self, docs: DocsAccess, parent: QObject | None = None) -> None:
        worker = DocsWorker(docs)
        super().__init__(worker, "driftless-documents", parent)
        self.docs = docs
        self._docs_worker = worker
        self._search_lane = self.lane("search")
        self._remove_lane = self.lane("remove")
        self._search_lane.finished.connect(self._on_search_finished)
        self._search_lane.failed.connect(self.search_failed)
        self._remove_lane.finished.connect(self._on_remove_finished)
        self._remove_lane.failed.connect(self.remove_failed)
        self.index_task: Task | None = None
        self.index_job: IndexJob | None = None
        self._index_ended = threading.Event()
        self._index_ended.set()
        self.start()

    # --- indexing -----------------------------------------------------------

    @property
    def indexing(self) -> bool:
        return self.index_task is not None

    def index(
        self,
        collection: str,
        paths: list[Path],
        embedder: str | None = None,
        *,
        reembed: bool = False,
    ) -> Task:
        """Add ``paths`` to ``collection`` (made when new); no paths: read it again;
        ``reembed``: embed every passage again with ``embedder``."""
        assert self.index_task is None, "one indexing at a time"
        job = IndexJob(collection, tuple(paths), embedder, reembed)
        docs = self.docs
        ended = self._index_ended
        ended.clear()

        def work(task: Task) -> IndexOutcome:
            try:
                return index_collection(docs, job, task)
            finally:
                ended.set()  # on the pool thread: shutdown waits for this, not for signals

        task = Task(work, self)
        task.progressed.connect(self._on_index_progressed)
        task.succeeded.connect(self._on_index_succeeded)
        task.failed.connect(self._on_index_failed)
        task.cancelled.connect(self._on_index_cancelled)
        self.index_task, self.index_job = task, job
        self.busy_changed.emit()
        return task.start()

    def cancel_index(self) -> None:
        """Stop indexing: a direct call, seen between files (each file is saved whole)."""
        if self.index_task is not None:
            self.index_task.cancel()

    @Slot(object)
    def _on_index_progressed(self, progress: IndexProgress) -> None:
        if self.index_task is not None:
            self.index_progressed.emit(progress)

    def _end_index(self) -> IndexJob | None:
        job = self.index_job
        self.index_task = self.index_job = None
        self.busy_changed.emit()
        return job

    @Slot(object)
    def _on_index_succeeded(self, outcome: IndexOutcome) -> None:
        self._end_index()
        self.index_finished.emit(outcome)

    @Slot(str)
    def _on_index_failed(self, message: str) -> None:
        self._end_index()
        self.index_failed.emit(message)

    @Slot()
    def _on_index_cancelled(self) -> None:
        job = self._end_index()
        self.index_cancelled.emit(job if job is not None else IndexJob(""))

    # --- searching and removing ---------------------------------------------

    @property
    def searching(self) -> bool:
        return self._search_lane.busy

    def search(self, collection: str, query: str, top: int = SEARCH_TOP) -> None:
        request_id, token = self._search_lane.begin()
        self.post(
            self._docs_worker.search, SearchRequest(request_id, collection, query, top, token)
        )

    def remove(self, collection: str) -> None:
        self._search_lane.cancel()
        request_id, token = self._remove_lane.begin()
        self.post(self._docs_worker.remove, RemoveRequest(request_id, collection, token))

    @Slot(object)
    def _on_search_finished(self, result: SearchResult | None) -> None:
        if result is not None:
            self.searched.emit(result)

    @Slot(object)
    def _on_remove_finished(self, name: str | None) -> None:
        if name is not None:
            self.removed.emit(name)

    def shutdown(self) -> None:
        """Cancel indexing and wait a moment for it to stop between files (the index is
        closed after this, and no file is ever left half written), then end the thread."""
        self.cancel_index()
        self._index_ended.wait(STOP_TIMEOUT_MS / 1000)
        super().shutdown()
