"""Where Driftless keeps its data.

One folder holds everything (models, registry, conversations, logs). It comes
from platformdirs, and ``DRIFTLESS_HOME`` (or the ``--home`` flag, which sets it)
overrides it, so tests and portable installs get a folder of their own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from app import APP_NAME

HOME_ENV = "DRIFTLESS_HOME"


@dataclass(frozen=True)
class Paths:
    """The layout of one Driftless data folder."""

    home: Path

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def registry_db(self) -> Path:
        return self.home / "models.sqlite3"

    @property
    def conversations_db(self) -> Path:
        return self.home / "conversations.sqlite3"

    @property
    def settings_file(self) -> Path:
        return self.home / "settings.json"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def label_sets_dir(self) -> Path:
        return self.home / "label_sets"

    @property
    def classify_db(self) -> Path:
        return self.home / "classify.sqlite3"

    @property
    def unpacked_dir(self) -> Path:
        """16-bit copies of small models for classification (a cache: safe to delete)."""
        return self.home / "cache" / "unpacked"

    def ensure(self) -> Paths:
        """Create the folders that must exist; return self for chaining."""
        for folder in (self.home, self.models_dir, self.logs_dir):
            folder.mkdir(parents=True, exist_ok=True)
        return self


def default_home() -> Path:
    """The data folder: ``$DRIFTLESS_HOME`` if set, else the platform's user data dir."""
    override = os.environ.get(HOME_ENV, "").strip()
    if override:
        return Path(override).expanduser().resolve()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def get_paths(home: str | os.PathLike[str] | None = None) -> Paths:
    """The paths for ``home`` if given, else for :func:`default_home`."""
    root = Path(home).expanduser().resolve() if home is not None else default_home()
    return Paths(root)
