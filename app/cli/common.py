"""Helpers every ``driftless`` subcommand shares."""

from __future__ import annotations

import sys

from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
from app.core.paths import get_paths
from app.core.settings import Settings, load_settings


def open_store() -> ModelStore:
    """The store of the data folder in use, with the starter model registered."""
    store = ModelStore(get_paths())
    ensure_starter(store)
    return store


def hub_settings() -> Settings:
    return load_settings(get_paths().ensure())


def status(message: str) -> None:
    """A line for people, on stderr, so stdout stays clean for scripts."""
    print(message, file=sys.stderr)
