"""The window opens on the starter model, shown as the active, pinned model."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.core.models.store import ModelStore
from app.ui.main_window import MainWindow
from app.ui.models.prompts import Prompts
from app.ui.models.table import Column, Role
from tests.model_files import tiny_model


def open_window(qtbot: QtBot, store: ModelStore) -> MainWindow:
    window = MainWindow(store)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.starter_ready, timeout=30_000):
        window.show()
    return window


@pytest.mark.slow
def test_window_shows_starter_as_active_and_pinned(qtbot: QtBot, store: ModelStore) -> None:
    window = open_window(qtbot, store)
    assert window.windowTitle() == "Driftless"
    assert [window.nav.item(i).text() for i in range(window.nav.count())] == [
        "Chat",
        "Documents",
        "Classify",
        "Models",
    ]
    table = window.models_page.table_model
    assert table.rowCount() == 1
    index = table.index(0, Column.NAME)
    assert table.data(index) == "smollm2-135m-instruct-q4_1"
    assert table.data(index, Role.ACTIVE) is True
    assert table.data(index, Role.PINNED) is True
    assert table.data(table.index(0, Column.STATE)) == "Active, Pinned"
    assert table.data(table.index(0, Column.VERSION)) == "@ab810cf"
    assert "smollm2-135m-instruct-q4_1" in window.active_label.text()
    assert "pinned" in window.active_label.text()
    assert not window.models_page.remove_button.isEnabled(), "pinned models cannot be removed"


@pytest.mark.slow
def test_use_pin_and_remove_from_the_page(
    qtbot: QtBot, store: ModelStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = store.import_file(tiny_model(tmp_path / "Extra.gguf"))
    window = open_window(qtbot, store)
    page = window.models_page
    page.table.selectRow(page.table_model.row_of(extra.id))
    assert page.remove_button.isEnabled()
    qtbot.mouseClick(page.use_button, Qt.MouseButton.LeftButton)
    assert store.active() is not None and store.active().id == extra.id  # type: ignore[union-attr]
    assert extra.id in window.active_label.text()

    qtbot.mouseClick(page.pin_button, Qt.MouseButton.LeftButton)
    assert store.get(extra.id).pinned
    assert not page.remove_button.isEnabled()
    assert page.pin_button.text() == "Un&pin"
    qtbot.mouseClick(page.pin_button, Qt.MouseButton.LeftButton)
    assert not store.get(extra.id).pinned

    monkeypatch.setattr(Prompts, "confirm_remove", classmethod(lambda cls, parent, model: True))
    qtbot.mouseClick(page.remove_button, Qt.MouseButton.LeftButton)
    assert [m.id for m in store.list_models()] == ["smollm2-135m-instruct-q4_1"]
    # Removing the active model hands over to the starter, and every page follows.
    assert "Model: smollm2-135m-instruct-q4_1" in window.active_label.text()
    assert "now the active model" in page.status.text()
    assert window.classify_page.model_combo.currentData() == "smollm2-135m-instruct-q4_1"


@pytest.mark.slow
def test_verify_runs_in_a_worker_and_reports(
    qtbot: QtBot, store: ModelStore, tmp_path: Path
) -> None:
    extra = store.import_file(tiny_model(tmp_path / "v.gguf", pad_bytes=1024))
    window = open_window(qtbot, store)
    page = window.models_page
    page.table.selectRow(page.table_model.row_of(extra.id))
    data = bytearray(extra.path.read_bytes())
    data[-1] ^= 1
    extra.path.write_bytes(bytes(data))
    qtbot.mouseClick(page.verify_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Verification failed" in page.status.text(), timeout=10_000)
    assert "has changed since it was installed" in page.status.text()
