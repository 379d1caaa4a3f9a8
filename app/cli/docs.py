"""``driftless docs``: document collections to search and to answer from.

``add`` reads folders and files into a collection (made on first use, pinned to its
embedder), ``refresh`` reads again what changed, ``list`` and ``search`` answer on stdout
(``--json`` for scripts), ``remove`` deletes a collection's index (never the files).
Progress and what was skipped, and why, go to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from app.cli.common import open_store, status
from app.cli.progress import ProgressLine, Unit
from app.core.docs.embedding import ModelEmbedder
from app.core.docs.library import DocsLibrary, EmbedderFactory, IndexReport
from app.core.docs.records import DocsError
from app.core.models.store import ModelStore
from app.core.paths import get_paths
from app.core.units import duration, human_size

SKIPS_SHOWN = 20
"""Skipped files named one by one; beyond, counted by reason."""


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "docs",
        help="document collections: index folders, search them, answer from them",
        description="Index folders of .txt, .md, .html, .pdf and .docx files into named "
        "collections, pinned to the model that embeds them, and search them.",
    )
    sub = p.add_subparsers(dest="docs_command", metavar="ACTION", required=True)

    add = sub.add_parser("add", help="add folders or files to a collection (made if new)")
    add.add_argument("name", help="the collection's name")
    add.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="folders or files")
    add.add_argument(
        "--embedder",
        metavar="ID",
        help="installed model that embeds the passages (default: the collection's, or "
        "the active model for a new collection); a sentence encoder searches far better "
        "than a chat model: the catalog recommends BGE Small EN v1.5",
    )
    add.add_argument(
        "--reembed",
        action="store_true",
        help="embed every passage again (with --embedder: switch the collection to it)",
    )
    add.add_argument(
        "--echo",
        choices=("on", "off"),
        help="a chat model embeds each passage said twice, pooling the second copy (off "
        "unless asked; see README); an embedding model never echoes; changing it for a "
        "collection needs --reembed",
    )
    add.set_defaults(handler=cmd_add)

    listing = sub.add_parser("list", help="list the collections")
    listing.add_argument("--json", action="store_true", help="one JSON object on stdout")
    listing.set_defaults(handler=cmd_list)

    refresh = sub.add_parser("refresh", help="read a collection's folders again")
    refresh.add_argument("name")
    refresh.set_defaults(handler=cmd_refresh)

    remove = sub.add_parser("remove", help="delete a collection's index (not the files)")
    remove.add_argument("name")
    remove.set_defaults(handler=cmd_remove)

    search = sub.add_parser("search", help="the passages that best answer a query")
    search.add_argument("name")
    search.add_argument("query", nargs="+")
    search.add_argument("--top", type=int, default=5, metavar="K", help="passages (default 5)")
    search.add_argument("--json", action="store_true", help="one JSON object on stdout")
    search.set_defaults(handler=cmd_search)


def open_library() -> DocsLibrary:
    return DocsLibrary(get_paths().ensure().documents_db)


def embedder_factory(store: ModelStore, echo: bool | None = None) -> EmbedderFactory:
    """Opens the embedder for a model id (echo as asked, or as recorded or by default);
    tests replace it with a fake."""

    def open_embedder(ref: str | None) -> ModelEmbedder:
        return ModelEmbedder(store, ref, echo=echo)

    return open_embedder


class _Progress:
    """One progress line per stage (re-embedding, reading)."""

    def __init__(self) -> None:
        self._lines: dict[str, ProgressLine] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        line = self._lines.get(stage)
        if line is None:
            unit: Unit = "passages" if stage == "re-embedding" else "files"
            line = self._lines[stage] = ProgressLine(stage.capitalize(), unit)
        line.update(done, total)

    def finish(self) -> None:
        for line in self._lines.values():
            line.finish()


def cmd_add(args: argparse.Namespace) -> int:
    library = open_library()
    progress = _Progress()
    _check_echo(library, args)
    store = open_store()
    factory = (
        embedder_factory(store)
        if args.echo is None
        else embedder_factory(store, echo=args.echo == "on")
    )
    try:
        report = library.add(
            args.name,
            args.paths,
            factory,
            embedder=args.embedder,
            reembed=args.reembed,
            on_progress=progress,
        )
    finally:
        progress.finish()
    tell(report, library)
    if args.echo == "on" and library.get(args.name).embedder.layer is None:
        status("The embedder is an embedding model: it reads both ways and is not echoed.")
    library.close()
    return 0


def _check_echo(library: DocsLibrary, args: argparse.Namespace) -> None:
    """Refuse --echo that differs from what an existing collection recorded, unless
    --reembed: even when no file changed (and no embedder would be opened to refuse it)."""
    existing = library.store.find(args.name)
    if args.echo is None or args.reembed or existing is None or existing.embedder.layer is None:
        return
    wanted = args.echo == "on"
    if existing.embedder.echo != wanted:
        library.close()
        said, asked = ("with", "without") if existing.embedder.echo else ("without", "with")
        raise DocsError(
            f"The collection '{args.name}' was embedded {said} echo, and its vectors are "
            f"never mixed with others: add --reembed to embed every passage again {asked} it."
        )


def cmd_refresh(args: argparse.Namespace) -> int:
    library = open_library()
    progress = _Progress()
    try:
        report = library.refresh(args.name, embedder_factory(open_store()), on_progress=progress)
    finally:
        progress.finish()
    tell(report, library)
    library.close()
    return 0


def tell(report: IndexReport, library: DocsLibrary) -> None:
    """What an add did, and what it skipped and why, on stderr."""
    if report.reembedded:
        status(f"Embedded {report.reembedded:,} passages again.")
    for skip in report.skipped[:SKIPS_SHOWN]:
        status(f"Skipped {skip.path}: {skip.reason}.")
    rest = report.skipped[SKIPS_SHOWN:]
    if rest:
        reasons = Counter(skip.reason for skip in rest)
        for reason, count in reasons.most_common():
            status(f"Skipped {count:,} more: {reason}.")
    if report.unsupported:
        status(f"Passed over {report.unsupported:,} files of types Driftless does not read.")
    if report.truncated:
        status(report.truncated)
    info = library.get(report.collection)
    rate = ""
    if report.read and report.seconds > 0:
        rate = (
            f" ({len(report.read) / report.seconds:.1f} files/s, "
            f"{human_size(int(report.bytes_read / report.seconds))}/s)"
        )
    status(
        f"{report.collection}: read {len(report.read):,} files into {report.passages:,} "
        f"passages in {duration(report.seconds)}{rate}; {report.unchanged:,} unchanged, "
        f"{len(report.removed):,} removed, {len(report.skipped):,} skipped. The collection "
        f"holds {info.files:,} files, {info.passages:,} passages, embedded by "
        f"{info.embedder.model_id}."
    )


def cmd_list(args: argparse.Namespace) -> int:
    library = open_library()
    collections = library.collections()
    library.close()
    if args.json:
        print(json.dumps({"collections": [c.to_json() for c in collections]}, indent=2))
        return 0
    if not collections:
        status("No collections yet: `driftless docs add NAME FOLDER` makes one.")
        return 0
    for c in collections:
        print(
            f"{c.name}\t{c.files:,} files\t{c.passages:,} passages\t{c.skipped:,} skipped\t"
            f"{human_size(c.bytes)}\t{c.embedder.model_id}\tupdated {c.updated_at}"
        )
        for root in c.roots:
            print(f"\t{root}")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    library = open_library()
    library.remove(args.name)
    library.close()
    status(f"Removed the collection {args.name} (its files were not touched).")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    if args.top < 1:
        raise ValueError("--top must be at least 1.")
    query = " ".join(args.query)
    library = open_library()
    info = library.get(args.name)
    embedder = embedder_factory(open_store())(info.embedder.model_id)
    try:
        hits = library.search(args.name, query, embedder, top=args.top)
    finally:
        embedder.close()
        library.close()
    if args.json:
        print(
            json.dumps(
                {"hits": [hit.to_json() for hit in hits], "embedder": info.embedder.to_json()},
                indent=2,
                ensure_ascii=False,
            )
        )
        return 0
    if not hits:
        status("Nothing found.")
    for number, hit in enumerate(hits, 1):
        print(f"[{number}] {hit.source}, {hit.location} (score {hit.score:.4f})")
        text = " ".join(hit.text.split())
        print(f"    {text[:300]}{'…' if len(text) > 300 else ''}")
    sys.stdout.flush()
    return 0
