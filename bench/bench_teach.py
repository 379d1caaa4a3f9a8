"""Teaching as the app does it, per model and task, on features read once.

    .venv/bin/python bench/teach_features.py --model gemma     # reads (minutes; cached)
    .venv/bin/python bench/bench_teach.py [--models starter,gemma] [--features DIR]

For each model whose features ``bench/teach_features.py`` cached (``DIR``, by default
``/tmp/driftless-teach-features``), and each task there: the head the app would teach
(:func:`app.core.classify.teach.fit_features`: the app's candidate feature sets, chosen by
the head's own validation inside the taught rows, only the winner fitted to convergence
and calibrated), scored on the held-out split, which chooses nothing. Splits are
teach_features.py's: Banking77 stratified 80/20 (8,005 taught, 1,998 held out), SST-2
4,000 taught rows and 1,000 held-out full sentences sharing no phrase with them.

"Time to teach 10k rows" is what ``driftless classify --train`` on Banking77's whole
file (10,003 rows) costs: the reading time teach_features.py measured for those 10,003
rows (its thread count tuned as the app's is) plus a fit timed here on all of them.
Adds its results to ``bench-teach.json`` beside the features (a model measured again
replaces its rows) and prints them all as a Markdown table.

``--through-app minilm`` measures a sentence encoder through the app's own path instead
of cached features: ``Workbench.open_model`` (an :class:`~app.core.classify.encoder.EncoderReader`
over the model host's weights), ``Workbench.teach`` on the taught split (reading and
fit timed), the saved head's :class:`~app.core.classify.teach.ExampleClassifier` on the
held-out split, then teaching all 10,003 Banking77 rows as ``classify --train`` would.
Its rows are stored as model ``<name>-app``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.core.classify.head import fit_head  # noqa: E402
from app.core.classify.metrics import score  # noqa: E402
from app.core.classify.teach import (  # noqa: E402
    FeatureSpec,
    block_columns,
    candidate_specs,
    fit_features,
)

N_LAYER = {"starter": 30, "gemma": 18}
"""Layers of each model (the features file records them from now on)."""
TASKS = {"bank": "Banking77", "sst": "SST-2"}


def features_file(folder: Path, model: str) -> Path | None:
    found = sorted(folder.glob(f"features-{model}-*.npz"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def report(
    data: Any,
    model: str,
    task: str,
    *,
    fit: Any,
    held_x: Any,
    features: str,
    chosen: str,
    fit_seconds: float,
    refit_all: Callable[[Any, list[int]], object],
) -> dict[str, Any]:
    """One result row: the head ``fit`` scored on the held-out rows (``held_x``, already
    in the head's columns); for Banking77 also what teaching the whole file costs, the
    reading measured by teach_features.py and ``refit_all`` timed on every row."""
    y_train, y_held = data[f"{task}_train_y"], data[f"{task}_held_y"]
    k = int(max(y_train.max(), y_held.max()) + 1)
    pred = fit.predict_proba(held_x).argmax(axis=1)
    scores = score([str(i) for i in range(k)], list(y_held), list(pred))
    rows = len(y_train) + len(y_held)
    read_seconds = float(data[f"{task}_train_seconds"]) + float(data[f"{task}_held_seconds"])
    result: dict[str, Any] = {
        "model": model,
        "task": task,
        "taught": len(y_train),
        "held_out": len(y_held),
        "features": features,
        "chosen": chosen,
        "validation": round(float(fit.validation_accuracy or 0.0), 4),
        "held_out_accuracy": round(scores.accuracy, 4),
        "held_out_macro_f1": round(scores.macro_f1, 4),
        "l2": fit.l2,
        "temperature": round(fit.temperature, 3),
        "fit_seconds": round(fit_seconds, 1),
        "read_texts_per_second": round(rows / read_seconds, 2),
        "load_average": round(os.getloadavg()[0], 1),
    }
    if task == "bank":  # the whole file: what teaching 10k rows costs
        x_all = np.concatenate([data[f"{task}_train_x"], data[f"{task}_held_x"]])
        y_all = list(np.concatenate([y_train, y_held]))
        started = time.perf_counter()
        refit_all(x_all, y_all)
        result["teach_10k_read_seconds"] = round(read_seconds, 1)
        result["teach_10k_fit_seconds"] = round(time.perf_counter() - started, 1)
        result["teach_10k_rows"] = rows
    print(json.dumps(result), flush=True)
    return result


def run_pooled(data: Any, model: str, task: str) -> dict[str, Any]:
    """A sentence encoder's features: its pooled vector, one block, fitted as it is."""
    x_train, y_train = data[f"{task}_train_x"], data[f"{task}_train_y"]
    k = int(max(y_train.max(), data[f"{task}_held_y"].max()) + 1)
    started = time.perf_counter()
    fit = fit_head(x_train, list(y_train), k)
    return report(
        data,
        model,
        task,
        fit=fit,
        held_x=data[f"{task}_held_x"],
        features=f"pooled-{x_train.shape[1]}",
        chosen="pooled",
        fit_seconds=time.perf_counter() - started,
        refit_all=lambda x, y: fit_head(x, y, k),
    )


def run_task(data: Any, model: str, task: str) -> dict[str, Any]:
    if "pooled" in data:
        return run_pooled(data, model, task)
    layers = tuple(int(v) for v in data["layers"])
    n_embd = int(data["n_embd"])
    n_layer = int(data["n_layer"]) if "n_layer" in data else N_LAYER[model]
    read = FeatureSpec(mean_layers=layers, last_layers=layers)
    candidates = candidate_specs(n_layer)
    x_train, y_train = data[f"{task}_train_x"], data[f"{task}_train_y"]
    k = int(max(y_train.max(), data[f"{task}_held_y"].max()) + 1)
    started = time.perf_counter()
    spec, fit = fit_features(
        x_train, list(y_train), k, read=read, candidates=candidates, n_embd=n_embd
    )
    fit_seconds = time.perf_counter() - started
    columns = block_columns(read, spec, n_embd)
    return report(
        data,
        model,
        task,
        fit=fit,
        held_x=data[f"{task}_held_x"][:, columns],
        features=spec.id,
        chosen="default" if spec == candidates[0] else "wide",
        fit_seconds=fit_seconds,
        refit_all=lambda x, y: fit_features(
            x, y, k, read=read, candidates=candidates, n_embd=n_embd
        ),
    )


def through_app(which: str, tasks: list[str], seed: int, threads: int) -> list[dict[str, Any]]:
    """Teach and classify through the Workbench, as ``driftless classify --train`` does."""
    import random
    import tempfile

    sys.path.insert(0, str(ROOT / "bench"))
    from bench_classify import DATA, SST2, banking_split, sst2_split
    from teach_features import install

    from app.core.classify.labels import LabelSet
    from app.core.classify.workbench import MethodOptions, Workbench
    from app.core.models.store import ModelStore
    from app.core.paths import get_paths

    home = Path(tempfile.mkdtemp(prefix="driftless-teach-app-"))
    paths = get_paths(home).ensure()
    store = ModelStore(paths)
    model = install(store, which)
    b_train, b_held, names = banking_split(DATA / "banking77_train.csv", 0.2, seed)
    banking = LabelSet.from_names(
        names, instruction="Classify the bank customer's message by its intent."
    )
    index = {n: i for i, n in enumerate(names)}
    s_held, pool = sst2_split(DATA / "sst2_train.tsv", 1000, seed)
    s_train = random.Random(seed).sample(pool, 4000)
    splits = {
        "bank": (banking, [(t, index[c]) for t, c in b_train], [(t, index[c]) for t, c in b_held]),
        "sst": (SST2, [(t, int(c)) for t, c in s_train], [(t, int(c)) for t, c in s_held]),
    }
    results = []
    with Workbench(paths, store) as bench:
        info = bench.open_model(model.id, n_threads=threads or None)
        print(f"{info.model_id}: reader {info.reader}, {info.n_embd} dims", flush=True)
        for task in tasks:
            labels, train, held = splits[task]
            head = bench.teach(labels, train)
            classifier = bench.classifier(labels, MethodOptions(method="examples"))
            started = time.perf_counter()
            predictions = classifier.predict([t for t, _ in held])
            classify_seconds = time.perf_counter() - started
            pred = [labels.label_names.index(p.label) for p in predictions]
            scores = score([str(i) for i in range(len(labels.labels))], [y for _, y in held], pred)
            result: dict[str, Any] = {
                "model": f"{which}-app",
                "task": task,
                "taught": len(train),
                "held_out": len(held),
                "features": head.spec.id,
                "chosen": head.reader,
                "validation": round(float(head.fit.validation_accuracy or 0.0), 4),
                "held_out_accuracy": round(scores.accuracy, 4),
                "held_out_macro_f1": round(scores.macro_f1, 4),
                "l2": head.fit.l2,
                "temperature": round(head.fit.temperature, 3),
                "fit_seconds": round(head.fit.seconds, 1),
                "read_texts_per_second": round(len(train) / head.read_seconds, 2),
                "classify_texts_per_second": round(len(held) / classify_seconds, 2),
                "threads": threads or 1,
                "load_average": round(os.getloadavg()[0], 1),
            }
            if task == "bank":  # the whole file, as classify --train on it
                everything = train + held
                whole = bench.teach(labels, everything, save=False)
                result["teach_10k_read_seconds"] = round(whole.read_seconds, 1)
                result["teach_10k_fit_seconds"] = round(whole.fit.seconds, 1)
                result["teach_10k_rows"] = len(everything)
            print(json.dumps(result), flush=True)
            results.append(result)
    return results


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| model | task | features chosen | validation (inner) | held-out acc | macro-F1 | "
        "fit s | read texts/s | teach 10k rows: read + fit |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        teach = (
            f"{r['teach_10k_read_seconds'] / 60:.1f} + {r['teach_10k_fit_seconds'] / 60:.1f} min"
            if "teach_10k_read_seconds" in r
            else ""
        )
        lines.append(
            f"| {r['model']} | {TASKS[r['task']]} | {r['chosen']} ({r['features']}) | "
            f"{r['validation']:.3f} | {r['held_out_accuracy']:.3f} | "
            f"{r['held_out_macro_f1']:.3f} | {r['fit_seconds']} | {r['read_texts_per_second']} | "
            f"{teach} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="starter,gemma,minilm")
    parser.add_argument("--tasks", default="sst,bank")
    parser.add_argument("--features", type=Path, default=Path("/tmp/driftless-teach-features"))
    parser.add_argument("--table", type=Path, help="print a saved bench-teach.json as Markdown")
    parser.add_argument("--through-app", help="a sentence encoder (minilm) taught by the app")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--threads", type=int, default=0, help="0: the app's default")
    args = parser.parse_args()
    if args.table:
        print(table(json.loads(args.table.read_text())))
        return 0
    results = []
    if args.through_app:
        results = through_app(args.through_app, args.tasks.split(","), args.seed, args.threads)
    for model in [] if args.through_app else args.models.split(","):
        path = features_file(args.features, model)
        if path is None:
            print(f"{model}: no features in {args.features}; run bench/teach_features.py first")
            continue
        with np.load(path, allow_pickle=False) as data:
            for task in args.tasks.split(","):
                if f"{task}_train_x" in data and f"{task}_held_x" in data:
                    results.append(run_task(data, model, task))
    out = args.features / "bench-teach.json"
    done = {(r["model"], r["task"]) for r in results}
    earlier = json.loads(out.read_text()) if out.is_file() else []
    results = [r for r in earlier if (r["model"], r["task"]) not in done] + results
    out.write_text(json.dumps(results, indent=1))  # merged: one model at a time adds to it
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
