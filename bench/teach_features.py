"""Read the held-out splits' features once, at many layers, for the head study.

    .venv/bin/python bench/teach_features.py [--model starter|gemma] [--threads 0]
        [--out /tmp/driftless-teach-features]

Banking77: a stratified 80/20 split of the shared train file (seed 13, as
bench_classify.py). SST-2: 1,000 held-out full sentences and a teaching pool sharing
no span with them; 4,000 teaching rows sampled from the pool. Every row's mean and
last-token state at every tenth of the depth from 0.2 to 0.6 is saved to
``<out>/features-<model>-<sha>.npz`` (``sha``: the model file's, so another build of
the model never reuses them) for bench/teach_study.py and bench/bench_teach.py, which
fit heads on them without the model. Each part is keyed by the sha256 of its texts and
the layers read: a second run reads only what changed (the cache the CPU-heavy study
needs; two cores read 10,000 texts in 6-10 minutes). ``--threads 0`` lets the runner
tune its thread count as the app does, so a part's seconds are the app's reading time.
"""

from __future__ import annotations

import argparse
import hashlib
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


def read_pooled(store: ModelStore, model_id: str, texts: list[str], name: str):  # type: ignore[no-untyped-def]
    """Each text's vector from the app's document embedder (one thread, one text a decode)."""
    from app.core.docs.embedding import ModelEmbedder

    embedder = ModelEmbedder(store, model_id, n_threads=1)
    started = time.perf_counter()
    try:
        rows = []
        for start in range(0, len(texts), 256):
            rows.append(embedder.embed(texts[start : start + 256]))
            done = start + len(rows[-1])
            print(f"  {name}: {done}/{len(texts)} {done / (time.perf_counter() - started):.1f}/s")
    finally:
        embedder.close()
    return np.concatenate(rows).astype(np.float16), time.perf_counter() - started


def texts_key(texts: list[str], spec: FeatureSpec, labels: LabelSet) -> str:
    """What a part's features depend on besides the model: texts, layers, the prompt."""
    digest = hashlib.sha256(f"{spec.id}\0{labels.key}\0".encode())
    for text in texts:
        digest.update(hashlib.sha256(text.encode()).digest())
    return digest.hexdigest()


def load_cached(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as data:
        return {k: np.array(data[k]) for k in data.files}


MODELS = ("starter", "gemma", "minilm")
EMBEDDERS = ("minilm",)
"""Sentence encoders: their features are the pooled text vector the app's document
embedder makes (no prompt, no layers), read by :func:`read_pooled`."""


def install(store: ModelStore, which: str):  # type: ignore[no-untyped-def]
    """The model for ``which``: the starter, or a dev-extra model from tests/."""
    if which == "starter":
        return ensure_starter(store)
    if which == "minilm":
        from embedder_gguf import minilm_file

        from app.core.models.registration import Provenance

        path, digest = minilm_file(Path("/tmp/driftless-embedders"))
        provenance = Provenance(
            source="local-file", repo="sentence-transformers/all-MiniLM-L6-v2", license="apache-2.0"
        )
        return store.register(path, provenance, sha256=digest, managed=False)
    sys.path.insert(0, str(ROOT / "tests"))
    from gemma_model import install_gemma

    return install_gemma(store)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="starter", choices=MODELS)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--threads", type=int, default=0, help="0: tuned, as the app does")
    parser.add_argument("--tasks", default="bank,sst", help="bank, sst or both")
    parser.add_argument("--out", type=Path, default=Path("/tmp/driftless-teach-features"))
    parser.add_argument(
        "--store", type=Path, default=None, help="a Driftless home to keep the 16-bit copies in"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    home = args.store or Path(tempfile.mkdtemp(prefix="driftless-teach-"))
    store = ModelStore(get_paths(home).ensure())
    model = install(store, args.model)
    assert model is not None
    target = features_path(args.out, args.model, model.sha256)
    b_train, b_held, names = banking_split(DATA / "banking77_train.csv", 0.2, args.seed)
    banking = LabelSet.from_names(
        names, instruction="Classify the bank customer's message by its intent."
    )
    s_held, pool = sst2_split(DATA / "sst2_train.tsv", 1000, args.seed)
    s_train = random.Random(args.seed).sample(pool, 4000)
    index = {n: i for i, n in enumerate(names)}
    out = load_cached(target)
    if args.model in EMBEDDERS:
        out["pooled"] = np.array(1)
        out["layers"] = np.array([0])
        for name, rows, gold in (
            ("bank_held", b_held, lambda c: index[c]),
            ("sst_held", s_held, int),
            ("bank_train", b_train, lambda c: index[c]),
            ("sst_train", s_train, int),
        ):
            if name.split("_")[0] not in args.tasks:
                continue
            texts = [t for t, _ in rows]
            key = texts_key(texts, FeatureSpec(mean_layers=(0,)), banking)
            if str(out.get(f"{name}_key", "")) == key:
                continue
            x, secs = read_pooled(store, model.id, texts, name)
            out["n_embd"] = np.array(x.shape[1])
            out[f"{name}_x"] = x
            out[f"{name}_y"] = np.array([gold(c) for _, c in rows])
            out[f"{name}_seconds"] = np.array(secs)
            out[f"{name}_threads"] = np.array(1)
            out[f"{name}_key"] = np.array(key)
            np.savez(target, **out)
        print("saved", target, flush=True)
        return 0
    with ModelRunner.open(store, model.id, n_threads=args.threads or None) as runner:
        layers = layers_for(runner.info.n_layer)
        spec = FeatureSpec(mean_layers=layers, last_layers=layers)
        print(f"{model.id}: {runner.info.n_layer} layers, reading {layers}", flush=True)
        out["layers"] = np.array(layers)
        out["n_embd"] = np.array(runner.info.n_embd)
        out["n_layer"] = np.array(runner.info.n_layer)
        jobs = [
            ("bank_held", banking, b_held, lambda c: index[c]),
            ("sst_held", SST2, s_held, int),
            ("bank_train", banking, b_train, lambda c: index[c]),
            ("sst_train", SST2, s_train, int),
        ]
        jobs = [j for j in jobs if j[0].split("_")[0] in args.tasks]
        for name, labels, rows, gold in jobs:
            texts = [t for t, _ in rows]
            key = texts_key(texts, spec, labels)
            if str(out.get(f"{name}_key", "")) == key:
                print(f"  {name}: cached ({float(out[f'{name}_seconds']):.0f} s to read)")
                continue
            x, secs = read(runner, labels, spec, texts, name)
            out[f"{name}_x"] = x
            out[f"{name}_y"] = np.array([gold(c) for _, c in rows])
            out[f"{name}_seconds"] = np.array(secs)
            out[f"{name}_threads"] = np.array(args.threads)
            out[f"{name}_key"] = np.array(key)
            np.savez(target, **out)  # each part as it comes
    print("saved", target, flush=True)
    return 0


def features_path(out: Path, which: str, sha256: str) -> Path:
    return out / f"features-{which}-{sha256[:12]}.npz"


if __name__ == "__main__":
    raise SystemExit(main())
