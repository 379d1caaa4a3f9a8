"""Where Driftless keeps its data.

One folder holds everything (models, registry, conversations, logs). It comes
from platformdirs, and ``DRIFTLESS_HOME`` (or the ``--home`` flag, which sets it)
overrides it, so tests and portable installs get a folder of their own.

It holds conversations and classified tickets, so it is private: the folder and its
subfolders are 0700 and its files 0600 (on POSIX systems). A new folder is made so, and
one an older Driftless made readable by others (0755, 0644) is tightened at start-up.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from app import APP_NAME

HOME_ENV = "DRIFTLESS_HOME"
PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600

log = logging.getLogger(__name__)

_tightened: set[Path] = set()
"""Data folders already made private by this process (once per start is enough)."""


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
    def checks_dir(self) -> Path:
        """Behaviour check sets and their recordings (:mod:`app.core.drift`)."""
        return self.home / "checks"

    @property
    def classify_db(self) -> Path:
        return self.home / "classify.sqlite3"

    @property
    def documents_db(self) -> Path:
        """Document collections: files, passages, vectors, the search index."""
        return self.home / "documents.sqlite3"

    @property
    def unpacked_dir(self) -> Path:
        """16-bit copies of small models for classification (a cache: safe to delete)."""
        return self.home / "cache" / "unpacked"

    @property
    def states_dir(self) -> Path:
        """Saved KV states of conversations (:mod:`app.core.chat.states`; a cache)."""
        return self.home / "cache" / "states"

    def ensure(self) -> Paths:
        """Create the folders that must exist, private, and tighten what an older version
        left readable by others; return self for chaining."""
        fresh = not self.home.exists()
        for folder in (self.home, self.models_dir, self.logs_dir):
            folder.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        if not fresh and self.home not in _tightened:
            _tightened.add(self.home)
            tightened = make_private(self.home)
            if tightened:
                log.info(
                    "Made %d item(s) in the data folder %s private to their owner",
                    tightened,
                    self.home,
                )
        return self

    def writable(self) -> bool:
        """Whether this process may create and change files in the data folder.

        False for a read-only mount or another user's folder; then the store can still
        be read (see ``ModelStore(read_only=True)``).
        """
        folder = self.home
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent  # a folder not made yet: can it be made?
        if not os.access(folder, os.W_OK | os.X_OK):
            return False
        return not self.registry_db.exists() or os.access(self.registry_db, os.W_OK)


def make_private(root: Path) -> int:
    """Take group and other permissions off ``root`` and everything in it that this user
    owns; return how many items changed. Symbolic links (and what they point to, such as
    a linked model file) are left alone; what cannot be changed is skipped."""
    if os.name != "posix":
        return 0  # Windows: the user's profile folder is private already
    owner = os.geteuid()
    changed = 0
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        items = [here] if here == root else []
        items += [here / name for name in (*dirs, *files)]
        for item in items:
            try:
                info = item.lstat()
                if stat.S_ISLNK(info.st_mode) or info.st_uid != owner:
                    continue
                mode = stat.S_IMODE(info.st_mode)
                if mode & 0o077:
                    os.chmod(item, mode & ~0o077)
                    changed += 1
            except OSError:
                continue  # a read-only folder, a file gone meanwhile: nothing to do
    return changed


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


def shown_path(path: str | os.PathLike[str]) -> str:
    """A path as a person reads it: one under the home folder as ``~/…`` (tooltips and
    the command line keep the whole path)."""
    text = os.fspath(path)
    home = os.path.expanduser("~").rstrip(os.sep)
    if home and (text == home or text.startswith(home + os.sep)):
        return "~" + text[len(home) :]
    return text
