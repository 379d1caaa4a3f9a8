"""Time to first token on long new prompts: ``driftless serve`` against llama-cpp-python's
own server (``python -m llama_cpp.server``), side by side in one interleaved run.

    .venv/bin/python bench/bench_prompt.py --peer-python /path/to/python [--model starter|gemma]
        [--rounds 3]

The peer needs llama-cpp-python's ``[server]`` extra (FastAPI and friends), which Driftless
does not install: give ``--peer-python`` a Python that has it and the same llama-cpp-python
(a venv whose ``.pth`` points at this venv's site-packages, with the extra installed into
the venv itself, keeps this venv untouched). Both servers load the same file with a context
of 4,096; each request is ``POST /v1/completions`` with ``max_tokens`` 1 and ``stream``, and
a prompt of about 1,000 or 3,000 tokens that begins with a word never sent before, so
neither server's cache can help. Time to first token is measured from sending the request
to the first streamed choice. Then, on Driftless only: a one-line chat request against one
whose 1,500-token system prompt an earlier request already sent (its prefix cache).
Not part of the tests.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_host import install  # noqa: E402

WORDS = tuple(
    [
        "the",
        "river",
        "runs",
        "past",
        "old",
        "stone",
        "mills",
        "and",
        "quiet",
        "towns",
        "toward",
        "a",
        "grey",
        "sea",
    ]
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def text_of(n_words: int) -> str:
    return " ".join(WORDS[i % len(WORDS)] for i in range(n_words))


def first_token(port: int, path: str, body: dict[str, Any]) -> float:
    """Seconds from sending ``body`` to the first streamed choice."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    payload = json.dumps({**body, "stream": True, "max_tokens": 1, "temperature": 0})
    started = time.perf_counter()
    connection.request("POST", path, payload, {"Content-Type": "application/json"})
    answer = connection.getresponse()
    if answer.status != 200:
        raise SystemExit(f"bench_prompt: HTTP {answer.status}: {answer.read()[:300]!r}")
    elapsed = 0.0
    for line in answer:
        if not line.startswith(b"data: {"):
            continue
        choices = json.loads(line[len(b"data: ") :]).get("choices") or [{}]
        choice = choices[0]
        delta = choice.get("delta") or {}
        if choice.get("text") or delta.get("content") or choice.get("finish_reason"):
            elapsed = time.perf_counter() - started  # a role-only chunk does not count
            break
    answer.read()
    connection.close()
    return elapsed


def wait_until_up(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"bench_prompt: a server ended before it served ({process.args})")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/v1/models")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("bench_prompt: a server did not come up in 5 minutes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-python", required=True, help="a Python with llama_cpp.server")
    parser.add_argument("--model", choices=("starter", "gemma"), default="starter")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-prompt-"))
    model_id, _ = install(home, args.model)
    listed = subprocess.run(
        [sys.executable, "-m", "app", "--home", str(home), "models", "list", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    path = next(m["path"] for m in json.loads(listed.stdout) if m["id"] == model_id)
    ours_port, peer_port = free_port(), free_port()
    env = {**os.environ, "DRIFTLESS_HOME": str(home)}
    ours = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--model", model_id, "--port", str(ours_port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    peer = subprocess.Popen(
        [
            *(args.peer_python, "-m", "llama_cpp.server", "--model", path, "--n_ctx", "4096"),
            *("--port", str(peer_port), "--host", "127.0.0.1"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_up(ours_port, ours)
        wait_until_up(peer_port, peer)
        sizes = {"1k": 700, "3k": 2100}  # words: about 1,000 and 3,000 tokens
        times: dict[tuple[str, str], list[float]] = {}
        servers = (("driftless", ours_port), ("llama_cpp.server", peer_port))
        for _, port in servers:  # a short prompt warms each up
            first_token(port, "/v1/completions", {"model": model_id, "prompt": text_of(40)})
        for _ in range(args.rounds):
            for size, words in sizes.items():
                for name, port in servers:
                    prompt = f"{uuid.uuid4().hex} {text_of(words)}"
                    body = {"model": model_id, "prompt": prompt}
                    seconds = first_token(port, "/v1/completions", body)
                    times.setdefault((size, name), []).append(seconds)
                    print(f"  {size} {name}: {seconds:.2f} s", flush=True)
        print(f"{args.model}, {os.cpu_count()} CPUs, {args.rounds} interleaved rounds (medians)")
        print("| prompt | llama_cpp.server | driftless serve | speed ratio |")
        print("|---|---|---|---|")
        for size in sizes if args.rounds else ():
            peer_s = statistics.median(times[(size, "llama_cpp.server")])
            ours_s = statistics.median(times[(size, "driftless")])
            print(f"| {size} | {peer_s:.2f} s | {ours_s:.2f} s | {peer_s / ours_s:.2f}x |")
        document = text_of(1050)  # about 1,500 tokens
        shared, one_line = [], []
        for round_ in range(2):
            tag = uuid.uuid4().hex
            system = {"role": "system", "content": f"{tag} {document}"}
            first = {"model": model_id, "messages": [system, {"role": "user", "content": "Hi"}]}
            first_token(ours_port, "/v1/chat/completions", first)  # fills the prefix cache
            again = {
                "model": model_id,
                "messages": [system, {"role": "user", "content": "What is this about?"}],
            }
            alone = {
                "model": model_id,
                "messages": [{"role": "user", "content": f"{tag[:6]} What is a river?"}],
            }
            if round_:
                shared.append(first_token(ours_port, "/v1/chat/completions", again))
                one_line.append(first_token(ours_port, "/v1/chat/completions", alone))
        print(
            f"driftless: a request sharing a 1,500-token prefix {statistics.median(shared):.2f} s "
            f"to its first token, a one-line request {statistics.median(one_line):.2f} s "
            f"({statistics.median(shared) / statistics.median(one_line):.2f}x)"
        )
    finally:
        for process in (ours, peer):
            process.terminate()
            process.wait(60)


if __name__ == "__main__":
    main()
