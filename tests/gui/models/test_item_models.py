"""The manager's item models obey Qt's model contract through inserts, changes and resets."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.modeltest import ModelTester

from app.core.hub.client import RemoteFile, RepoSummary
from app.core.hub.updates import UpdateState, UpdateStatus
from app.core.models.catalog import load_catalog
from app.core.models.store import ModelStore
from app.ui.models.catalog_tab import catalog_columns
from app.ui.models.download_model import (
    DownloadRequest,
    DownloadRole,
    DownloadsModel,
    DownloadSnapshot,
    DownloadState,
)
from app.ui.models.records import RecordRole, RecordTableModel
from app.ui.models.search_tab import FILE_COLUMNS, REPO_COLUMNS
from app.ui.models.table import Column, InstalledModelsModel, Role, VerifyMark
from tests.model_files import tiny_model


def test_downloads_model_through_insert_change_remove(qtmodeltester: ModelTester) -> None:
    model = DownloadsModel()
    qtmodeltester.check(model)
    request = DownloadRequest("o/r-GGUF", "a.gguf")
    first = DownloadSnapshot(1, request, DownloadState.QUEUED)
    model.upsert(first)
    model.upsert(DownloadSnapshot(2, replace(request, filename="b.gguf"), DownloadState.PAUSED))
    qtmodeltester.check(model)
    running = replace(first, state=DownloadState.DOWNLOADING, done=50, total=200, commit="a" * 40)
    model.upsert(running)
    qtmodeltester.check(model)
    assert model.rowCount() == 2
    index = model.index(0, 0)
    assert index.data() == "a.gguf: Downloading"
    assert index.data(DownloadRole.FRACTION) == 0.25
    assert index.data(DownloadRole.SNAPSHOT).source == "o/r-GGUF@aaaaaaa"
    model.remove(1)
    qtmodeltester.check(model)
    assert [s.key for s in model.snapshots()] == [2]
    model.remove(99)  # unknown: nothing happens
    assert model.rowCount() == 1


def test_record_models_for_catalog_search_and_files(qtmodeltester: ModelTester) -> None:
    catalog = RecordTableModel(catalog_columns(16 * 10**9, lambda entry: ""))
    qtmodeltester.check(catalog)
    catalog.set_records(load_catalog())
    qtmodeltester.check(catalog)
    catalog.refresh()
    assert catalog.index(0, 0).data(RecordRole.RECORD).family == "SmolLM2"

    repos = RecordTableModel(REPO_COLUMNS)
    repos.set_records(
        [
            RepoSummary("a/One-GGUF", 10, 1, datetime(2025, 1, 2, tzinfo=UTC)),
            RepoSummary("b/Two-GGUF", 1_000, 5, None, gated=True),
        ]
    )
    qtmodeltester.check(repos)
    assert repos.index(1, 0).data() == "b/Two-GGUF  (gated)"
    assert repos.index(1, 1).data() == "1,000" and repos.index(1, 1).data(RecordRole.SORT) == 1000

    files = RecordTableModel(FILE_COLUMNS)
    files.set_records([RemoteFile("a/One-GGUF", "c" * 40, "one.Q4_K_M.gguf", 5_000_000, None)])
    qtmodeltester.check(files)
    assert [files.index(0, c).data() for c in range(3)] == ["one.Q4_K_M.gguf", "5.0 MB", "Q4_K_M"]
    files.set_records([])
    qtmodeltester.check(files)


def test_installed_model_badges(
    qtmodeltester: ModelTester, store: ModelStore, tmp_path: Path
) -> None:
    model = InstalledModelsModel()
    a = store.import_file(tiny_model(tmp_path / "a.gguf", seed=1), pinned=True)
    b = store.import_file(tiny_model(tmp_path / "b.gguf", seed=2))
    model.set_models(store.list_models(), active_id=a.id)
    model.set_verify_mark(b.id, VerifyMark(False, "b: the file is missing."))
    model.set_update_statuses(
        [UpdateStatus(a, UpdateState.FILE_CHANGED, "d" * 40, "main moved to ddddddd")]
    )
    qtmodeltester.check(model)
    row_a, row_b = model.row_of(a.id), model.row_of(b.id)
    assert model.index(row_a, Column.LICENSE).data() == "apache-2.0"
    assert model.index(row_a, Column.UPDATES).data() == "Update available"
    assert model.index(row_a, 0).data(Role.UPDATE_AVAILABLE) is True
    assert model.index(row_a, Column.VERIFIED).data().startswith("✓ ")
    assert model.index(row_b, Column.VERIFIED).data() == "✗ Changed"
    tip = model.index(row_b, Column.VERIFIED).data(Qt.ItemDataRole.ToolTipRole)
    assert tip == "b: the file is missing."
    assert model.index(row_b, Column.UPDATES).data() == ""
