"""Documents: indexing speed with the starter as embedder, search time at 10k and 100k
passages, and retrieval quality (right file first, and among the top 3 passages) of
FTS5 alone against the hybrid.

    .venv/bin/python bench/bench_docs.py [--chars 3000] [--threads 1] [--work DIR]
        [--skip-speed] [--skip-quality] [--skip-scale] [--embedder FILE.gguf] [--echo]

The quality set is built here, as the tests build theirs (tests/unit/docs/quality.py):
131 standard-library modules' pydoc pages (their head, ``--chars`` characters; 0 for the
whole page, 3.4 MB), 40 of them with a tuning question and 30 more with a held-out
question, each a paraphrase that avoids the module's name, and 30 others with a question
of the second held-out set. ``--embedder`` indexes with another GGUF (imported into the
bench's own model store; bench/embedder_gguf.py makes all-MiniLM-L6-v2's) instead of the
starter, into an index of its own; queries are embedded as search embeds them
(:func:`app.core.docs.library.query_text`). ``--echo`` indexes with echo embeddings
(each passage said twice, the second copy pooled), into an index of its own.

Speed: the same passages embedded the old way (the starter's Q4_1 file, llama.cpp's mean
of the last layer) and the new way (the 16-bit copy, the mean of layer 6), also with
echo, taken turn about so all see the same load; then the whole corpus indexed the new
way. With ``--work`` the index is kept: a second run reads nothing again and only asks.

Search timing uses random unit vectors of the starter's size (576) and random words, in
a collection of its own. Runs once; not part of the tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core.docs.embedding import EmbedSettings, ModelEmbedder, default_settings, settings_of
from app.core.docs.library import DocsLibrary, embedding_text, query_text
from app.core.docs.passages import Chunking, Passage, split_document
from app.core.docs.readers import read_document
from app.core.docs.records import EmbedderInfo, search_title
from app.core.docs.search import search
from app.core.docs.store import DocsStore
from app.core.fsutil import sha256_file
from app.core.models.gguf import read_gguf
from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
from app.core.paths import get_paths
from tests.unit.docs.quality import (
    DISTRACTORS,
    HELD_OUT,
    HELD_OUT_2,
    QUESTIONS,
    build,
    top_k_hits,
)

BEFORE = EmbedSettings(layer=None, weights="file", scaling="unit")
"""How part 1 embedded: the Q4_1 file, llama.cpp's mean of the last layer."""

# (label, mode, fusion, vector weight, vector list depth)
METHODS: list[tuple[str, str, str, float, int]] = [
    ("FTS5 (bm25) only", "keyword", "rrf", 1.0, 50),
    ("vectors only", "vector", "rrf", 1.0, 50),
    ("hybrid, RRF k=60, equal weights", "hybrid", "rrf", 1.0, 50),
    ("hybrid, RRF, vectors 0.5", "hybrid", "rrf", 0.5, 50),
    ("hybrid, RRF, vectors 0.25", "hybrid", "rrf", 0.25, 50),
    ("hybrid, RRF, vectors 0.25, their top 20 (default)", "hybrid", "rrf", 0.25, 20),
    ("hybrid, scores, vectors 1", "hybrid", "scores", 1.0, 50),
    ("hybrid, scores, vectors 0.5", "hybrid", "scores", 0.5, 50),
    ("hybrid, scores, vectors 0.25", "hybrid", "scores", 0.25, 50),
]


def corpus(work: Path, chars: int) -> tuple[Path, int]:
    folder = work / f"pydoc-{chars}"
    modules = list(QUESTIONS) + DISTRACTORS
    if folder.is_dir() and {p.name for p in folder.iterdir()} == {f"{m}.txt" for m in modules}:
        # A kept corpus is reused as it is: pages built before render() hid object
        # addresses differ in them on every run, and a rebuilt page is read again.
        size = sum(page.stat().st_size for page in folder.iterdir())
    else:
        size = build(folder, modules, chars=chars or 10**9)
    for page in folder.iterdir():  # the same mtime on every run: a kept index reads nothing
        os.utime(page, ns=(0, 0))
    return folder, size


def speed(store: ModelStore, folder: Path, threads: int, count: int) -> None:
    """The same passages embedded the old way and the new, taken turn about."""
    texts: list[str] = []
    pages = sorted(folder.iterdir())
    size = sum(page.stat().st_size for page in pages)
    for page in pages:
        document = read_document(page, page.read_bytes())
        title = search_title(document.title, str(page))
        texts += [embedding_text(title, p.heading, p.text) for p in split_document(document)]
    step = max(1, len(texts) // count)
    sample = texts[::step][:count]
    after = dataclasses.replace(default_settings(read_gguf(store.resolve(None).path)), echo=False)
    echo = dataclasses.replace(after, echo=True)
    results: dict[str, list[float]] = {"before": [], "after": [], "echo": []}
    tokens = 0
    for _round in range(2):
        for label, settings in (("before", BEFORE), ("after", after), ("echo", echo)):
            embedder = ModelEmbedder(store, None, n_threads=threads, settings=settings)
            tokens = sum(len(embedder.tokenize(t)) for t in sample)
            started = time.monotonic()
            embedder.embed(sample)
            results[label].append(time.monotonic() - started)
            embedder.close()
    per_file = len(texts) / len(pages)
    per_mb = len(texts) / (size / 1e6)
    print(
        f"\n{count} passages ({tokens:,} tokens) of {len(texts):,} in {len(pages)} files, "
        f"{size / 1e6:.2f} MB; {threads} thread(s); files/s and MB/s at this corpus's "
        f"{per_file:.1f} passages a file and {per_mb:,.0f} a MB\n"
    )
    print("| embedding | passages/s | tokens/s | files/s | MB/s |\n|---|---|---|---|---|")
    for label, name in (
        ("before", "before: Q4_1 file, llama.cpp mean of the last layer"),
        ("after", "after: F16 copy, mean of layer 6, stopped there"),
        ("echo", "echo: as after, each passage said twice, the second copy pooled"),
    ):
        rate = count / min(results[label])
        print(
            f"| {name} | {rate:.2f} | {rate * tokens / count:.0f} | {rate / per_file:.3f} "
            f"| {rate / per_mb:.4f} |"
        )
    print(flush=True)


def index(
    store: ModelStore,
    work: Path,
    folder: Path,
    size: int,
    threads: int,
    embedder: str | None = None,
    echo: bool = False,
) -> DocsLibrary:
    suffix = (f"-{embedder}" if embedder else "") + ("-echo" if echo else "")
    library = DocsLibrary(work / f"{folder.name}{suffix}.sqlite3")
    settings = default_settings(read_gguf(store.resolve(embedder).path))
    settings = dataclasses.replace(settings, echo=echo)
    ModelEmbedder(store, embedder, n_threads=threads, settings=settings).close()  # unpack
    started = time.monotonic()
    report = library.add(
        folder.name,
        [folder],
        lambda ref: ModelEmbedder(store, ref, n_threads=threads, settings=settings),
        embedder=embedder,
    )
    seconds = time.monotonic() - started
    if report.read:
        print(
            f"indexed {len(report.read)} files, {size / 1e6:.2f} MB, {report.passages} passages "
            f"in {seconds:.1f} s: {len(report.read) / seconds:.2f} files/s, "
            f"{size / 1e6 / seconds:.4f} MB/s, {report.passages / seconds:.2f} passages/s "
            f"(load average {os.getloadavg()[0]:.1f})",
            flush=True,
        )
    else:
        print(f"the kept index of {folder.name} is current: nothing read", flush=True)
    return library


def quality(
    store: ModelStore, library: DocsLibrary, name: str, threads: int, held_out: bool = True
) -> None:
    info = library.get(name)
    embedder = ModelEmbedder(
        store, info.embedder.model_id, n_threads=threads, settings=settings_of(info.embedder)
    )
    print(f"\n{info.files} files, {info.passages} passages; embedder {info.embedder.describe()}")
    sets = [("tuning", QUESTIONS)]
    sets += [("held out", HELD_OUT), ("held out 2", HELD_OUT_2)] if held_out else []
    for title, questions in sets:
        expected = list(questions)
        vectors = {
            m: embedder.embed([query_text(info.embedder, q)])[0] for m, q in questions.items()
        }
        print(f"\n| {len(expected)} {title} questions | right file first | in the top 3 |")
        print("|---|---|---|")
        for label, mode, fusion, weight, depth in METHODS:
            found = []
            for module, question in questions.items():
                hits = search(
                    library.store,
                    info.id,
                    question,
                    vectors[module] if mode != "keyword" else None,
                    top=3,
                    mode=mode,
                    vector_weight=weight,
                    scaling=info.embedder.scaling,
                    fusion=fusion,
                    vector_depth=depth,
                )
                found.append([hit.source for hit in hits])
            print(
                f"| {label} | {top_k_hits(found, expected, 1)} | {top_k_hits(found, expected, 3)} |"
            )
    print(flush=True)
    embedder.close()


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
        store.vectors(info.id, "standardized")
        load = time.monotonic() - started
        medians = []
        for mode in ("keyword", "vector", "hybrid"):
            times = []
            for i in range(9):
                started = time.monotonic()
                search(
                    store,
                    info.id,
                    f"w{i} w{i + 7} w{i + 50}",
                    q,
                    top=5,
                    mode=mode,
                    scaling="standardized",
                )
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
    parser.add_argument("--chars", type=int, default=3000, help="0: whole pages")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sample", type=int, default=24, help="passages timed before/after")
    parser.add_argument("--embedder", type=Path, help="a GGUF to embed with (not the starter)")
    parser.add_argument(
        "--echo", action="store_true", help="index with echo embeddings (each passage twice)"
    )
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument(
        "--tuning-only", action="store_true", help="leave the held-out questions unasked"
    )
    parser.add_argument(
        "--work",
        type=Path,
        help="keep the index here (a second run reads nothing again and only asks)",
    )
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        work = args.work or Path(folder)
        work.mkdir(parents=True, exist_ok=True)
        if not (args.skip_speed and args.skip_quality):
            store = ModelStore(get_paths(work / "home").ensure())
            ensure_starter(store)
            pages, size = corpus(work, args.chars)
            if not args.skip_speed:
                speed(store, pages, args.threads, args.sample)
            embedder = None
            if args.embedder:
                known = store.find_by_sha256(sha256_file(args.embedder))
                embedder = (known[0] if known else store.import_file(args.embedder)).id
            if not args.skip_quality:
                library = index(store, work, pages, size, args.threads, embedder, args.echo)
                quality(store, library, pages.name, args.threads, not args.tuning_only)
                library.close()
        if not args.skip_scale:
            scale(work, [10_000, 100_000])


if __name__ == "__main__":
    main()
