"""Which head, on which features: measured on the held-out splits of bench/teach_features.py.

    .venv/bin/python bench/teach_study.py [--model starter] [--out bench/out]

Every choice (layers and pooling, normalisation, class weights) is made by the head's
own validation inside the teaching rows (a held-out tenth, or cross-validation); the
held-out split is only reported, never used to choose. Writes ``study-<model>.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.core.classify.head import fit_head  # noqa: E402
from app.core.classify.metrics import score  # noqa: E402

Block = tuple[int, str]  # (layer, "m" mean | "l" last token)


def take(data: Any, part: str, blocks: list[Block], norm: bool) -> np.ndarray:
    layers = [int(v) for v in data["layers"]]
    n = int(data["n_embd"])
    x = data[f"{part}_x"]
    cols = []
    for layer, pool in blocks:
        i = layers.index(layer)
        start = (2 * i + (pool == "l")) * n
        block = x[:, start : start + n].astype(np.float32)
        if norm:
            block = block / np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-6)
        cols.append(block)
    return np.concatenate(cols, axis=1)


def ece(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    conf = probs.max(axis=1)
    right = probs.argmax(axis=1) == y
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        sel = (conf > lo) & (conf <= hi)
        if sel.any():
            total += sel.mean() * abs(right[sel].mean() - conf[sel].mean())
    return float(total)


OLD_L2_PATH = (3.0, 1.0, 3e-1, 1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4)
"""The penalties tried before #24 (the path now starts at 30)."""


def trial(
    data: Any,
    task: str,
    blocks: list[Block],
    *,
    norm: bool = False,
    balanced: bool = True,
    before: bool = False,
) -> dict[str, Any]:
    xtr, ytr = take(data, f"{task}_train", blocks, norm), data[f"{task}_train_y"]
    xte, yte = take(data, f"{task}_held", blocks, norm), data[f"{task}_held_y"]
    k = int(max(ytr.max(), yte.max()) + 1)
    started = time.perf_counter()
    extra: dict[str, Any] = {"l2_path": OLD_L2_PATH, "calibrate": False} if before else {}
    fit = fit_head(xtr, ytr, k, balanced=balanced, max_iter=150, **extra)
    seconds = time.perf_counter() - started
    probs = fit.predict_proba(xte)
    raw = np.exp(fit.logits(xte) - fit.logits(xte).max(axis=1, keepdims=True))
    raw /= raw.sum(axis=1, keepdims=True)
    pred = probs.argmax(axis=1)
    scores = score([str(i) for i in range(k)], list(yte), list(pred))
    nll = float(-np.log(probs[np.arange(len(yte)), yte] + 1e-12).mean())
    nll_raw = float(-np.log(raw[np.arange(len(yte)), yte] + 1e-12).mean())
    result = {
        "task": task,
        "features": "+".join(f"{p}{layer}" for layer, p in blocks),
        "norm": norm,
        "balanced": balanced,
        "dims": xtr.shape[1],
        "validation": round(float(fit.validation_accuracy or 0), 4),
        "held_out_accuracy": round(scores.accuracy, 4),
        "held_out_macro_f1": round(scores.macro_f1, 4),
        "l2": fit.l2,
        "temperature": round(fit.temperature, 3),
        "nll": round(nll, 4),
        "nll_uncalibrated": round(nll_raw, 4),
        "ece": round(ece(probs, yte), 4),
        "ece_uncalibrated": round(ece(raw, yte), 4),
        "fit_seconds": round(seconds, 1),
    }
    print(json.dumps(result), flush=True)
    return result


def table(paths: list[Path]) -> str:
    """The studies as one Markdown table."""
    lines = [
        "| model | task | features | step | dims | validation (inner) | held-out acc | "
        "held-out macro-F1 | ECE raw → calibrated | fit s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for path in paths:
        model = path.stem.removeprefix("study-").rsplit("-", 1)[0]
        for r in json.loads(path.read_text()):
            chosen = " **(chosen)**" if r.get("chosen_by_validation") else ""
            lines.append(
                f"| {model} | {r['task']} | {r['features']}{chosen} | {r.get('step', '')} | "
                f"{r['dims']} | {r['validation']:.3f} | {r['held_out_accuracy']:.3f} | "
                f"{r['held_out_macro_f1']:.3f} | {r['ece_uncalibrated']:.3f} → {r['ece']:.3f} | "
                f"{r['fit_seconds']} |"
            )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="starter")
    parser.add_argument("--tasks", default="sst,bank")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--table", nargs="*", type=Path, help="print studies as Markdown")
    parser.add_argument(
        "--bank", default="", help='Banking77\'s candidates, e.g. "m12+m17+l17,m12" (default: 5)'
    )
    parser.add_argument("--no-before", action="store_true", help="skip the head before #24")
    args = parser.parse_args()
    if args.table:
        print(table(args.table))
        return 0
    data = np.load(args.out / f"features-{args.model}.npz")
    layers = [int(v) for v in data["layers"]]
    lo, mid1, mid2, hi = layers[0], layers[2], layers[3], layers[-1]
    default = [(mid1, "m"), (hi, "m"), (hi, "l")]  # today's: means at 0.4, 0.6; last at 0.6
    candidates = [
        default,
        *[[(layer, "m")] for layer in layers],
        [(layer, "m") for layer in layers[1:4]],
        [(layer, "m") for layer in layers],
        [(layer, "m") for layer in layers] + [(hi, "l")],
        [(mid1, "m"), (mid2, "m"), (mid2, "l"), (hi, "l")],
    ]
    results = []
    for task in args.tasks.split(","):
        if f"{task}_train_x" not in data:
            continue
        before = [] if args.no_before else [trial(data, task, default, before=True)]
        for r in before:
            r["step"] = "before #24"
        these = candidates
        if task == "bank" and args.bank:  # 77 labels: each fit costs minutes on a busy machine
            these = [[(int(b[1:]), b[0]) for b in spec.split("+")] for spec in args.bank.split(",")]
        elif task == "bank":
            these = [default, *[[(layer, "m")] for layer in layers[1:4]], candidates[6]]
        rows = [trial(data, task, c) for c in these]
        best = max(rows, key=lambda r: r["validation"])
        chosen = next(c for c, r in zip(these, rows, strict=True) if r is best)
        if task != "bank" or not args.bank:
            rows.append({**trial(data, task, chosen, norm=True), "step": "block norm"})
        if task != "bank":
            rows.append({**trial(data, task, chosen, balanced=False), "step": "no class weights"})
        for r in rows:
            r["chosen_by_validation"] = r is best
        results += [*before, *rows]
    name = f"study-{args.model}-{args.tasks.replace(',', '-')}.json"
    (args.out / name).write_text(json.dumps(results, indent=1))
    _ = lo
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
