"""``driftless models search|files|pull|check-updates|update``: the Hub side of the store."""

from __future__ import annotations

import argparse
import json
from typing import Any

from app.cli.common import hub_settings, open_store, printable, status
from app.cli.progress import ProgressLine
from app.core.hub.client import HubClient
from app.core.hub.download import Downloader
from app.core.hub.updates import UpdateState, check_updates, update
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

    p = sub.add_parser("update", help="install the newest version beside the old (not pinned)")
    p.add_argument("id")
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
        result, installed = update(store, downloader, args.id, on_progress=printer.download)
    finally:
        printer.finish()
    if installed is None:
        status(f"{result.model.id}: {result.state.value}. {result.message}. Nothing to install.")
        return 0
    status(f"Installed {installed.id} beside {result.model.id} and made it active.")
    print(printable(installed.id))
    return 0
