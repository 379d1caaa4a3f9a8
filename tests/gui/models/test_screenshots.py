"""Each tab of the model manager renders with content; the README's screenshots come from here.

    DRIFTLESS_SCREENSHOTS=docs/screenshots QT_QPA_PLATFORM=offscreen \\
        .venv/bin/python -m pytest tests/gui/models/test_screenshots.py

writes one PNG per tab into that folder (without the variable, into the test's tmp folder).
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.core.hub.updates import UpdateState, UpdateStatus
from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
from app.ui.models.download_model import DownloadRequest, DownloadSnapshot, DownloadState
from app.ui.models.table import VerifyMark
from tests.gui.models.support import FILE, REPO, hub_settings, open_page, serve_tiny
from tests.hub_server import FakeHub, LocalFile
from tests.model_files import tiny_model

SIZE = (960, 600)
# Repos as the search shows them: sparse files, so the listed sizes look real and cost nothing.
LISTED = {
    "bartowski/Qwen2.5-0.5B-Instruct-GGUF": (
        412_000,
        {
            "Qwen2.5-0.5B-Instruct-Q4_K_M.gguf": 398_000_000,
            "Qwen2.5-0.5B-Instruct-Q6_K.gguf": 506_000_000,
            "Qwen2.5-0.5B-Instruct-Q8_0.gguf": 531_000_000,
            "Qwen2.5-0.5B-Instruct-f16.gguf": 994_000_000,
        },
    ),
    "Qwen/Qwen2.5-0.5B-Instruct-GGUF": (
        298_000,
        {"qwen2.5-0.5b-instruct-q4_k_m.gguf": 491_000_000},
    ),
    "lmstudio-community/Qwen2.5-0.5B-Instruct-GGUF": (
        35_100,
        {"Qwen2.5-0.5B-Instruct-Q8_0.gguf": 531_000_000},
    ),
}


def serve_listed(hub: FakeHub, folder: Path) -> None:
    for repo, (downloads, files) in LISTED.items():
        hub.add_repo(repo, downloads=downloads, likes=downloads // 900, tags=["gguf"])
        content = {}
        for name, size in files.items():
            path = folder / "sparse" / repo.replace("/", "--") / name
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as handle:
                handle.truncate(size)
            content[name] = LocalFile(path, sha256="0" * 64, size=size)
        hub.commit(repo, content, date=datetime(2025, 3, 14, tzinfo=UTC))


def test_every_tab_renders(
    qtbot: QtBot, store: ModelStore, hub_server: FakeHub, tmp_path: Path
) -> None:
    out = Path(os.environ.get("DRIFTLESS_SCREENSHOTS") or tmp_path / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    serve_tiny(hub_server, tmp_path)
    serve_listed(hub_server, tmp_path)
    starter = ensure_starter(store)
    assert starter is not None
    local = store.import_file(tiny_model(tmp_path / "my-finetune.Q8_0.gguf", seed=7))

    page = open_page(qtbot, store, hub_settings(hub_server), memory=6_000_000_000)
    page.resize(*SIZE)
    with qtbot.waitSignal(page.queue.model_installed, timeout=20_000) as installed:
        page.queue.enqueue(DownloadRequest(REPO, FILE))
    hub_model = installed.args[0]
    page.refresh()
    table = page.table_model
    table.set_verify_mark(local.id, VerifyMark(True, f"{local.id}: OK"))
    table.set_update_statuses(
        [
            UpdateStatus(starter, UpdateState.FILE_UNCHANGED, "f" * 40, "README changed"),
            UpdateStatus(hub_model, UpdateState.FILE_CHANGED, "e" * 40, "main moved"),
        ]
    )
    page.table.selectRow(table.row_of(starter.id))

    # The downloads tab: the finished one above, and one of each other state beside it.
    request = DownloadRequest("bartowski/Qwen2.5-1.5B-Instruct-GGUF", "x.gguf")
    running = DownloadSnapshot(
        900,
        replace(request, filename="Qwen2.5-1.5B-Instruct-Q4_K_M.gguf"),
        DownloadState.DOWNLOADING,
        "3f1c2a9" + "0" * 33,
        done=412_000_000,
        total=986_000_000,
        bytes_per_second=11_800_000,
        eta_seconds=49,
    )
    paused = DownloadSnapshot(
        901,
        DownloadRequest(
            "bartowski/Llama-3.2-1B-Instruct-GGUF", "Llama-3.2-1B-Instruct-Q4_K_M.gguf"
        ),
        DownloadState.PAUSED,
        "8d2e7b1" + "0" * 33,
        done=230_000_000,
        total=808_000_000,
    )
    failed = DownloadSnapshot(
        902,
        DownloadRequest("lmstudio-community/gemma-3-1b-it-GGUF", "gemma-3-1b-it-Q4_K_M.gguf"),
        DownloadState.FAILED,
        "c0ffee1" + "0" * 33,
        message="gemma-3-1b-it-Q4_K_M.gguf arrived damaged: its sha256 differs from the one "
        "the Hub announced. The file was deleted and nothing was installed. Try again.",
    )
    for snapshot in (running, paused, failed):
        page.queue.model.upsert(snapshot)

    search = page.search
    search.query.setText("Qwen2.5-0.5B")
    search.search()
    qtbot.waitUntil(lambda: search.repos_model.rowCount() == 3, timeout=10_000)
    search.select_repo("bartowski/Qwen2.5-0.5B-Instruct-GGUF")
    qtbot.waitUntil(lambda: search.files_model.rowCount() == 4, timeout=10_000)
    search.select_file("Qwen2.5-0.5B-Instruct-Q4_K_M.gguf")
    page.catalog.select("bartowski/Qwen2.5-1.5B-Instruct-GGUF", "Qwen2.5-1.5B-Instruct-Q4_K_M.gguf")

    for name in page.TABS:
        page.show_tab(name)
        QApplication.processEvents()
        image = page.grab().toImage()
        assert (image.width(), image.height()) == SIZE
        slug = name.lower().replace(" ", "-")
        assert image.save(str(out / f"models-{slug}.png"))
        assert image.pixelColor(5, 5).isValid()
    for snapshot in (running, paused, failed):
        page.queue.model.remove(snapshot.key)
