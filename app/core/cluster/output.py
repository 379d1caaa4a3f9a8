"""A run's results as Parquet: the CSV export's columns, in input order, with types.

The columns and their order are :meth:`RunStore.csv_rows`'s: row, line, text, gold (when
the run has a gold column), label (or "needs review"), best_label, confidence, one
``p_<label>`` per label, truncated, label_set, method, lock_id, weights. Numbers stay
numbers (the CSV rounds them to four places for people) and texts are not quoted for
spreadsheets: Parquet is read by programs.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from app.core.classify.runs import RunStore
from app.core.cluster.source import import_parquet
from app.core.fsutil import atomic_write_bytes


def result_columns(store: RunStore, run_id: int) -> dict[str, list[Any]]:
    """Column name → values, for every classified row of the run, in input order."""
    run = store.get_run(run_id)
    info = run.info
    columns: dict[str, list[Any]] = {"row": [], "line": [], "text": []}
    if run.gold_column:
        columns["gold"] = []
    for name in ("label", "best_label", "confidence"):
        columns[name] = []
    probs = [f"p_{label}" for label in info.labels]
    for name in probs:
        columns[name] = []
    for name in ("truncated", "label_set", "method", "lock_id", "weights"):
        columns[name] = []
    for row in store.results(run_id):
        p = row.prediction
        if p is None:
            continue
        columns["row"].append(row.number)
        columns["line"].append(row.line)
        columns["text"].append(row.text)
        if run.gold_column:
            columns["gold"].append(row.gold or "")
        columns["label"].append(p.answer)
        columns["best_label"].append(p.label)
        columns["confidence"].append(p.confidence)
        for name, value in zip(probs, p.probabilities, strict=True):
            columns[name].append(value)
        columns["truncated"].append(p.truncated)
        columns["label_set"].append(info.label_set)
        columns["method"].append(info.method)
        columns["lock_id"].append(info.lock_id)
        columns["weights"].append(info.weights)
    return columns


def write_parquet(store: RunStore, run_id: int, path: Path) -> int:
    """Write the run's results to ``path`` (atomically); returns the rows written."""
    pq = import_parquet()
    import pyarrow as pa  # present whenever pyarrow.parquet is

    columns = result_columns(store, run_id)
    table = pa.table(columns)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    atomic_write_bytes(Path(path), buffer.getvalue())
    return int(table.num_rows)
