"""The Models page draws its empty, loading and error states with the shared components:
Search the Hub before a search, with no match and with the Hub out of reach (what people
offline see), the Catalog when it cannot be read, Installed with no model."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.core.models.store import ModelStore
from tests.gui.models.support import REPO, hub_settings, open_page, serve_tiny
from tests.hub_server import FakeHub

CLICK = Qt.MouseButton.LeftButton


def closed_endpoint() -> str:
    """An address on this machine where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def hub(hub_server: FakeHub, tmp_path: Path) -> FakeHub:
    serve_tiny(hub_server, tmp_path)
    return hub_server


def test_before_a_search_the_hub_tab_says_what_it_is_for(
    qtbot: QtBot, store: ModelStore, hub: FakeHub
) -> None:
    page = open_page(qtbot, store, hub_settings(hub))
    page.show_tab("Search the Hub")
    search = page.search
    assert search.repos_stack.state == "empty"
    assert search.repos_stack.empty.text().startswith("Search the Hub for a model")
    assert search.repos_table.isHidden()


def test_an_unreachable_hub_shows_an_error_and_retry_searches_again(
    qtbot: QtBot, store: ModelStore, hub: FakeHub
) -> None:
    page = open_page(qtbot, store, hub_settings(hub))
    page.queue.set_settings(page.queue.settings.with_changes(hub_endpoint=closed_endpoint()))
    page.show_tab("Search the Hub")
    search = page.search
    search.query.setText("Tiny")
    qtbot.mouseClick(search.search_button, CLICK)
    assert search.repos_stack.state == "loading"
    assert search.repos_stack.loading.text() == "Searching the Hub for 'Tiny'…"
    qtbot.waitUntil(lambda: search.repos_stack.state == "error", timeout=10_000)
    error = search.repos_stack.error
    assert error.text().startswith("Cannot reach http://127.0.0.1:")
    assert "Check the connection" in error.text()
    assert error.isVisible() and error.label.accessibleName() == "Error"
    assert error.retry_button is not None and error.retry_button.isVisible()
    assert search.repos_table.isHidden()

    # Back online: Retry runs the same search again.
    page.queue.set_settings(hub_settings(hub))
    qtbot.mouseClick(error.retry_button, CLICK)
    qtbot.waitUntil(lambda: search.repos_stack.state == "content", timeout=10_000)
    assert search.repos_model.rowCount() == 1
    assert search.repos_table.model().index(0, 0).data() == REPO
    assert search.status.text() == "1 GGUF repositories match 'Tiny'."


def test_a_search_with_no_match_says_so_in_the_tables_place(
    qtbot: QtBot, store: ModelStore, hub: FakeHub
) -> None:
    page = open_page(qtbot, store, hub_settings(hub))
    page.show_tab("Search the Hub")
    search = page.search
    search.query.setText("no-such-model-family")
    qtbot.mouseClick(search.search_button, CLICK)
    qtbot.waitUntil(lambda: search.repos_stack.state == "empty", timeout=10_000)
    assert search.repos_stack.empty.text().startswith(
        "No GGUF repositories match 'no-such-model-family'."
    )
    assert search.repos_stack.empty.isVisible() and search.status.text() == ""


def test_a_file_listing_that_fails_shows_an_error_and_retry_lists_again(
    qtbot: QtBot, store: ModelStore, hub: FakeHub
) -> None:
    page = open_page(qtbot, store, hub_settings(hub))
    page.show_tab("Search the Hub")
    search = page.search
    search.search()
    qtbot.waitUntil(lambda: search.repos_model.rowCount() == 1, timeout=10_000)
    hub.faults.status(503, path_contains=f"/api/models/{REPO}", times=None)
    search.select_repo(REPO)
    qtbot.waitUntil(lambda: search.files_stack.state == "error", timeout=10_000)
    assert "503" in search.files_stack.error.text()
    assert search.files_label.text() == "The files could not be listed."

    hub.faults.clear()
    retry = search.files_stack.error.retry_button
    assert retry is not None
    qtbot.mouseClick(retry, CLICK)
    qtbot.waitUntil(lambda: search.files_model.rowCount() == 1, timeout=10_000)
    assert search.files_stack.state == "content"


def test_a_catalog_that_cannot_be_read_says_why_and_retry_reads_it_again(
    qtbot: QtBot, store: ModelStore, hub: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.core.models import catalog
    from app.ui.models import catalog_tab

    def broken() -> list[catalog.CatalogEntry]:
        raise catalog.CatalogError("The model catalog models.json is missing; reinstall it.")

    monkeypatch.setattr(catalog_tab, "load_catalog", broken)
    page = open_page(qtbot, store, hub_settings(hub))
    page.show_tab("Catalog")
    tab = page.catalog
    assert tab.table_stack.state == "error" and tab.table.isHidden()
    assert tab.table_stack.error.text() == "The model catalog models.json is missing; reinstall it."

    monkeypatch.setattr(catalog_tab, "load_catalog", catalog.load_catalog)
    retry = tab.table_stack.error.retry_button
    assert retry is not None and retry.isVisible()
    qtbot.mouseClick(retry, CLICK)
    assert tab.table_stack.state == "content" and tab.table.isVisible()
    assert tab.table_model.rowCount() == len(catalog.load_catalog())


def test_installed_with_no_model_offers_the_catalog(
    qtbot: QtBot, store: ModelStore, hub: FakeHub
) -> None:
    page = open_page(qtbot, store, hub_settings(hub))
    page.show_tab("Installed")
    tab = page.installed
    assert store.list_models() == []
    assert tab.table_stack.state == "empty" and tab.table.isHidden()
    empty = tab.table_stack.empty
    assert empty.text().startswith("No model is installed yet.")
    assert empty.action_button is not None and empty.action_button.isVisible()
    assert tab.import_button.isVisible()  # the other way in stays in reach
    qtbot.mouseClick(empty.action_button, CLICK)
    assert page.tabs.currentWidget() is page.catalog


def test_installed_shows_its_table_once_a_model_is_there(
    qtbot: QtBot, store: ModelStore, hub: FakeHub, tmp_path: Path
) -> None:
    from tests.model_files import tiny_model

    page = open_page(qtbot, store, hub_settings(hub))
    tab = page.installed
    assert tab.table_stack.state == "empty"
    store.import_file(tiny_model(tmp_path / "own.Q8_0.gguf"))
    page.refresh()
    assert tab.table_stack.state == "content" and tab.table.isVisible()
