"""Classify a file on a Ray cluster, committing each block to the local run store.

The run is the local checkpoint's own: the same :class:`~app.core.classify.runs.RunStore`
row, under the same key (input sha256, text column, label set version, lock id, method
and its settings, weights). The driver reads the file as a local run does, stores
malformed rows at once, skips every row an earlier session (local or cluster) already
committed, and cuts the rest into blocks of :data:`BLOCK_ROWS`. Ray Data hands the
blocks to a fixed pool of :class:`~.actor.ClassifierActor`; each finished block comes
back to the driver, which commits it in one transaction. A worker that dies has its
actor restarted and its blocks retried by Ray; a block finished twice is stored once
(results are keyed by row number). After a crash of the driver, the same call resumes
from the committed blocks. Export (:meth:`RunStore.export_csv`, :func:`.output.write_parquet`)
is in input order with the local run's columns.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.cancel import CancelToken
from app.core.classify.batch import DEFAULT_CHUNK
from app.core.classify.classifier import ClassifierInfo
from app.core.classify.dialect import CsvDialect
from app.core.classify.runs import RowResult, RunRecord, RunStore
from app.core.classify.table import Row, RowProblem
from app.core.cluster.actor import ClassifierActor, decode
from app.core.cluster.connect import connect, import_ray
from app.core.cluster.errors import ClusterError, WorkerRefused
from app.core.cluster.job import ClassifierJob
from app.core.cluster.source import InputSource

BLOCK_ROWS = 8 * DEFAULT_CHUNK
"""Rows per block: what a worker classifies (and the driver commits) at once. A multiple
of the local run's chunk, so every text is scored in the same batch of texts as there."""


@dataclass(frozen=True)
class ClusterProgress:
    """How a cluster run is going; rates count only rows classified in this session."""

    run_id: int
    done: int
    """Rows finished (classified or skipped as malformed), including earlier sessions."""
    total: int
    resumed: int
    """Rows already done when this session started."""
    seconds: float
    workers: int
    """Workers that have returned a block so far."""
    blocks_done: int = 0
    blocks_total: int = 0

    @property
    def rows_per_second(self) -> float:
        new = self.done - self.resumed
        return new / self.seconds if self.seconds > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        rate = self.rows_per_second
        return None if rate <= 0 else max(0, self.total - self.done) / rate


ClusterCallback = Callable[[ClusterProgress], None]


@dataclass(frozen=True)
class BlockDone:
    """One block committed: which rows, and which worker classified them."""

    block: int
    rows: tuple[int, ...]
    worker: str
    setup_seconds: float = 0.0
    """How long the worker took to verify, load and prepare the model."""
    results: tuple[RowResult, ...] = ()
    """The block's rows as committed."""


def open_cluster_run(
    store: RunStore,
    info: ClassifierInfo,
    source: InputSource,
    *,
    cancel: CancelToken | None = None,
) -> RunRecord:
    """The run record (new, or an earlier local or cluster run to resume) for ``source``."""
    digest = source.sha256(cancel)
    earlier = store.find_run(digest, source.text_name, info, source.reading_key)
    total = None
    if earlier is None or earlier.total_rows is None:
        total = source.count(cancel)  # before the run is stored: a misread file raises
    run = store.open_run(
        input_path=source.path.resolve(),
        input_sha256=digest,
        text_column=source.text_name,
        gold_column=source.gold_name,
        info=info,
        reading=source.reading_key,
    )
    if run.total_rows is None:
        store.set_total(run.id, total if total is not None else source.count(cancel))
        run = store.get_run(run.id)
    return run


def run_on_cluster(
    store: RunStore,
    job: ClassifierJob,
    source: InputSource,
    *,
    run: RunRecord | None = None,
    address: str = "auto",
    workers: int | None = None,
    cpus_per_worker: int | None = None,
    block_rows: int = BLOCK_ROWS,
    on_progress: ClusterCallback | None = None,
    on_block: Callable[[BlockDone], None] | None = None,
    cancel: CancelToken | None = None,
) -> RunRecord:
    """Classify every row of ``source`` not yet committed; return the finished run.

    ``workers`` (default: the cluster's CPUs / ``cpus_per_worker``) is the size of the
    actor pool; ``cpus_per_worker`` defaults to the job's thread count (or 1). Raises
    :class:`WorkerRefused` naming the worker whose model, label set or head does not
    match the job, :class:`ClusterError` for any other failure, and ``Cancelled``
    between blocks; committed blocks stay committed either way.
    """
    if block_rows <= 0 or block_rows % DEFAULT_CHUNK:
        raise ClusterError(f"A block must be a positive multiple of {DEFAULT_CHUNK} rows.")
    cpus = cpus_per_worker or job.n_threads or 1
    if run is None:
        run = open_cluster_run(store, job.info, source, cancel=cancel)
    total = run.total_rows or 0
    already = store.done_rows(run.id)
    resumed = len(already)
    blocks = _blocks(store, run, source, already, block_rows, cancel)
    done = len(store.done_rows(run.id))
    started = time.perf_counter()
    seen: set[str] = set()
    blocks_done = 0

    def report() -> None:
        if on_progress is not None:
            on_progress(
                ClusterProgress(
                    run_id=run.id,
                    done=done,
                    total=total,
                    resumed=resumed,
                    seconds=time.perf_counter() - started,
                    workers=len(seen),
                    blocks_done=blocks_done,
                    blocks_total=len(blocks),
                )
            )

    report()
    if blocks:
        info = connect(address)
        size = workers or max(1, info.cpus // cpus)
        # Closed on the way out, so a cancelled or failed run stops its actors at once.
        with contextlib.closing(_stream(blocks, job, size, cpus)) as stream:
            for batch in stream:
                for block, payload, worker, setup in zip(
                    batch["block"], batch["payload"], batch["worker"], batch["setup"], strict=True
                ):
                    rows = _results(json.loads(str(payload)))
                    store.record(run.id, rows)
                    done += len(rows)
                    blocks_done += 1
                    seen.add(str(worker))
                    if on_block is not None:
                        numbers = tuple(r.number for r in rows)
                        done_block = BlockDone(
                            int(block), numbers, str(worker), float(setup), tuple(rows)
                        )
                        on_block(done_block)
                report()
                if cancel is not None:
                    cancel.raise_if_cancelled()
    store.finish(run.id)
    return store.get_run(run.id)


def _blocks(
    store: RunStore,
    run: RunRecord,
    source: InputSource,
    already: set[int],
    block_rows: int,
    cancel: CancelToken | None,
) -> list[dict[str, Any]]:
    """The rows still to classify, as blocks; malformed rows are stored on the way."""
    blocks: list[dict[str, Any]] = []
    pending: list[Row] = []
    problems: list[RowResult] = []

    def cut() -> None:
        payload = {
            "rows": [r.number for r in pending],
            "lines": [r.line for r in pending],
            "texts": [r.text for r in pending],
            "golds": [r.gold for r in pending],
        }
        blocks.append({"block": len(blocks), "payload": json.dumps(payload)})
        pending.clear()

    for item in source.rows(cancel):
        if item.number in already:
            continue
        if isinstance(item, RowProblem):
            problems.append(RowResult(item.number, item.line, "", None, None, item.message))
            if len(problems) >= block_rows:
                store.record(run.id, problems)
                problems.clear()
            continue
        pending.append(item)
        if len(pending) >= block_rows:
            cut()
    if pending:
        cut()
    if problems:
        store.record(run.id, problems)
    return blocks


def _stream(
    blocks: list[dict[str, Any]], job: ClassifierJob, size: int, cpus_per_worker: int
) -> Any:
    """Ray Data's finished batches (one block each) as they come, in any order."""
    ray = import_ray()
    from ray.data import ActorPoolStrategy

    dataset = ray.data.from_items(blocks, override_num_blocks=len(blocks))
    mapped = dataset.map_batches(
        ClassifierActor,
        fn_constructor_kwargs={"job": job},
        batch_size=1,
        batch_format="numpy",
        compute=ActorPoolStrategy(size=min(size, len(blocks))),
        num_cpus=cpus_per_worker,
        # Ray Data starts a killed worker's actor again and retries its blocks (its actor
        # pool's default: max_restarts and max_task_retries -1). Results are keyed by
        # row, so a block finished twice is still stored once.
    )
    try:
        yield from mapped.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=0)
    except Exception as exc:
        refusal = _refusal_in(exc)
        if refusal is not None:
            raise WorkerRefused(refusal) from None
        raise ClusterError(f"The cluster run failed: {_first_line(exc)}") from exc


def _results(payload: dict[str, Any]) -> list[RowResult]:
    return [
        RowResult(int(number), int(line), str(text), gold, decode(prediction))
        for number, line, text, gold, prediction in zip(
            payload["rows"],
            payload["lines"],
            payload["texts"],
            payload["golds"],
            payload["predictions"],
            strict=True,
        )
    ]


def _refusal_in(exc: BaseException) -> str | None:
    """The refusal message of a worker, wherever Ray wrapped it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, WorkerRefused):
            return _message_of(str(current))
        current = current.__cause__ or current.__context__
    return _message_of(str(exc)) if " refused: " in str(exc) else None


def _message_of(text: str) -> str:
    """``Worker ... refused: ...`` from a text Ray may have wrapped in a traceback."""
    for line in reversed(text.splitlines()):
        start = line.find("Worker ")
        if start >= 0 and " refused: " in line:
            return line[start:].strip()
    return text.strip()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__


def write_results(
    store: RunStore, run_id: int, path: Path, *, dialect: CsvDialect | None = None
) -> int:
    """Write a run's results to ``path``: Parquet for ``.parquet``/``.pq``, else CSV laid
    out as ``dialect`` (None: like the input)."""
    from app.core.cluster.output import write_parquet
    from app.core.cluster.source import is_parquet

    if is_parquet(path):
        return write_parquet(store, run_id, path)
    return store.export_csv(run_id, path, dialect=dialect)
