"""Settings: endpoint, token and the offline switch, which turns the network off in place."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot

from app.core.models.store import ModelStore
from app.core.runtime.gpu import Backends, Device
from app.core.settings import Settings, load_settings, token_path
from app.ui.models.download_model import DownloadRequest, DownloadState
from app.ui.models.settings_dialog import SettingsDialog
from tests.gui.models.support import (
    FILE,
    MIB,
    REPO,
    hub_settings,
    only_download,
    open_page,
    serve_tiny,
    wait_for_state,
)
from tests.hub_server import FakeHub

CLICK = Qt.MouseButton.LeftButton


def test_dialog_edits_and_validates(qtbot: QtBot, tmp_path: Path) -> None:
    dialog = SettingsDialog(Settings(hub_endpoint="https://huggingface.co"), tmp_path)
    qtbot.addWidget(dialog)
    save = dialog.buttons.button(QDialogButtonBox.StandardButton.Save)
    dialog.endpoint.setText("ftp://mirror.example")
    qtbot.mouseClick(save, CLICK)
    assert dialog.result_settings is None and not dialog.error.isHidden()
    assert "must start with http" in dialog.error.text()

    dialog.endpoint.setText("https://hub.example.com/ ")
    dialog.token.setText(" hf_secret ")
    dialog.offline.setChecked(True)
    with qtbot.waitSignal(dialog.accepted):
        qtbot.mouseClick(save, CLICK)
    result = dialog.result_settings
    assert result is not None
    assert (result.hub_endpoint, result.hub_token, result.offline) == (
        "https://hub.example.com",
        "hf_secret",
        True,
    )
    assert dialog.token.echoMode() == dialog.token.EchoMode.Password


def test_the_memory_for_models_and_the_idle_time_are_settings(qtbot: QtBot, tmp_path: Path) -> None:
    dialog = SettingsDialog(Settings(hub_endpoint="https://huggingface.co"), tmp_path)
    qtbot.addWidget(dialog)
    assert dialog.memory.text() == "As much as is free" and dialog.idle.text() == "5 min"
    dialog.memory.setValue(4096)
    dialog.idle.setValue(0)
    assert dialog.idle.text() == "Unload at once"
    with qtbot.waitSignal(dialog.accepted):
        qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Save), CLICK)
    result = dialog.result_settings
    assert result is not None
    assert (result.memory_budget_mb, result.model_idle_seconds) == (4096, 0.0)


def test_settings_are_saved_and_the_token_kept_private(
    qtbot: QtBot, store: ModelStore, hub_server: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = open_page(qtbot, store, hub_settings(hub_server))
    chosen = hub_settings(hub_server, hub_token="hf_abc")
    monkeypatch.setattr(SettingsDialog, "ask", classmethod(lambda cls, *args: chosen))
    qtbot.mouseClick(page.settings_button, CLICK)
    saved = load_settings(store.paths)
    assert (saved.hub_endpoint, saved.hub_token) == (hub_server.url, "hf_abc")
    assert page.queue.settings.hub_token == "hf_abc"
    if os.name == "posix":
        assert token_path(store.paths).stat().st_mode & 0o777 == 0o600
    assert "hf_abc" not in store.paths.settings_file.read_text()


def test_offline_switch_disables_search_and_downloads(
    qtbot: QtBot,
    store: ModelStore,
    hub_server: FakeHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    serve_tiny(hub_server, tmp_path)
    page = open_page(qtbot, store, hub_settings(hub_server))
    assert page.offline_banner.isHidden() and page.search.search_button.isEnabled()

    offline = hub_settings(hub_server, offline=True)
    monkeypatch.setattr(SettingsDialog, "ask", classmethod(lambda cls, *args: offline))
    qtbot.mouseClick(page.settings_button, CLICK)
    assert load_settings(store.paths).offline
    assert not page.offline_banner.isHidden()
    assert "Working offline" in page.offline_banner.text()
    search = page.search
    assert not search.search_button.isEnabled() and not search.query.isEnabled()
    assert not search.offline_hint.isHidden()
    assert "Working offline" in search.search_button.toolTip()
    page.catalog.table.selectRow(0)
    assert not page.catalog.download_button.isEnabled()
    assert not page.catalog.offline_hint.isHidden()
    assert not page.installed.check_button.isEnabled()

    hub_server.clear_requests()
    search.search()  # e.g. Return pressed in the query box: nothing happens
    page.queue.enqueue(DownloadRequest(REPO, FILE))  # the core refuses too
    failed = wait_for_state(qtbot, page, DownloadState.FAILED)
    assert "set to work offline" in failed.message
    row = page.downloads.rows[0]
    assert not row.retry_button.isEnabled() and "offline" in row.retry_button.toolTip()
    assert hub_server.requests == [], "nothing touched the network"

    online = hub_settings(hub_server)
    monkeypatch.setattr(SettingsDialog, "ask", classmethod(lambda cls, *args: online))
    qtbot.mouseClick(page.settings_button, CLICK)
    assert page.offline_banner.isHidden() and row.retry_button.isEnabled()
    with qtbot.waitSignal(page.queue.model_installed, timeout=20_000):
        qtbot.mouseClick(row.retry_button, CLICK)


def test_going_offline_pauses_running_downloads(
    qtbot: QtBot, store: ModelStore, hub_server: FakeHub, tmp_path: Path
) -> None:
    serve_tiny(hub_server, tmp_path, pad_bytes=3 * MIB)
    hub_server.faults.stall(1.0, after_bytes=MIB)
    page = open_page(qtbot, store, hub_settings(hub_server))
    page.queue.enqueue(DownloadRequest(REPO, FILE))
    qtbot.waitUntil(lambda: only_download(page).done >= MIB, timeout=10_000)
    page.apply_settings(hub_settings(hub_server, offline=True))
    paused = wait_for_state(qtbot, page, DownloadState.PAUSED)
    assert paused.done == MIB and store.list_models() == []
    assert page.downloads.rows[0].resume_button.isEnabled() is False


def test_the_cluster_address_is_edited_and_checked(qtbot: QtBot, tmp_path: Path) -> None:
    dialog = SettingsDialog(Settings(hub_endpoint="https://huggingface.co"), tmp_path)
    qtbot.addWidget(dialog)
    save = dialog.buttons.button(QDialogButtonBox.StandardButton.Save)
    dialog.cluster.setText("headnode")
    qtbot.mouseClick(save, CLICK)
    assert dialog.result_settings is None
    assert "ray://HOST:PORT" in dialog.error.text()
    dialog.cluster.setText(" ray://head.example:10001 ")
    with qtbot.waitSignal(dialog.accepted):
        qtbot.mouseClick(save, CLICK)
    assert dialog.result_settings is not None
    assert dialog.result_settings.cluster_address == "ray://head.example:10001"


LAVAPIPE = Device(
    name="Vulkan0",
    description="llvmpipe (LLVM 15.0.6, 256 bits)",
    backend="Vulkan",
    kind="gpu",
    memory_free=2 * 1024**3,
    memory_total=2 * 1024**3,
    driver="llvmpipe",
)


def test_gpu_layers_is_a_setting_beside_the_devices_found(qtbot: QtBot, tmp_path: Path) -> None:
    found = Backends((LAVAPIPE,), "", ("CPU", "Vulkan"))
    dialog = SettingsDialog(Settings(), tmp_path, find_devices=lambda: found)
    qtbot.addWidget(dialog)
    assert dialog.gpu.currentData() == "auto" and not dialog.gpu_count.isEnabled()
    qtbot.waitUntil(lambda: dialog.devices.text().startswith("Vulkan0: llvmpipe"))
    assert "driver llvmpipe, 2.1 GB free of 2.1 GB" in dialog.devices.text()
    assert "software" in dialog.devices.text()
    choices = [dialog.gpu.itemData(i) for i in range(dialog.gpu.count())]
    assert choices == ["auto", "0", "N", "all"]
    dialog.gpu.setCurrentIndex(choices.index("N"))
    assert dialog.gpu_count.isEnabled()
    dialog.gpu_count.setValue(12)
    assert dialog.edited().gpu_layers == "12"
    dialog.gpu.setCurrentIndex(choices.index("0"))
    assert dialog.edited().gpu_layers == "0" and not dialog.gpu_count.isEnabled()
    dialog.gpu.setCurrentIndex(choices.index("all"))
    with qtbot.waitSignal(dialog.accepted):
        qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Save), CLICK)
    assert dialog.result_settings is not None and dialog.result_settings.gpu_layers == "all"
    # a number comes back as a number, with the spin box on
    again = SettingsDialog(Settings(gpu_layers="7"), tmp_path, find_devices=lambda: found)
    qtbot.addWidget(again)
    assert again.gpu.currentData() == "N" and again.gpu_count.value() == 7
    assert again.gpu_layers() == "7"


def test_without_a_gpu_the_dialog_says_why(qtbot: QtBot, tmp_path: Path) -> None:
    reason = "there is no Vulkan loader on this machine (libvulkan.so.1)"
    none = Backends((), reason, ("CPU",))
    dialog = SettingsDialog(Settings(gpu_layers="0"), tmp_path, find_devices=lambda: none)
    qtbot.addWidget(dialog)
    assert dialog.gpu.currentData() == "0"
    qtbot.waitUntil(lambda: dialog.devices.text() == f"No GPU: {reason}.")

    def broken() -> Backends:
        raise OSError("libggml-base.so: cannot open shared object file")

    failed = SettingsDialog(Settings(), tmp_path, find_devices=broken)
    qtbot.addWidget(failed)
    qtbot.waitUntil(lambda: failed.devices.text().startswith("No GPU: "))
    assert "libggml-base.so" in failed.devices.text()
