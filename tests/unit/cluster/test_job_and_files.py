"""The cluster package without a cluster: lazy Ray, the worker's model check, Parquet in and out."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from app.core.classify import LabelSet, run_file
from app.core.classify.runs import RunStore
from app.core.classify.table import choose_columns, sniff
from app.core.cluster import (
    ClassifierJob,
    WorkerRefused,
    open_input,
    verify_model,
    write_results,
)
from app.core.cluster.output import result_columns
from app.core.models.store import ModelStore
from tests.unit.classify.sst2 import OracleClassifier, sst2_rows, write_sst2

ROOT = Path(__file__).resolve().parents[3]


def test_the_package_imports_without_ray_and_says_how_to_get_it() -> None:
    script = textwrap.dedent(
        """
        import sys
        sys.modules["ray"] = None  # as if the cluster extra were not installed
        import app.core.cluster as cluster
        assert "pyarrow" not in sys.modules
        try:
            cluster.connect("auto")
        except cluster.ClusterMissing as exc:
            print(exc)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "install driftless[cluster]" in out.stdout


def test_the_worker_check_refuses_a_file_that_is_not_the_lock_entrys(
    module_store: ModelStore, starter_copy: Path
) -> None:
    model = module_store.list_models()[0]
    job = ClassifierJob(
        model=replace(model, path=starter_copy),
        label_set=LabelSet.from_names(["a", "b"]).to_json(),
        label_set_version="x",
        info=OracleClassifier(LabelSet.from_names(["a", "b"]), {}).info,
        unpack=False,
        unpacked_dir=str(starter_copy.parent),
    )
    ray_before = _ray_running()
    verify_model(job)  # the same bytes: accepted
    with starter_copy.open("r+b") as handle:
        handle.seek(1_000_000)
        handle.write(b"\0\1\2\3")
    with pytest.raises(WorkerRefused) as caught:
        verify_model(job)
    message = str(caught.value)
    assert f"pid {os.getpid()} refused" in message
    assert str(starter_copy) in message and model.lock_id in message
    starter_copy.unlink()
    with pytest.raises(WorkerRefused, match="is not there"):
        verify_model(job)
    assert _ray_running() == ray_before  # naming the worker started no Ray


def test_parquet_rows_are_numbered_and_an_empty_text_is_a_problem(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "in.parquet"
    table = pa.table({"id": [1, 2, 3], "message": ["hello", " ", None], "intent": ["a", "b", "c"]})
    pq.write_table(table, path)
    source = open_input(path)
    assert (source.text_name, source.gold_name, source.reading_key) == (
        "message",
        "intent",
        "parquet",
    )
    rows = list(source.rows())
    assert source.count() == 3
    assert [type(r).__name__ for r in rows] == ["Row", "RowProblem", "RowProblem"]
    assert (rows[0].number, rows[0].text, getattr(rows[0], "gold", None)) == (0, "hello", "a")


def test_parquet_output_has_the_csv_exports_columns_in_input_order(tmp_path: Path) -> None:
    rows = sst2_rows(12)
    columns = choose_columns(sniff(write_sst2(tmp_path / "in.tsv", rows)))
    labels = LabelSet.from_names(["negative", "positive"])
    with RunStore(tmp_path / "runs.sqlite3") as store:
        classifier = OracleClassifier(labels, dict(rows))
        results = list(run_file(store, classifier, columns))
        run_id = store.list_runs()[0].id
        header = next(iter(store.csv_rows(run_id)))
        written = write_results(store, run_id, tmp_path / "out.parquet")
        assert write_results(store, run_id, tmp_path / "out.csv") == written == len(rows)
        expected = result_columns(store, run_id)
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "out.parquet")
    assert table.column_names == header
    assert table.column("row").to_pylist() == list(range(len(rows)))
    assert table.column("p_positive").to_pylist() == expected["p_positive"]
    assert table.column("p_positive").to_pylist() == [
        r.prediction.probabilities[1] for r in results if r.prediction
    ]


def _ray_running() -> bool:
    """Whether this process is connected to a Ray (the cluster tests' may be, already)."""
    ray = sys.modules.get("ray")
    return ray is not None and bool(ray.is_initialized())
