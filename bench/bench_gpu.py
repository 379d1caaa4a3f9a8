"""GPU offload against the CPU: speed, and how often greedy answers differ.

    python bench/bench_gpu.py [--prompt-tokens 256] [--max-tokens 64] [--drift]
    python bench/bench_gpu.py --drift-only --drift-max-tokens 8   # lavapipe: ~10 minutes

Runs the packaged app's llama.cpp (packaging/llama_libs.py: CPU kernels and the Vulkan
backend, the build the bundle carries) through Driftless's own loading code, in one child
process per setting (``LLAMA_CPP_LIB_PATH`` points llama-cpp-python at it), on the starter
model: prompt tokens/s (one cold prompt of about --prompt-tokens tokens) and reply
tokens/s (--max-tokens greedy tokens), with 0 layers offloaded and with all of them.

Here the only Vulkan device is Mesa's lavapipe, which computes on the same CPU through
LLVM: the figures are for the record (lavapipe is slower than llama.cpp's own CPU
kernels), not what a GPU gives. ``--drift`` also answers the starter check set (5 prompts,
6 labelled texts) on the CPU and on the device and says which answers moved.
``GGML_VK_VISIBLE_DEVICES=0`` is set so llama.cpp uses lavapipe (it skips software
devices otherwise); on a machine with a real GPU, unset it with --real-gpu.
``--drift-max-tokens N`` answers the check set's prompts with N tokens instead of its 32
(lavapipe writes a token in about 7 seconds on two busy cores).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "packaging"))

CHILD = r"""
import json, sys, time
from app.core.chat.engine import Engine
from app.core.chat.sampling import SamplingParams
from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
from app.core.paths import get_paths
from app.core.runtime.template import user

layers, prompt_tokens, max_tokens = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
store = ModelStore(get_paths().ensure())
ensure_starter(store)
text = " ".join(f"word{i}" for i in range(prompt_tokens // 2))
params = SamplingParams(temperature=0.0, repeat_penalty=1.0, max_tokens=max_tokens, seed=0)
with Engine(store, gpu_layers=layers) as engine:
    loaded = engine.load()
    "".join(engine.stream_chat([user("Hi")], params.replace(max_tokens=2)))  # warm-up
    engine.forget_prompt_cache()
    started = time.perf_counter()
    "".join(engine.stream_chat([user("Repeat the last word: " + text)], params))
    stats = engine.last_stats
    print(json.dumps({
        "backend": loaded.offload.label(),
        "prompt_tokens": stats.prompt_tokens,
        "prompt_tps": stats.prompt_tokens / max(stats.prompt_seconds, 1e-9),
        "reply_tokens": stats.completion_tokens,
        "reply_tps": stats.tokens_per_second,
    }))
"""

DRIFT = r"""
import dataclasses, json, sys
from app.core.drift.compare import compare
from app.core.drift.record import answer
from app.core.drift.starter import starter_check_set, starter_model
from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
from app.core.paths import get_paths

paths = get_paths().ensure()
store = ModelStore(paths)
ensure_starter(store)
model = starter_model(store)
check_set = starter_check_set(paths)
if int(sys.argv[1]):
    check_set = dataclasses.replace(check_set, max_tokens=int(sys.argv[1]))
on_cpu = answer(paths, store, check_set, model.id, threads=1, unpack=False, gpu_layers="0")
on_gpu = answer(paths, store, check_set, model.id, threads=1, unpack=False, gpu_layers="all")
report = compare(check_set.recorded(on_cpu), on_cpu, on_gpu)
print(json.dumps({
    "environment": [d.sentence() for d in report.environment],
    "max_tokens": check_set.max_tokens,
    "prompts": report.prompts_checked,
    "prompts_moved": [c.id for c in report.prompt_changes],
    "texts": report.texts_checked,
    "labels_flipped": [c.id for c in report.flips],
    "largest_probability_move": max((c.largest_move for c in report.label_changes), default=0.0),
    "summary": report.summary(),
}))
"""


def child(libs: Path, home: str, script: str, *args: str, real_gpu: bool) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GGML_VK_")}
    env.update(LLAMA_CPP_LIB_PATH=str(libs), DRIFTLESS_HOME=home, PYTHONPATH=str(ROOT))
    if not real_gpu:
        env["GGML_VK_VISIBLE_DEVICES"] = "0"
    done = subprocess.run(
        [sys.executable, "-c", script, *args], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"bench_gpu: the child failed:\n{done.stderr[-3000:]}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompt-tokens", type=int, default=256)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--drift", action="store_true", help="also compare check-set answers")
    parser.add_argument("--drift-only", action="store_true", help="--drift, and no speeds")
    parser.add_argument(
        "--drift-max-tokens", type=int, default=0, help="tokens per check-set answer"
    )
    parser.add_argument("--real-gpu", action="store_true", help="do not force lavapipe")
    args = parser.parse_args()
    import llama_libs

    libs = llama_libs.ensure()
    if not (libs / llama_libs.VULKAN_LIBRARY).is_file():
        raise SystemExit("bench_gpu: the portable build has no Vulkan backend (system-deps.sh)")
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as home:
        print(f"{'layers':>6}  {'backend':60}  {'prompt tok/s':>12}  {'reply tok/s':>11}")
        for layers in () if args.drift_only else ("0", "all"):
            row = child(
                libs,
                home,
                CHILD,
                layers,
                str(args.prompt_tokens),
                str(args.max_tokens),
                real_gpu=args.real_gpu,
            )
            print(
                f"{layers:>6}  {str(row['backend'])[:60]:60}  {row['prompt_tps']:12.1f}  "
                f"{row['reply_tps']:11.1f}   ({row['prompt_tokens']} prompt tokens, "
                f"{row['reply_tokens']} reply tokens)",
                flush=True,
            )
        if args.drift or args.drift_only:
            tokens = str(args.drift_max_tokens)
            print(json.dumps(child(libs, home, DRIFT, tokens, real_gpu=args.real_gpu), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
