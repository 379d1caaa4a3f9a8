"""The Installed tab: pinning guards removal, lockfiles travel, files import, updates show."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.core.drift.versions import VersionComparison
from app.core.models.store import InstalledModel, ModelStore
from app.core.paths import get_paths
from app.ui import desktop
from app.ui.models.behaviour import BehaviourPrompts
from app.ui.models.download_model import DownloadRequest
from app.ui.models.page import ModelsPage
from app.ui.models.prompts import ImportChoice, Prompts
from app.ui.models.table import Column, Role
from tests.gguf_factory import Tensor, typical_metadata, u32, write_gguf
from tests.gui.models.support import FILE, REPO, hub_settings, open_page, serve_tiny
from tests.hub_server import FakeHub
from tests.model_files import tiny_model

CLICK = Qt.MouseButton.LeftButton


def select(page: ModelsPage, model: InstalledModel) -> None:
    page.table.selectRow(page.table_model.row_of(model.id))


def answer(monkeypatch: pytest.MonkeyPatch, name: str, value: object) -> list[object]:
    """Make ``Prompts.<name>`` return ``value``; returns the arguments it was asked with."""
    asked: list[object] = []

    def fake(cls: type, *args: object) -> object:
        asked.append(args)
        return value

    monkeypatch.setattr(Prompts, name, classmethod(fake))
    return asked


def download(qtbot: QtBot, page: ModelsPage, request: DownloadRequest) -> InstalledModel:
    with qtbot.waitSignal(page.queue.model_installed, timeout=20_000) as installed:
        page.queue.enqueue(request)
    model = installed.args[0]
    assert isinstance(model, InstalledModel)
    return model


def test_pinned_model_refuses_removal(
    qtbot: QtBot,
    store: ModelStore,
    hub_server: FakeHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = store.import_file(tiny_model(tmp_path / "Keep.gguf"), pinned=True)
    page = open_page(qtbot, store, hub_settings(hub_server))
    page.refresh()
    select(page, model)
    assert page.table_model.data(page.table_model.index(0, Column.STATE)) == "Active, Pinned"
    assert not page.remove_button.isEnabled()
    assert "Unpin it first" in page.remove_button.toolTip()
    asked = answer(monkeypatch, "confirm_remove", True)
    page.installed.remove_selected()  # e.g. a keyboard shortcut: refused all the same
    assert "pinned, so it cannot be removed" in page.status.text()
    assert asked == [] and store.get(model.id).path.exists()

    qtbot.mouseClick(page.pin_button, CLICK)
    assert not store.get(model.id).pinned and page.remove_button.isEnabled()
    answer(monkeypatch, "confirm_remove", False)
    qtbot.mouseClick(page.remove_button, CLICK)
    assert [m.id for m in store.list_models()] == [model.id], "the person said no"
    asked = answer(monkeypatch, "confirm_remove", True)
    qtbot.mouseClick(page.remove_button, CLICK)
    assert store.list_models() == [] and not model.path.exists()
    assert len(asked) == 1
    assert page.status.text() == (
        f"Removed {model.id}. No model is active now: none is installed. Download or import one."
    )


def test_lockfile_export_then_import_into_a_fresh_home(
    qtbot: QtBot,
    store: ModelStore,
    hub_server: FakeHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    serve_tiny(hub_server, tmp_path)
    page = open_page(qtbot, store, hub_settings(hub_server))
    model = download(qtbot, page, DownloadRequest(REPO, FILE, pin=True))
    assert store.get(model.id).pinned
    lock = tmp_path / "team" / "driftless.lock"
    lock.parent.mkdir()
    answer(monkeypatch, "save_lockfile", lock)
    qtbot.mouseClick(page.installed.export_lock_button, CLICK)
    assert page.status.text() == f"Wrote 1 pinned model(s) to {lock}."
    assert f'commit = "{model.commit}"' in lock.read_text()

    fresh = ModelStore(get_paths(tmp_path / "another-machine").ensure())
    other = open_page(qtbot, fresh, hub_settings(hub_server))
    answer(monkeypatch, "open_lockfile", lock)
    qtbot.mouseClick(other.installed.import_lock_button, CLICK)
    qtbot.waitUntil(lambda: "Every locked model is here" in other.status.text(), timeout=20_000)
    (imported,) = fresh.list_models()
    assert (imported.repo, imported.commit, imported.sha256) == (REPO, model.commit, model.sha256)
    assert imported.pinned and f"Verified and pinned {imported.id}" in other.status.text()
    assert other.table_model.rowCount() == 1


def test_lockfile_import_offline_reports_what_is_missing(
    qtbot: QtBot,
    store: ModelStore,
    hub_server: FakeHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lock = tmp_path / "driftless.lock"
    source = ModelStore(get_paths(tmp_path / "source").ensure())
    source.import_file(tiny_model(tmp_path / "Locked.gguf"), pinned=True)
    from app.core.models import lockfile

    lockfile.export(source, lock)
    page = open_page(qtbot, store, hub_settings(hub_server, offline=True))
    answer(monkeypatch, "open_lockfile", lock)
    qtbot.mouseClick(page.installed.import_lock_button, CLICK)
    qtbot.waitUntil(lambda: "not satisfied" in page.status.text(), timeout=10_000)
    assert "Missing: locked" in page.status.text()
    assert hub_server.requests == []


def test_import_a_gguf_file_checks_it_first(
    qtbot: QtBot,
    store: ModelStore,
    hub_server: FakeHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    page = open_page(qtbot, store, hub_settings(hub_server))
    answer(monkeypatch, "import_options", ImportChoice())
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"PK\x03\x04 this is a zip" * 100)
    answer(monkeypatch, "open_gguf", fake)
    qtbot.mouseClick(page.installed.import_button, CLICK)
    qtbot.waitUntil(lambda: page.status.text().startswith("Not imported"), timeout=10_000)
    assert "GGUF" in page.status.text() and store.list_models() == []

    good = tiny_model(tmp_path / "Local-Model.Q8_0.gguf", pad_bytes=2 * 1024 * 1024)
    answer(monkeypatch, "open_gguf", good)
    with qtbot.waitSignal(page.models_changed, timeout=10_000):
        qtbot.mouseClick(page.installed.import_button, CLICK)
    (model,) = store.list_models()
    assert model.source == "local-file" and model.managed and not model.pinned
    assert "copied into the store; GGUF header and sha256 checked" in page.status.text()
    assert page.table_model.row_of(model.id) == 0

    other = tiny_model(tmp_path / "elsewhere" / "Linked.gguf", seed=3)
    asked = answer(monkeypatch, "import_options", ImportChoice(link=True, pin=True))
    answer(monkeypatch, "open_gguf", other)
    with qtbot.waitSignal(page.models_changed, timeout=10_000):
        qtbot.mouseClick(page.installed.import_button, CLICK)
    assert asked == [(page.installed, [other])]
    linked = store.get("linked")
    assert linked.path == other.resolve() and not linked.managed and linked.pinned
    assert "linked in place, pinned" in page.status.text()

    answer(monkeypatch, "import_options", None)  # the person cancelled
    answer(monkeypatch, "open_gguf", tiny_model(tmp_path / "Third.gguf", seed=4))
    qtbot.mouseClick(page.installed.import_button, CLICK)
    assert not page.installed.busy.busy and len(store.list_models()) == 2


def drop_event(paths: list[Path]) -> tuple[QMimeData, QDropEvent]:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(
        QPointF(20, 20),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    return mime, event


def test_drag_and_drop_a_gguf_file(
    qtbot: QtBot,
    store: ModelStore,
    hub_server: FakeHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    page = open_page(qtbot, store, hub_settings(hub_server))
    answer(monkeypatch, "import_options", ImportChoice())
    text = tmp_path / "notes.txt"
    text.write_text("not a model")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(text))])
    enter = QDragEnterEvent(
        QPoint(20, 20),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    page.dragEnterEvent(enter)
    assert not enter.isAccepted(), "only .gguf files are taken"

    page.show_tab("Catalog")
    _mime, event = drop_event([tiny_model(tmp_path / "Dropped.gguf")])
    with qtbot.waitSignal(page.models_changed, timeout=10_000):
        page.dropEvent(event)
    assert event.isAccepted() and page.tabs.currentWidget() is page.installed
    assert [m.id for m in store.list_models()] == ["dropped"]


def test_show_in_file_manager(
    qtbot: QtBot,
    store: ModelStore,
    hub_server: FakeHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = store.import_file(tiny_model(tmp_path / "Here.gguf"))
    page = open_page(qtbot, store, hub_settings(hub_server))
    page.refresh()
    select(page, model)
    opened: list[QUrl] = []
    monkeypatch.setattr(desktop.QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    qtbot.mouseClick(page.installed.folder_button, CLICK)
    assert [Path(u.toLocalFile()) for u in opened] == [model.path.parent]


def test_verify_shows_progress_and_the_result(
    qtbot: QtBot, store: ModelStore, hub_server: FakeHub, tmp_path: Path
) -> None:
    model = store.import_file(tiny_model(tmp_path / "Sound.gguf", pad_bytes=4 * 1024 * 1024))
    page = open_page(qtbot, store, hub_settings(hub_server))
    page.refresh()
    select(page, model)
    busy = page.installed.busy
    qtbot.mouseClick(page.verify_button, CLICK)
    assert busy.isVisible() and not page.verify_button.isEnabled()
    assert page.table_model.index(0, Column.VERIFIED).data() == "Verifying…"
    qtbot.waitUntil(lambda: not busy.busy, timeout=10_000)
    assert (busy.bar.maximum(), busy.bar.value()) == (1000, 1000), "progress reached the bar"
    verified = page.table_model.index(0, Column.VERIFIED)
    assert verified.data() == "✓ OK" and verified.data(Role.VERIFIED_OK) is True
    assert "OK" in page.status.text() and not page.installed.busy.isVisible()


def test_verify_all_reports_each_model(
    qtbot: QtBot, store: ModelStore, hub_server: FakeHub, tmp_path: Path
) -> None:
    good = store.import_file(tiny_model(tmp_path / "Good.gguf", seed=1))
    bad = store.import_file(tiny_model(tmp_path / "Bad.gguf", seed=2))
    data = bytearray(bad.path.read_bytes())
    data[-1] ^= 1
    bad.path.write_bytes(bytes(data))
    page = open_page(qtbot, store, hub_settings(hub_server))
    page.refresh()
    qtbot.mouseClick(page.installed.verify_all_button, CLICK)
    qtbot.waitUntil(lambda: not page.installed.busy.busy, timeout=10_000)
    marks = {
        m.id: page.table_model.index(page.table_model.row_of(m.id), Column.VERIFIED).data()
        for m in (good, bad)
    }
    assert marks == {good.id: "✓ OK", bad.id: "✗ Changed"}
    assert page.status.text().startswith(f"{bad.id}: ") and "has changed" in page.status.text()


@pytest.mark.parametrize("switch", [False, True])
def test_update_available_badge_then_update(
    qtbot: QtBot,
    store: ModelStore,
    hub_server: FakeHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    switch: bool,
) -> None:
    serve_tiny(hub_server, tmp_path, seed=1)
    page = open_page(qtbot, store, hub_settings(hub_server))
    old = download(qtbot, page, DownloadRequest(REPO, FILE))
    new_bytes = tiny_model(tmp_path / "v2" / FILE, seed=2).read_bytes()
    new_commit = hub_server.commit(REPO, {FILE: new_bytes}, message="Requantize")
    reviewed: list[VersionComparison] = []

    def review(cls: type, parent: object, comparison: VersionComparison) -> bool:
        reviewed.append(comparison)
        return switch

    monkeypatch.setattr(BehaviourPrompts, "review_update", classmethod(review))

    select(page, old)
    assert not page.installed.update_button.isEnabled()
    qtbot.mouseClick(page.installed.check_button, CLICK)
    qtbot.waitUntil(lambda: not page.installed.busy.busy, timeout=10_000)
    assert page.status.text() == f"Update available for {old.id}."
    row = page.table_model.row_of(old.id)
    badge = page.table_model.index(row, Column.UPDATES)
    assert badge.data() == "Update available" and badge.data(Role.UPDATE_AVAILABLE) is True
    assert page.installed.update_button.isEnabled()

    before = store.active()
    with qtbot.waitSignal(page.queue.model_installed, timeout=20_000) as installed:
        qtbot.mouseClick(page.installed.update_button, CLICK)
    new = installed.args[0]
    assert new.commit == new_commit and new.revision == "main"
    qtbot.waitUntil(lambda: bool(reviewed), timeout=10_000)
    (comparison,) = reviewed
    assert (comparison.old.id, comparison.new.id) == (old.id, new.id)
    assert comparison.reports == () and "nothing to compare" in comparison.summary()
    active = store.active()
    assert active is not None
    if switch:
        assert active.id == new.id and page.status.text().startswith(f"Switched to {new.id}")
    else:
        assert active == before, "the active model stays unless the person switches"
        assert f"Installed {new.id}; still using" in page.status.text()
    assert {old.id, new.id} <= {m.id for m in store.list_models()}, "the old version stays"


def test_the_whole_sha256_is_shown_and_copied_and_context_is_what_chat_uses(
    qtbot: QtBot, store: ModelStore, hub_server: FakeHub, tmp_path: Path
) -> None:
    metadata = typical_metadata({"general.name": "Long", "llama.context_length": u32(8192)})
    tensor = Tensor("output_norm.weight", (64,), "F32", data=bytes(256))
    long = store.import_file(write_gguf(tmp_path / "Long.gguf", metadata, [tensor]))
    short = store.import_file(tiny_model(tmp_path / "Short.gguf"))  # trained with 256
    page = open_page(qtbot, store, hub_settings(hub_server))
    model = page.table_model
    page.refresh()
    assert model.rowCount() == 2

    def context(of: InstalledModel) -> str:
        return model.index(model.row_of(of.id), Column.CONTEXT).data()

    assert context(long) == "4,096 of 8,192" and context(short) == "256"
    tip = model.index(model.row_of(long.id), Column.CONTEXT).data(Qt.ItemDataRole.ToolTipRole)
    assert "4,096 tokens of the 8,192" in tip

    tab = page.installed
    select(page, short)
    assert tab.sha256_label.text() == f"sha256 {short.sha256}"
    select(page, long)
    assert tab.sha256_label.text() == f"sha256 {long.sha256}" and len(long.sha256) == 64
    qtbot.mouseClick(tab.copy_sha256_button, CLICK)
    assert QApplication.clipboard().text() == long.sha256
    assert tab.copy_sha256_button.text() == "Copied"
    qtbot.waitUntil(lambda: tab.copy_sha256_button.text() == "Copy sha256", timeout=5_000)
    out = Path(os.environ.get("DRIFTLESS_SCREENSHOTS") or tmp_path / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    assert page.grab().save(str(out / "models-sha256-and-context.png"))


def test_a_pinned_model_shows_its_pin_and_a_narrow_window_keeps_its_name_readable(
    qtbot: QtBot, store: ModelStore, hub_server: FakeHub, tmp_path: Path
) -> None:
    pinned = store.import_file(tiny_model(tmp_path / "Keep.gguf"), pinned=True)
    loose = store.import_file(tiny_model(tmp_path / "Loose.gguf", seed=2))
    page = open_page(qtbot, store, hub_settings(hub_server))
    page.refresh()
    model = page.table_model
    decoration = Qt.ItemDataRole.DecorationRole
    assert not model.data(model.index(model.row_of(pinned.id), Column.NAME), decoration).isNull()
    assert model.data(model.index(model.row_of(loose.id), Column.NAME), decoration) is None
    hidden = [Column.QUANT, Column.LICENSE, Column.BEHAVIOUR]
    assert not any(page.table.isColumnHidden(c) for c in hidden)  # 1,000 px wide
    page.resize(700, 600)
    qtbot.waitUntil(lambda: page.installed.narrow)
    assert all(page.table.isColumnHidden(c) for c in hidden)
    assert page.table.columnWidth(Column.NAME) >= 120, "the name is not squeezed to s…1"
    page.resize(1000, 680)
    qtbot.waitUntil(lambda: not page.installed.narrow)
    assert not any(page.table.isColumnHidden(c) for c in hidden)
