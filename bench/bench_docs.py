"""Documents: indexing speed with the starter as embedder, search time at 10k and 100k
passages, and retrieval quality (right file in the top 3) of FTS5 alone against hybrid.

    .venv/bin/python bench/bench_docs.py [--chars 900] [--threads 1] [--skip-scale]

The quality set is built here, as the tests build theirs (tests/unit/docs/quality.py):
107 standard-library modules' pydoc pages (their head, ``--chars`` characters), 40 of
them with a paraphrased question that avoids the module's name. Search timing uses
random unit vectors of the starter's size (576) and random words, in a collection of its
own. Runs once; not part of the tests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core.docs.embedding import ModelEmbedder
from app.core.docs.library import DocsLibrary
from app.core.docs.passages import Chunking, Passage
from app.core.docs.records import EmbedderInfo
from app.core.docs.search import search
from app.core.docs.store import DocsStore
from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
from app.core.paths import get_paths
from tests.unit.docs.quality import DISTRACTORS, QUESTIONS, build, top_k_hits


def quality(work: Path, chars: int, threads: int) -> None:
    paths = get_paths(work / "home").ensure()
    store = ModelStore(paths)
    ensure_starter(store)
    folder = work / "pydoc"
    size = build(folder, list(QUESTIONS) + DISTRACTORS, chars=chars)
    for page in folder.iterdir():  # the same mtime on every run: a kept index reads nothing
        os.utime(page, ns=(0, 0))
    library = DocsLibrary(paths.documents_db)
    ModelEmbedder(store, None, n_threads=threads).close()  # load and probe outside the timing
    started = time.monotonic()
    report = library.add(
        "pydoc", [folder], lambda ref: ModelEmbedder(store, ref, n_threads=threads)
    )
    seconds = time.monotonic() - started
    print(
        f"indexed {len(report.read)} files, {size / 1e6:.2f} MB, {report.passages} passages in "
        f"{seconds:.1f} s: {len(report.read) / seconds:.2f} files/s, "
        f"{size / 1e6 / seconds:.4f} MB/s, {report.passages / seconds:.2f} passages/s",
        flush=True,
    )
    embedder = ModelEmbedder(store, None, n_threads=threads)
    expected = list(QUESTIONS)
    results: dict[str, list[list[str]]] = {"keyword": [], "vector": [], "hybrid": []}
    for question in QUESTIONS.values():
        for mode in results:
            hits = library.search("pydoc", question, embedder, top=3, mode=mode)
            results[mode].append([hit.source for hit in hits])
    embedder.close()
    library.close()
    n = len(expected)
    print(f"\n| {n} questions | right file first | right file in top 3 |\n|---|---|---|")
    for mode, label in (
        ("keyword", "FTS5 (bm25) only"),
        ("vector", "vectors only"),
        ("hybrid", "hybrid (RRF, k=60)"),
    ):
        print(
            f"| {label} | {top_k_hits(results[mode], expected, 1)} "
            f"| {top_k_hits(results[mode], expected, 3)} |"
        )
    print(flush=True)


def scale(work: Path, sizes: list[int], dims: int = 576) -> None:
    rng = np.random.default_rng(1)
    words = [f"w{i}" for i in range(5000)]
    print(
        "| passages | FTS5 | vectors (numpy, exact) | hybrid | first read of the matrix |\n"
        "|---|---|---|---|---|"
    )
    for n in sizes:
        store = DocsStore(work / f"scale-{n}.sqlite3")
        info = store.create("s", EmbedderInfo("x", "x", "0" * 64, "mean", 512, dims), Chunking())
        per = 500
        for f in range(n // per):
            v = rng.standard_normal((per, dims)).astype(np.float32)
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            ps = [Passage(None, 1, 0, 1, "", " ".join(rng.choice(words, 60))) for _ in range(per)]
            store.save_file(
                info.id,
                f"/f{f}.txt",
                size=1,
                mtime_ns=1,
                sha256="0",
                kind="text",
                encoding="utf-8",
                title=f"f{f}",
                passages=ps,
                vectors=v,
            )
        q = rng.standard_normal(dims).astype(np.float32)
        q /= np.linalg.norm(q)
        started = time.monotonic()
        store.vectors(info.id)
        load = time.monotonic() - started
        medians = []
        for mode in ("keyword", "vector", "hybrid"):
            times = []
            for i in range(9):
                started = time.monotonic()
                search(store, info.id, f"w{i} w{i + 7} w{i + 50}", q, top=5, mode=mode)
                times.append(time.monotonic() - started)
            medians.append(statistics.median(times) * 1000)
        print(
            f"| {n:,} | {medians[0]:.1f} ms | {medians[1]:.1f} ms | {medians[2]:.1f} ms "
            f"| {load * 1000:.0f} ms |",
            flush=True,
        )
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chars", type=int, default=900)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument(
        "--work",
        type=Path,
        help="keep the index here (a second run reads nothing again and only asks)",
    )
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        work = args.work or Path(folder)
        if not args.skip_quality:
            quality(work, args.chars, args.threads)
        if not args.skip_scale:
            scale(work, [10_000, 100_000])


if __name__ == "__main__":
    main()
