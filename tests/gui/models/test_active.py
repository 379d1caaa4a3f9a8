"""The active model in the Installed tab: a changed file cannot be used, removal hands over."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.core.models.store import InstalledModel, ModelStore
from app.ui.models.page import ModelsPage
from app.ui.models.prompts import Prompts
from tests.gui.models.support import hub_settings, open_page
from tests.hub_server import FakeHub
from tests.model_files import tiny_model

CLICK = Qt.MouseButton.LeftButton


def select(page: ModelsPage, model: InstalledModel) -> None:
    page.table.selectRow(page.table_model.row_of(model.id))


def damage(model: InstalledModel) -> None:
    data = bytearray(model.path.read_bytes())
    data[-1] ^= 1  # same size: only a re-hash sees it
    model.path.write_bytes(bytes(data))


@pytest.mark.parametrize("pinned", [True, False])
def test_a_model_that_failed_verification_cannot_be_used(
    qtbot: QtBot, store: ModelStore, hub_server: FakeHub, tmp_path: Path, pinned: bool
) -> None:
    first = store.import_file(tiny_model(tmp_path / "First.gguf", seed=1))
    bad = store.import_file(tiny_model(tmp_path / "Bad.gguf", seed=2), pinned=pinned)
    damage(bad)
    page = open_page(qtbot, store, hub_settings(hub_server))
    page.refresh()
    select(page, bad)
    assert page.use_button.isEnabled(), "not known to be changed until it is verified"
    qtbot.mouseClick(page.verify_button, CLICK)
    qtbot.waitUntil(lambda: not page.installed.busy.busy, timeout=10_000)
    select(page, bad)
    assert not page.use_button.isEnabled()
    tip = page.use_button.toolTip()
    assert "cannot be used until it is fixed" in tip and "Restore it" in tip
    assert str(bad.path) in tip
    # Remove is disabled for a pinned model, so the advice never offers it.
    assert ("remove" in tip.lower()) is not pinned
    if pinned:
        assert "remove" not in page.status.text().lower()

    page.table.doubleClicked.emit(page.table_model.index(page.table_model.row_of(bad.id), 0))
    assert "cannot be used until it is fixed" in page.status.text()
    assert store.active() is not None and store.active().id == first.id  # type: ignore[union-attr]

    damage(bad)  # put the original byte back, as the advice says; verify clears the mark
    qtbot.mouseClick(page.verify_button, CLICK)
    qtbot.waitUntil(lambda: not page.installed.busy.busy, timeout=10_000)
    select(page, bad)
    assert page.use_button.isEnabled()
    qtbot.mouseClick(page.use_button, CLICK)
    assert store.active().id == bad.id  # type: ignore[union-attr]


def test_use_refuses_a_missing_file(
    qtbot: QtBot, store: ModelStore, hub_server: FakeHub, tmp_path: Path
) -> None:
    first = store.import_file(tiny_model(tmp_path / "First.gguf", seed=1))
    gone = store.import_file(tiny_model(tmp_path / "Gone.gguf", seed=2), link=True)
    gone.path.unlink()
    page = open_page(qtbot, store, hub_settings(hub_server))
    page.refresh()
    select(page, gone)
    qtbot.mouseClick(page.use_button, CLICK)
    assert "is missing" in page.status.text() and "Restore it" in page.status.text()
    assert store.active().id == first.id  # type: ignore[union-attr]


def test_removing_the_active_model_makes_the_pinned_one_active(
    qtbot: QtBot,
    store: ModelStore,
    hub_server: FakeHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keep = store.import_file(tiny_model(tmp_path / "Keep.gguf", seed=1), pinned=True)
    newer = store.import_file(tiny_model(tmp_path / "Newer.gguf", seed=3))
    extra = store.import_file(tiny_model(tmp_path / "Extra.gguf", seed=2))
    page = open_page(qtbot, store, hub_settings(hub_server))
    page.refresh()
    select(page, extra)
    qtbot.mouseClick(page.use_button, CLICK)
    monkeypatch.setattr(Prompts, "confirm_remove", classmethod(lambda cls, parent, model: True))
    with qtbot.waitSignal(page.active.active_model_changed) as changed:
        qtbot.mouseClick(page.remove_button, CLICK)
    assert changed.args == [keep.id]
    assert store.active().id == keep.id  # type: ignore[union-attr]
    assert page.status.text() == f"Removed {extra.id}. {keep.id} is now the active model."
    assert page.table_model.active_id == keep.id

    store.unpin(keep.id)
    page.refresh()
    select(page, keep)
    qtbot.mouseClick(page.remove_button, CLICK)
    assert store.active().id == newer.id  # type: ignore[union-attr]
    select(page, newer)
    qtbot.mouseClick(page.remove_button, CLICK)
    assert store.active() is None
    assert "No model is active now: none is installed" in page.status.text()
