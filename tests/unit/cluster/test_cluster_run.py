"""A file classified on a real local Ray cluster (a head and a worker node on 127.0.0.1).

The cluster's results are the local run's, bit for bit; a worker killed mid-run costs
nothing (its blocks are retried, every row is in the output once); a worker whose model
file is not the lock's refuses and the error names it; an interrupted driver resumes
from the committed blocks without classifying them again.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from app.cli import main
from app.core.cancel import CancelToken
from app.core.classify.runs import RunStore
from app.core.cluster import (
    BlockDone,
    ClusterProgress,
    WorkerRefused,
    disconnect,
    from_columns,
    run_on_cluster,
)
from app.core.errors import Cancelled
from app.core.models.store import ModelStore
from app.core.paths import HOME_ENV
from tests.unit.classify.sst2 import sst2_rows
from tests.unit.cluster.conftest import BLOCK, ROWS, LocalCluster, Reference

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def _leave_ray_after_this_module() -> Iterator[None]:
    """The tests that follow in the session run without a Ray client in the process."""
    yield
    disconnect()


def _pid(worker: str) -> int:
    match = re.search(r"pid (\d+)", worker)
    assert match, worker
    return int(match.group(1))


def _gone(pid: int) -> bool:
    """The process has exited (and been reaped, or is a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def _exported_rows(store: RunStore, run_id: int, path: Path) -> list[int]:
    store.export_csv(run_id, path)
    with path.open(newline="", encoding="utf-8") as handle:
        # laid out like the input (tab-separated SST-2): see app/core/classify/dialect.py
        return [int(row["row"]) for row in csv.DictReader(handle, delimiter="\t")]


def test_the_cluster_gives_the_local_runs_labels_and_probabilities_bit_for_bit(
    ray_cluster: LocalCluster, reference: Reference, tmp_path: Path
) -> None:
    progress: list[ClusterProgress] = []
    with RunStore(tmp_path / "runs.sqlite3") as store:
        run = run_on_cluster(
            store,
            reference.job,
            from_columns(reference.columns),
            address=ray_cluster.address,
            workers=2,
            block_rows=BLOCK,
            on_progress=progress.append,
        )
        results = {r.number: r.prediction for r in store.results(run.id)}
        exported = _exported_rows(store, run.id, tmp_path / "out.csv")
    assert run.finished_at is not None
    assert results == reference.local  # Prediction compares every float exactly
    assert exported == list(range(ROWS))  # input order, each row once
    assert progress[-1].done == ROWS and progress[-1].workers >= 1
    assert run.info == reference.job.info


def test_a_worker_killed_mid_run_costs_no_row_and_duplicates_none(
    ray_cluster: LocalCluster, reference: Reference, tmp_path: Path
) -> None:
    killed: list[int] = []
    blocks: list[BlockDone] = []

    def on_block(done: BlockDone) -> None:
        blocks.append(done)
        if not killed:
            killed.append(_pid(done.worker))
            os.kill(killed[0], signal.SIGKILL)

    with RunStore(tmp_path / "runs.sqlite3") as store:
        run = run_on_cluster(
            store,
            reference.job,
            from_columns(reference.columns),
            address=ray_cluster.address,
            workers=2,
            block_rows=BLOCK,
            on_block=on_block,
        )
        results = {r.number: r.prediction for r in store.results(run.id)}
        exported = _exported_rows(store, run.id, tmp_path / "out.csv")
    assert killed, "no block finished"
    assert _gone(killed[0])
    assert exported == list(range(ROWS))
    assert results == reference.local


def test_a_worker_whose_model_file_differs_from_the_lock_refuses_and_is_named(
    ray_cluster: LocalCluster, reference: Reference, tmp_path: Path, starter_copy: Path
) -> None:
    with starter_copy.open("r+b") as handle:  # one byte changed, the size kept
        handle.seek(starter_copy.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0xFF]))
    job = replace(reference.job, model=replace(reference.job.model, path=starter_copy))
    with RunStore(tmp_path / "runs.sqlite3") as store:
        with pytest.raises(WorkerRefused) as caught:
            run_on_cluster(
                store,
                job,
                from_columns(reference.columns),
                address=ray_cluster.address,
                workers=2,
                block_rows=BLOCK,
            )
        assert store.count(store.list_runs()[0].id) == (0, 0)  # not a row scored
    message = str(caught.value)
    assert re.search(r"Worker \S+ node \w+ pid \d+ refused", message), message
    assert "sha256" in message and str(starter_copy) in message
    assert reference.job.model.lock_id in message


def test_an_interrupted_driver_resumes_without_redoing_committed_blocks(
    ray_cluster: LocalCluster, reference: Reference, tmp_path: Path
) -> None:
    cancel = CancelToken()
    first: list[BlockDone] = []

    def stop_after_first(done: BlockDone) -> None:
        first.append(done)
        cancel.cancel()

    source = from_columns(reference.columns)
    with RunStore(tmp_path / "runs.sqlite3") as store:
        with pytest.raises(Cancelled):
            run_on_cluster(
                store,
                reference.job,
                source,
                address=ray_cluster.address,
                workers=2,
                block_rows=BLOCK,
                on_block=stop_after_first,
                cancel=cancel,
            )
        committed = store.done_rows(store.list_runs()[0].id)
        assert 0 < len(committed) < ROWS
        second: list[BlockDone] = []
        run = run_on_cluster(
            store,
            reference.job,
            source,
            address=ray_cluster.address,
            workers=2,
            block_rows=BLOCK,
            on_block=second.append,
        )
        results = {r.number: r.prediction for r in store.results(run.id)}
    redone = committed & {n for b in second for n in b.rows}
    assert not redone
    assert sum(len(b.rows) for b in second) == ROWS - len(committed)
    assert results == reference.local


def test_the_command_classifies_parquet_on_the_cluster_into_parquet_like_a_local_run(
    ray_cluster: LocalCluster,
    reference: Reference,
    module_store: ModelStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # The module's data folder: its 16-bit copy of the starter is made already.
    monkeypatch.setenv(HOME_ENV, str(module_store.paths.home))
    rows = sst2_rows(64)
    source = tmp_path / "in.parquet"
    texts, golds = [t for t, _ in rows], [g for _, g in rows]
    pq.write_table(pa.table({"sentence": texts, "label": golds}), source)
    out = tmp_path / "out.parquet"
    code = main(
        [
            "classify",
            "--labels",
            "negative,positive",
            "--input",
            str(source),
            "--cluster",
            ray_cluster.address,
            "--workers",
            "2",
            "--output",
            str(out),
        ]
    )
    assert code == 0
    assert "Wrote 64 results" in capsys.readouterr().err
    table = pq.read_table(out)
    assert table.column("row").to_pylist() == list(range(64))
    assert table.column("lock_id").to_pylist() == [reference.job.info.lock_id] * 64
    local = [reference.local[n] for n in range(64)]
    assert table.column("best_label").to_pylist() == [p.label for p in local]
    assert table.column("p_positive").to_pylist() == [p.probabilities[1] for p in local]

    # eval --cluster on the same file and settings: the finished run is scored as it is.
    code = main(
        [
            "eval",
            "--labels",
            "negative,positive",
            "--input",
            str(source),
            "--json",
            "--gold-map",
            "0=negative,1=positive",
            "--cluster",
            ray_cluster.address,
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    assert "Resuming: 64 of 64 rows" in captured.err
    report = json.loads(captured.out)
    gold = [{"0": "negative", "1": "positive"}[g] for g in golds]
    right = sum(p.label == g for p, g in zip(local, gold, strict=True))
    assert (report["n"], report["accuracy"]) == (64, pytest.approx(right / 64, abs=1e-4))
