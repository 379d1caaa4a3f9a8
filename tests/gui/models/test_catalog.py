"""The Catalog tab: the shipped list, 'fits this machine' and a download from it."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.core.models.catalog import CatalogEntry, load_catalog
from app.core.models.store import ModelStore
from app.ui.models import catalog_tab
from tests.gui.models.support import FILE, GB, REPO, hub_settings, open_page, serve_tiny
from tests.hub_server import FakeHub

MACHINE = 8_000_000_000


def column(page_catalog: catalog_tab.CatalogTab, header: str) -> int:
    model = page_catalog.table_model
    headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    return headers.index(header)


def test_shipped_catalog_with_fit_for_this_machine(
    qtbot: QtBot, store: ModelStore, hub_server: FakeHub
) -> None:
    page = open_page(qtbot, store, hub_settings(hub_server), memory=MACHINE)
    catalog = page.catalog
    entries = load_catalog()
    assert catalog.table_model.rowCount() == len(entries) >= 10
    assert "8.0 GB" in catalog.intro.text(), "the machine's memory, said plainly"
    fit = column(catalog, "Memory needed")
    texts = {
        catalog.table_model.index(r, 0).data(): catalog.table_model.index(r, fit).data()
        for r in range(len(entries))
    }
    assert texts["SmolLM2 135M Instruct"] == "300 MB  ✓ fits"
    assert texts["Qwen2.5 7B Instruct"] == "6.5 GB  ✗ too big"
    assert texts["Gemma 3 4B Instruct"].endswith("✓ fits")
    first = catalog.proxy.index(0, 0).data()
    assert first == "SmolLM2 135M Instruct", "smallest memory first"
    size = catalog.table_model.index(1, column(catalog, "Size")).data()
    assert size.startswith("≈ "), "approximate sizes say so"


def test_download_from_the_catalog(
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
    huge = CatalogEntry(
        "Huge",
        "Huge",
        "big/Huge-GGUF",
        "huge.gguf",
        9 * GB,
        True,
        "70B",
        "mit",
        40_000_000_000,
        ("chat",),
    )
    monkeypatch.setattr(catalog_tab, "load_catalog", lambda: [tiny, huge])
    page = open_page(qtbot, store, hub_settings(hub_server), memory=MACHINE)
    catalog = page.catalog
    fit = column(catalog, "Memory needed")
    assert catalog.table_model.index(1, fit).data() == "40 GB  ✗ too big"
    assert "40 GB" in catalog.table_model.index(1, fit).data(Qt.ItemDataRole.ToolTipRole)
    assert not catalog.download_button.isEnabled()

    catalog.select(REPO, FILE)
    with qtbot.waitSignal(page.queue.model_installed, timeout=20_000) as installed:
        qtbot.mouseClick(catalog.download_button, Qt.MouseButton.LeftButton)
    assert installed.args[0].repo == REPO
    status = column(catalog, "Status")
    qtbot.waitUntil(lambda: catalog.table_model.index(0, status).data() == "Installed")
    assert page.tabs.tabText(page.TABS.index("Downloads")) == "Downloads"
