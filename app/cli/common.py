"""Helpers every ``driftless`` subcommand shares."""

from __future__ import annotations

import sys

from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
from app.core.paths import get_paths
from app.core.settings import Settings, load_settings
from app.core.text import printable

__all__ = ["error", "hub_settings", "open_store", "printable", "status"]


def open_store() -> ModelStore:
    """The store of the data folder in use, with the starter model registered."""
    store = ModelStore(get_paths())
    ensure_starter(store)
    return store


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
