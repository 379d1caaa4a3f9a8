"""Benchmarks for the inference engine, side by side in one run (not part of the tests).

    .venv/bin/python bench/bench_engine.py [--rounds 6] [--tokens 96] [--turns 20]

1. Reply throughput of ``Engine.stream_chat`` against a bare ``Llama.generate`` loop on
   the same ``Llama`` (same model, threads and prompt), rounds interleaved. Target: >= 0.95.
2. Time to first token at turn 1 and turn N of one conversation (KV cache reused), turn
   N with a cold cache, and switching to another conversation and back. Target: turn N
   within 1.5x of turn 1.
3. Prompt evaluation with the abort callback installed (a cancel token given) or not,
   with the GIL free and with a busy Python thread competing for it.
4. Peak RSS of a process with the starter model loaded, against the model file's size.

Every figure is a median over rounds; the machine's other load shows in the spread.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.core.cancel import CancelToken
from app.core.chat.engine import Engine
from app.core.chat.sampling import SamplingParams
from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
from app.core.paths import get_paths
from app.core.runtime.template import ChatMessage, assistant, system, user

STORY = [system("You are a storyteller."), user("Write a long story about a lighthouse keeper.")]
QUESTIONS = [
    "What is the capital of France?",
    "Name a colour of the sky.",
    "How many legs does a spider have?",
    "What do bees make?",
    "Which planet is the largest?",
    "What is two plus two?",
    "Name a musical instrument.",
    "What language is spoken in Spain?",
    "What is the opposite of hot?",
    "Name a fruit that is yellow.",
]


def row(*cells: object) -> str:
    widths = (44, 14, 14, 14)
    return "  ".join(
        str(c).ljust(w) if i == 0 else str(c).rjust(w)
        for i, (c, w) in enumerate(zip(cells, widths, strict=False))
    )


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def bench_throughput(engine: Engine, rounds: int, n_tokens: int) -> None:
    llama = engine.llama
    params = SamplingParams(temperature=0.0, max_tokens=n_tokens, repeat_penalty=1.0)
    prompt = engine.tokenize_prompt(engine.render(STORY).text)
    lib = engine._lib
    assert lib is not None
    vocab = lib.llama_model_get_vocab(llama.model)

    Stamp = tuple[float, float]  # (wall clock, this process's CPU time)

    def stamp() -> Stamp:
        return time.perf_counter(), time.process_time()

    def with_engine() -> tuple[int, Stamp, Stamp]:
        llama.reset()  # same prompt evaluation as the bare loop
        stamps = [stamp() for _ in engine.stream_chat(STORY, params)]
        stats = engine.last_stats
        assert stats is not None
        # Tokens from the engine's own count (a piece may hold two); first to last piece.
        return stats.completion_tokens, stamps[0], stamps[-1]

    def bare() -> tuple[int, Stamp, Stamp]:
        llama.reset()
        stamps: list[Stamp] = []
        for token in llama.generate(prompt, temp=0.0, repeat_penalty=1.0):
            if lib.llama_vocab_is_eog(vocab, token):
                break
            llama.detokenize([token])
            stamps.append(stamp())
            if len(stamps) >= n_tokens:
                break
        return len(stamps), stamps[0], stamps[-1]

    rates: dict[str, list[float]] = {
        "engine wall": [],
        "bare wall": [],
        "engine cpu": [],
        "bare cpu": [],
    }
    runners = [("engine", with_engine), ("bare", bare)]
    for n in range(rounds):
        for name, runner in runners if n % 2 == 0 else runners[::-1]:  # ABBA order
            count, first, last = runner()
            rates[f"{name} wall"].append((count - 1) / (last[0] - first[0]))
            rates[f"{name} cpu"].append((count - 1) / (last[1] - first[1]))
    print(row("1. reply throughput (tokens/s)", "engine", "bare loop", "ratio"))
    for kind, label in (("wall", "wall clock"), ("cpu", "per CPU second")):
        e, b = median(rates[f"engine {kind}"]), median(rates[f"bare {kind}"])
        print(row(f"   {n_tokens} greedy tokens, {label}", f"{e:.1f}", f"{b:.1f}", f"{e / b:.3f}"))
    ratios = [x / y for x, y in zip(rates["engine wall"], rates["bare wall"], strict=True)]
    print(row("   per-round wall ratios", "", "", " ".join(f"{r:.2f}" for r in ratios)))


def first_token(
    engine: Engine, messages: list[ChatMessage], params: SamplingParams
) -> tuple[float, float, int, int]:
    """(wall s, CPU s, prompt tokens, reused tokens) until the first piece of a reply."""
    wall, cpu = time.perf_counter(), time.process_time()
    pieces = engine.stream_chat(messages, params)
    next(pieces)
    result = time.perf_counter() - wall, time.process_time() - cpu
    for _ in pieces:
        pass
    stats = engine.last_stats
    assert stats is not None
    return *result, stats.prompt_tokens, stats.cached_tokens


def bench_turns(engine: Engine, turns: int, rounds: int) -> None:
    llama = engine.llama
    params = SamplingParams(temperature=0.0, max_tokens=24)
    history: list[ChatMessage] = [system("You are a helpful assistant. Answer briefly.")]
    for n in range(turns - 1):
        history.append(user(QUESTIONS[n % len(QUESTIONS)]))
        history.append(assistant("".join(engine.stream_chat(history, params))))
    # The KV cache as it stands before turn N: turns 1 to N-1 with their replies.
    before_last_turn = llama.save_state()
    turn_1 = history[:2]
    turn_n = [*history, user(QUESTIONS[(turns - 1) % len(QUESTIONS)])]
    first: list[tuple[float, float, int, int]] = []
    last: list[tuple[float, float, int, int]] = []
    for _ in range(rounds):  # interleaved, so both see the same machine load
        llama.reset()
        first.append(first_token(engine, turn_1, params))
        llama.load_state(before_last_turn)
        last.append(first_token(engine, turn_n, params))
    llama.reset()
    cold = first_token(engine, turn_n, params)
    # Another conversation as long, sharing only its first few tokens; then back again.
    other = [system("You are a pirate. Answer briefly."), *turn_n[1:]]
    switch = first_token(engine, other, params)
    back = first_token(engine, turn_n, params)

    def show(label: str, runs: list[tuple[float, float, int, int]]) -> tuple[float, float]:
        wall, cpu = median([r[0] for r in runs]), median([r[1] for r in runs])
        print(row(label, f"{wall:.3f}", f"{cpu:.3f}", f"{runs[0][2]} / {runs[0][3]}"))
        return wall, cpu

    print()
    print(row("2. time to first token", "wall s", "CPU s", "prompt / reused"))
    wall_1, cpu_1 = show(f"   turn 1 (median of {rounds})", first)
    wall_n, cpu_n = show(f"   turn {turns}, cache reused (median of {rounds})", last)
    show(f"   turn {turns}, cold cache", [cold])
    show("   switch to another conversation", [switch])
    show("   switch back", [back])
    print(
        row(f"   ratio turn {turns} / turn 1", f"{wall_n / wall_1:.2f}", f"{cpu_n / cpu_1:.2f}", "")
    )


def bench_abort_callback(engine: Engine, rounds: int) -> None:
    llama = engine.llama
    text = "Summarise this. " + "The quick brown fox jumps over the lazy dog. " * 10
    messages = [user(text)]
    params = SamplingParams(temperature=0.0, max_tokens=1)

    def prefill(cancel: CancelToken | None) -> float:
        llama.reset()
        list(engine.stream_chat(messages, params, cancel))
        assert engine.last_stats is not None
        return engine.last_stats.prompt_seconds

    def busy_python(stop: threading.Event) -> None:
        count = 0
        while not stop.is_set():
            count += 1

    results: dict[tuple[str, bool], list[float]] = {}
    for busy in (False, True):
        stop = threading.Event()
        spinner = threading.Thread(target=busy_python, args=(stop,)) if busy else None
        if spinner:
            spinner.start()
        try:
            for _ in range(rounds):
                results.setdefault(("none", busy), []).append(prefill(None))
                results.setdefault(("callback", busy), []).append(prefill(CancelToken()))
        finally:
            stop.set()
            if spinner:
                spinner.join()
    n_tokens = engine.count_tokens(messages)
    print()
    print(row(f"3. prompt of {n_tokens} tokens (s)", "no callback", "callback", "ratio"))
    for busy in (False, True):
        a, b = median(results[("none", busy)]), median(results[("callback", busy)])
        label = "   busy Python thread" if busy else "   GIL free"
        print(row(label, f"{a:.3f}", f"{b:.3f}", f"{b / a:.2f}"))


RSS_SCRIPT = """
import resource, sys

def peak():
    # VmHWM is this process's own peak; ru_maxrss survives exec (the parent's would show).
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

from app.core.chat.engine import Engine
from app.core.runtime.template import user
from app.core.paths import get_paths
from app.core.chat.sampling import SamplingParams
from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
store = ModelStore(get_paths(sys.argv[1]))
model = ensure_starter(store)
before = peak()
engine = Engine(store)
engine.load()
"".join(engine.stream_chat([user("Hello!")], SamplingParams(temperature=0, max_tokens=16)))
after = peak()
print(before, after, model.size, engine.loaded.n_ctx)
"""


def bench_rss() -> None:
    with tempfile.TemporaryDirectory() as home:
        result = subprocess.run(
            [sys.executable, "-c", RSS_SCRIPT, home],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent.parent,
        )
    before, after, size, n_ctx = (int(x) for x in result.stdout.split())
    mb = 1_000_000
    print()
    print(row("4. peak RSS (MB)", "MB", "x file size", ""))
    print(row("   Python + Driftless core, no model", f"{before / mb:.0f}", "", ""))
    print(
        row(
            f"   model loaded (context {n_ctx:,}), one reply",
            f"{after / mb:.0f}",
            f"{after / size:.2f}",
            "",
        )
    )
    print(
        row(
            "   of which the model process added",
            f"{(after - before) / mb:.0f}",
            f"{(after - before) / size:.2f}",
            "",
        )
    )
    print(row("   model file", f"{size / mb:.0f}", "1.00", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--tokens", type=int, default=96)
    parser.add_argument("--turns", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        store = ModelStore(get_paths(home))
        ensure_starter(store)
        with Engine(store) as engine:
            loaded = engine.load()
            print(
                f"model {loaded.model_id}, context {loaded.n_ctx:,}, threads {engine.n_threads}, "
                f"CPUs {os.cpu_count()}, load {loaded.load_seconds:.2f} s\n"
            )
            bench_throughput(engine, args.rounds, args.tokens)
            bench_turns(engine, args.turns, args.rounds)
            bench_abort_callback(engine, max(3, args.rounds // 2))
    bench_rss()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"\n(benchmark process: {usage.ru_utime + usage.ru_stime:.1f} s of CPU)")


if __name__ == "__main__":
    main()
