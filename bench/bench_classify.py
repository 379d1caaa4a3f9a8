"""Benchmarks for the classification workbench (not part of the tests).

    .venv/bin/python bench/bench_classify.py [--sst-eval 1000] [--sst-train 4000]
        [--naive 100] [--skip-banking] [--out bench/out]

Everything runs on the starter model, on this machine's cores, in one process:

1. SST-2, prompted scoring (zero-shot, calibrated, shared prefix, batched texts) on
   the 16-bit copy (threads tuned, and 1 thread) and on the packed file (1 thread):
   accuracy and texts/s; the naive baseline (``create_chat_completion`` per text,
   ``max_tokens=3``) on the packed file (1 and 2 threads) and on the copy (1 thread),
   all measured in the same run, rounds interleaved, and the speed ratios.
2. SST-2, taught by examples: a head trained on sentences and phrases that share no
   span with any evaluation sentence; accuracy on the held-out sentences.
3. Banking77, taught by examples: a stratified 80/20 split (seeded); accuracy and
   macro-F1 on the held-out 20 %.
4. Teaching from all 10,003 Banking77 rows: the time to read them through the model
   and to fit the head (the two halves of ``teach``).

The splits (``--seed``) are deterministic. SST-2's file mixes full sentences with
phrases cut from them, so the evaluation sentences are rows no other row contains
(full sentences) with at least 6 words, and every row that is a span of an
evaluation sentence (its phrases) is removed from the teaching pool.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.core.classify.classifier import (
    PromptClassifier,
    PromptSession,
    calibrate,
    normalise_logprobs,
)
from app.core.classify.head import fit_head
from app.core.classify.labels import Label, LabelSet
from app.core.classify.metrics import score
from app.core.classify.prompt import label_text
from app.core.classify.runner import ModelRunner
from app.core.classify.teach import FeatureSpec, default_spec, read_features
from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
from app.core.paths import get_paths
from app.core.runtime.llama import import_llama_cpp
from app.ui.matrix_picture import offscreen_application, write_matrix

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SST2 = LabelSet.from_names(
    "negative,positive", instruction="Is the sentiment of this movie review negative or positive?"
)


# --- splits ----------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return text.lower().split()


def sst2_split(
    path: Path, n_eval: int, seed: int, min_words: int = 6
) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(held-out full sentences, teaching pool with none of their spans)."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader)
        rows = [(r[0].strip(), int(r[1])) for r in reader]
    norm = [" ".join(_words(t)) for t, _ in rows]
    inner: set[str] = set()  # every proper span of every row
    for text in norm:
        w = text.split()
        for i in range(len(w)):
            for j in range(i + 1, len(w) + 1):
                if j - i < len(w):
                    inner.add(" ".join(w[i:j]))
    full = [i for i, t in enumerate(norm) if t not in inner and len(t.split()) >= min_words]
    random.Random(seed).shuffle(full)
    held = full[:n_eval]
    held_spans: set[str] = set()
    for i in held:
        w = norm[i].split()
        for a in range(len(w)):
            for b in range(a + 1, len(w) + 1):
                held_spans.add(" ".join(w[a:b]))
    pool = [rows[i] for i in range(len(rows)) if norm[i] not in held_spans]
    return [rows[i] for i in held], pool


def banking_split(
    path: Path, held_fraction: float, seed: int
) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [(r["text"], r["category"]) for r in csv.DictReader(handle)]
    labels = sorted({c for _, c in rows})
    rng = random.Random(seed)
    train, held = [], []
    for label in labels:
        group = [r for r in rows if r[1] == label]
        rng.shuffle(group)
        cut = round(len(group) * held_fraction)
        held += group[:cut]
        train += group[cut:]
    rng.shuffle(train)
    rng.shuffle(held)
    return train, held, labels


# --- measurements ------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def stop(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def naive_baseline(model_path: Path, label_set: LabelSet, threads: int | None) -> Any:
    """A bare llama-cpp-python loop: one create_chat_completion per text, max_tokens=3.

    ``threads`` None keeps llama-cpp-python's defaults: half the CPUs for generating and
    every CPU for prompt batches (1 and 2 here).
    """
    lib = import_llama_cpp()
    counts = {} if threads is None else {"n_threads": threads, "n_threads_batch": threads}
    llm = lib.Llama(str(model_path), n_ctx=1024, verbose=False, **counts)
    instruction = (
        f"{label_set.instruction} Answer with one word: "
        f"{' or '.join(label_text(n) for n in label_set.label_names)}."
    )

    def one(text: str, *, whole_prompt: bool = False) -> int | None:
        if whole_prompt:
            llm.reset()  # forget the cached prefix: the whole prompt is evaluated again
        reply = llm.create_chat_completion(
            messages=[
                {"role": "system", "content": instruction},
                {"role": "user", "content": text},
            ],
            max_tokens=3,
            temperature=0.0,
        )
        answer = (reply["choices"][0]["message"]["content"] or "").strip().lower()
        for i, name in enumerate(label_set.label_names):
            if answer.startswith(name.lower()):
                return i
        return None

    return llm, one


def bench_sst2_prompt(
    store: ModelStore,
    model_path: Path,
    held: Sequence[tuple[str, int]],
    n_naive: int,
    threads: int | None,
) -> dict[str, Any]:
    """Prompted scoring in several set-ups against the naive baseline, interleaved in rounds.

    Ours: the 16-bit copy with the thread count measured as it goes (the default), the
    copy on 1 thread, and the packed file on 1 thread. The naive loop: the packed file on
    1 and 2 threads, and the 16-bit copy on 1 thread (what the baseline would gain from
    the copy alone). Every set-up sees the same texts.
    """
    texts = [t for t, _ in held]
    gold = np.array([y for _, y in held])
    unpacked = ModelRunner.open(store, n_threads=threads, unpack=True)
    unpacked_1 = ModelRunner.open(store, n_threads=1, unpack=True)
    packed = ModelRunner.open(store, n_threads=1, unpack=False)
    copy_path = get_paths(store.paths.home).unpacked_dir
    copy_file = next(copy_path.glob("*.f16.gguf"))
    ours = {"copy_tuned": unpacked, "copy_1_thread": unpacked_1, "packed_1_thread": packed}
    sessions = {}
    for name, runner in ours.items():
        classifier = PromptClassifier(runner, SST2)
        classifier.predict(texts[:8])  # warm-up: graph allocation
        sessions[name] = classifier
    naive = {
        "naive_packed_default_threads": naive_baseline(model_path, SST2, None)[1],
        "naive_packed_1_thread": naive_baseline(model_path, SST2, 1)[1],
        "naive_packed_2_threads": naive_baseline(model_path, SST2, 2)[1],
        "naive_copy_1_thread": naive_baseline(copy_file, SST2, 1)[1],
    }
    for one in naive.values():
        one("warm-up")
    rounds = 4
    seconds = dict.fromkeys([*ours, *naive], 0.0)
    raw_rows: dict[str, list[Any]] = {name: [] for name in ours}
    naive_answers: dict[str, list[int | None]] = {name: [] for name in naive}
    naive_texts = texts[:n_naive]
    threads_used: list[int] = []
    for r in range(rounds):
        part = texts[r * len(texts) // rounds : (r + 1) * len(texts) // rounds]
        for name, runner in ours.items():
            clock = Clock()
            outputs, _ = sessions[name].session.run(part)
            seconds[name] += clock.stop()[0]
            raw_rows[name] += [o.label_logprobs for o in outputs]
            if name == "copy_tuned":
                threads_used.append(runner.threads)
        npart = naive_texts[r * len(naive_texts) // rounds : (r + 1) * len(naive_texts) // rounds]
        for name, one in naive.items():
            clock = Clock()
            naive_answers[name] += [one(t) for t in npart]
            seconds[name] += clock.stop()[0]
    speed = {name: len(texts) / seconds[name] for name in ours}
    speed |= {name: len(naive_texts) / seconds[name] for name in naive}
    predictions = {}
    accuracy = {}
    for name, classifier in sessions.items():
        assert classifier.prior is not None
        raw = normalise_logprobs(np.array(raw_rows[name]))
        calibrated = calibrate(raw, classifier.prior)
        predictions[name] = calibrated.argmax(axis=1)
        accuracy[name] = float((predictions[name] == gold).mean())
        if name == "packed_1_thread":
            accuracy["packed_uncalibrated"] = float((raw.argmax(axis=1) == gold).mean())
    for name, answers in naive_answers.items():
        accuracy[name] = sum(a == g for a, g in zip(answers, gold, strict=False)) / len(answers)
    result = {
        "n": len(texts),
        "naive_n": len(naive_texts),
        "weights": {"copy": unpacked.info.weights, "packed": packed.info.weights},
        "texts_per_second": speed,
        "accuracy": accuracy,
        "copy_agrees_with_packed": float(
            (predictions["copy_1_thread"] == predictions["packed_1_thread"]).mean()
        ),
        "tuned_threads_per_round": threads_used,
        "ratios": {
            "copy_tuned / naive_packed_default_threads": speed["copy_tuned"]
            / speed["naive_packed_default_threads"],
            "copy_tuned / naive_packed_1_thread": speed["copy_tuned"]
            / speed["naive_packed_1_thread"],
            "copy_tuned / naive_packed_2_threads": speed["copy_tuned"]
            / speed["naive_packed_2_threads"],
            "copy_1_thread / naive_packed_1_thread": speed["copy_1_thread"]
            / speed["naive_packed_1_thread"],
            "copy_1_thread / naive_copy_1_thread": speed["copy_1_thread"]
            / speed["naive_copy_1_thread"],
            "packed_1_thread / naive_packed_1_thread": speed["packed_1_thread"]
            / speed["naive_packed_1_thread"],
            "copy_1_thread / packed_1_thread": speed["copy_1_thread"] / speed["packed_1_thread"],
        },
        "mean_text_tokens": statistics.mean(
            len(unpacked.tokenize(t, special=False)) for t in texts[:300]
        ),
    }
    for runner in ours.values():
        runner.close()
    return result


def bench_few_shot(
    runner: ModelRunner,
    held: Sequence[tuple[str, int]],
    pool: Sequence[tuple[str, int]],
    per_label: int,
    seed: int,
) -> dict[str, Any]:
    """Prompted scoring with ``per_label`` example sentences per label in the prompt."""
    rng = random.Random(seed)
    sentences = [row for row in pool if 8 <= len(row[0].split()) <= 20]
    labels = []
    for i, name in enumerate(SST2.label_names):
        examples = tuple(t for t, _ in rng.sample([r for r in sentences if r[1] == i], per_label))
        labels.append(Label(name, examples=examples))
    label_set = SST2.edited(labels=labels)
    classifier = PromptClassifier(runner, label_set, few_shot=True)
    texts = [t for t, _ in held]
    clock = Clock()
    predictions = classifier.predict(texts)
    wall, _ = clock.stop()
    right = sum(p.label == SST2.label_names[y] for p, (_, y) in zip(predictions, held, strict=True))
    return {
        "n": len(texts),
        "examples_per_label": per_label,
        "prefix_tokens": len(classifier.session.prefix),
        "accuracy": right / len(texts),
        "texts_per_second": len(texts) / wall,
    }


def pack_sweep(runner: ModelRunner, texts: Sequence[str]) -> dict[str, dict[str, float]]:
    """Texts/s for several batch sizes (tokens per llama_decode) on each thread count."""
    from app.core.classify import runner as runtime
    from app.core.runtime.threads import thread_candidates

    classifier = PromptClassifier(runner, SST2, calibrated=False)
    session = classifier.session
    sizes = (1, 64, 128, 256, 512, 1024)
    counts = thread_candidates()
    seconds = {(n, size): 0.0 for n in counts for size in sizes}
    original = runtime.PACK_TOKENS
    try:
        for _round in range(2):
            for n in counts:
                runner.set_threads(n)
                for size in sizes:
                    runtime.PACK_TOKENS = size  # 1: one text per batch
                    clock = Clock()
                    session.run(texts)
                    seconds[n, size] += clock.stop()[0]
    finally:
        runtime.PACK_TOKENS = original
        runner.set_threads(None)
    return {
        f"{n} threads": {str(size): 2 * len(texts) / seconds[n, size] for size in sizes}
        for n in counts
    }


def features_for(
    runner: ModelRunner, label_set: LabelSet, spec: FeatureSpec, texts: Sequence[str], label: str
) -> tuple[np.ndarray, float]:
    session = PromptSession(runner, label_set, style=spec.style)
    clock = Clock()
    last = [0.0]

    def on_chunk(done: int) -> None:
        now = time.perf_counter()
        if now - last[0] > 30 or done == len(texts):
            last[0] = now
            elapsed = now - clock.wall
            print(f"  {label}: {done}/{len(texts)} texts, {done / elapsed:.1f}/s", flush=True)

    features, _ = read_features(session, spec, texts, None, on_chunk=on_chunk)
    wall, _cpu = clock.stop()
    return features, wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sst-eval", type=int, default=1000)
    parser.add_argument("--sst-train", type=int, default=4000)
    parser.add_argument("--naive", type=int, default=100)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--skip-banking", action="store_true")
    parser.add_argument("--prompt-only", action="store_true", help="only part 1")
    parser.add_argument(
        "--threads", type=int, help="CPU threads (default: measured as it runs, as the app does)"
    )
    parser.add_argument(
        "--packed", action="store_true", help="parts 2-4 on the packed file, not the 16-bit copy"
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="driftless-bench-"))
    store = ModelStore(get_paths(home).ensure())
    model = ensure_starter(store)
    if model is None:
        print("The starter model is not installed (make test installs it).", file=sys.stderr)
        return 1
    results: dict[str, Any] = {
        "model": model.id,
        "cpus": os.cpu_count(),
        "threads": args.threads or "tuned",
    }

    held, pool = sst2_split(DATA / "sst2_train.tsv", args.sst_eval, args.seed)
    rng = random.Random(args.seed)
    teach_rows = rng.sample(pool, min(args.sst_train, len(pool)))
    results["sst2_split"] = {
        "eval_sentences": len(held),
        "pool": len(pool),
        "taught": len(teach_rows),
    }
    print(f"SST-2: {len(held)} held-out sentences, teaching pool {len(pool)}", flush=True)

    prompt = bench_sst2_prompt(store, model.path, held, args.naive, args.threads)
    results["sst2_prompt"] = prompt
    print(json.dumps(prompt, indent=2), flush=True)
    with ModelRunner.open(store, n_threads=args.threads, unpack=not args.packed) as runner:
        results["weights"] = runner.info.weights
        for shots in (2, 4):
            few = bench_few_shot(runner, held[:400], pool, shots, args.seed)
            results[f"sst2_prompt_{shots}_shot"] = few
            print(json.dumps(few, indent=2), flush=True)
        sweep = pack_sweep(runner, [t for t, _ in held[:96]])
        results["pack_tokens_texts_per_second"] = sweep
        print(json.dumps(sweep, indent=2), flush=True)

        if args.prompt_only:
            print(json.dumps(results, indent=2))
            return 0
        spec = default_spec(runner.info.n_layer)
        results["spec"] = spec.id
        print(f"Model {model.id}, {os.cpu_count()} CPUs, features {spec.id}", flush=True)
        x_train, read_s = features_for(
            runner, SST2, spec, [t for t, _ in teach_rows], "SST-2 teach"
        )
        x_eval, eval_s = features_for(runner, SST2, spec, [t for t, _ in held], "SST-2 eval")
        fit = fit_head(x_train, [y for _, y in teach_rows], 2)
        probs = fit.predict_proba(x_eval)
        gold = [y for _, y in held]
        head_scores = score(SST2.label_names, gold, list(probs.argmax(axis=1)))
        offscreen_application()
        write_matrix(args.out / "sst2_examples.png", head_scores, "SST-2, taught head")
        results["sst2_examples"] = {
            "n_eval": len(held),
            "n_train": len(teach_rows),
            "accuracy": head_scores.accuracy,
            "macro_f1": head_scores.macro_f1,
            "l2": fit.l2,
            "read_texts_per_second": len(teach_rows) / read_s,
            "eval_texts_per_second": len(held) / eval_s,
            "fit_seconds": fit.seconds,
        }
        print(json.dumps(results["sst2_examples"], indent=2), flush=True)

        if not args.skip_banking:
            train, test, names = banking_split(DATA / "banking77_train.csv", 0.2, args.seed)
            banking = LabelSet.from_names(
                names, instruction="Classify the bank customer's message by its intent."
            )
            everything = train + test
            x_all, read_all_s = features_for(
                runner, banking, spec, [t for t, _ in everything], "Banking77 (all 10,003)"
            )
            index = {n: i for i, n in enumerate(names)}
            y_all = [index[c] for _, c in everything]
            fit_all = fit_head(x_all, y_all, len(names))
            results["teach_10k"] = {
                "examples": len(everything),
                "read_seconds": read_all_s,
                "fit_seconds": fit_all.seconds,
                "total_seconds": read_all_s + fit_all.seconds,
                "read_texts_per_second": len(everything) / read_all_s,
            }
            print(json.dumps(results["teach_10k"], indent=2), flush=True)
            n = len(train)
            fit_b = fit_head(x_all[:n], y_all[:n], len(names))
            pred = list(fit_b.predict_proba(x_all[n:]).argmax(axis=1))
            b_scores = score(names, y_all[n:], pred)
            offscreen_application()
            write_matrix(args.out / "banking77_examples.png", b_scores, "Banking77, taught head")
            results["banking77_examples"] = {
                "n_train": n,
                "n_eval": len(test),
                "accuracy": b_scores.accuracy,
                "macro_f1": b_scores.macro_f1,
                "l2": fit_b.l2,
                "fit_seconds": fit_b.seconds,
            }
            print(json.dumps(results["banking77_examples"], indent=2), flush=True)

    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"Wrote {args.out / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
