"""Helpers every ``driftless`` subcommand shares."""

from __future__ import annotations

import sys

from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
from app.core.paths import get_paths
from app.core.settings import Settings, load_settings
from app.core.text import printable

__all__ = ["error", "hub_settings", "open_store", "printable", "status"]


def open_store(*, read_only_ok: bool = False) -> ModelStore:
    """The store of the data folder in use, with the starter model registered.

    With ``read_only_ok`` (commands that only read), a data folder this process cannot
    write is opened read-only instead of failing, and stderr says so.
    """
    paths = get_paths()
    if read_only_ok and not paths.writable():
        store = ModelStore(paths, read_only=True)
        store.list_models()  # opens the registry, so the note can say how
        status(read_only_note(store))
        return store
    store = ModelStore(paths)
    ensure_starter(store)
    return store


def read_only_note(store: ModelStore) -> str:
    note = (
        f"Note: the data folder {store.paths.home} cannot be written here, so it is read "
        "without changing anything (nothing is registered or recorded)."
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
