"""Search the Hub, download, pause, resume, cancel, retry: the manager against the fake Hub."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.core.cancel import CancelToken
from app.core.errors import Cancelled
from app.core.hub.download import Downloader
from app.core.models.store import ModelStore
from app.ui.models.download_model import DownloadRequest, DownloadState
from app.ui.models.page import ModelsPage
from tests.gui.models.support import (
    FILE,
    MIB,
    REPO,
    file_gets,
    files_under,
    hub_settings,
    only_download,
    open_page,
    serve_tiny,
    wait_for_state,
)
from tests.hub_server import FakeHub

CLICK = Qt.MouseButton.LeftButton


@pytest.fixture
def hub(hub_server: FakeHub, tmp_path: Path) -> FakeHub:
    serve_tiny(hub_server, tmp_path, pad_bytes=3 * MIB)
    hub_server.add_repo("other/Popular-GGUF", downloads=99_000, likes=700, tags=["gguf"])
    hub_server.commit("other/Popular-GGUF", {"README.md": b"# nothing yet\n"})
    return hub_server


def test_search_pick_download_and_use(
    qtbot: QtBot, store: ModelStore, hub: FakeHub, tmp_path: Path
) -> None:
    page = open_page(qtbot, store, hub_settings(hub))
    search = page.search
    page.show_tab("Search the Hub")
    search.query.setText("GGUF")
    qtbot.mouseClick(search.search_button, CLICK)
    qtbot.waitUntil(lambda: search.repos_model.rowCount() == 2, timeout=10_000)
    assert "2 GGUF repositories" in search.status.text()
    shown = [search.repos_table.model().index(r, 0).data() for r in range(2)]
    assert shown == ["other/Popular-GGUF", REPO], "most downloaded first"

    search.select_repo(REPO)
    qtbot.waitUntil(lambda: search.files_model.rowCount() == 1, timeout=10_000)
    assert hub.head(REPO)[:7] in search.files_label.text()
    files = search.files_table.model()
    assert [files.index(0, c).data() for c in range(3)] == [FILE, "3.1 MB", "Q8_0"]
    assert not search.download_button.isEnabled(), "nothing picked yet"
    search.select_file(FILE)
    assert search.download_button.isEnabled()

    with qtbot.waitSignal(page.queue.model_installed, timeout=20_000) as installed:
        qtbot.mouseClick(search.download_button, CLICK)
    model = installed.args[0]
    assert (model.repo, model.commit, model.revision) == (REPO, hub.head(REPO), "main")
    done = only_download(page)
    assert done.state is DownloadState.DONE and done.done == done.total == model.size
    row = page.downloads.rows[0]
    assert row.state_label.text() == "Installed"
    assert "sha256 and GGUF header verified" in row.detail.text()
    assert not row.clear_button.isHidden() and row.pause_button.isHidden()

    # Installed, listed, and usable: make it active, and the load-time check passes.
    page.show_tab("Installed")
    page.table.selectRow(page.table_model.row_of(model.id))
    qtbot.mouseClick(page.use_button, CLICK)
    active = store.active()
    assert active is not None and active.id == model.id
    assert store.check_before_load(model.id).sha256 == model.sha256

    qtbot.mouseClick(row.clear_button, CLICK)
    assert page.queue.model.rowCount() == 0 and not page.downloads.empty.isHidden()


def start_stalled_download(qtbot: QtBot, store: ModelStore, hub: FakeHub) -> ModelsPage:
    """A download that stops for a moment after 1 MiB, caught while it waits there."""
    hub.faults.stall(1.0, after_bytes=MIB)
    page = open_page(qtbot, store, hub_settings(hub))
    page.queue.enqueue(DownloadRequest(REPO, FILE))
    qtbot.waitUntil(lambda: only_download(page).done >= MIB, timeout=10_000)
    snapshot = only_download(page)
    assert snapshot.state is DownloadState.DOWNLOADING and snapshot.total > 3 * MIB
    assert "1.0 MB of" in page.downloads.rows[0].detail.text()
    return page


def test_pause_then_resume_continues_with_range(
    qtbot: QtBot, store: ModelStore, hub: FakeHub
) -> None:
    page = start_stalled_download(qtbot, store, hub)
    row = page.downloads.rows[0]
    qtbot.mouseClick(row.pause_button, CLICK)
    assert row.state_label.text() in ("Pausing", "Paused")
    paused = wait_for_state(qtbot, page, DownloadState.PAUSED)
    assert paused.done == MIB and not row.resume_button.isHidden()
    (partial,) = Downloader(store, hub_settings(hub)).partials()
    assert partial.done == MIB and partial.commit == hub.head(REPO)
    assert store.list_models() == []

    hub.clear_requests()
    with qtbot.waitSignal(page.queue.model_installed, timeout=20_000):
        qtbot.mouseClick(row.resume_button, CLICK)
    assert file_gets(hub) == [f"bytes={MIB}-"], "resumed where it paused"
    assert [m.repo for m in store.list_models()] == [REPO]


def test_cancel_deletes_the_partial_and_the_row(
    qtbot: QtBot, store: ModelStore, hub: FakeHub
) -> None:
    page = start_stalled_download(qtbot, store, hub)
    row = page.downloads.rows[0]
    qtbot.mouseClick(row.cancel_button, CLICK)
    qtbot.waitUntil(lambda: page.queue.model.rowCount() == 0, timeout=10_000)
    assert store.list_models() == []
    assert files_under(store.paths.models_dir) == []
    assert page.downloads.rows == []


def test_corrupted_file_is_an_error_in_place_then_retry_installs(
    qtbot: QtBot, store: ModelStore, hub: FakeHub
) -> None:
    hub.faults.corrupt(FILE)
    page = open_page(qtbot, store, hub_settings(hub))
    page.queue.enqueue(DownloadRequest(REPO, FILE))
    failed = wait_for_state(qtbot, page, DownloadState.FAILED)
    row = page.downloads.rows[0]
    assert "arrived damaged" in failed.message and "nothing was installed" in failed.message
    assert "arrived damaged" in row.detail.text()
    assert row.state_label.text() == "Failed"
    assert not row.retry_button.isHidden() and row.retry_button.isEnabled()
    assert store.list_models() == [] and page.table_model.rowCount() == 0
    assert files_under(store.paths.models_dir) == [], "the damaged bytes were deleted"

    hub.faults.clear()
    with qtbot.waitSignal(page.queue.model_installed, timeout=20_000):
        qtbot.mouseClick(row.retry_button, CLICK)
    assert page.table_model.rowCount() == 1


def test_interrupted_download_is_offered_after_a_restart(
    qtbot: QtBot, store: ModelStore, hub: FakeHub
) -> None:
    # A previous run: the download stopped at the first chunk and the app closed.
    token = CancelToken()
    with pytest.raises(Cancelled):
        Downloader(store, hub_settings(hub)).pull(
            REPO, FILE, on_progress=lambda _p: token.cancel(), cancel=token
        )
    page = open_page(qtbot, store, hub_settings(hub))
    snapshot = only_download(page)
    assert snapshot.state is DownloadState.PAUSED and 0 < snapshot.done < snapshot.total
    assert "Interrupted" in page.downloads.rows[0].detail.text()
    assert page.tabs.tabText(page.TABS.index("Downloads")) == "Downloads (1)"

    hub.clear_requests()
    with qtbot.waitSignal(page.queue.model_installed, timeout=20_000) as installed:
        qtbot.mouseClick(page.downloads.rows[0].resume_button, CLICK)
    assert file_gets(hub) == [f"bytes={snapshot.done}-"]
    model = installed.args[0]
    assert model.revision == "main", "update checks still follow the branch"
    data = (store.paths.models_dir / "hub").rglob(FILE)
    assert hashlib.sha256(next(data).read_bytes()).hexdigest() == model.sha256
    assert page.tabs.tabText(page.TABS.index("Downloads")) == "Downloads"
