"""Hand a folder to the user's file manager, with the user's environment, not the bundle's.

The double-click app's launcher (PyInstaller's bootloader) points ``LD_LIBRARY_PATH`` at the
bundle and its start-up hooks set ``QT_PLUGIN_PATH`` and friends to folders inside it, so
that Driftless finds its own Qt. A file manager started with those values loads Driftless's
Qt and libraries instead of its own, and can crash on another distribution. Every external
program the window starts gets the environment from before the bundle changed it: the
values PyInstaller saved as ``<NAME>_ORIG``, and any other variable without the entries
that point into the bundle. From a checkout (not frozen) nothing changes.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from PySide6.QtCore import QProcess, QProcessEnvironment, QUrl
from PySide6.QtGui import QDesktopServices

log = logging.getLogger(__name__)

SAVED_SUFFIX = "_ORIG"
"""PyInstaller keeps the value a variable had before its launcher changed it as NAME_ORIG."""
LAUNCHER_PREFIXES = ("_PYI_", "_MEIPASS")
"""The launcher's own bookkeeping, which would confuse another frozen program."""


def bundle_dir() -> Path | None:
    """The frozen app's folder of libraries (``sys._MEIPASS``), or None from a checkout."""
    folder = getattr(sys, "_MEIPASS", None)
    return Path(folder) if getattr(sys, "frozen", False) and folder else None


def _inside(entry: str, bundle: Path) -> bool:
    try:
        return Path(entry).resolve().is_relative_to(bundle.resolve())
    except (OSError, ValueError):
        return False


def system_environment(environ: Mapping[str, str], bundle: Path | None) -> dict[str, str]:
    """``environ`` as the user's session had it before the bundle's launcher changed it."""
    if bundle is None:
        return dict(environ)
    result: dict[str, str] = {}
    for name, value in environ.items():
        if name.startswith(LAUNCHER_PREFIXES) or name.endswith(SAVED_SUFFIX):
            continue
        saved = environ.get(name + SAVED_SUFFIX)
        if saved is not None:
            result[name] = saved
            continue
        entries = value.split(os.pathsep)
        kept = [entry for entry in entries if not (entry and _inside(entry, bundle))]
        if kept == entries:
            result[name] = value
        elif any(kept):
            result[name] = os.pathsep.join(kept)
        # else: every entry was the bundle's, so the variable was not the user's at all
    return result


def start_detached(program: str, arguments: list[str], environment: dict[str, str]) -> bool:
    """Start ``program`` on its own (it outlives the window) with exactly ``environment``."""
    qt_environment = QProcessEnvironment()
    for name, value in environment.items():
        qt_environment.insert(name, value)
    process = QProcess()
    process.setProgram(program)
    process.setArguments(arguments)
    process.setProcessEnvironment(qt_environment)
    if process.startDetached():
        return True
    log.warning("Could not start %s: %s", program, process.errorString())
    return False


def open_folder(folder: Path) -> bool:
    """Show ``folder`` in the system's file manager; False if nothing could."""
    bundle = bundle_dir()
    if bundle is None or not sys.platform.startswith("linux"):
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
    # xdg-open is what Qt itself runs on Linux outside a sandbox; here it gets the user's
    # environment instead of this process's.
    return start_detached("xdg-open", [str(folder)], system_environment(os.environ, bundle))
