"""Tokens/s through the local API (streamed) against the in-process engine, in one run.

    .venv/bin/python bench/bench_api.py [--rounds 5] [--tokens 128]

The same starter model, prompt, sampling and seed both ways, rounds interleaved so the
machine's other load falls on both. The in-process side is ``Engine.stream_chat`` in
this thread; the API side is the official ``openai`` client streaming from
``driftless serve``'s server (uvicorn on 127.0.0.1, its own engine on its owner thread).
Rates are measured the same way for both: tokens after the first, over the wall time
from the first piece to the last. Also: the time to first token both ways (the API's
includes HTTP and the queue). Target: API/in-process >= 0.9. Not part of the tests.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import openai

from app.core.chat.engine import Engine
from app.core.chat.sampling import SamplingParams
from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
from app.core.paths import get_paths
from app.core.runtime.template import system, user
from app.core.serve.server import ApiServer, ServeConfig

PROMPT = [system("You are a storyteller."), user("Write a long story about a lighthouse keeper.")]
SEED = 1234


def in_process(engine: Engine, params: SamplingParams) -> tuple[float, float, int]:
    """(time to first token, tokens/s after the first, tokens) for one reply."""
    started = time.perf_counter()
    first = 0.0
    for _piece in engine.stream_chat(PROMPT, params):
        if not first:
            first = time.perf_counter()
    ended = time.perf_counter()
    stats = engine.last_stats
    assert stats is not None
    return first - started, (stats.completion_tokens - 1) / (ended - first), stats.completion_tokens


def through_api(api: openai.OpenAI, model: str, params: SamplingParams) -> tuple[float, float, int]:
    started = time.perf_counter()
    first = 0.0
    tokens = 0
    stream = api.chat.completions.create(
        model=model,
        messages=[m.to_json() for m in PROMPT],  # type: ignore[misc]
        temperature=params.temperature,
        top_p=params.top_p,
        seed=params.seed,
        max_tokens=params.max_tokens,
        stream=True,
        stream_options={"include_usage": True},
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content and not first:
            first = time.perf_counter()
        if chunk.usage is not None:
            tokens = chunk.usage.completion_tokens
    ended = time.perf_counter()
    return first - started, (tokens - 1) / (ended - first), tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=128)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        store = ModelStore(get_paths(Path(home)).ensure())
        starter = ensure_starter(store)
        assert starter is not None, "the starter model package is not installed"
        params = SamplingParams(max_tokens=args.tokens, seed=SEED)
        server = ApiServer(store, ServeConfig(port=0, model=starter.id))
        server.start()
        api = openai.OpenAI(base_url=server.url, api_key="local", max_retries=0)
        engine = Engine(store)
        engine.load(starter.id)
        try:
            in_process(engine, params)  # warm both up: the first load and page-in
            through_api(api, starter.id, params)
            local: list[tuple[float, float, int]] = []
            remote: list[tuple[float, float, int]] = []
            for _ in range(args.rounds):
                local.append(in_process(engine, params))
                remote.append(through_api(api, starter.id, params))
        finally:
            engine.unload()
            server.stop()
    rate_local = statistics.median(r[1] for r in local)
    rate_api = statistics.median(r[1] for r in remote)
    ttft_local = statistics.median(r[0] for r in local) * 1000
    ttft_api = statistics.median(r[0] for r in remote) * 1000
    print(f"model {starter.lock_id}, {args.rounds} rounds, up to {args.tokens} tokens, seed {SEED}")
    print(
        f"tokens per reply (in-process / API): {[r[2] for r in local]} / {[r[2] for r in remote]}"
    )
    print(f"in-process engine: {rate_local:7.1f} tokens/s   first token {ttft_local:6.1f} ms")
    print(f"through the API:   {rate_api:7.1f} tokens/s   first token {ttft_api:6.1f} ms")
    print(
        f"ratio API/in-process: {rate_api / rate_local:.2f}x (target >= 0.9); "
        f"added time to first token: {ttft_api - ttft_local:+.1f} ms"
    )


if __name__ == "__main__":
    main()
