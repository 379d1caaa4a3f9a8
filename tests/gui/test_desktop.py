"""External programs get the user's environment, not the frozen bundle's."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.ui import desktop


def test_a_checkout_passes_the_environment_unchanged() -> None:
    env = {"LD_LIBRARY_PATH": "/opt/x", "LD_LIBRARY_PATH_ORIG": "/y"}
    assert desktop.system_environment(env, None) == env


def test_the_bundles_changes_are_undone(tmp_path: Path) -> None:
    bundle = tmp_path / "Driftless" / "_internal"
    bundle.mkdir(parents=True)
    env = {
        # the launcher's library path, and the user's own from before it
        "LD_LIBRARY_PATH": f"{bundle}{os.pathsep}/usr/local/lib",
        "LD_LIBRARY_PATH_ORIG": "/usr/local/lib",
        # set by PyInstaller's Qt hook: nothing of the user's in it
        "QT_PLUGIN_PATH": str(bundle / "PySide6" / "Qt" / "plugins"),
        "QML2_IMPORT_PATH": str(bundle / "PySide6" / "Qt" / "qml"),
        # a path list with the bundle put in front of the user's entries
        "XDG_DATA_DIRS": f"{bundle / 'share'}{os.pathsep}/usr/share",
        "_PYI_APPLICATION_HOME_DIR": str(bundle),
        "_PYI_PARENT_PROCESS_LEVEL": "1",
        "HOME": "/home/jo",
        "LANG": "de_DE.UTF-8",
        "PATH": "/usr/bin:/bin",
    }
    assert desktop.system_environment(env, bundle) == {
        "LD_LIBRARY_PATH": "/usr/local/lib",
        "XDG_DATA_DIRS": "/usr/share",
        "HOME": "/home/jo",
        "LANG": "de_DE.UTF-8",
        "PATH": "/usr/bin:/bin",
    }


def test_a_library_path_the_user_did_not_have_is_removed(tmp_path: Path) -> None:
    env = {"LD_LIBRARY_PATH": str(tmp_path), "PATH": "/usr/bin"}
    assert desktop.system_environment(env, tmp_path) == {"PATH": "/usr/bin"}


def test_the_frozen_app_starts_the_file_manager_with_the_users_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "_internal"
    bundle.mkdir()
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setenv("LD_LIBRARY_PATH", str(bundle))
    monkeypatch.setenv("LD_LIBRARY_PATH_ORIG", "/usr/local/lib")
    monkeypatch.setenv("QT_PLUGIN_PATH", str(bundle / "plugins"))
    started: list[tuple[str, list[str], dict[str, str]]] = []

    def start_detached(program: str, arguments: list[str], env: dict[str, str]) -> bool:
        started.append((program, arguments, env))
        return True

    monkeypatch.setattr(desktop, "start_detached", start_detached)
    assert desktop.open_folder(tmp_path / "logs")
    [(program, arguments, env)] = started
    assert program == "xdg-open" and arguments == [str(tmp_path / "logs")]
    assert env["LD_LIBRARY_PATH"] == "/usr/local/lib"
    assert "QT_PLUGIN_PATH" not in env and "LD_LIBRARY_PATH_ORIG" not in env
    assert env["HOME"] == os.environ["HOME"]


def test_start_detached_runs_the_program_with_exactly_that_environment(
    tmp_path: Path, qtbot: QtBot
) -> None:
    out = tmp_path / "env.txt"
    script = f"env > '{out}.part' && mv '{out}.part' '{out}'"
    assert desktop.start_detached("/bin/sh", ["-c", script], {"ONLY_THIS": "1", "PATH": "/bin"})
    qtbot.waitUntil(out.exists, timeout=30_000)  # detached: nothing to wait on but its file
    lines = out.read_text().splitlines()
    assert "ONLY_THIS=1" in lines
    assert not [line for line in lines if line.startswith(("LD_LIBRARY_PATH", "HOME="))]
