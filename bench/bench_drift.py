"""What changes greedy answers on this stack: threads, batch size, the 16-bit copy, the cache.

    python bench/bench_drift.py [--prompts 6] [--max-tokens 32]

Small on purpose, so it finishes on a busy two-core machine in a few minutes: the
starter model (135M parameters), six prompts, 32 greedy tokens each, answered greedily
(temperature 0, repeat penalty 1, seed 0) under one setting at a time; it counts the
replies whose token ids differ from the baseline (1 thread, batch 512, cold start before
every prompt, the packed file). The README's "Determinism" section quotes its output.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from app.core.chat.engine import Engine
from app.core.chat.sampling import SamplingParams
from app.core.models.gguf import read_gguf
from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
from app.core.models.unpacked import UnpackedCache
from app.core.paths import get_paths
from app.core.runtime.llama import import_llama_cpp
from app.core.runtime.template import ChatMessage, system, user

SYSTEM = "You are a helpful assistant. Answer in two sentences."
PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about autumn.",
    "Explain what a hash function is.",
    "List three uses of copper.",
    "Why is the sky blue?",
    "Translate 'good morning' into Spanish and German.",
    "What is 17 times 23?",
    "Give me a name for a grey cat.",
    "Summarise the plot of Romeo and Juliet.",
    "How do I boil an egg?",
    "What does a compiler do?",
    "Tell me a short joke about computers.",
]


def conversations(count: int) -> list[list[ChatMessage]]:
    return [[system(SYSTEM), user(p)] for p in PROMPTS[:count]]


def run(engine: Engine, params: SamplingParams, count: int, *, cold: bool) -> list[tuple[int, ...]]:
    answers = []
    for messages in conversations(count):
        if cold:
            engine.llama.reset()
        "".join(engine.stream_chat(messages, params))
        answers.append(engine.last_token_ids)
    return answers


def first_difference(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    k = 0
    while k < min(len(a), len(b)) and a[k] == b[k]:
        k += 1
    return k


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prompts", type=int, default=6, help=f"at most {len(PROMPTS)}")
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()
    params = SamplingParams(temperature=0.0, repeat_penalty=1.0, seed=0, max_tokens=args.max_tokens)
    with tempfile.TemporaryDirectory() as home:
        paths = get_paths(home).ensure()
        store = ModelStore(paths)
        starter = ensure_starter(store)
        assert starter is not None
        lib = import_llama_cpp()
        print(lib.llama_print_system_info().decode())
        weights = UnpackedCache(paths.unpacked_dir).weights_for(
            starter.path, starter.sha256, read_gguf(starter.path), lib, threads=2
        )
        copy = store.import_file(weights.path, link=True)

        def measure(name: str, model: str, threads: int, batch: int, cold: bool) -> list:
            with Engine(store, n_threads=threads, n_batch=batch) as engine:
                engine.load(model)
                started = time.perf_counter()
                answers = run(engine, params, args.prompts, cold=cold)
                seconds = time.perf_counter() - started
            print(f"measured: {name} ({seconds:.1f}s)", flush=True)
            return [name, answers, seconds]

        settings = [
            ("baseline: 1 thread, batch 512, cold", starter.id, 1, 512, True),
            ("again, same settings", starter.id, 1, 512, True),
            ("2 threads", starter.id, 2, 512, True),
            ("batch 8", starter.id, 1, 8, True),
            ("warm: prompt cache reused", starter.id, 1, 512, False),
            (f"16-bit copy ({weights.label})", copy.id, 1, 512, True),
            ("16-bit copy, 2 threads", copy.id, 2, 512, True),
        ]
        results = [measure(*s) for s in settings]
        base = results[0][1]
        total = sum(len(a) for a in base)
        for name, answers, seconds in results:
            changed = [i for i, (a, b) in enumerate(zip(base, answers, strict=True)) if a != b]
            first = [first_difference(base[i], answers[i]) for i in changed]
            print(
                f"{name:40s} {len(changed):2d}/{len(base)} replies differ "
                f"(first differing token: {first}) {seconds:.1f}s, {total} tokens in baseline"
            )


if __name__ == "__main__":
    main()
