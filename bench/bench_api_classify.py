"""Requests/s for ``/v1/classify`` against the CLI's texts/s on the same texts, in one run.

    .venv/bin/python bench/bench_api_classify.py [--texts 200] [--batch 32] [--rounds 2]

The starter model and the built-in ``sentiment`` label set, prompt method, texts from
SST-2 (../shared/data). Each round runs, back to back so the machine's other load falls
on all of them:

- the CLI: ``driftless classify --input FILE`` in a fresh process (its time includes
  starting Python and loading the model, as a user's run does, so the load is also
  reported on its own);
- the API, one text per request (requests/s = texts/s), from ``driftless serve`` in its
  own process, the model already loaded by a warm-up request;
- the API with ``--batch`` texts per request.

Not part of the tests.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2 as httpx

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "sst2_train.tsv"
LABEL_SET = "sentiment"


def read_texts(count: int) -> list[str]:
    with DATA.open(encoding="utf-8", newline="") as file:
        rows = csv.DictReader(file, delimiter="\t")
        return [row["text"].strip() for _, row in zip(range(count), rows, strict=False)]


def driftless(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "app", "--home", str(home), *args]


def cli_run(home: Path, texts: list[str], work: Path) -> float:
    """Seconds for ``driftless classify`` over ``texts``, from process start to exit."""
    source = work / "texts.csv"
    with source.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["text"])
        writer.writerows([t] for t in texts)
    command = driftless(home, "classify", "--label-set", LABEL_SET, "--input", str(source))
    command += ["--text-column", "text", "--output", str(work / "out.csv"), "--restart"]
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, capture_output=True)
    return time.perf_counter() - started


def cli_load_only(home: Path) -> float:
    """Seconds for a one-text run: starting the process and loading the model, mostly."""
    with tempfile.TemporaryDirectory() as work:
        return cli_run(home, ["fine"], Path(work))


def api_run(url: str, model: str, texts: list[str], batch: int) -> float:
    started = time.perf_counter()
    with httpx.Client(timeout=600) as client:
        for start in range(0, len(texts), batch):
            body = {"model": model, "texts": texts[start : start + batch], "label_set": LABEL_SET}
            answer = client.post(url + "/classify", json=body)
            answer.raise_for_status()
            assert len(answer.json()["data"]) == len(body["texts"])
    return time.perf_counter() - started


def start_server(home: Path) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        driftless(home, "serve", "--port", "0"), cwd=ROOT, stderr=subprocess.PIPE, text=True
    )
    assert server.stderr is not None
    while True:
        line = server.stderr.readline()
        if not line:
            raise SystemExit("the server ended before it served")
        found = re.search(r"Serving the API at (\S+) ", line)
        if found:
            return server, found.group(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=200)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    texts = read_texts(args.texts)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="bench-api-classify-") as folder:
        home = Path(folder) / "home"
        subprocess.run(driftless(home, "models", "list"), check=True, cwd=ROOT, capture_output=True)
        load = cli_load_only(home)
        server, url = start_server(home)
        try:
            with httpx.Client() as client:
                model = client.get(url + "/models").json()["data"][0]["id"]
            api_run(url, model, texts[:2], 2)  # load the model before timing
            cli, single, batched = [], [], []
            for _ in range(args.rounds):
                with tempfile.TemporaryDirectory() as work:
                    cli.append(cli_run(home, texts, Path(work)))
                single.append(api_run(url, model, texts, 1))
                batched.append(api_run(url, model, texts, args.batch))
        finally:
            server.terminate()
            server.wait(30)
    n = len(texts)
    cli_rate = n / statistics.median(cli)
    cli_warm = n / max(1e-9, statistics.median(cli) - load)
    single_rate = n / statistics.median(single)
    batched_rate = n / statistics.median(batched)
    print(f"{n} texts, label set {LABEL_SET}, {args.rounds} rounds (medians):")
    print(
        f"  CLI driftless classify     {cli_rate:7.1f} texts/s  (process start + load {load:.1f} s)"
    )
    print(f"  CLI without start and load {cli_warm:7.1f} texts/s")
    print(f"  API, 1 text per request    {single_rate:7.1f} requests/s = texts/s")
    print(f"  API, {args.batch} texts per request  {batched_rate:7.1f} texts/s")
    print(
        f"  ratios: API single / CLI warm {single_rate / cli_warm:.2f}x, "
        f"API batched / CLI warm {batched_rate / cli_warm:.2f}x"
    )


if __name__ == "__main__":
    main()
