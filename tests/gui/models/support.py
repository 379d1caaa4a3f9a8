"""Shared set-up for the model manager's GUI tests: a fake Hub repo and an open Models page."""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from app.core.models.store import ModelStore
from app.core.settings import Settings
from app.ui.models.download_model import DownloadSnapshot, DownloadState
from app.ui.models.downloads import DownloadQueue
from app.ui.models.page import ModelsPage
from tests.hub_server import FakeHub
from tests.model_files import tiny_model

REPO = "driftless-test/Tiny-GGUF"
FILE = "tiny.Q8_0.gguf"
MIB = 1024 * 1024
GB = 1024**3


def serve_tiny(hub: FakeHub, folder: Path, *, pad_bytes: int = 0, seed: int = 0) -> bytes:
    """Put ``REPO`` with ``FILE`` (a valid tiny GGUF) on the fake Hub; return its bytes."""
    data = tiny_model(folder / f"src-{seed}" / FILE, seed=seed, pad_bytes=pad_bytes).read_bytes()
    hub.add_repo(REPO, downloads=1234, likes=56, tags=["gguf"], license="apache-2.0")
    hub.commit(REPO, {FILE: data, "README.md": b"# Tiny\n"})
    return data


def hub_settings(hub: FakeHub, **changes: object) -> Settings:
    settings = Settings(hub_endpoint=hub.url, stall_timeout=10.0, download_retries=2)
    return settings.with_changes(**changes) if changes else settings


def open_page(
    qtbot: QtBot, store: ModelStore, settings: Settings, memory: int = 16 * GB
) -> ModelsPage:
    page = ModelsPage(store, DownloadQueue(store, settings), memory=memory)
    qtbot.addWidget(page)
    page.resize(1000, 680)
    page.show()
    return page


def only_download(page: ModelsPage) -> DownloadSnapshot:
    (snapshot,) = page.queue.model.snapshots()
    return snapshot


def wait_for_state(
    qtbot: QtBot, page: ModelsPage, state: DownloadState, timeout: int = 20_000
) -> DownloadSnapshot:
    qtbot.waitUntil(lambda: only_download(page).state is state, timeout=timeout)
    return only_download(page)


def file_gets(hub: FakeHub) -> list[str | None]:
    """The Range header of each successful GET of file bytes (None: from the start)."""
    return [
        r.range
        for r in hub.requests
        if r.method == "GET"
        and ("/resolve/" in r.path or r.role == "cdn")
        and r.status in (200, 206)
    ]


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]
