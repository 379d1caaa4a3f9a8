"""Echo features on the starter (Springer et al. 2024, "Repetition improves language model
embeddings"): each text twice, its hidden states pooled over the second copy, so every
pooled token has seen the whole text. A causal model's first copy sees only what came
before each token; the second copy sees all of it.

    .venv/bin/python bench/teach_echo.py [--store DIR] [--threads 0]

SST-2 only, on bench_classify.py's split (4,000 taught rows, 1,000 held-out full
sentences sharing no phrase with them), the starter's 16-bit copy, the app's prompt and
candidate feature sets: the same head as the app teaches (:func:`fit_features`), on the
same layers as bench/teach_features.py reads. Prints the plain reading beside the echo
reading, both read in this run, with their reading speeds. Bench only: the app does not
echo.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_classify import DATA, SST2, sst2_split  # noqa: E402
from teach_features import layers_for  # noqa: E402

from app.core.classify.classifier import PromptSession  # noqa: E402
from app.core.classify.metrics import score  # noqa: E402
from app.core.classify.runner import ModelRunner  # noqa: E402
from app.core.classify.scoring import Query  # noqa: E402
from app.core.classify.teach import (  # noqa: E402
    FeatureSpec,
    block_columns,
    candidate_specs,
    fit_features,
    read_features,
)
from app.core.models.starter import ensure_starter  # noqa: E402
from app.core.models.store import ModelStore  # noqa: E402
from app.core.paths import get_paths  # noqa: E402

AGAIN = "\nThe same text again: "
"""Between the two copies (Springer et al. use "rewritten sentence:")."""


class EchoSession(PromptSession):
    """The text, a short bridge, the text again; the mean pools the second copy only."""

    def query(self, text: str) -> tuple[Query, bool]:
        tokens = self.runner.tokenize(text, special=False)
        bridge = self.runner.tokenize(AGAIN, special=False)
        room = (self.max_text_tokens - len(bridge)) // 2
        truncated = len(tokens) > room
        tokens = tokens[:room]
        start = len(tokens) + len(bridge)
        body = tokens + bridge + tokens
        return Query(tuple(body + self.suffix), (start, start + len(tokens))), truncated


def read(runner: ModelRunner, session_type: type[PromptSession], spec, texts):  # type: ignore[no-untyped-def]
    session = session_type(runner, SST2, style=spec.style)
    started = time.perf_counter()
    features, _ = read_features(session, spec, texts, None)
    return features, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--threads", type=int, default=0, help="0: tuned, as the app does")
    parser.add_argument("--store", type=Path, default=Path("/tmp/driftless-teach-echo-home"))
    parser.add_argument("--out", type=Path, default=Path("/tmp/driftless-teach-features"))
    args = parser.parse_args()
    store = ModelStore(get_paths(args.store).ensure())
    model = ensure_starter(store)
    assert model is not None
    held, pool = sst2_split(DATA / "sst2_train.tsv", 1000, args.seed)
    train = random.Random(args.seed).sample(pool, 4000)
    x_texts = [t for t, _ in train]
    h_texts = [t for t, _ in held]
    y_train = [int(c) for _, c in train]
    y_held = [int(c) for _, c in held]
    results = []
    with ModelRunner.open(store, model.id, n_threads=args.threads or None) as runner:
        n_layer, n_embd = runner.info.n_layer, runner.info.n_embd
        layers = layers_for(n_layer)
        spec = FeatureSpec(mean_layers=layers, last_layers=layers)
        candidates = candidate_specs(n_layer)
        for name, session_type in (("echo", EchoSession), ("plain", PromptSession)):
            x, train_seconds = read(runner, session_type, spec, x_texts)
            h, held_seconds = read(runner, session_type, spec, h_texts)
            np.savez(args.out / f"echo-{name}-{model.sha256[:12]}.npz", x=x, h=h)
            chosen, fit = fit_features(
                x, y_train, 2, read=spec, candidates=candidates, n_embd=n_embd
            )
            columns = block_columns(spec, chosen, n_embd)
            pred = fit.predict_proba(h[:, columns]).argmax(axis=1)
            scores = score(["0", "1"], y_held, list(pred))
            result = {
                "reading": name,
                "features": chosen.id,
                "validation": round(float(fit.validation_accuracy or 0.0), 4),
                "held_out_accuracy": round(scores.accuracy, 4),
                "held_out_macro_f1": round(scores.macro_f1, 4),
                "read_texts_per_second": round(5000 / (train_seconds + held_seconds), 2),
                "fit_seconds": round(fit.seconds, 1),
                "weights": runner.info.weights,
                "load_average": round(os.getloadavg()[0], 1),
            }
            print(json.dumps(result), flush=True)
            results.append(result)
    (args.out / "bench-echo.json").write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
