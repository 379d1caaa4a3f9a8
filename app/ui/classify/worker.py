"""The classification thread: one worker object owns the :class:`Workbench`.

Like the chat engine, the model opened for classification is not thread-safe, so
the workbench is created on this worker's ``QThread`` and only touched there (the
kit in :mod:`app.ui.model_worker`). Requests are frozen dataclasses, answered by the
kit's ``finished`` or ``failed`` tagged with their id (a tried text cancelled before it
began is not answered: a newer one is on its way). Cancel and pause are never queued
(they would wait behind the busy worker): the GUI thread sets the request's tokens
directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import Signal

from app.core.cancel import CancelToken
from app.core.classify import (
    BatchProgress,
    Classifier,
    Columns,
    EvalReport,
    GoldMap,
    LabelSet,
    MethodOptions,
    PauseToken,
    Prediction,
    RowResult,
    RunRecord,
    TeachProgress,
    Workbench,
    choose_columns,
    evaluate_file_run,
    evaluate_run,
    open_file_run,
    read_all,
    run_file,
    sniff,
)
from app.core.classify.dialect import CsvDialect
from app.core.cluster import (
    BlockDone,
    ClassifierJob,
    ClusterProgress,
    from_columns,
    run_on_cluster,
)
from app.core.errors import Cancelled
from app.core.models.store import ModelStore
from app.core.paths import Paths
from app.ui.model_worker import ModelWorker

log = logging.getLogger(__name__)

FILE_CHUNK = 16
"""Rows classified between table updates (and between pause/cancel checks)."""


@dataclass(frozen=True)
class Job:
    """What every request names: the model, the label set and how to classify."""

    model_id: str
    label_set: LabelSet
    options: MethodOptions
    unpack: bool = True
    """Score on a 16-bit copy of a small model's weights (app.core.models.unpacked)."""


@dataclass(frozen=True)
class OpenRequest:
    """Load a model ahead of the first request, so the first answer comes quickly."""

    model_id: str
    unpack: bool = True


@dataclass(frozen=True)
class TryRequest:
    request_id: int
    job: Job
    text: str
    cancel: CancelToken = field(default_factory=CancelToken)


@dataclass(frozen=True)
class FileRequest:
    request_id: int
    job: Job
    path: Path
    cancel: CancelToken = field(default_factory=CancelToken)
    pause: PauseToken = field(default_factory=PauseToken)
    chunk_size: int = FILE_CHUNK
    columns: Columns | None = None
    """The columns to read, as chosen; None: guessed from the header."""
    cluster: str = ""
    """A Ray cluster's address to run on (see app.core.cluster); empty: here."""


@dataclass(frozen=True)
class TableRequest:
    """Evaluate on, or teach from, a whole labelled file."""

    request_id: int
    job: Job
    path: Path
    cancel: CancelToken = field(default_factory=CancelToken)
    columns: Columns | None = None


@dataclass(frozen=True)
class ExportRequest:
    request_id: int
    run_id: int
    path: Path
    dialect: CsvDialect | None = None
    """How to lay the CSV out; None: like the run's input file."""


@dataclass(frozen=True)
class RunRequest:
    """Evaluate a finished run from its stored results, or open its rows again."""

    request_id: int
    run_id: int
    gold_map: GoldMap | None = None


@dataclass(frozen=True)
class RunOpened:
    run: RunRecord
    rows: tuple[RowResult, ...]


@dataclass(frozen=True)
class TryOutcome:
    text: str
    labels: tuple[str, ...]
    prediction: Prediction


@dataclass(frozen=True)
class FileStarted:
    """A file run is open: its id, its size and the rows an earlier session already did."""

    run_id: int
    total: int
    label_set: str
    lock_id: str
    earlier: tuple[RowResult, ...]
    weights: str = ""
    weights_note: str | None = None
    """Why the 16-bit copy was not used though it was asked for."""


@dataclass(frozen=True)
class FileOutcome:
    run_id: int
    status: str  # "complete" or "cancelled"


@dataclass(frozen=True)
class EvalOutcome:
    report: EvalReport


@dataclass(frozen=True)
class TeachOutcome:
    label_set: str
    examples: int
    validation_accuracy: float | None
    skipped_rows: int
    unknown_labels: tuple[str, ...]
    read_seconds: float
    fit_seconds: float
    gold_map: str = ""
    held_out: str = ""
    """The held-out estimate as a sentence (over every label; how it was measured)."""
    coverage_notes: tuple[str, ...] = ()
    """Labels taught without examples, or with few (see app.core.classify.coverage)."""


class ClassifyWorker(ModelWorker):
    """Lives on the classification thread; every request method runs there.

    ``progressed`` carries a BatchProgress, ClassifyProgress or TeachProgress."""

    started = Signal(int, object)  # request id, FileStarted
    model_loading = Signal(str)  # model id
    model_loaded = Signal(object)  # RunnerInfo
    rows_classified = Signal(int, object)  # request id, tuple[RowResult, ...]

    def __init__(self, paths: Paths, store: ModelStore) -> None:
        super().__init__()
        self._paths = paths
        self._store = store
        self._bench: Workbench | None = None
        self._opened: tuple[str, bool] | None = None  # model id, unpack
        self._cached: tuple[Job, Classifier] | None = None

    # --- owned objects, created on this thread ---------------------------------

    def _workbench(
        self, model_id: str, unpack: bool, cancel: CancelToken | None = None
    ) -> Workbench:
        if self._bench is None:
            self._bench = Workbench(self._paths, self._store)
        if self._opened != (model_id, unpack):
            self._cached = None
            self._opened = None
            self.model_loading.emit(model_id)
            info = self._bench.open_model(model_id, unpack=unpack, cancel=cancel)
            self._opened = (model_id, unpack)
            self.model_loaded.emit(info)
        return self._bench

    def _classifier(self, job: Job, cancel: CancelToken | None = None) -> Classifier:
        bench = self._workbench(job.model_id, job.unpack, cancel)
        if self._cached is None or self._cached[0] != job:
            self._cached = None
            self._cached = (job, bench.classifier(job.label_set, job.options))
        return self._cached[1]

    # --- requests --------------------------------------------------------------

    def open_model(self, request: OpenRequest) -> None:
        try:
            self._workbench(request.model_id, request.unpack)
        except Exception:  # the next request reports it, with its id
            log.info("Could not open %s for classification", request.model_id, exc_info=True)

    def classify_text(self, request: TryRequest) -> None:
        if request.cancel.cancelled:
            return

        def work() -> TryOutcome:
            classifier = self._classifier(request.job, request.cancel)
            (prediction,) = classifier.predict([request.text], request.cancel)
            return TryOutcome(request.text, request.job.label_set.label_names, prediction)

        self.guarded(request.request_id, work)

    def classify_file(self, request: FileRequest) -> None:
        def work() -> FileOutcome:
            classifier = self._classifier(request.job, request.cancel)
            bench = self._workbench(request.job.model_id, request.job.unpack)
            columns = request.columns or choose_columns(sniff(request.path))
            run = open_file_run(bench.runs, classifier, columns, cancel=request.cancel)
            earlier = tuple(bench.runs.results(run.id))
            self.started.emit(
                request.request_id,
                FileStarted(
                    run.id,
                    run.total_rows or 0,
                    run.info.label_set,
                    run.info.lock_id,
                    earlier,
                    run.info.weights,
                    bench.info.weights_note if request.job.unpack else None,
                ),
            )
            rows = _RowBatcher(self, request.request_id)
            status = "complete"
            if request.cluster:
                try:
                    self._run_on_cluster(request, bench, classifier, columns, run, rows)
                except Cancelled:
                    status = "cancelled"
                rows.flush()
                return FileOutcome(run.id, status)
            try:
                for row in run_file(
                    bench.runs,
                    classifier,
                    columns,
                    run=run,
                    chunk_size=request.chunk_size,
                    on_progress=rows.on_progress,
                    cancel=request.cancel,
                    pause=request.pause,
                ):
                    rows.add(row)
            except Cancelled:
                status = "cancelled"
            rows.flush()
            return FileOutcome(run.id, status)

        self.guarded(request.request_id, work)

    def _run_on_cluster(
        self,
        request: FileRequest,
        bench: Workbench,
        classifier: Classifier,
        columns: Columns,
        run: RunRecord,
        rows: _RowBatcher,
    ) -> None:
        """The file run on a Ray cluster: the same run, rows arriving a block at a time."""
        job = ClassifierJob.of(
            classifier,
            self._store.get(request.job.model_id),
            unpacked_dir=bench.paths.unpacked_dir,
            n_threads=1,
        )

        def on_progress(p: ClusterProgress) -> None:
            classified, skipped = bench.runs.count(run.id)
            rows.on_progress(
                BatchProgress(run.id, p.done, p.total, classified, skipped, p.resumed, p.seconds)
            )

        def on_block(block: BlockDone) -> None:
            for row in block.results:
                rows.add(row)

        run_on_cluster(
            bench.runs,
            job,
            from_columns(columns),
            run=run,
            address=request.cluster,
            on_progress=on_progress,
            on_block=on_block,
            cancel=request.cancel,
        )

    def evaluate_file(self, request: TableRequest) -> None:
        """Classify the file as a run kept with the others, then score it (see
        :func:`~app.core.classify.evaluate_file_run`): Past runs lists it."""

        def work() -> EvalOutcome:
            table = read_all(
                request.path, need_gold=True, columns=request.columns, cancel=request.cancel
            )
            classifier = self._classifier(request.job, request.cancel)
            report: Callable[[BatchProgress], None] = self.reporter(request.request_id)
            result = evaluate_file_run(
                self._bench_without_model().runs,
                classifier,
                table,
                chunk_size=FILE_CHUNK,
                on_progress=report,
                cancel=request.cancel,
            )
            return EvalOutcome(result)

        self.guarded(request.request_id, work)

    def teach_file(self, request: TableRequest) -> None:
        def work() -> TeachOutcome:
            job = request.job
            bench = self._workbench(job.model_id, job.unpack, request.cancel)
            taught = bench.teaching_set(
                request.path, job.label_set, columns=request.columns, cancel=request.cancel
            )
            report: Callable[[TeachProgress], None] = self.reporter(request.request_id)
            head = bench.teach(
                job.label_set,
                taught.examples,
                spec=job.options.spec,
                source_sha256=taught.source_sha256,
                gold_map=taught.gold_map,
                on_progress=report,
                cancel=request.cancel,
            )
            self._cached = None  # the examples method now finds the new head
            return TeachOutcome(
                label_set=job.label_set.version_id,
                examples=head.fit.n_train,
                validation_accuracy=head.fit.validation_accuracy,
                skipped_rows=taught.skipped_rows,
                unknown_labels=taught.unknown_labels,
                read_seconds=head.read_seconds,
                fit_seconds=head.fit.seconds,
                gold_map=taught.gold_map,
                held_out=head.held_out_sentence(),
                coverage_notes=tuple(head.coverage.sentences()),
            )

        self.guarded(request.request_id, work)

    def export_run(self, request: ExportRequest) -> None:
        def work() -> int:
            runs = self._bench_without_model().runs
            return runs.export_csv(request.run_id, request.path, dialect=request.dialect)

        self.guarded(request.request_id, work)

    def evaluate_run(self, request: RunRequest) -> None:
        def work() -> EvalOutcome:
            runs = self._bench_without_model().runs
            return EvalOutcome(evaluate_run(runs, request.run_id, request.gold_map))

        self.guarded(request.request_id, work)

    def open_run(self, request: RunRequest) -> None:
        def work() -> RunOpened:
            runs = self._bench_without_model().runs
            return RunOpened(runs.get_run(request.run_id), tuple(runs.results(request.run_id)))

        self.guarded(request.request_id, work)

    def _bench_without_model(self) -> Workbench:
        """Stored runs need no model: the workbench is made, nothing is loaded."""
        if self._bench is None:
            self._bench = Workbench(self._paths, self._store)
        return self._bench

    def release(self) -> None:
        self._cached = None
        bench, self._bench = self._bench, None
        self._opened = None
        if bench is not None:
            bench.close()


class _RowBatcher:
    """Sends a file run's rows a chunk at a time, as soon as the chunk is complete.

    ``run_file`` reports progress after committing a chunk, then yields its rows;
    once the rows this session yielded reach the reported count, the chunk is sent
    (not held back until the next, slow, chunk is classified).
    """

    def __init__(self, worker: ClassifyWorker, request_id: int) -> None:
        self._worker = worker
        self._request_id = request_id
        self._report = worker.reporter(request_id)
        self._rows: list[RowResult] = []
        self._seen = 0
        self._target = 0

    def on_progress(self, progress: BatchProgress) -> None:
        self._target = progress.done - progress.resumed
        self._report(progress)

    def add(self, row: RowResult) -> None:
        self._rows.append(row)
        self._seen += 1
        if self._seen >= self._target:
            self.flush()

    def flush(self) -> None:
        if self._rows:
            self._worker.rows_classified.emit(self._request_id, tuple(self._rows))
            self._rows = []
