"""Does the starter add anything to a sentence encoder? Heads on both models' features.

    .venv/bin/python bench/teach_combine.py bank concat    # or: sst, late

On the features ``bench/teach_features.py`` cached for the starter and all-MiniLM-L6-v2
(same rows, same splits: checked), the head the app fits (:func:`fit_head`, one BLAS
thread) on either the two feature blocks side by side (``concat``: the starter's default
block and the encoder's pooled vector) or each block alone with their calibrated
probabilities averaged (``late``), scored on the held-out split. Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.core.classify.features import FeatureSpec, block_columns, candidate_specs  # noqa: E402
from app.core.classify.head import fit_head  # noqa: E402
from app.core.classify.metrics import score  # noqa: E402

FEATURES = Path("/tmp/driftless-teach-features")


def cached(model: str) -> np.lib.npyio.NpzFile:
    found = sorted(FEATURES.glob(f"features-{model}-*.npz"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise SystemExit(f"No cached features for {model}: run bench/teach_features.py first.")
    return np.load(found[-1])


def main(task: str, mode: str) -> None:
    s, m = cached("starter"), cached("minilm")
    for part in ("train", "held"):
        assert (s[f"{task}_{part}_y"] == m[f"{task}_{part}_y"]).all(), "splits differ"
    layers = tuple(int(v) for v in s["layers"])
    read = FeatureSpec(mean_layers=layers, last_layers=layers)
    spec = candidate_specs(int(s["n_layer"]))[0]
    columns = block_columns(read, spec, int(s["n_embd"]))
    y_train, y_held = s[f"{task}_train_y"], s[f"{task}_held_y"]
    k = int(max(y_train.max(), y_held.max()) + 1)
    s_train = s[f"{task}_train_x"][:, columns].astype(np.float32)
    s_held = s[f"{task}_held_x"][:, columns].astype(np.float32)
    m_train = m[f"{task}_train_x"].astype(np.float32)
    m_held = m[f"{task}_held_x"].astype(np.float32)
    started = time.perf_counter()
    with threadpool_limits(1):
        if mode == "concat":
            fit = fit_head(np.concatenate([s_train, m_train], 1), list(y_train), k)
            probs = fit.predict_proba(np.concatenate([s_held, m_held], 1))
        else:
            one, two = fit_head(s_train, list(y_train), k), fit_head(m_train, list(y_train), k)
            probs = (one.predict_proba(s_held) + two.predict_proba(m_held)) / 2
    scores = score([str(i) for i in range(k)], list(y_held), list(probs.argmax(1)))
    print(
        json.dumps(
            {
                "task": task,
                "mode": mode,
                "starter_block": spec.id,
                "held_out_accuracy": round(scores.accuracy, 4),
                "held_out_macro_f1": round(scores.macro_f1, 4),
                "fit_seconds": round(time.perf_counter() - started),
            }
        )
    )


if __name__ == "__main__":
    arguments = sys.argv[1:] + ["bank", "concat"][len(sys.argv) - 1 :]
    main(arguments[0], arguments[1])
