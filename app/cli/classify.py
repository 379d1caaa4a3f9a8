"""``driftless classify`` and ``driftless eval``: the classification workbench from a shell.

``classify`` runs a whole CSV/TSV file through a checkpointed run: interrupted (Ctrl-C,
a kill, a crash), the same command resumes where it stopped. ``eval`` scores a
classifier against a gold column; given several ``--model`` or ``--method`` values it
compares them side by side on the same file.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from app.cli.common import open_store, status
from app.cli.progress import ProgressLine
from app.core.classify import (
    ClassifyProgress,
    EvalReport,
    LabelSet,
    MethodOptions,
    Scores,
    TaughtHead,
    TeachProgress,
    Workbench,
    choose_columns,
    comparison_table,
    evaluate,
    gold_rows,
    open_file_run,
    read_all,
    run_file,
    sniff,
)
from app.core.classify.batch import BatchProgress
from app.core.classify.classifier import Classifier, Method
from app.core.classify.errors import ClassifyError, DataFileError, HeadError, NoGoldColumn
from app.core.classify.evaluate import evaluate_run, run_label_set
from app.core.classify.goldmap import GoldMap, GoldMapNeeded
from app.core.classify.runner import RunnerInfo
from app.core.classify.runs import RunStore
from app.core.classify.sniffing import UnknownEncoding
from app.core.classify.table import Columns, file_sha256
from app.core.paths import get_paths

# --- arguments ---------------------------------------------------------------------


def _common_arguments(
    p: argparse.ArgumentParser, *, repeat_model: bool, input_required: bool = True
) -> None:
    if repeat_model:
        p.add_argument(
            "--model",
            action="append",
            metavar="ID",
            help="installed model id (default: the active one); repeat to compare models",
        )
    else:
        p.add_argument("--model", metavar="ID", help="installed model id (default: the active one)")
    labels = p.add_mutually_exclusive_group(required=input_required)
    labels.add_argument("--labels", metavar='"A,B,C"', help="labels, comma-separated")
    labels.add_argument(
        "--label-set", metavar="NAME_OR_FILE", help="a saved or built-in label set, or a JSON file"
    )
    p.add_argument("--instruction", help="the instruction given with --labels")
    p.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="CPU threads (default: the fastest count, measured while it runs)",
    )
    p.add_argument(
        "--packed",
        action="store_true",
        help="score the model file as it is, never a 16-bit copy of its weights (slower)",
    )
    p.add_argument("--train", type=Path, metavar="LABELLED.csv", help="teach from labelled rows")
    p.add_argument("--train-text-column", metavar="C", help="text column of --train")
    p.add_argument("--train-label-column", metavar="L", help="label column of --train")
    p.add_argument(
        "--train-encoding", metavar="NAME", help="encoding of --train (default: detected)"
    )
    p.add_argument(
        "--train-gold-map",
        metavar='"0=negative,1=positive"',
        help="which label each label value of --train is, when they are not label names "
        "(default: --gold-map)",
    )
    p.add_argument(
        "--input", type=Path, required=input_required, metavar="FILE", help="CSV or TSV file"
    )
    p.add_argument(
        "--encoding",
        metavar="NAME",
        help="encoding of --input, e.g. latin-1 or cp1252 (default: UTF-8 or UTF-16 by its "
        "byte-order mark)",
    )
    p.add_argument("--text-column", metavar="C", help="column with the texts (name or number)")
    p.add_argument("--style", choices=("plain", "chat"), default="plain", help="prompt style")
    p.add_argument("--few-shot", action="store_true", help="use the label set's example texts")
    p.add_argument(
        "--no-calibrate", action="store_true", help="do not calibrate against content-free input"
    )
    p.add_argument(
        "--threshold",
        type=float,
        default=0.5,
        help='below this confidence the answer is "needs review" (default 0.5)',
    )


def add_classify_parser(commands: Any) -> None:
    p = commands.add_parser(
        "classify",
        help="classify every row of a CSV/TSV file",
        description="Classify a CSV/TSV file on the local model. Interrupted, the same "
        "command resumes where it stopped.",
    )
    _common_arguments(p, repeat_model=False, input_required=False)
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
    p.add_argument("--restart", action="store_true", help="forget earlier progress on this file")
    _cluster_arguments(p)
    p.set_defaults(handler=cmd_classify, gold_map=None)


def _cluster_arguments(p: argparse.ArgumentParser) -> None:
    cluster = p.add_argument_group("on a Ray cluster (pip install 'driftless[cluster]')")
    cluster.add_argument(
        "--cluster",
        metavar="auto|ray://HOST:PORT",
        help="classify on a Ray cluster: auto joins RAY_ADDRESS or starts a local Ray on "
        "127.0.0.1; also reads Parquet (--input) and writes it (--output *.parquet)",
    )
    cluster.add_argument(
        "--workers", type=int, metavar="N", help="classifier workers (default: one per CPU)"
    )
    cluster.add_argument(
        "--cluster-model",
        type=Path,
        metavar="PATH",
        help="the model file as every node reads it (default: its path here); each worker "
        "checks its sha256 against the lock before it classifies",
    )


def add_eval_parser(commands: Any) -> None:
    p = commands.add_parser(
        "eval",
        help="score a classifier against gold labels",
        description="Evaluate on a file with gold labels: accuracy, macro-F1, per-class "
        "precision and recall, confusion matrix, texts/s.",
    )
    _common_arguments(p, repeat_model=True, input_required=False)
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
    _cluster_arguments(p)
    p.set_defaults(handler=cmd_eval, restart=False)


# --- shared steps --------------------------------------------------------------------


@contextmanager
def _encoding_option(flag: str) -> Iterator[None]:
    """Name the option that reads a file whose encoding was not recognised."""
    try:
        yield
    except UnknownEncoding as exc:
        raise UnknownEncoding(f"{exc} Or pass {flag} {exc.suggested}.", exc.suggested) from exc


@contextmanager
def _map_option(flag: str) -> Iterator[None]:
    """Name the option that says which label each gold value is."""
    try:
        yield
    except GoldMapNeeded as exc:
        raise GoldMapNeeded(f'{exc} Pass {flag} "{exc.suggested}".', exc.values) from exc


def _gold_map(text: str | None, label_set: LabelSet, flag: str | None) -> GoldMap | None:
    if not text:
        return None
    try:
        return GoldMap.parse(text, label_set)
    except ClassifyError as exc:
        raise ClassifyError(f"{exc} ({flag or '--gold-map'})") from exc


def _say_reading(columns: Columns) -> None:
    table = columns.table
    gold = f", gold labels in '{columns.gold_name}'" if columns.gold_name else ""
    status(f"Reading {table.path.name} as {table.described}: texts in '{columns.text_name}'{gold}.")


def _label_set(args: argparse.Namespace, bench: Workbench) -> LabelSet:
    if args.labels is not None:
        names = [n.strip() for n in args.labels.split(",") if n.strip()]
        if args.instruction:
            return LabelSet.from_names(names, instruction=args.instruction)
        return LabelSet.from_names(names)
    return bench.library.resolve(args.label_set)


def _options(args: argparse.Namespace, method: Method) -> MethodOptions:
    return MethodOptions(
        method=method,
        style=args.style,
        few_shot=args.few_shot,
        calibrated=not args.no_calibrate,
        threshold=args.threshold,
    )


def _classifier(
    bench: Workbench, label_set: LabelSet, options: MethodOptions, args: argparse.Namespace
) -> Classifier:
    head: TaughtHead | None = None
    if options.method == "examples" and args.train is not None:
        head = _teach(bench, label_set, options, args)
    try:
        return bench.classifier(label_set, options, head=head)
    except HeadError as exc:
        raise HeadError(f"{exc} Use --train LABELLED.csv.") from exc


def _teach(
    bench: Workbench, label_set: LabelSet, options: MethodOptions, args: argparse.Namespace
) -> TaughtHead:
    digest = file_sha256(args.train)
    text = args.train_gold_map or args.gold_map
    gold_map = _gold_map(text, label_set, "--train-gold-map" if args.train_gold_map else None)
    saved = bench.saved_head(label_set, options.spec)
    if (
        saved is not None
        and saved.source_sha256 == digest
        and saved.gold_map == (gold_map.text if gold_map else "")
    ):
        status(f"Using the head taught from {args.train.name} on {saved.created_at}.")
        return saved
    with _encoding_option("--train-encoding"), _map_option("--train-gold-map"):
        taught = bench.teaching_set(
            args.train,
            label_set,
            text_column=args.train_text_column,
            label_column=args.train_label_column,
            encoding=args.train_encoding,
            gold_map=gold_map,
        )
    if taught.gold_map:
        status(f"Label values of {args.train.name} read as {taught.gold_map}.")
    if taught.unknown_labels:
        shown = ", ".join(taught.unknown_labels[:5])
        status(f"Note: rows labelled {shown} match no label and were left out of teaching.")
    line = ProgressLine(f"Teaching from {args.train.name}", "texts")

    fitting = [False]

    def on_progress(p: TeachProgress) -> None:
        if p.stage == "reading":
            line.update(p.done, p.total, p.texts_per_second, p.eta_seconds)
        elif not fitting[0]:
            fitting[0] = True
            line.finish()
            status("Fitting the head...")

    try:
        head = bench.teach(
            label_set,
            taught.examples,
            spec=options.spec,
            source_sha256=digest,
            gold_map=taught.gold_map,
            on_progress=on_progress,
        )
    finally:
        line.finish()
    accuracy = head.fit.validation_accuracy
    held_out = f", held-out balanced accuracy {accuracy:.3f}" if accuracy is not None else ""
    status(
        f"Taught a head on {head.fit.n_train:,} examples: reading {head.read_seconds:.0f}s, "
        f"fitting {head.fit.seconds:.1f}s{held_out}."
    )
    return head


def _method(args: argparse.Namespace, given: str | None) -> Method:
    if given == "examples" or (given is None and args.train is not None):
        return "examples"
    return "prompt"


def _open(bench: Workbench, model: str | None, args: argparse.Namespace) -> RunnerInfo:
    unpack = False if args.packed else None  # None: as the settings say
    info = bench.open_model(model, n_threads=args.threads, unpack=unpack)
    if info.weights_note:
        status(f"Note: scoring on the model file as it is (slower): {info.weights_note}.")
    return info


# --- classify --------------------------------------------------------------------------


def cmd_classify(args: argparse.Namespace) -> int:
    if args.list_runs:
        return _list_runs()
    if args.export_run is not None:
        return _export_run(args)
    if args.input is None or (args.labels is None and args.label_set is None):
        raise ClassifyError(
            "Say what to classify: --input FILE with --labels or --label-set (or --list-runs)."
        )
    if args.cluster:
        from app.cli.cluster import classify_on_cluster

        return classify_on_cluster(args)
    with _encoding_option("--encoding"):
        columns = choose_columns(sniff(args.input, args.encoding), args.text_column)
    _say_reading(columns)
    with Workbench(get_paths().ensure(), open_store()) as bench:
        _open(bench, args.model, args)
        label_set = _label_set(args, bench)
        method = _method(args, args.method)
        classifier = _classifier(bench, label_set, _options(args, method), args)
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


def finish_run(
    runs: RunStore,
    run_id: int,
    problems: list[str],
    args: argparse.Namespace,
    *,
    described: str,
    write: Callable[[RunStore, int, Path], int] | None = None,
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
        written = (write or RunStore.export_csv)(runs, run_id, args.output)
        status(f"Wrote {written:,} results to {args.output}")
    else:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerows(runs.csv_rows(run_id))


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
    _print_table(rows)
    return 0


def _export_run(args: argparse.Namespace) -> int:
    with RunStore.for_paths(get_paths().ensure()) as runs:
        if args.output is None:
            writer = csv.writer(sys.stdout, lineterminator="\n")
            writer.writerows(runs.csv_rows(args.export_run))
        else:
            written = runs.export_csv(args.export_run, args.output)
            status(f"Wrote {written:,} results to {args.output}")
    return 0


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


# --- eval ----------------------------------------------------------------------------


def cmd_eval(args: argparse.Namespace) -> int:
    if args.run is not None:
        return _eval_run(args)
    if args.input is None or (args.labels is None and args.label_set is None):
        raise ClassifyError(
            "Say what to evaluate: --input GOLD.csv with --labels or --label-set, or --run ID "
            "for a finished run."
        )
    if args.cluster:
        from app.cli.cluster import evaluate_on_cluster

        return evaluate_on_cluster(args)
    try:
        with _encoding_option("--encoding"):
            table = read_all(
                args.input,
                args.text_column,
                args.label_column,
                need_gold=True,
                encoding=args.encoding,
            )
    except NoGoldColumn as exc:
        raise NoGoldColumn(f"{exc} Use --label-column L.") from exc
    _say_reading(table.columns)
    models = args.model or [None]
    methods: list[Method] = [_method(args, m) for m in (args.method or [None])]
    if args.train is not None and file_sha256(args.train) == file_sha256(args.input):
        status("Warning: the teaching file is the evaluation file; accuracy will be overstated.")
    reports: list[EvalReport] = []
    for model in models:
        with Workbench(get_paths().ensure(), open_store()) as bench:
            info = _open(bench, model, args)
            label_set = _label_set(args, bench)
            with _map_option("--gold-map"):
                gold = gold_rows(table, label_set, _gold_map(args.gold_map, label_set, None))
            if gold.mapping.gold_map and model is models[0]:
                status(f"Gold values read as {gold.mapping.gold_map}.")
            for method in methods:
                classifier = _classifier(bench, label_set, _options(args, method), args)
                line = ProgressLine(f"Evaluating {method} on {info.model_id}", "texts")

                def on_progress(p: ClassifyProgress, line: ProgressLine = line) -> None:
                    line.update(p.done, p.total, p.texts_per_second, p.eta_seconds)

                try:
                    reports.append(evaluate(classifier, gold, on_progress=on_progress))
                finally:
                    line.finish()
    _report(args, reports)
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
        gold_map = _gold_map(args.gold_map, label_set, None)
        with _map_option("--gold-map"):
            report = evaluate_run(runs, args.run, gold_map)
        run = runs.get_run(args.run)
    status(
        f"Run {run.id}: {Path(run.input_path).name}, {run.info.label_set}, "
        f"{run.info.method} on {run.info.model_id}, from its stored results."
    )
    if report.gold_map:
        status(f"Gold values read as {report.gold_map}.")
    _report(args, [report])
    return 0


def _report(args: argparse.Namespace, reports: list[EvalReport]) -> None:
    first = reports[0]
    if first.skipped_rows:
        status(f"Skipped {first.skipped_rows} malformed rows.")
    if first.unmatched_rows:
        shown = ", ".join(first.unknown_gold[:5])
        status(f"Left out {first.unmatched_rows} rows whose gold label matches no label: {shown}.")
    if args.confusion_png:
        for i, report in enumerate(reports):
            path = args.confusion_png
            if len(reports) > 1:
                path = path.with_name(f"{path.stem}-{i + 1}{path.suffix}")
            title = f"{report.info.method} on {report.info.model_id}"
            _write_matrix(path, report.scores, title)
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
        _print_table(comparison_table(reports))


def _write_matrix(path: Path, scores: Scores, title: str) -> None:
    """Paint the window's confusion matrix offscreen: Qt is imported here, not at start-up."""
    from app.ui.classify.confusion import offscreen_application, write_matrix

    offscreen_application()
    write_matrix(path, scores, title)


def _print_table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


__all__ = ["ClassifyError", "add_classify_parser", "add_eval_parser", "finish_run"]
