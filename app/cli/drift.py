"""``driftless drift``: record a model's behaviour on a check set, and check it again.

``record`` answers the check set's prompts and texts on a model and stores them with
the environment; ``check`` answers again and exits 0 when every answer is identical, 1
when anything drifted (with a report of what, and which part of the environment
differs). ``list``, ``export``, ``import`` and ``remove`` manage the files.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from app.cli import docs as docs_cmd
from app.cli.common import add_gpu_layers_option, open_store, status
from app.cli.progress import ProgressLine
from app.core.drift import (
    CheckSet,
    CheckSetError,
    CheckSetLibrary,
    ClassifySpec,
    answer,
    check,
    read_prompts,
    read_texts,
    to_markdown,
)
from app.core.drift.checkset import DEFAULT_MAX_TOKENS, DEFAULT_TOLERANCE, check_name, item_id
from app.core.drift.library import read_file
from app.core.drift.record import ProgressCallback
from app.core.drift.retrieval import read_retrieval
from app.core.fsutil import sha256_file
from app.core.paths import get_paths

EXIT_DRIFTED = 1


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "drift",
        help="record and check a model's behaviour (drift checks)",
        description="Behaviour checks: record exact greedy answers and label distributions "
        "on a model, then check that a model, its template or the runtime changed nothing.",
    )
    sub = p.add_subparsers(dest="drift_command", metavar="ACTION", required=True)

    record = sub.add_parser("record", help="record a check set's answers on a model")
    record.add_argument("name", help="the check set's name")
    record.add_argument("--prompts", type=Path, metavar="FILE.jsonl", help="chat prompts")
    record.add_argument("--classify", type=Path, metavar="FILE.csv", help="labelled texts")
    record.add_argument(
        "--retrieval",
        type=Path,
        metavar="FILE.jsonl",
        help='document searches, one a line: {"collection": NAME, "query": TEXT, "top": 5}',
    )
    record.add_argument("--label-set", metavar="S", help="label set for --classify")
    record.add_argument("--text-column", metavar="C", help="text column of --classify")
    record.add_argument("--label-column", metavar="L", help="gold label column of --classify")
    record.add_argument("--method", choices=("prompt", "examples"), default="prompt")
    record.add_argument("--style", choices=("plain", "chat"), default="plain")
    record.add_argument("--model", metavar="ID", help="installed model id (default: active)")
    record.add_argument(
        "--max-tokens",
        type=int,
        default=DEFAULT_MAX_TOKENS,
        help=f"tokens per greedy answer (default {DEFAULT_MAX_TOKENS})",
    )
    record.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help=f"largest label probability move still counted the same (default {DEFAULT_TOLERANCE})",
    )
    _settings(record)
    record.add_argument(
        "--again",
        action="store_true",
        help="re-record an existing check set (its prompts and texts as they are)",
    )
    record.set_defaults(handler=cmd_record)

    chk = sub.add_parser("check", help="answer a check set again; exit 1 if anything drifted")
    chk.add_argument("name", help="a check set's name, or a check set file")
    chk.add_argument("--model", metavar="ID", help="model to check (default: the recorded one)")
    chk.add_argument("--json", action="store_true", help="print the report as JSON")
    chk.add_argument("--report", type=Path, metavar="FILE.md", help="write a Markdown report")
    _settings(chk)
    chk.set_defaults(handler=cmd_check)

    lst = sub.add_parser("list", help="the check sets in the data folder, with their sha256")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(handler=cmd_list)
    exp = sub.add_parser("export", help="copy a check set to a file (same bytes, same sha256)")
    exp.add_argument("name")
    exp.add_argument("destination", type=Path)
    exp.set_defaults(handler=cmd_export)
    imp = sub.add_parser("import", help="add a check set file to the data folder")
    imp.add_argument("file", type=Path)
    imp.add_argument("--replace", action="store_true", help="replace one of the same name")
    imp.set_defaults(handler=cmd_import)
    rm = sub.add_parser("remove", help="remove a check set from the data folder")
    rm.add_argument("name")
    rm.set_defaults(handler=cmd_remove)


def _settings(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads")
    p.add_argument("--batch", type=int, metavar="N", help="prompt batch size (default 512)")
    p.add_argument(
        "--packed",
        action="store_true",
        help="classify with the model file as it is, never a 16-bit copy",
    )
    add_gpu_layers_option(p)


def _progress(what: str) -> tuple[ProgressLine, ProgressCallback]:
    line = ProgressLine(what, "texts")
    started = time.perf_counter()

    def on_progress(done: int, total: int) -> None:
        seconds = time.perf_counter() - started
        rate = done / seconds if seconds > 0 else 0.0
        line.update(done, total, rate, (total - done) / rate if rate else None)

    return line, on_progress


def cmd_record(args: argparse.Namespace) -> int:
    paths = get_paths().ensure()
    store = open_store()
    library = CheckSetLibrary.for_paths(paths)
    name = check_name(args.name)
    with library.recording(name, again=args.again):
        # --again: the prompts and texts as they are (even edited); the answers anew.
        again = library.load(name, verify=False) if args.again else None
        check_set = again or _new_check_set(args, paths)
        line, on_progress = _progress(f"Recording '{name}'")
        try:
            recording = answer(
                paths,
                store,
                check_set,
                args.model,
                threads=args.threads,
                batch=args.batch or 512,
                unpack=not args.packed,
                on_progress=on_progress,
                open_embedder=docs_cmd.embedder_factory(store),
                gpu_layers=args.gpu_layers,
            )
        finally:
            line.finish()
        saved = check_set.recorded(recording)
        path = library.save(saved)
    env = recording.environment
    status(
        f"Recorded {saved.size} answers of {env.get('model_id') or 'the collections'} in "
        f"{path} (sha256 {saved.sha256[:16]}...)."
    )
    return 0


def _new_check_set(args: argparse.Namespace, paths: Any) -> CheckSet:
    if args.prompts is None and args.classify is None and args.retrieval is None:
        raise CheckSetError(
            "Give the check set something to check: --prompts FILE.jsonl, "
            "--classify FILE.csv --label-set S and/or --retrieval FILE.jsonl."
        )
    prompts = read_prompts(args.prompts) if args.prompts is not None else ()
    retrieval = read_retrieval(args.retrieval, item_id) if args.retrieval is not None else ()
    classify = None
    if args.classify is not None:
        if not args.label_set:
            raise CheckSetError("--classify needs a label set: --label-set NAME_OR_FILE.")
        from app.core.classify.library import LabelSetLibrary

        label_set = LabelSetLibrary.for_paths(paths).resolve(args.label_set)
        texts = read_texts(
            args.classify, text_column=args.text_column, label_column=args.label_column
        )
        classify = ClassifySpec(label_set, texts, method=args.method, style=args.style)
    return CheckSet(
        name=args.name,
        prompts=prompts,
        classify=classify,
        max_tokens=args.max_tokens,
        tolerance=args.tolerance,
        created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        retrieval=retrieval,
    )


def cmd_check(args: argparse.Namespace) -> int:
    paths = get_paths().ensure()
    store = open_store()
    candidate = Path(args.name)
    if args.name.endswith(".json") and candidate.is_file():
        check_set = read_file(candidate)
    else:
        check_set = CheckSetLibrary.for_paths(paths).load(args.name)
    line, on_progress = _progress(f"Checking '{check_set.name}'")
    try:
        report = check(
            paths,
            store,
            check_set,
            args.model,
            threads=args.threads,
            batch=args.batch,
            unpack=False if args.packed else None,
            on_progress=on_progress,
            keep=True,
            open_embedder=docs_cmd.embedder_factory(store),
            gpu_layers=args.gpu_layers,
        )
    finally:
        line.finish()
    markdown = to_markdown(report)
    if args.report:
        args.report.write_text(markdown, encoding="utf-8")
    if args.json:
        sys.stdout.write(json.dumps(report.to_json(), indent=1, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(markdown + "\n")
    return 0 if report.identical else EXIT_DRIFTED


def cmd_list(args: argparse.Namespace) -> int:
    library = CheckSetLibrary.for_paths(get_paths())
    rows = []
    for name in library.names():
        try:
            check_set = library.load(name)
        except CheckSetError as exc:
            status(f"Skipped {name}: {exc}")
            continue
        recording = check_set.recording
        rows.append(
            {
                "name": name,
                "sha256": library.sha256(name),
                "prompts": len(check_set.prompts),
                "texts": len(check_set.classify.texts) if check_set.classify else 0,
                "model": recording.environment.get("model_id") if recording else None,
                "recorded_at": recording.recorded_at if recording else None,
            }
        )
    if args.json:
        sys.stdout.write(json.dumps(rows, indent=1) + "\n")
    elif not rows:
        status("No check sets yet. Record one: driftless drift record NAME --prompts FILE.jsonl")
    for row in rows if not args.json else []:
        sys.stdout.write(
            f"{row['name']}  {row['prompts']} prompts, {row['texts']} texts  "
            f"{row['model'] or 'not recorded'} {row['recorded_at'] or ''}  sha256 {row['sha256']}\n"
        )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    target = CheckSetLibrary.for_paths(get_paths()).export(args.name, args.destination)
    status(f"Exported '{args.name}' to {target}.")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    library = CheckSetLibrary.for_paths(get_paths().ensure())
    check_set = library.import_file(args.file, replace=args.replace)
    stored = library.sha256(check_set.name)
    status(f"Imported '{check_set.name}' (sha256 {stored}).")
    if sha256_file(args.file) != stored:
        status(
            f"{args.file.name} was not in canonical form (edited or reformatted); it was stored "
            "canonically, so its sha256 is the one above: export it again to share it."
        )
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    CheckSetLibrary.for_paths(get_paths()).remove(args.name)
    status(f"Removed '{args.name}'.")
    return 0
