"""Resident memory and first-request times of ``driftless serve`` as a window-like mix grows.

    .venv/bin/python bench/bench_host.py [--models starter,gemma] [--rounds 1]

Per model, a fresh ``driftless serve --model ID`` (this checkout's code, ``-m app``) on
127.0.0.1 over a temporary data folder holding just that model, driven with urllib as any
other program would. The server's memory (``/proc/PID/status``: VmRSS, split into
anonymous and file-backed pages, and the peak VmHWM) is read once it answers (idle), then
after each of, in this order, on the same model:

1. one ``/v1/chat/completions`` (8 tokens at most, temperature 0): the chat engine loads;
2. then one ``/v1/embeddings``: the embedding side of the same model;
3. then one ``/v1/classify`` (two labels, prompt method): the classifier's own workbench.

Each request's wall time is its first, so it includes loading what it needs (for classify
in a new data folder, also writing the 16-bit copy of the model). The ratios say how much
each use adds on top of chat alone: with the weights loaded once per file and shared, they
stay near 1. Models: the starter (SmolLM2 135M Q4_1) and Gemma 3 270M Q4_K_M from the dev
extra (tests/gemma_model.py). Linux only (``/proc``). Not part of the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import gemma_model

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("starter", "gemma")
MB = 1_000_000
STEPS = ("chat", "embeddings", "classify")


@dataclass(frozen=True)
class Memory:
    rss: int
    anon: int
    file: int
    peak: int


@dataclass
class Run:
    """One server's life: its start-up, then the memory after each step and the times."""

    model_id: str
    file_size: int
    start_s: float
    memory: dict[str, Memory]
    seconds: dict[str, float]
    notes: list[str]


def memory(pid: int) -> Memory:
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            fields[name] = int(value.split()[0]) * 1024  # kB
    return Memory(fields["VmRSS"], fields["RssAnon"], fields["RssFile"], fields["VmHWM"])


def driftless(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "app", "--home", str(home), *args]


def cli(home: Path, *args: str) -> str:
    done = subprocess.run(driftless(home, *args), cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"bench_host: driftless {' '.join(args)} failed: {done.stderr}")
    return done.stdout


def install(home: Path, which: str) -> tuple[str, int]:
    """Put the model in the data folder as a user would; (its id, its file's size)."""
    if which == "gemma":
        path = gemma_model.gemma_file()  # joined once into the venv, checked
        cli(home, "models", "import", "--link", str(path))
        wanted = {"sha256": gemma_model.SHA256}
    else:
        wanted = {"source": "bundled"}  # `models list` registers the starter
    listed = json.loads(cli(home, "models", "list", "--json"))
    models = [m for m in listed if all(m[k] == v for k, v in wanted.items())]
    if len(models) != 1:
        raise SystemExit(f"bench_host: the {which} model did not install: {listed}")
    return models[0]["id"], models[0]["size"]


def call(url: str, body: dict[str, Any] | None = None) -> tuple[float, str | None]:
    """(wall seconds, None or the error's sentence) for one GET, or POST of ``body``."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=900) as answer:
            answer.read()
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read())["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = exc.reason
        return time.perf_counter() - started, f"HTTP {exc.code}: {message}"
    return time.perf_counter() - started, None


def requests(model: str) -> dict[str, tuple[str, dict[str, Any]]]:
    return {
        "chat": (
            "/chat/completions",
            {
                "model": model,
                "messages": [{"role": "user", "content": "Name a colour."}],
                "max_tokens": 8,
                "temperature": 0,
            },
        ),
        "embeddings": ("/embeddings", {"model": model, "input": "A lighthouse keeper's day."}),
        "classify": (
            "/classify",
            {
                "model": model,
                "texts": ["What a lovely, moving film.", "Dull and far too long."],
                "labels": ["positive", "negative"],
            },
        ),
    }


def drain(stream: IO[str] | None, into: queue.Queue[str]) -> None:
    """Read the server's stderr all along (a full pipe would block it); "" at its end."""
    for line in stream or ():
        into.put(line)
    into.put("")


def serve_once(home: Path, model: str, file_size: int, port: int) -> Run:
    started = time.perf_counter()
    server = subprocess.Popen(
        driftless(home, "serve", "--model", model, "--port", str(port)),
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    said: queue.Queue[str] = queue.Queue()
    threading.Thread(target=drain, args=(server.stderr, said), daemon=True).start()
    try:
        url, lines = "", []
        while not url:
            lines.append(said.get(timeout=120))
            if not lines[-1]:
                raise SystemExit(f"bench_host: the server ended before it served: {lines}")
            found = re.search(r"Serving the API at (\S+) ", lines[-1])
            url = found.group(1) if found else ""
        if not url.startswith("http://127.0.0.1:"):
            raise SystemExit(f"bench_host: the server listens at {url}, not on 127.0.0.1")
        _, error = call(url + "/models")
        if error:
            raise SystemExit(f"bench_host: GET /v1/models answered {error}")
        run = Run(model, file_size, time.perf_counter() - started, {}, {}, [])
        run.memory["idle"] = memory(server.pid)
        for step, (path, body) in requests(model).items():
            run.seconds[step], error = call(url + path, body)
            if error:
                run.notes.append(f"{step}: {error}")
            run.memory[step] = memory(server.pid)
        return run
    finally:
        server.terminate()
        server.wait(60)


def table(which: str, runs: list[Run]) -> None:
    def mb(values: list[int]) -> str:
        return f"{statistics.median(values) / MB:8.0f}"

    first = runs[0]
    print(
        f"\n{which}: {first.model_id}, file {first.file_size / MB:.0f} MB, {len(runs)} "
        f"server(s), start to first answer {statistics.median(r.start_s for r in runs):.1f} s"
    )
    print(f"  {'after':<26}{'request s':>10}{'RSS MB':>9}{'anon MB':>9}{'file MB':>9}")
    labels = {
        "idle": "start (idle)",
        "chat": "+ chat (8 tokens)",
        "embeddings": "+ embeddings",
        "classify": "+ classify (2 texts)",
    }
    for step, label in labels.items():
        seconds = (
            f"{statistics.median(r.seconds[step] for r in runs):.2f}" if step in STEPS else "-"
        )
        print(
            f"  {label:<26}{seconds:>10}"
            + mb([r.memory[step].rss for r in runs])
            + mb([r.memory[step].anon for r in runs])
            + mb([r.memory[step].file for r in runs])
        )
    print(f"  {'peak (VmHWM)':<26}{'':>10}" + mb([r.memory["classify"].peak for r in runs]))

    def ratio(step: str) -> float:
        return statistics.median(r.memory[step].rss / r.memory["chat"].rss for r in runs)

    print(
        f"  RSS ratios: (chat + embeddings) / chat alone {ratio('embeddings'):.2f}x, "
        f"(chat + embeddings + classify) / chat alone {ratio('classify'):.2f}x"
    )
    for note in sorted({n for r in runs for n in r.notes}):
        print(f"  ! {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS), help="starter, gemma or both")
    parser.add_argument("--rounds", type=int, default=1, help="fresh servers per model")
    parser.add_argument("--port", type=int, default=0, help="the server's port (0: any free)")
    args = parser.parse_args()
    chosen = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(chosen) - set(MODELS))
    if unknown or not chosen:
        parser.error(f"--models takes {' and '.join(MODELS)}, not {', '.join(unknown) or '[]'}")
    if not Path("/proc/self/status").is_file():
        raise SystemExit("bench_host: reads memory from /proc, so it runs on Linux only.")
    os.environ["HF_HUB_OFFLINE"] = "1"
    began = time.perf_counter()
    print(f"{os.cpu_count()} CPUs; each round: a new server and a new data folder")
    for which in chosen:
        runs = []
        for _ in range(args.rounds):
            # A new data folder per server, so every classify makes its 16-bit copy anew.
            with tempfile.TemporaryDirectory(prefix="bench-host-") as folder:
                home = Path(folder) / "home"
                model, size = install(home, which)
                runs.append(serve_once(home, model, size, args.port))
        table(which, runs)
    print(f"\n(whole run {time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
