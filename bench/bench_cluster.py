"""Classify on a Ray cluster against a local run, in one run (not part of the tests).

    .venv/bin/python bench/bench_cluster.py [--rows 512] [--block 64] [--out bench/out]

On the starter model, SST-2's first ``--rows`` sentences, zero-shot prompted scoring:

1. the local run (``run_file``, one process, threads tuned: the app's default);
2. the same file on a Ray cluster started here (127.0.0.1, two CPUs) with 1 worker
   process, then with 2 (one CPU and one thread each), each from an empty run store.

For each: rows/s over the whole run (start-up included) and the steady rate (rows after
the first block, over the time since it), each worker's start-up (verify the sha256,
load, prepare the prompt: measured in the worker) and the time to the first block
(Ray's scheduling and process start too). Every cluster run is checked against the
local results (labels and probabilities equal bit for bit). Then the sums, on paper,
for 10 million rows on 100 nodes of 8 cores from the 1-worker figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.core.classify import LabelSet, MethodOptions, Workbench, run_file
from app.core.classify.runs import RunStore
from app.core.classify.table import choose_columns, sniff
from app.core.cluster import BlockDone, ClassifierJob, connect, from_columns, run_on_cluster
from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
from app.core.paths import get_paths
from tests.unit.classify.sst2 import sst2_rows, write_sst2


def local_run(store: ModelStore, columns: Any) -> tuple[dict[int, Any], float, ClassifierJob]:
    with Workbench(store.paths, store) as bench:
        info = bench.open_model(None)
        classifier = bench.classifier(
            LabelSet.from_names(["negative", "positive"]), MethodOptions()
        )
        started = time.perf_counter()
        results = {r.number: r.prediction for r in run_file(bench.runs, classifier, columns)}
        seconds = time.perf_counter() - started
        job = ClassifierJob.of(
            classifier,
            store.get(info.model_id),
            unpacked_dir=store.paths.unpacked_dir,
            n_threads=1,
        )
    return results, seconds, job


def cluster_run(
    job: ClassifierJob, columns: Any, workers: int, block: int, folder: Path
) -> dict[str, Any]:
    blocks: list[tuple[float, BlockDone]] = []
    started = time.perf_counter()
    with RunStore(folder / f"cluster-{workers}.sqlite3") as runs:
        run = run_on_cluster(
            runs,
            job,
            from_columns(columns),
            workers=workers,
            block_rows=block,
            on_block=lambda b: blocks.append((time.perf_counter() - started, b)),
        )
        seconds = time.perf_counter() - started
        results = {r.number: r.prediction for r in runs.results(run.id)}
    rows = len(results)
    first_at, first = blocks[0]
    later = rows - len(first.rows)
    setups = {b.worker: b.setup_seconds for _, b in blocks}
    return {
        "workers": workers,
        "seconds": seconds,
        "rows_per_second": rows / seconds,
        "steady_rows_per_second": later / (seconds - first_at) if later else None,
        "first_block_after": first_at,
        "worker_setup_seconds": sorted(setups.values()),
        "results": results,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--block", type=int, default=64)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    store = ModelStore(get_paths(folder / "home").ensure())
    ensure_starter(store)
    columns = choose_columns(sniff(write_sst2(folder / "sst2.tsv", sst2_rows(args.rows))))

    local, local_seconds, job = local_run(store, columns)
    local_rate = len(local) / local_seconds
    print(
        f"local, one process: {len(local)} rows in {local_seconds:.1f}s = {local_rate:.2f} rows/s"
    )

    cluster = connect("auto", num_cpus=2)
    print(
        f"Ray: {cluster.nodes} node(s), {cluster.cpus} CPUs, started here: {cluster.started_here}"
    )
    figures: list[dict[str, Any]] = []
    for workers in (1, 2):
        figure = cluster_run(job, columns, workers, args.block, folder)
        same = figure.pop("results") == local
        figure["identical_to_local"] = same
        figures.append(figure)
        steady = figure["steady_rows_per_second"] or 0.0
        overall = figure["rows_per_second"]
        setups = ", ".join(f"{s:.1f}s" for s in figure["worker_setup_seconds"])
        print(
            f"cluster, {workers} worker(s): {figure['seconds']:.1f}s = {overall:.2f} rows/s "
            f"overall ({overall / local_rate:.2f}x local), steady {steady:.2f} rows/s, "
            f"first block after {figure['first_block_after']:.1f}s, worker start-up "
            f"{setups}, identical to local: {same}"
        )
    one, two = figures
    if one["steady_rows_per_second"] and two["steady_rows_per_second"]:
        ratio = two["steady_rows_per_second"] / one["steady_rows_per_second"]
        print(f"2 workers / 1 worker, steady: {ratio:.2f}x")

    # On paper: 100 nodes x 8 cores, one single-thread worker per core.
    per_core = one["steady_rows_per_second"] or one["rows_per_second"]
    start_up = one["first_block_after"]
    workers_total = 100 * 8
    per_worker_rows = 10_000_000 / workers_total
    hours = (start_up + per_worker_rows / per_core) / 3600
    print(
        f"on paper: 10,000,000 rows on 100 nodes x 8 cores = {workers_total} workers, "
        f"{per_worker_rows:,.0f} rows each at {per_core:.2f} rows/s per core "
        f"+ {start_up:.0f}s start-up = {hours:.2f} h"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "rows": args.rows,
        "block": args.block,
        "local_seconds": local_seconds,
        "local_rows_per_second": local_rate,
        "cluster": figures,
        "paper_10M_rows_800_cores_hours": hours,
    }
    (args.out / "cluster.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
