"""What the Models page says agrees with itself, and its buttons stay where they are."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.core.hub.download import Downloader
from app.core.models.catalog import CatalogEntry
from app.core.models.store import ModelStore
from app.ui.models import catalog_tab
from app.ui.models.prompts import ImportChoice, Prompts
from app.ui.models.table import Column
from tests.gui.models.support import FILE, REPO, hub_settings, open_page, serve_tiny
from tests.hub_server import FakeHub
from tests.model_files import tiny_model

CLICK = Qt.MouseButton.LeftButton


def test_could_not_check_is_never_called_up_to_date(
    qtbot: QtBot, store: ModelStore, hub_server: FakeHub, tmp_path: Path
) -> None:
    serve_tiny(hub_server, tmp_path)
    model = Downloader(store, hub_settings(hub_server)).pull(REPO, FILE)
    page = open_page(qtbot, store, hub_settings(hub_server))
    page.refresh()
    hub_server.faults.status(500, path_contains="/api/models/", times=None)
    qtbot.mouseClick(page.installed.check_button, CLICK)
    qtbot.waitUntil(lambda: not page.installed.busy.busy, timeout=20_000)
    row = page.table_model.row_of(model.id)
    assert page.table_model.index(row, Column.UPDATES).data() == "Could not check"
    assert "up to date" not in page.status.text()
    assert page.status.text().startswith(f"Could not check {model.id}: ")

    hub_server.faults.clear()
    qtbot.mouseClick(page.installed.check_button, CLICK)
    qtbot.waitUntil(lambda: not page.installed.busy.busy, timeout=20_000)
    assert page.status.text() == "Every model from the Hub is up to date."


def test_the_catalog_line_follows_the_download_it_started(
    qtbot: QtBot,
    store: ModelStore,
    hub_server: FakeHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    serve_tiny(hub_server, tmp_path)
    tiny = CatalogEntry(
        "Tiny Test", "Tiny", REPO, FILE, 9000, True, "1M", "apache-2.0", 64 * 2**20, ("chat",)
    )
    monkeypatch.setattr(catalog_tab, "load_catalog", lambda: [tiny])
    page = open_page(qtbot, store, hub_settings(hub_server, download_retries=0))
    catalog = page.catalog
    hub_server.faults.status(403, path_contains="/api/models/", times=None)
    catalog.select(REPO, FILE)
    qtbot.mouseClick(catalog.download_button, CLICK)
    status = next(
        c
        for c in range(catalog.table_model.columnCount())
        if catalog.table_model.headerData(c, Qt.Orientation.Horizontal) == "Status"
    )
    qtbot.waitUntil(lambda: catalog.table_model.index(0, status).data() == "Failed", timeout=20_000)
    assert catalog.status.text().startswith("Downloading Tiny Test failed")
    assert "Downloading…" not in catalog.status.text()


def test_importing_a_file_already_installed_says_nothing_was_added(
    qtbot: QtBot,
    store: ModelStore,
    hub_server: FakeHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = tiny_model(tmp_path / "Starter.gguf")
    model = store.import_file(source, pinned=True)
    page = open_page(qtbot, store, hub_settings(hub_server))
    monkeypatch.setattr(Prompts, "import_options", classmethod(lambda cls, *a: ImportChoice()))
    with qtbot.waitSignal(page.models_changed, timeout=10_000):
        page.installed.import_files([source])
    assert [m.id for m in store.list_models()] == [model.id]
    assert page.status.text() == (
        f"{model.id} is already installed with the same bytes; nothing was added."
    )
    assert "Imported" not in page.status.text()


def test_action_buttons_stay_put_whatever_the_status_says(
    qtbot: QtBot, store: ModelStore, hub_server: FakeHub, tmp_path: Path
) -> None:
    store.import_file(tiny_model(tmp_path / "One.gguf"))
    page = open_page(qtbot, store, hub_settings(hub_server))
    page.refresh()
    installed = page.installed

    def where() -> list[QPoint]:
        QApplication.processEvents()
        return [
            b.mapTo(page, QPoint(0, 0))
            for b in (installed.use_button, installed.remove_button, installed.update_button)
        ]

    before = where()
    installed.status.setText("A long status. " * 60)
    assert where() == before
    installed.status.setText("")
    installed.busy.show()
    assert where() == before
