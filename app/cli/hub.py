"""``driftless models search|files|pull|check-updates|update``: the Hub side of the store."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from app.cli.common import hub_settings, open_store, printable, status
from app.cli.progress import ProgressLine
from app.core.errors import DriftlessError
from app.core.hub.client import HubClient
from app.core.hub.download import Downloader
from app.core.hub.updates import UpdateState, check_updates, update
from app.core.models.store import InstalledModel, ModelStore
from app.core.paths import get_paths
from app.core.units import human_size


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("search", help="search the Hub for GGUF models")
    p.add_argument("query")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.set_defaults(handler=cmd_search)

    p = sub.add_parser("files", help="list a Hub repo's GGUF files with sizes and quant types")
    p.add_argument("repo")
    p.add_argument("--revision", default="main")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.set_defaults(handler=cmd_files)

    p = sub.add_parser("pull", help="download a GGUF file at an exact commit, verified")
    p.add_argument("repo")
    p.add_argument("filename")
    p.add_argument("--revision", default="main", help="branch, tag or commit (default main)")
    p.add_argument("--pin", action="store_true", help="pin it once installed")
    p.set_defaults(handler=cmd_pull)

    p = sub.add_parser("check-updates", help="see what changed upstream; changes nothing")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.set_defaults(handler=cmd_check_updates)

    p = sub.add_parser(
        "update",
        help="install the newest version beside the old (not pinned) and check its behaviour",
        description="Install the newest version beside the old one, answer the old version's "
        "check sets on it and show what changed. The active model stays as it is until you "
        "run the same command with --switch.",
    )
    p.add_argument("id")
    p.add_argument(
        "--switch",
        action="store_true",
        help="make the new version the active model (after seeing its behaviour check)",
    )
    p.add_argument("--report", type=Path, metavar="FILE.md", help="write the Markdown report")
    p.set_defaults(handler=cmd_update)


def cmd_search(args: argparse.Namespace) -> int:
    found = HubClient(hub_settings()).search(args.query, limit=args.limit)
    if args.json:
        payload = [
            {
                "repo": r.repo,
                "downloads": r.downloads,
                "likes": r.likes,
                "last_modified": r.last_modified.isoformat() if r.last_modified else None,
                "gated": r.gated,
            }
            for r in found
        ]
        print(json.dumps(payload, indent=2))
        return 0
    if not found:
        status(f"No GGUF repos match '{args.query}'.")
        return 0
    names = [printable(r.repo, limit=96) for r in found]
    width = max(len(name) for name in names)
    for r, name in zip(found, names, strict=True):
        day = r.last_modified.date().isoformat() if r.last_modified else ""
        gated = "  gated" if r.gated else ""
        counts = f"{r.downloads:>10,} downloads  {r.likes:>6,} likes"
        print(f"{name.ljust(width)}  {counts}  {day}{gated}")
    return 0


def cmd_files(args: argparse.Namespace) -> int:
    commit, files = HubClient(hub_settings()).gguf_files(args.repo, args.revision)
    if args.json:
        payload = {
            "repo": args.repo,
            "commit": commit,
            "files": [
                {
                    "filename": f.filename,
                    "size": f.size if f.size >= 0 else None,
                    "sha256": f.sha256,
                    "sha256_source": f.sha256_source,
                    "quantization": f.quantization,
                }
                for f in files
            ],
        }
        print(json.dumps(payload, indent=2))
        return 0
    status(f"{args.repo} at {args.revision} = commit {commit}")
    if not files:
        status("No GGUF files there.")
    for f in files:
        size = human_size(f.size) if f.size >= 0 else "?"
        sha = f"sha256 from {f.sha256_source}" if f.sha256_source else "no sha256 announced"
        print(f"{printable(f.filename)}  {size:>9}  {f.quantization or '?'}  ({sha})")
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    store = open_store()
    downloader = Downloader(store, hub_settings())
    printer = ProgressLine(args.filename, "bytes")

    def on_status(text: str) -> None:
        printer.finish()
        status(text)

    try:
        model = downloader.pull(
            args.repo,
            args.filename,
            args.revision,
            pin=args.pin,
            on_progress=printer.download,
            on_status=on_status,
        )
    except KeyboardInterrupt:
        printer.finish()
        status("Download paused; the partial file is kept. Run the same command again to resume.")
        return 130
    finally:
        printer.finish()
    print(printable(model.id))
    return 0


def cmd_check_updates(args: argparse.Namespace) -> int:
    results = check_updates(open_store(), HubClient(hub_settings()))
    unchecked = [r for r in results if r.state is UpdateState.ERROR]
    if args.json:
        print(json.dumps([r.to_json() for r in results], indent=2))
    else:
        for r in results:
            print(printable(f"{r.model.id}: {r.state.value}. {r.message}"))
        if not results:
            status("No Hub models installed.")
    if unchecked:
        # Exit 1: a script must not read "nothing to update" into a check that did not happen.
        status(f"Could not check {len(unchecked)} of {len(results)} model(s).")
        return 1
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    store = open_store()
    downloader = Downloader(store, hub_settings())
    printer = ProgressLine(args.id, "bytes")
    try:
        result, installed = update(
            store, downloader, args.id, on_progress=printer.download, activate=False
        )
    finally:
        printer.finish()
    if installed is None:
        status(f"{result.model.id}: {result.state.value}. {result.message}. Nothing to install.")
        return 0
    old = result.model
    status(f"Installed {installed.id} beside {old.id}.")
    try:
        _behaviour_check(store, old, installed, args)
    except DriftlessError as exc:
        # The new version is installed either way; say why it could not be compared.
        status(f"The behaviour of {installed.id} could not be checked: {exc}")
    active = store.active()
    if args.switch:
        store.set_active(installed.id)
        status(f"{installed.id} is now the active model; {old.id} stays installed.")
    elif active is not None and active.id != installed.id:
        status(
            f"The active model is still {active.id}. To use the new version: "
            f"driftless models update {old.id} --switch (or driftless models use {installed.id})."
        )
    print(printable(installed.id))
    return 0


def _behaviour_check(
    store: ModelStore, old: InstalledModel, new: InstalledModel, args: argparse.Namespace
) -> None:
    """Show what the new version answers differently from the old one (its check sets)."""
    from app.core.drift.versions import compare_versions, stored_results

    paths = get_paths()
    kept = stored_results(paths, old, new) if args.switch else None
    if kept:
        status(f"{new.id} compared with {old.id} (as checked before):")
        for result in kept:
            status(f"- {result.summary}")
        markdown = "\n\n".join(r.markdown for r in kept)
    else:
        line = ProgressLine(f"Checking {new.id}", "texts")
        started = time.perf_counter()

        def on_progress(done: int, total: int) -> None:
            seconds = time.perf_counter() - started
            rate = done / seconds if seconds > 0 else 0.0
            line.update(done, total, rate, (total - done) / rate if rate else None)

        try:
            comparison = compare_versions(paths, store, old, new, on_progress=on_progress)
        finally:
            line.finish()
        for text in comparison.summary().splitlines():
            status(text)  # one status a line: status() shows a newline, not obeys it
        markdown = comparison.markdown()
    if args.report:
        args.report.write_text(markdown, encoding="utf-8")
        status(f"The whole report is in {args.report}.")
