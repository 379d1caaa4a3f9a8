"""One window per data folder: a second launch brings the first window forward and exits."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from app.ui.single_instance import SingleInstance, bring_to_front, server_name

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def first(home: Path) -> Iterator[SingleInstance]:
    instance = SingleInstance(home)
    assert instance.listen()
    yield instance
    instance.close()


def test_the_name_depends_on_the_data_folder(tmp_path: Path) -> None:
    assert server_name(tmp_path / "a") == server_name(tmp_path / "b" / ".." / "a")
    assert server_name(tmp_path / "a") != server_name(tmp_path / "b")


def test_a_second_launch_on_the_same_folder_brings_the_first_forward_and_exits(
    first: SingleInstance, home: Path, qtbot: QtBot
) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    command = [sys.executable, "-m", "app", "--home", str(home)]
    with qtbot.waitSignal(first.activation_requested, timeout=60_000):
        second = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    qtbot.waitUntil(lambda: second.poll() is not None, timeout=60_000)
    out, err = second.communicate()
    assert second.returncode == 0, out + err
    assert "already open" in err
    assert not (home / "models.sqlite3").exists(), "the second launch opened no database"


def test_a_launch_on_another_folder_finds_no_window(first: SingleInstance, tmp_path: Path) -> None:
    assert not SingleInstance(tmp_path / "another").activate_running()


def test_nobody_listening_means_no_answer(tmp_path: Path) -> None:
    instance = SingleInstance(tmp_path / "x")
    assert not instance.activate_running()
    assert instance.listen(), "the first instance becomes the listener"
    instance.close()


@pytest.mark.qt_log_ignore("This plugin does not support raise")  # offscreen has no stacking
def test_bring_to_front_unminimises(qtbot: QtBot) -> None:
    window = QWidget()
    qtbot.addWidget(window)
    window.showMinimized()
    assert window.isMinimized()
    bring_to_front(window)
    assert not window.isMinimized() and window.isVisible()


def test_a_crashed_instances_socket_is_replaced(tmp_path: Path) -> None:
    import socket

    from PySide6.QtCore import QDir

    instance = SingleInstance(tmp_path / "crashed")
    path = Path(QDir.tempPath()) / instance.name
    left = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    left.bind(str(path))  # bound, never listening: what a killed instance leaves behind
    left.close()
    try:
        assert path.exists()
        assert not instance.activate_running()
        assert instance.listen()
        assert SingleInstance(tmp_path / "crashed").name == instance.name
    finally:
        instance.close()
        path.unlink(missing_ok=True)
