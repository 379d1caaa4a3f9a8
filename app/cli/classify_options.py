"""The options ``classify`` and ``eval`` share, and the steps they decide, local or on a cluster.

The arguments both commands take (the model, the label set, the method, the taught head,
the input file and how to read it, ``--cluster``), and what :mod:`app.cli.classify` and
:mod:`app.cli.cluster` build from them: the label set, the method and its options, the
opened model, the classifier (teaching its head first when ``--train`` is given), and
the sentences that name the option to fix when a file's encoding or gold values are
not understood.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from app.cli.common import add_gpu_layers_option, status
from app.cli.progress import ProgressLine
from app.core.classify import LabelSet, MethodOptions, TaughtHead, TeachProgress, Workbench
from app.core.classify.classifier import Classifier, Method
from app.core.classify.errors import ClassifyError, HeadError
from app.core.classify.from_column import labels_from_column
from app.core.classify.goldmap import GoldMap, GoldMapNeeded
from app.core.classify.runner import RunnerInfo
from app.core.classify.sniffing import UnknownEncoding
from app.core.classify.table import Columns, file_sha256

# --- arguments ---------------------------------------------------------------------


def add_common_arguments(
    p: argparse.ArgumentParser, *, repeat_model: bool, input_required: bool = True
) -> None:
    """The model, the label set, the method and its head, the input file: both commands'."""
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
    labels.add_argument(
        "--labels-from-column",
        metavar="COLUMN",
        help="the distinct values of this column of --train (else of --input) are the labels",
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
    add_gpu_layers_option(p)
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


def add_cluster_arguments(p: argparse.ArgumentParser) -> None:
    """``--cluster`` and what a run on it needs (:mod:`app.cli.cluster` runs it)."""
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


# --- shared steps --------------------------------------------------------------------


@contextmanager
def encoding_option(flag: str) -> Iterator[None]:
    """Name the option that reads a file whose encoding was not recognised."""
    try:
        yield
    except UnknownEncoding as exc:
        raise UnknownEncoding(f"{exc} Or pass {flag} {exc.suggested}.", exc.suggested) from exc


@contextmanager
def map_option(flag: str) -> Iterator[None]:
    """Name the option that says which label each gold value is."""
    try:
        yield
    except GoldMapNeeded as exc:
        raise GoldMapNeeded(f'{exc} Pass {flag} "{exc.suggested}".', exc.values) from exc


def parse_gold_map(text: str | None, label_set: LabelSet, flag: str | None) -> GoldMap | None:
    if not text:
        return None
    try:
        return GoldMap.parse(text, label_set)
    except ClassifyError as exc:
        raise ClassifyError(f"{exc} ({flag or '--gold-map'})") from exc


def say_reading(columns: Columns) -> None:
    table = columns.table
    gold = f", gold labels in '{columns.gold_name}'" if columns.gold_name else ""
    status(f"Reading {table.path.name} as {table.described}: texts in '{columns.text_name}'{gold}.")


def choose_label_set(args: argparse.Namespace, bench: Workbench) -> LabelSet:
    if args.labels_from_column is not None:
        return label_set_from_column(args)
    if args.labels is not None:
        names = [n.strip() for n in args.labels.split(",") if n.strip()]
        if args.instruction:
            return LabelSet.from_names(names, instruction=args.instruction)
        return LabelSet.from_names(names)
    return bench.library.resolve(args.label_set)


def label_set_from_column(args: argparse.Namespace) -> LabelSet:
    """``--labels-from-column``: the column's values in --train, else in --input."""
    source = args.train if args.train is not None else args.input
    flag = "--train-encoding" if args.train is not None else "--encoding"
    encoding = args.train_encoding if args.train is not None else args.encoding
    instruction = {"instruction": args.instruction} if args.instruction else {}
    with encoding_option(flag):
        made = labels_from_column(source, args.labels_from_column, encoding=encoding, **instruction)
    status(f"Labels from column '{args.labels_from_column}' of {source.name}: {made.described()}.")
    return made.label_set


def method_options(args: argparse.Namespace, method: Method) -> MethodOptions:
    return MethodOptions(
        method=method,
        style=args.style,
        few_shot=args.few_shot,
        calibrated=not args.no_calibrate,
        threshold=args.threshold,
    )


def make_classifier(
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
    gold_map = parse_gold_map(text, label_set, "--train-gold-map" if args.train_gold_map else None)
    saved = bench.saved_head(label_set, options.spec)
    if (
        saved is not None
        and saved.source_sha256 == digest
        and saved.gold_map == (gold_map.text if gold_map else "")
    ):
        status(f"Using the head taught from {args.train.name} on {saved.created_at}.")
        for sentence in saved.coverage.sentences():
            status(f"Warning: {sentence}")
        return saved
    with encoding_option("--train-encoding"), map_option("--train-gold-map"):
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
    for sentence in taught.coverage(label_set).sentences():
        status(f"Warning: {sentence}")
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
    status(
        f"Taught a head on {head.fit.n_train:,} examples: reading {head.read_seconds:.0f}s, "
        f"fitting {head.fit.seconds:.1f}s. {head.held_out_sentence()}"
    )
    return head


def choose_method(args: argparse.Namespace, given: str | None) -> Method:
    if given == "examples" or (given is None and args.train is not None):
        return "examples"
    return "prompt"


def open_model(bench: Workbench, model: str | None, args: argparse.Namespace) -> RunnerInfo:
    unpack = False if args.packed else None  # None: as the settings say
    info = bench.open_model(
        model, n_threads=args.threads, unpack=unpack, gpu_layers=args.gpu_layers
    )
    if info.weights_note:
        status(f"Note: scoring on the model file as it is (slower): {info.weights_note}.")
    if info.reader == "encoder":
        status(
            f"{info.model_id} is a sentence encoder: texts are read as its pooled sentence "
            "vectors, for teaching by examples."
        )
    return info
