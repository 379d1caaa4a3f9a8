"""Classify a whole CSV/TSV file, with progress, pause, cancel and checkpointing.

``run_file`` streams the file, skips rows a previous (crashed, killed or cancelled)
run of the same settings already stored, classifies the rest a chunk at a time and
commits each chunk before yielding it. Malformed rows are stored and yielded as
problems with their line numbers. Pausing holds the worker between chunks with the
model still loaded; cancelling raises ``Cancelled`` between chunks, and a later run
resumes where this one stopped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from app.core.cancel import CancelToken
from app.core.classify.classifier import Classifier
from app.core.classify.runs import RowResult, RunRecord, RunStore
from app.core.classify.table import Columns, Row, RowProblem, file_sha256, iter_rows, survey

DEFAULT_CHUNK = 32


class PauseToken:
    """Set by the UI thread, checked by the worker between chunks."""

    def __init__(self) -> None:
        self._running = threading.Event()
        self._running.set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def wait(self, cancel: CancelToken | None, poll: float = 0.1) -> None:
        """Block while paused; return when resumed, raise ``Cancelled`` when cancelled."""
        while not self._running.wait(poll):
            if cancel is not None:
                cancel.raise_if_cancelled()
        if cancel is not None:
            cancel.raise_if_cancelled()


@dataclass(frozen=True)
class BatchProgress:
    """How a run is going. Rates count only rows classified in this session."""

    run_id: int
    done: int
    """Rows finished (classified or skipped as malformed), including earlier sessions."""
    total: int
    classified: int
    skipped: int
    resumed: int
    """Rows already done by an earlier session when this one started."""
    seconds: float
    paused: bool = False

    @property
    def texts_per_second(self) -> float:
        new = self.done - self.resumed
        return new / self.seconds if self.seconds > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        rate = self.texts_per_second
        if rate <= 0:
            return None
        return max(0, self.total - self.done) / rate

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


BatchCallback = Callable[[BatchProgress], None]


def count_rows(columns: Columns, cancel: CancelToken | None = None) -> int:
    """The file's data rows; raises ``DataFileError`` when none is usable or most are malformed."""
    return survey(columns, cancel)


def open_file_run(
    store: RunStore,
    classifier: Classifier,
    columns: Columns,
    *,
    input_sha256: str | None = None,
    cancel: CancelToken | None = None,
) -> RunRecord:
    """The run record for classifying ``columns`` with ``classifier`` (new, or to resume).

    A new run reads the whole file once to count its rows, and refuses a file that was
    plainly misread (see :func:`.table.survey`) before anything is classified.
    """
    digest = input_sha256 or file_sha256(columns.table.path, cancel)
    reading = columns.table.reading_key
    earlier = store.find_run(digest, columns.text_name, classifier.info, reading)
    total = None
    if earlier is None or earlier.total_rows is None:
        total = count_rows(columns, cancel)  # before the run is stored: it may raise
    run = store.open_run(
        input_path=Path(columns.table.path).resolve(),
        input_sha256=digest,
        text_column=columns.text_name,
        gold_column=columns.gold_name,
        info=classifier.info,
        reading=reading,
    )
    if run.total_rows is None:
        store.set_total(run.id, total if total is not None else count_rows(columns, cancel))
        run = store.get_run(run.id)
    return run


def run_file(
    store: RunStore,
    classifier: Classifier,
    columns: Columns,
    *,
    run: RunRecord | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    on_progress: BatchCallback | None = None,
    cancel: CancelToken | None = None,
    pause: PauseToken | None = None,
) -> Iterator[RowResult]:
    """Classify every row not yet done; yield each row's result once it is committed."""
    if run is None:
        run = open_file_run(store, classifier, columns, cancel=cancel)
    total = run.total_rows or 0
    already = store.done_rows(run.id)
    classified, skipped = store.count(run.id)
    resumed = len(already)
    started = time.perf_counter()
    paused_for = 0.0

    def report(is_paused: bool = False) -> None:
        if on_progress is not None:
            on_progress(
                BatchProgress(
                    run_id=run.id,
                    done=classified + skipped,
                    total=total,
                    classified=classified,
                    skipped=skipped,
                    resumed=resumed,
                    seconds=time.perf_counter() - started - paused_for,
                    paused=is_paused,
                )
            )

    def hold() -> None:
        nonlocal paused_for
        if pause is not None and pause.paused:
            report(is_paused=True)
            waited = time.perf_counter()
            pause.wait(cancel)
            paused_for += time.perf_counter() - waited

    report()
    pending: list[Row] = []
    problems: list[RowResult] = []

    def flush() -> list[RowResult]:
        nonlocal classified, skipped
        rows: list[RowResult] = list(problems)
        if pending:
            predictions = classifier.predict([r.text for r in pending], cancel)
            rows += [
                RowResult(r.number, r.line, r.text, r.gold, p)
                for r, p in zip(pending, predictions, strict=True)
            ]
        rows.sort(key=lambda r: r.number)
        store.record(run.id, rows)
        classified += len(pending)
        skipped += len(problems)
        pending.clear()
        problems.clear()
        report()
        return rows

    for item in iter_rows(columns, cancel=cancel):
        if item.number in already:
            continue
        if isinstance(item, RowProblem):
            problems.append(RowResult(item.number, item.line, "", None, None, item.message))
        else:
            pending.append(item)
        if len(pending) >= chunk_size or len(problems) >= chunk_size:
            hold()
            if cancel is not None:
                cancel.raise_if_cancelled()
            yield from flush()
    if pending or problems:
        hold()
        if cancel is not None:
            cancel.raise_if_cancelled()
        yield from flush()
    store.finish(run.id)
