"""What ``classify`` and ``eval`` print and write, for a local run or one on a cluster.

After a run: its malformed rows, a summary of its labels, and its results (to a file or
stdout). After an evaluation: the report as a table or JSON, and the confusion matrix
as a picture, painted offscreen with the window's own drawing code.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.cli.common import status
from app.core.classify import EvalReport, Scores, comparison_table
from app.core.classify.dialect import CsvDialect, export_dialect, locale_decimal_point
from app.core.classify.errors import DataFileError
from app.core.classify.runs import RunStore


def finish_run(
    runs: RunStore,
    run_id: int,
    problems: list[str],
    args: argparse.Namespace,
    *,
    described: str,
    write: Callable[..., int] | None = None,
) -> None:
    """After a run (local or on a cluster): its problems, summary and results."""
    for problem in problems[:20]:
        status(f"Skipped {problem}")
    if len(problems) > 20:
        status(f"... and {len(problems) - 20} more malformed rows.")
    classified, skipped = runs.count(run_id)
    if not classified:
        raise DataFileError(
            f"No row of {args.input.name} could be classified ({skipped:,} malformed): "
            f"it was read as {described}."
        )
    _summarise(runs, run_id)
    run = runs.get_run(run_id)
    if run.gold_column:
        status(
            f"Run {run.id}. Its gold column '{run.gold_column}' is stored: "
            f"driftless eval --run {run.id} scores it without classifying again."
        )
    if args.output:
        write_to = write or RunStore.export_csv
        written = write_to(runs, run_id, args.output, dialect=output_dialect(args))
        status(f"Wrote {written:,} results to {args.output}")
    else:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerows(runs.csv_rows(run_id))


def output_dialect(args: argparse.Namespace) -> CsvDialect | None:
    """The layout ``--layout`` asks for (None: like the input file)."""
    layout = getattr(args, "layout", "input")
    return export_dialect(layout, locale_decimal_point() if layout == "excel" else ".")


def _summarise(runs: RunStore, run_id: int) -> None:
    counts: dict[str, int] = {}
    review = 0
    for row in runs.results(run_id):
        if row.prediction is None:
            continue
        counts[row.prediction.label] = counts.get(row.prediction.label, 0) + 1
        review += row.prediction.needs_review
    parts = [f"{label} {n:,}" for label, n in sorted(counts.items(), key=lambda kv: -kv[1])]
    status(f"Labels: {', '.join(parts) or 'none'}; needs review: {review:,}.")


def print_report(args: argparse.Namespace, reports: list[EvalReport]) -> None:
    """What was left out (stderr), the pictures asked for, then the report (stdout)."""
    first = reports[0]
    if first.skipped_rows:
        status(f"Skipped {first.skipped_rows} malformed rows.")
    if first.unmatched_rows:
        shown = ", ".join(first.unknown_gold[:5])
        status(f"Left out {first.unmatched_rows} rows whose gold label matches no label: {shown}.")
    for report in reports:
        if report.scores.predicted_not_in_gold:
            shown = ", ".join(f"{name} ({n:,})" for name, n in report.scores.predicted_not_in_gold)
            status(
                f"{report.info.method} on {report.info.model_id} predicted labels never in the "
                f"gold column (left out of macro-F1): {shown}."
            )
    if args.confusion_png:
        for i, report in enumerate(reports):
            path = args.confusion_png
            if len(reports) > 1:
                path = path.with_name(f"{path.stem}-{i + 1}{path.suffix}")
            title = f"{report.info.method} on {report.info.model_id}"
            draw_matrix(path, report.scores, title)
            status(f"Wrote the confusion matrix to {path}")
    if args.json:
        payload: dict[str, Any] = (
            first.to_json()
            if len(reports) == 1
            else {"n": first.scores.n, "comparison": [r.to_json() for r in reports]}
        )
        json.dump(payload, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_table(comparison_table(reports))


def draw_matrix(path: Path, scores: Scores, title: str) -> None:
    """Paint the window's confusion matrix offscreen: Qt is imported here, not at start-up."""
    from app.ui.matrix_picture import offscreen_application, write_matrix

    offscreen_application()
    write_matrix(path, scores, title)


def print_table(rows: list[list[str]]) -> None:
    """Rows as columns padded to their widest cell, the first row the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
