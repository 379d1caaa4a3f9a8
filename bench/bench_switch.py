"""Switching conversations: a 20-turn conversation, another one in between, then back, in
the same process and in a new one; saved KV states' size and save/restore times.

    .venv/bin/python bench/bench_switch.py [--model starter|gemma] [--turns 20]

For each model: a conversation of ``--turns`` turns (greedy, replies of up to 60 tokens)
on an engine that saves states in a fresh data folder; then one turn of another
conversation (the live cache now holds that one); then turn N+1 of the first: its time to
first token, tokens reused and restored. The same turn in a new process (a child that loads
the model and restores the state from disk), the same turn evaluated cold, and a new
one-line chat. Also the states on disk: bytes per token, and the time to save one (write,
fsync) and to restore one (read, llama_state_seq_set_data). Not part of the tests.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.core.chat import prefix as prefix_module  # noqa: E402
from app.core.chat import states as states_module  # noqa: E402
from app.core.chat.engine import Engine  # noqa: E402
from app.core.chat.sampling import SamplingParams  # noqa: E402
from app.core.models.starter import ensure_starter  # noqa: E402
from app.core.models.store import ModelStore  # noqa: E402
from app.core.paths import get_paths  # noqa: E402
from app.core.runtime.template import ChatMessage, assistant, system, user  # noqa: E402
from tests.gemma_model import install_gemma  # noqa: E402

PARAMS = SamplingParams(temperature=0.0, max_tokens=60)
TOPICS = ("rivers", "mountains", "deserts", "forests", "islands", "lakes", "glaciers", "caves")

timings: dict[str, list[float]] = {"save": [], "restore": []}


def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            timings[name].append(time.perf_counter() - began)

    return wrapper


def question(turn: int) -> str:
    return f"Tell me one fact about {TOPICS[turn % len(TOPICS)]}, number {turn}."


def ask(engine: Engine, messages: list[ChatMessage]) -> dict[str, Any]:
    text = "".join(engine.stream_chat(messages, PARAMS))
    stats = engine.last_stats
    assert stats is not None
    messages.append(assistant(text))
    return {
        "ttft_s": stats.first_token_seconds,
        "prompt": stats.prompt_tokens,
        "reused": stats.cached_tokens,
        "restored": stats.restored_tokens,
    }


def open_engine(home: Path, model: str) -> Engine:
    store = ModelStore(get_paths(home))
    engine = Engine(store, states=(states_module.disk_states(store.paths),))
    engine.load(model)
    return engine


def child(home: Path, model: str, messages_file: Path) -> None:
    messages = [ChatMessage(**m) for m in json.loads(messages_file.read_text())]
    with open_engine(home, model) as engine:
        print(json.dumps(ask(engine, messages)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("starter", "gemma"), default="starter")
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), args.child[1], Path(args.child[2]))
        return
    prefix_module.PromptCache._restore = timed("restore", prefix_module.PromptCache._restore)  # type: ignore[method-assign]
    states_module.StateStore.save = timed("save", states_module.StateStore.save)  # type: ignore[method-assign]
    home = Path(tempfile.mkdtemp(prefix="bench-switch-"))
    store = ModelStore(get_paths(home))
    starter = ensure_starter(store)
    assert starter is not None
    model = starter.id if args.model == "starter" else install_gemma(store).id
    results: dict[str, dict[str, Any]] = {}
    with open_engine(home, model) as engine:
        conversation: list[ChatMessage] = [system("You are a patient geography teacher.")]
        turns = []
        for turn in range(args.turns):
            conversation.append(user(question(turn)))
            turns.append(ask(engine, conversation))
        results["turn 2-N (live)"] = {
            "ttft_s": statistics.median(t["ttft_s"] for t in turns[1:]),
            "prompt": turns[-1]["prompt"],
            "reused": turns[-1]["reused"],
            "restored": 0,
        }
        ask(engine, [system("You are a poet."), user("A line about the moon.")])  # away
        back = [*conversation, user(question(args.turns))]
        results["back, same process"] = ask(engine, list(back))
        messages_file = home / "messages.json"
        messages_file.write_text(json.dumps([m.to_json() for m in back]))
        done = subprocess.run(
            [sys.executable, __file__, "--child", str(home), model, str(messages_file)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        results["back, new process"] = json.loads(done.stdout.strip().splitlines()[-1])
        engine.forget_prompt_cache()
        engine.states = ()
        cold = Engine(store)
        cold.load(model)
        with cold:
            results["the same turn, cold"] = ask(cold, list(back))
            results["a new one-line chat"] = ask(cold, [user("Hi, what is a river?")])
    files = list(get_paths(home).states_dir.glob("*.kvstate"))
    sizes = []
    for path in files:
        header_length = int.from_bytes(path.read_bytes()[13:17], "little")
        header = json.loads(path.read_bytes()[17 : 17 + header_length])
        sizes.append(path.stat().st_size / header["n_tokens"])
    print(f"{args.model}: {args.turns} turns, prompt of turn {args.turns + 1}")
    print("| | time to first token | prompt tokens | reused | restored |")
    print("|---|---|---|---|---|")
    for name, row in results.items():
        print(
            f"| {name} | {row['ttft_s']:.2f} s | {row['prompt']:,} | {row['reused']:,} "
            f"({row['reused'] / row['prompt']:.0%}) | {row['restored']:,} |"
        )
    save_ms = statistics.median(timings["save"]) * 1000
    restore_ms = statistics.median(timings["restore"] or [0]) * 1000
    print(
        f"states: {len(files)} files, {statistics.median(sizes) / 1024:.1f} KiB per token; "
        f"save {save_ms:.0f} ms (median of {len(timings['save'])}), restore {restore_ms:.0f} ms"
    )


if __name__ == "__main__":
    main()
