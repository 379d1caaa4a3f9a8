"""An active model that crashes llama.cpp does not take the window down, now or at next start."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.core.models.probe import ProbeCache
from app.core.models.store import InstalledModel, ModelStore
from app.core.runtime import probe
from app.ui.main_window import MainWindow
from tests.model_files import tiny_model


@pytest.fixture
def children() -> list[str]:
    """The model paths probe children were started for."""
    return []


@pytest.fixture
def hostile(
    store: ModelStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, children: list[str]
) -> InstalledModel:
    """The active model; llama.cpp 'aborts' on it (its probe child calls abort())."""
    model = store.import_file(tiny_model(tmp_path / "Hostile.gguf"))
    store.set_active(model.id)

    def aborting(path: Path) -> list[str]:
        children.append(str(path))
        return [sys.executable, "-c", "import os; os.abort()"]

    monkeypatch.setattr(probe, "probe_command", aborting)
    return model


def open_window(qtbot: QtBot, store: ModelStore) -> MainWindow:
    window = MainWindow(store)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.starter_ready, timeout=30_000):
        window.show()
    return window


def test_a_probe_crash_at_start_is_a_message_and_the_next_start_does_not_try(
    qtbot: QtBot, store: ModelStore, hostile: InstalledModel, children: list[str]
) -> None:
    window = open_window(qtbot, store)
    controller = window.chat_page.controller
    qtbot.waitUntil(lambda: not controller.loading, timeout=30_000)
    assert window.isVisible()
    assert controller.loaded is None
    state = window.chat_page.state_label.text()
    assert "cannot be loaded on this llama.cpp: SIGABRT" in state
    assert children == [str(hostile.path)]  # one child, not one per request
    record = ProbeCache(store.paths).crashed(hostile)
    assert record is not None
    window.close()

    # The next start: the crash is remembered, nothing is loaded, no child is started.
    again = open_window(qtbot, store)
    assert not again.chat_page.controller.loading
    assert again.chat_page.controller.loaded is None
    assert again.chat_page.state_label.text() == record.problem(hostile.id)
    assert not again.chat_page.send_button.isEnabled()
    assert children == [str(hostile.path)]
