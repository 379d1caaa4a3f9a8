"""Helpers every ``driftless`` subcommand shares."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from app.core.errors import StoreError
from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
from app.core.paths import Paths, get_paths
from app.core.settings import Settings, load_settings, parse_gpu_layers
from app.core.text import printable

__all__ = [
    "add_gpu_layers_option",
    "error",
    "hub_settings",
    "open_store",
    "printable",
    "status",
]


def open_store(*, read_only_ok: bool = False) -> ModelStore:
    """The store of the data folder in use, with the starter model registered.

    With ``read_only_ok`` (commands that only read), a data folder this process cannot
    write is opened read-only instead of failing, and stderr says so.
    """
    paths = get_paths()
    if read_only_ok and not paths.writable():
        return _read_only_store(paths, f"The data folder {paths.home} cannot be written here.")
    try:
        store = ModelStore(paths)
        store.list_models()  # opens the registry
    except StoreError as exc:
        if not read_only_ok:
            raise
        # A full disk can refuse even the files a reader needs (a WAL file's -shm).
        try:
            return _read_only_store(paths, str(exc))
        except StoreError:
            raise exc from None
    ensure_starter(store)
    return store


def _read_only_store(paths: Paths, why: str) -> ModelStore:
    store = ModelStore(paths, read_only=True)
    store.list_models()  # opens the registry, so the note can say how
    status(read_only_note(store, why))
    return store


def read_only_note(store: ModelStore, why: str) -> str:
    note = (
        f"Note: {why} So {store.paths.home} is read without changing anything "
        "(nothing is registered or recorded)."
    )
    if store.db.access == "immutable":
        note += (
            " Its registry is read as a fixed file (SQLite immutable mode): changes another "
            "Driftless has not finished writing to it may not show."
        )
    return note


def hub_settings() -> Settings:
    return load_settings(get_paths().ensure())


def status(message: str) -> None:
    """A line for people, on stderr, so stdout stays clean for scripts.

    Messages embed names from the Hub and from lockfiles, so the line goes through
    :func:`printable`: an escape code, a newline or a bidi control in a name is shown,
    not obeyed.
    """
    print(printable(message), file=sys.stderr)


def error(message: str) -> None:
    """A failure, as the one ``driftless: ...`` line on stderr every command uses."""
    print(f"driftless: {printable(message)}", file=sys.stderr)


def add_gpu_layers_option(parser: Any) -> None:
    """``--gpu-layers auto|all|0|N``: how many of the model's layers go to the GPU."""
    parser.add_argument(
        "--gpu-layers",
        metavar="N",
        type=gpu_layers_argument,
        help="layers to offload to the GPU: auto (what fits, the default set in Settings), "
        "all, 0 (the CPU only) or a number",
    )


def gpu_layers_argument(value: str) -> str:
    try:
        return parse_gpu_layers(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
