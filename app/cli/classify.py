"""``driftless classify`` and ``driftless eval``: the classification workbench from a shell.

``classify`` runs a whole CSV/TSV file through a checkpointed run: interrupted (Ctrl-C,
a kill, a crash), the same command resumes where it stopped. ``eval`` scores a
classifier against a gold column; given several ``--model`` or ``--method`` values it
compares them side by side on the same file.

With ``--cluster`` both hand the work to :mod:`app.cli.cluster`, which the command
line's entry passes in (``on_cluster``): the two fronts share the options and output
of :mod:`app.cli.classify_options` and :mod:`app.cli.classify_output`, and neither
imports the other.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from app.cli.classify_options import (
    add_cluster_arguments,
    add_common_arguments,
    choose_label_set,
    choose_method,
    encoding_option,
    make_classifier,
    map_option,
    method_options,
    open_model,
    parse_gold_map,
    say_reading,
)
from app.cli.classify_output import finish_run, output_dialect, print_report, print_table
from app.cli.common import open_store, status
from app.cli.progress import ProgressLine
from app.core.classify import (
    ClassifyProgress,
    EvalReport,
    Workbench,
    choose_columns,
    evaluate,
    gold_rows,
    open_file_run,
    read_all,
    run_file,
    sniff,
)
from app.core.classify.batch import BatchProgress
from app.core.classify.classifier import Method
from app.core.classify.dialect import EXPORT_LAYOUTS
from app.core.classify.errors import ClassifyError, NoGoldColumn
from app.core.classify.evaluate import evaluate_run, run_label_set
from app.core.classify.runs import RunStore
from app.core.classify.table import file_sha256
from app.core.paths import get_paths

Handler = Callable[[argparse.Namespace], int]
"""A command: its parsed arguments in, the exit status out."""


def add_classify_parser(commands: Any, *, on_cluster: Handler) -> None:
    """``classify``; with ``--cluster`` it is ``on_cluster``'s to run."""
    p = commands.add_parser(
        "classify",
        help="classify every row of a CSV/TSV file",
        description="Classify a CSV/TSV file on the local model. Interrupted, the same "
        "command resumes where it stopped.",
    )
    add_common_arguments(p, repeat_model=False, input_required=False)
    p.add_argument("--method", choices=("prompt", "examples"), help="default: prompt")
    p.add_argument(
        "--list-runs",
        action="store_true",
        help="list past runs (file, label set, model, date, accuracy if evaluated)",
    )
    p.add_argument(
        "--export-run", type=int, metavar="ID", help="write a past run's results (--output)"
    )
    p.add_argument("--output", type=Path, metavar="OUT.csv", help="write results here")
    p.add_argument(
        "--layout",
        choices=EXPORT_LAYOUTS,
        default="input",
        help="how --output's CSV is laid out: like the input file (the default), for Excel "
        "in this locale (semicolons and decimal commas where the decimal mark is a comma, "
        "UTF-8 with a BOM, CRLF), or plain (commas, UTF-8)",
    )
    p.add_argument("--restart", action="store_true", help="forget earlier progress on this file")
    add_cluster_arguments(p)
    p.set_defaults(handler=partial(cmd_classify, on_cluster=on_cluster), gold_map=None)


def add_eval_parser(commands: Any, *, on_cluster: Handler) -> None:
    """``eval``; with ``--cluster`` it is ``on_cluster``'s to run."""
    p = commands.add_parser(
        "eval",
        help="score a classifier against gold labels",
        description="Evaluate on a file with gold labels: accuracy, macro-F1, per-class "
        "precision and recall, confusion matrix, texts/s.",
    )
    add_common_arguments(p, repeat_model=True, input_required=False)
    p.add_argument(
        "--method",
        action="append",
        choices=("prompt", "examples"),
        help="default: prompt; repeat to compare methods",
    )
    p.add_argument("--label-column", metavar="L", help="column with the gold labels")
    p.add_argument(
        "--gold-map",
        metavar='"0=negative,1=positive"',
        help="which label each gold value is, when the gold values are not label names "
        "(never guessed from their order)",
    )
    p.add_argument(
        "--run",
        type=int,
        metavar="ID",
        help="evaluate a finished run from its stored results (no model, nothing classified "
        "again); `driftless classify --list-runs` shows the runs",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object for scripts")
    p.add_argument(
        "--confusion-png", type=Path, metavar="PATH", help="draw the confusion matrix (.png/.svg)"
    )
    add_cluster_arguments(p)
    p.set_defaults(handler=partial(cmd_eval, on_cluster=on_cluster), restart=False)


# --- classify --------------------------------------------------------------------------


def cmd_classify(args: argparse.Namespace, *, on_cluster: Handler) -> int:
    if args.list_runs:
        return _list_runs()
    if args.export_run is not None:
        return _export_run(args)
    if args.input is None or not _labels_given(args):
        raise ClassifyError(
            "Say what to classify: --input FILE with --labels, --label-set or "
            "--labels-from-column (or --list-runs)."
        )
    if args.cluster:
        return on_cluster(args)
    with encoding_option("--encoding"):
        columns = choose_columns(sniff(args.input, args.encoding), args.text_column)
    say_reading(columns)
    with Workbench(get_paths().ensure(), open_store()) as bench:
        open_model(bench, args.model, args)
        label_set = choose_label_set(args, bench)
        method = choose_method(args, args.method)
        classifier = make_classifier(bench, label_set, method_options(args, method), args)
        run = open_file_run(bench.runs, classifier, columns)
        if args.restart:
            bench.runs.delete_run(run.id)
            run = open_file_run(bench.runs, classifier, columns)
        done, skipped = bench.runs.count(run.id)
        if done or skipped:
            status(f"Resuming: {done + skipped:,} of {run.total_rows:,} rows were done before.")
        line = ProgressLine(f"Classifying {args.input.name}", "texts")

        def on_progress(p: BatchProgress) -> None:
            line.update(p.done, p.total, p.texts_per_second, p.eta_seconds)

        problems = []
        try:
            for row in run_file(bench.runs, classifier, columns, run=run, on_progress=on_progress):
                if row.problem:
                    problems.append(f"line {row.line}: {row.problem}")
        except KeyboardInterrupt:
            line.finish()
            status("Stopped. Run the same command again to resume where it stopped.")
            raise
        line.finish()
        finish_run(bench.runs, run.id, problems, args, described=columns.table.described)
    return 0


def _labels_given(args: argparse.Namespace) -> bool:
    return any(v is not None for v in (args.labels, args.label_set, args.labels_from_column))


def _list_runs() -> int:
    """Past runs, the newest last: id, date, file, label set, method and model, accuracy."""
    with RunStore.for_paths(get_paths().ensure()) as runs:
        listed = runs.list_runs()
        accuracy = {e.run_id: e for e in runs.evaluations()}
    if not listed:
        status("No file has been classified yet.")
        return 0
    rows = [["run", "date", "file", "label set", "method · model", "rows", "accuracy"]]
    for run in listed:
        evaluation = accuracy.get(run.id)
        rows.append(
            [
                str(run.id),
                run.created_at[:16].replace("T", " "),
                Path(run.input_path).name,
                run.info.label_set,
                f"{run.info.method} · {run.info.model_id}",
                f"{run.total_rows or 0:,}" + ("" if run.finished_at else " (unfinished)"),
                "" if evaluation is None else f"{evaluation.accuracy:.3f}",
            ]
        )
    print_table(rows)
    return 0


def _export_run(args: argparse.Namespace) -> int:
    with RunStore.for_paths(get_paths().ensure()) as runs:
        if args.output is None:
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerows(runs.csv_rows(args.export_run))
        else:
            written = runs.export_csv(args.export_run, args.output, dialect=output_dialect(args))
            status(f"Wrote {written:,} results to {args.output}")
    return 0


# --- eval ----------------------------------------------------------------------------


def cmd_eval(args: argparse.Namespace, *, on_cluster: Handler) -> int:
    if args.run is not None:
        return _eval_run(args)
    if args.input is None or not _labels_given(args):
        raise ClassifyError(
            "Say what to evaluate: --input GOLD.csv with --labels, --label-set or "
            "--labels-from-column, or --run ID for a finished run."
        )
    if args.cluster:
        return on_cluster(args)
    try:
        with encoding_option("--encoding"):
            table = read_all(
                args.input,
                args.text_column,
                args.label_column,
                need_gold=True,
                encoding=args.encoding,
            )
    except NoGoldColumn as exc:
        raise NoGoldColumn(f"{exc} Use --label-column L.") from exc
    say_reading(table.columns)
    models = args.model or [None]
    methods: list[Method] = [choose_method(args, m) for m in (args.method or [None])]
    if args.train is not None and file_sha256(args.train) == file_sha256(args.input):
        status("Warning: the teaching file is the evaluation file; accuracy will be overstated.")
    reports: list[EvalReport] = []
    for model in models:
        with Workbench(get_paths().ensure(), open_store()) as bench:
            info = open_model(bench, model, args)
            label_set = choose_label_set(args, bench)
            with map_option("--gold-map"):
                gold = gold_rows(table, label_set, parse_gold_map(args.gold_map, label_set, None))
            if gold.mapping.gold_map and model is models[0]:
                status(f"Gold values read as {gold.mapping.gold_map}.")
            for method in methods:
                classifier = make_classifier(bench, label_set, method_options(args, method), args)
                line = ProgressLine(f"Evaluating {method} on {info.model_id}", "texts")

                def on_progress(p: ClassifyProgress, line: ProgressLine = line) -> None:
                    line.update(p.done, p.total, p.texts_per_second, p.eta_seconds)

                try:
                    reports.append(evaluate(classifier, gold, on_progress=on_progress))
                finally:
                    line.finish()
    print_report(args, reports)
    return 0


def _eval_run(args: argparse.Namespace) -> int:
    """``eval --run ID``: score a finished run's stored results, classifying nothing."""
    ignored = [
        flag
        for flag, value in (
            ("--input", args.input),
            ("--model", args.model),
            ("--method", args.method),
            ("--train", args.train),
            ("--labels", args.labels),
            ("--label-set", args.label_set),
            ("--labels-from-column", args.labels_from_column),
        )
        if value
    ]
    if ignored:
        raise ClassifyError(
            f"--run evaluates the stored results of a run as they are: leave out "
            f"{', '.join(ignored)} (or evaluate a file with --input)."
        )
    with RunStore.for_paths(get_paths().ensure()) as runs:
        label_set = run_label_set(runs, args.run)
        gold_map = parse_gold_map(args.gold_map, label_set, None)
        with map_option("--gold-map"):
            report = evaluate_run(runs, args.run, gold_map)
        run = runs.get_run(args.run)
    status(
        f"Run {run.id}: {Path(run.input_path).name}, {run.info.label_set}, "
        f"{run.info.method} on {run.info.model_id}, from its stored results."
    )
    if report.gold_map:
        status(f"Gold values read as {report.gold_map}.")
    print_report(args, [report])
    return 0


__all__ = ["ClassifyError", "add_classify_parser", "add_eval_parser"]
