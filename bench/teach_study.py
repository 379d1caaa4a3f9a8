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


def trial(
    data: Any, task: str, blocks: list[Block], *, norm: bool = False, balanced: bool = True
) -> dict[str, Any]:
    xtr, ytr = take(data, f"{task}_train", blocks, norm), data[f"{task}_train_y"]
    xte, yte = take(data, f"{task}_held", blocks, norm), data[f"{task}_held_y"]
    k = int(max(ytr.max(), yte.max()) + 1)
    started = time.perf_counter()
    fit = fit_head(xtr, ytr, k, balanced=balanced, max_iter=150)
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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="starter")
    parser.add_argument("--tasks", default="sst,bank")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
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
        rows = [trial(data, task, c) for c in candidates]
        best = max(rows, key=lambda r: r["validation"])
        chosen = next(c for c, r in zip(candidates, rows, strict=True) if r is best)
        rows.append({**trial(data, task, chosen, norm=True), "step": "block norm"})
        rows.append({**trial(data, task, chosen, balanced=False), "step": "no class weights"})
        for r in rows:
            r["chosen_by_validation"] = r is best
        results += rows
    (args.out / f"study-{args.model}.json").write_text(json.dumps(results, indent=1))
    _ = lo
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
