"""``driftless models ...``: list, use, import, pin, verify, remove and lock models."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.cli import hub as hub_cmd
from app.cli.common import error, hub_settings, open_store, printable, status
from app.cli.progress import ProgressLine
from app.core.hub.download import Downloader
from app.core.hub.updates import lock_fetcher
from app.core.models import lockfile
from app.core.models.store import InstalledModel
from app.core.units import human_size


def add_parser(commands: Any) -> None:
    models = commands.add_parser("models", help="manage installed models")
    sub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    p = sub.add_parser("list", help="list installed models")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser("devices", help="list the GPUs llama.cpp can offload to, with their memory")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.set_defaults(handler=cmd_devices)

    p = sub.add_parser("use", help="make a model the active one")
    p.add_argument("id")
    p.set_defaults(handler=cmd_use)

    p = sub.add_parser("import", help="check and register a local GGUF file")
    p.add_argument("path", type=Path)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--copy", dest="link", action="store_false", help="copy it (default)")
    mode.add_argument("--link", dest="link", action="store_true", help="use it where it is")
    p.add_argument("--pin", action="store_true", help="pin it once imported")
    p.set_defaults(handler=cmd_import, link=False)

    for name, helptext in (("pin", "freeze a model"), ("unpin", "allow changes again")):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("id")
        p.set_defaults(handler=cmd_pin, pin=name == "pin")

    p = sub.add_parser("verify", help="re-hash model files (all, or one)")
    p.add_argument("id", nargs="?")
    p.set_defaults(handler=cmd_verify)

    p = sub.add_parser("remove", help="remove a model (refused for pinned ones)")
    p.add_argument("id")
    p.set_defaults(handler=cmd_remove)

    hub_cmd.add_parsers(sub)

    lock = sub.add_parser("lock", help="export or import driftless.lock")
    lock_sub = lock.add_subparsers(dest="lock_command", metavar="ACTION", required=True)
    p = lock_sub.add_parser("export", help="write the pinned models to a lockfile")
    p.add_argument("file", type=Path)
    p.set_defaults(handler=cmd_lock_export)
    p = lock_sub.add_parser(
        "import", help="verify and pin the models a lockfile names; report the missing ones"
    )
    p.add_argument("file", type=Path)
    p.add_argument(
        "--download",
        action="store_true",
        help="download missing models at their locked commits (only from the Hub endpoint "
        "in the settings, and only files whose sha256 matches the lock)",
    )
    p.set_defaults(handler=cmd_lock_import)


def _describe(model: InstalledModel) -> str:
    where = f"{model.repo}@{model.short_commit}" if model.repo else str(model.path)
    return f"{model.id} ({where})"


def cmd_list(args: argparse.Namespace) -> int:
    store = open_store(read_only_ok=True)
    models = store.list_models()
    active = store.active()
    active_id = active.id if active else None
    if args.json:
        payload = [m.to_json(active=m.id == active_id) for m in models]
        json.dump(payload, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not models:
        status("No models installed. Import one: driftless models import FILE.gguf")
        return 0
    rows = [("", "ID", "SOURCE", "VERSION", "QUANT", "SIZE", "CONTEXT")]
    for m in models:
        flags = ("*" if m.id == active_id else " ") + ("P" if m.pinned else " ")
        rows.append(
            (
                flags,
                printable(m.id, limit=80),
                m.source,
                m.short_commit or m.sha256[:7],
                printable(m.quantization or "?", 16),
                human_size(m.size),
                str(m.context_length or "?"),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    status("* active   P pinned (frozen: never updated or removed until unpinned)")
    return 0


def cmd_devices(args: argparse.Namespace) -> int:
    from app.core.runtime.gpu import discover
    from app.core.runtime.llama import cpu_kernels

    found = discover()
    if args.json:
        payload = {**found.to_json(), "cpu_kernels": cpu_kernels()}
        json.dump(payload, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print(f"CPU: llama.cpp CPU kernels {cpu_kernels()}")
    for device in found.devices:
        driver = f", driver {device.driver}" if device.driver else ""
        soft = " (software: computes on the CPU)" if device.software else ""
        print(
            f"{device.name}: {device.description}{driver}, {device.kind}{soft}, "
            f"{human_size(device.memory_free)} free of {human_size(device.memory_total)}"
        )
    if not found.devices:
        status(f"No GPU: {found.cpu_only_reason}.")
    return 0


def cmd_use(args: argparse.Namespace) -> int:
    model = open_store().set_active(args.id)
    status(f"Active model: {_describe(model)}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    store = open_store()
    progress = ProgressLine(f"Checking {args.path.name}", "bytes")
    try:
        model = store.import_file(args.path, link=args.link, on_progress=progress, pinned=args.pin)
    finally:
        progress.finish()
    status(f"Installed {_describe(model)}, sha256 {model.sha256}")
    print(printable(model.id))
    return 0


def cmd_pin(args: argparse.Namespace) -> int:
    store = open_store()
    model = store.pin(args.id) if args.pin else store.unpin(args.id)
    if model.pinned:
        status(f"Pinned {_describe(model)}: it will not change until you unpin it.")
    else:
        status(f"Unpinned {_describe(model)}: updates and removal are allowed again.")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    store = open_store(read_only_ok=True)
    targets = [store.get(args.id)] if args.id else store.list_models()
    if not targets:
        status("No models installed; nothing to verify.")
        return 0
    failures = 0
    for model in targets:
        progress = ProgressLine(f"Verifying {model.id}", "bytes")
        try:
            result = store.verify(model.id, on_progress=progress)
        finally:
            progress.finish()
        if result.ok:
            status(result.message)
        else:
            failures += 1
            error(result.message)
    return 1 if failures else 0


def cmd_remove(args: argparse.Namespace) -> int:
    model = open_store().remove(args.id)
    deleted = " and deleted its file" if model.managed else " (its file was left in place)"
    status(f"Removed {_describe(model)}{deleted}.")
    return 0


def cmd_lock_export(args: argparse.Namespace) -> int:
    lock = lockfile.export(open_store(read_only_ok=True), args.file)
    status(f"Wrote {args.file} with {len(lock.models)} pinned model(s).")
    return 0


def cmd_lock_import(args: argparse.Namespace) -> int:
    store = open_store()
    fetch = None
    printer = ProgressLine("Downloading", "bytes")
    if args.download:
        # Offline mode refuses each download in a sentence of its own.
        fetch = lock_fetcher(Downloader(store, hub_settings()), on_progress=printer.download)
    try:
        report = lockfile.import_lock(store, args.file, fetch=fetch)
    finally:
        printer.finish()
    if report.llama_cpp_python_differs:
        status(f"Note: {report.llama_cpp_python_differs}")
    for model in report.pinned:
        status(f"Verified and pinned {_describe(model)}")
    for entry in report.missing:
        error(f"missing: {entry.describe()} is not installed here. {_fetch_hint(args, entry)}")
    for _entry, reason in report.refused:
        error(f"refused: {reason}")
    return 0 if report.ok else 1


def _fetch_hint(args: argparse.Namespace, entry: lockfile.LockEntry) -> str:
    if not entry.repo or not entry.commit:
        return "Copy the file here and import it: driftless models import FILE.gguf --pin"
    return f"Download it with: driftless models lock import --download {args.file}"
