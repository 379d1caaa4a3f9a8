"""Read the held-out splits' features once, at many layers, for the head study.

    .venv/bin/python bench/teach_features.py [--model starter|gemma] [--out bench/out]

Banking77: a stratified 80/20 split of the shared train file (seed 13, as
bench_classify.py). SST-2: 1,000 held-out full sentences and a teaching pool sharing
no span with them; 4,000 teaching rows sampled from the pool. Every row's mean and
last-token state at every third layer (and the last readable one) is saved to
``<out>/features-<model>.npz`` for bench/teach_study.py, which fits heads on them
without the model.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_classify import DATA, SST2, banking_split, sst2_split  # noqa: E402

from app.core.classify.classifier import PromptSession  # noqa: E402
from app.core.classify.labels import LabelSet  # noqa: E402
from app.core.classify.runner import ModelRunner  # noqa: E402
from app.core.classify.teach import FeatureSpec, read_features  # noqa: E402
from app.core.models.starter import ensure_starter  # noqa: E402
from app.core.models.store import ModelStore  # noqa: E402
from app.core.paths import get_paths  # noqa: E402


def layers_for(n_layer: int) -> tuple[int, ...]:
    """Every fifth of the depth up to 0.6 (reading stops there: later layers cost time
    and separated less in earlier measurements)."""
    return tuple(sorted({round(f * (n_layer - 1)) for f in (0.2, 0.3, 0.4, 0.5, 0.6)}))


def read(runner: ModelRunner, labels: LabelSet, spec: FeatureSpec, texts: list[str], name: str):
    session = PromptSession(runner, labels, style=spec.style)
    started = time.perf_counter()
    mark = [started]

    def on_chunk(done: int) -> None:
        now = time.perf_counter()
        if now - mark[0] > 60 or done == len(texts):
            mark[0] = now
            print(f"  {name}: {done}/{len(texts)} {done / (now - started):.1f}/s", flush=True)

    feats, _ = read_features(session, spec, texts, None, on_chunk=on_chunk)
    return feats.astype(np.float16), time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="starter", choices=("starter", "gemma"))
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tasks", default="bank,sst", help="bank, sst or both")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    store = ModelStore(get_paths(Path(tempfile.mkdtemp(prefix="driftless-teach-"))).ensure())
    if args.model == "starter":
        model = ensure_starter(store)
    else:
        sys.path.insert(0, str(ROOT / "tests"))
        from gemma_model import install_gemma

        model = install_gemma(store)
    assert model is not None
    b_train, b_held, names = banking_split(DATA / "banking77_train.csv", 0.2, args.seed)
    banking = LabelSet.from_names(
        names, instruction="Classify the bank customer's message by its intent."
    )
    s_held, pool = sst2_split(DATA / "sst2_train.tsv", 1000, args.seed)
    s_train = random.Random(args.seed).sample(pool, 4000)
    index = {n: i for i, n in enumerate(names)}
    out: dict[str, np.ndarray] = {}
    with ModelRunner.open(store, model.id, n_threads=args.threads) as runner:
        layers = layers_for(runner.info.n_layer)
        spec = FeatureSpec(mean_layers=layers, last_layers=layers)
        print(f"{model.id}: {runner.info.n_layer} layers, reading {layers}", flush=True)
        out["layers"] = np.array(layers)
        out["n_embd"] = np.array(runner.info.n_embd)
        jobs = [
            ("bank_held", banking, b_held, lambda c: index[c]),
            ("sst_held", SST2, s_held, int),
            ("bank_train", banking, b_train, lambda c: index[c]),
            ("sst_train", SST2, s_train, int),
        ]
        jobs = [j for j in jobs if j[0].split("_")[0] in args.tasks]
        for name, labels, rows, target in jobs:
            x, secs = read(runner, labels, spec, [t for t, _ in rows], name)
            out[f"{name}_x"] = x
            out[f"{name}_y"] = np.array([target(c) for _, c in rows])
            out[f"{name}_seconds"] = np.array(secs)
            np.savez(args.out / f"features-{args.model}.npz", **out)  # each part as it comes
    print("saved", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
