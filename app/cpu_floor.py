"""Refuse to start, in a sentence, on a processor below x86-64-v2; before anything loads.

NumPy, Qt and the packaged llama.cpp need x86-64-v2; on an older processor importing any
of them dies of "Illegal instruction" with nothing said. So this runs first: from
``app.__main__`` (``python -m app``) and, in the packaged app, from a PyInstaller runtime
hook (packaging/rth_cpu_floor.py) that runs before PySide6's own hook imports Qt.
Refusing needs only the standard library and a few small core modules.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence

from app.core.machine import cpu_floor_problem


def check(argv: Sequence[str] | None = None) -> int | None:
    """None when the processor is fine; otherwise the exit status, after refusing."""
    problem = cpu_floor_problem()
    if problem is None:
        return None
    return refuse(problem, list(sys.argv[1:] if argv is None else argv))


def refuse(problem: str, arguments: list[str]) -> int:
    """Say why Driftless cannot run here: on stderr, in the log and, for the window, a dialog."""
    print(f"driftless: {problem}", file=sys.stderr)
    home = _option(arguments, "--home")
    _log(problem, home)
    opens_window = not [a for a in arguments if not a.startswith("-") and a != home]
    desktop = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    if opens_window and desktop and "--smoke-test" not in arguments:
        _system_dialog(problem)
    return 1


def _option(arguments: list[str], name: str) -> str | None:
    for index, argument in enumerate(arguments):
        if argument == name and index + 1 < len(arguments):
            return arguments[index + 1]
        if argument.startswith(name + "="):
            return argument.partition("=")[2]
    return None


def _log(problem: str, home: str | None) -> None:
    """The refusal in the data folder's log too, where a bug report would look first."""
    import logging

    from app.core.logs import setup_logging, stop_logging
    from app.core.paths import HOME_ENV, get_paths

    if home:
        os.environ[HOME_ENV] = os.path.abspath(os.path.expanduser(home))
    try:
        setup_logging(get_paths())
    except Exception:  # an unwritable data folder: stderr has said it already
        return
    logging.getLogger("app").error("Refusing to start: %s", problem)
    stop_logging()


def _system_dialog(message: str) -> None:
    """An error dialog from the desktop's own tools (Qt cannot start on this processor)."""
    env = dict(os.environ)
    if getattr(sys, "frozen", False):  # the bundle's libraries are not the tool's
        original = env.pop("LD_LIBRARY_PATH_ORIG", None)
        env.pop("LD_LIBRARY_PATH", None)
        if original:
            env["LD_LIBRARY_PATH"] = original
    for tool, options in (
        ("zenity", ["--error", "--no-markup", "--text"]),
        ("kdialog", ["--error"]),
    ):
        found = shutil.which(tool)
        if found:
            try:
                subprocess.run([found, *options, message], env=env, timeout=3600, check=False)
            except (OSError, subprocess.SubprocessError):
                continue
            return
