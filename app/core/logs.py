"""The log file: ``logs/driftless.log`` in the data folder, rotated so it never grows large.

The window writes here what a person may need after the fact: start-ups, failures with
their full details and tracebacks of unexpected errors. Error dialogs say in plain
words what happened and point here for the rest. Nothing typed into a chat is logged.
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
import platform
import sys
from pathlib import Path

from app import APP_NAME, __version__
from app.core.paths import PRIVATE_DIR, PRIVATE_FILE, Paths

LOG_NAME = "driftless.log"
MAX_BYTES = 1_000_000
BACKUPS = 3
FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"


class _DriftlessFileHandler(logging.handlers.RotatingFileHandler):
    """Marks the handler this module installed, so set-up can replace it.

    Its files (the log and its rotated copies) are the owner's alone (0600).
    """

    root_level_before = logging.WARNING

    def _open(self) -> io.TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE)
        return open(fd, "a", encoding=self.encoding, errors=self.errors)

    def handleError(self, record: logging.LogRecord) -> None:
        # A log that cannot be written (a read-only data folder, a full disk) must not
        # print tracebacks into the person's terminal or window: the record is dropped.
        pass


def log_file(paths: Paths) -> Path:
    return paths.logs_dir / LOG_NAME


def setup_logging(paths: Paths, level: int = logging.INFO) -> Path:
    """Send log records to the data folder's rotating log file; return its path.

    Calling it again (another data folder) replaces the handler instead of adding one.
    """
    stop_logging()
    paths.logs_dir.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    path = log_file(paths)
    handler = _DriftlessFileHandler(
        path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8", delay=True
    )
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.setLevel(level)
    root = logging.getLogger()
    handler.root_level_before = root.level
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    frozen = " (packaged)" if getattr(sys, "frozen", False) else ""
    logging.getLogger("app").info(
        "%s %s%s started; Python %s on %s; data folder %s",
        APP_NAME,
        __version__,
        frozen,
        platform.python_version(),
        platform.platform(),
        paths.home,
    )
    return path


def current_log_file() -> Path | None:
    """The file :func:`setup_logging` writes to, or None when logging is not set up."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, _DriftlessFileHandler):
            return Path(handler.baseFilename)
    return None


def stop_logging() -> None:
    """Close and remove the log file handler, if any (tests, a second start-up)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _DriftlessFileHandler):
            root.removeHandler(handler)
            root.setLevel(handler.root_level_before)
            handler.close()
