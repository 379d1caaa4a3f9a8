"""``driftless classify --cluster`` and ``driftless eval --cluster``: the same classifier,
run on a Ray cluster.

The driver builds the classifier exactly as a local run does (model, label set, method,
taught head), turns it into a job every worker rebuilds and checks, and hands the
file's blocks of rows to the cluster. Results land in the same run store under the
same key as a local run, so the same command resumes after a crash, and
``classify --export-run`` and ``eval --run`` work on the result. ``eval --cluster``
classifies the file so, then scores the run's stored results against its gold column.
"""

from __future__ import annotations

import argparse

from app.cli.classify_options import (
    choose_label_set,
    choose_method,
    encoding_option,
    make_classifier,
    map_option,
    method_options,
    open_model,
    parse_gold_map,
)
from app.cli.classify_output import finish_run, print_report
from app.cli.common import open_store, status
from app.cli.progress import ProgressLine
from app.core.classify import LabelSet, RunRecord, Workbench
from app.core.classify.errors import ClassifyError, NoGoldColumn
from app.core.classify.evaluate import evaluate_run
from app.core.cluster import (
    ClassifierJob,
    ClusterProgress,
    InputSource,
    connect,
    open_cluster_run,
    open_input,
    run_on_cluster,
    write_results,
)
from app.core.paths import get_paths


def classify_on_cluster(args: argparse.Namespace) -> int:
    source = _source(args, label_column=None)
    with Workbench(get_paths().ensure(), open_store()) as bench:
        run, _ = _run(bench, args, source, model=args.model, method=args.method)
        problems = [
            f"line {row.line}: {row.problem}"
            for row in bench.runs.results(run.id)
            if row.problem is not None
        ]
        described = source.described
        finish_run(bench.runs, run.id, problems, args, described=described, write=write_results)
    return 0


def evaluate_on_cluster(args: argparse.Namespace) -> int:
    models, methods = args.model or [None], args.method or [None]
    if len(models) > 1 or len(methods) > 1:
        raise ClassifyError(
            "--cluster evaluates one model and one method at a time: give --model and "
            "--method once."
        )
    source = _source(args, label_column=args.label_column)
    if source.gold_name is None:
        raise NoGoldColumn(f"{source.path.name} has no gold label column. Use --label-column L.")
    with Workbench(get_paths().ensure(), open_store()) as bench:
        run, label_set = _run(bench, args, source, model=models[0], method=methods[0])
        gold_map = parse_gold_map(args.gold_map, label_set, None)
        with map_option("--gold-map"):
            report = evaluate_run(bench.runs, run.id, gold_map)
    if report.gold_map:
        status(f"Gold values read as {report.gold_map}.")
    print_report(args, [report])
    return 0


def _source(args: argparse.Namespace, *, label_column: str | None) -> InputSource:
    with encoding_option("--encoding"):
        source = open_input(args.input, args.text_column, label_column, encoding=args.encoding)
    gold = f", gold labels in '{source.gold_name}'" if source.gold_name else ""
    status(
        f"Reading {source.path.name} as {source.described}: texts in '{source.text_name}'{gold}."
    )
    return source


def _run(
    bench: Workbench,
    args: argparse.Namespace,
    source: InputSource,
    *,
    model: str | None,
    method: str | None,
) -> tuple[RunRecord, LabelSet]:
    info = open_model(bench, model, args)
    label_set = choose_label_set(args, bench)
    classifier = make_classifier(
        bench, label_set, method_options(args, choose_method(args, method)), args
    )
    job = ClassifierJob.of(
        classifier,
        bench.store.get(info.model_id),
        unpacked_dir=bench.paths.unpacked_dir,
        model_path=args.cluster_model,
        n_threads=args.threads or 1,  # one CPU per worker unless --threads says more
    )
    bench.close()  # the workers load their own copies; this one is no longer needed
    run = open_cluster_run(bench.runs, job.info, source)
    if args.restart:
        bench.runs.delete_run(run.id)
        run = open_cluster_run(bench.runs, job.info, source)
    done, skipped = bench.runs.count(run.id)
    if done or skipped:
        status(f"Resuming: {done + skipped:,} of {run.total_rows:,} rows were done before.")
    cluster = connect(args.cluster)
    where = "a local Ray on 127.0.0.1" if cluster.started_here else f"Ray at {args.cluster}"
    status(f"Classifying on {where}: {cluster.nodes} nodes, {cluster.cpus} CPUs.")
    line = ProgressLine(f"Classifying {source.path.name} on the cluster", "texts")

    def on_progress(p: ClusterProgress) -> None:
        workers = f"{p.workers} worker{'s' if p.workers != 1 else ''}"
        # 0 texts/s until a block of this session is back (not done / time, which counts
        # the rows an earlier session did).
        line.update(p.done, p.total, p.rows_per_second, p.eta_seconds, note=workers)

    try:
        run = run_on_cluster(
            bench.runs,
            job,
            source,
            run=run,
            address=args.cluster,
            workers=args.workers,
            on_progress=on_progress,
        )
    except KeyboardInterrupt:
        line.finish()
        status("Stopped. Run the same command again to resume from the committed blocks.")
        raise
    finally:
        line.finish()
    return run, label_set
