"""GUI test fixtures: offscreen Qt, and no worker may outlive its test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QThread, QThreadPool
from PySide6.QtWidgets import QApplication

_started: list[QThread] = []
_original_start = QThread.start


def _recording_start(self: QThread, *args: object) -> None:
    _started.append(self)
    _original_start(self, *args)


@pytest.fixture(autouse=True, scope="session")
def themed(qapp: QApplication) -> None:
    """The theme, as start-up applies it (app.ui.application.configure): tests see the
    window people see. Light unless DRIFTLESS_THEME says otherwise."""
    from app.ui import theme

    os.environ.setdefault(theme.THEME_ENV, "light")
    theme.install(qapp)


@pytest.fixture(autouse=True)
def no_dangling_threads(qapp: object) -> Iterator[None]:
    """Fail a test that leaves a QThread or a pool worker running (napari does the same)."""
    QThread.start = _recording_start  # type: ignore[method-assign]
    _started.clear()
    yield
    # Close windows as a user would (pytest-qt closes them only after fixtures end),
    # so each window's own shutdown runs before threads are counted.
    for widget in QApplication.topLevelWidgets():
        widget.close()
    QThread.start = _original_start  # type: ignore[method-assign]
    pool_idle = QThreadPool.globalInstance().waitForDone(10_000)
    # A window closes within a second and may leave a worker that is inside a native call
    # (a model load) to end by itself (app.ui.tasks.stop_thread): give it that time, on a
    # loaded machine too, but no thread may run on for good.
    running = [t for t in _started if _alive(t) and not t.wait(10_000)]
    _started.clear()
    assert pool_idle, "a thread-pool task was still running after the test"
    assert not running, f"QThreads still running after the test: {running}"


@pytest.fixture(autouse=True)
def no_first_run_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The welcome's offer to record the starter's check set loads the real model: off,
    unless a (slow) test turns it on."""
    from app.ui import main_window

    monkeypatch.setattr(main_window, "OFFER_STARTER_CHECK", False)


def _alive(thread: QThread) -> bool:
    try:
        return thread.isRunning()
    except RuntimeError:  # already deleted: not running
        return False
