"""The installed-models table model obeys Qt's model contract."""

from __future__ import annotations

from pathlib import Path

from pytestqt.modeltest import ModelTester

from app.core.models.store import ModelStore
from app.ui.models.table import Column, InstalledModelsModel, Role
from tests.model_files import tiny_model


def test_model_contract_through_resets(
    qtmodeltester: ModelTester, store: ModelStore, tmp_path: Path
) -> None:
    model = InstalledModelsModel()
    qtmodeltester.check(model)
    a = store.import_file(tiny_model(tmp_path / "a.gguf", seed=1))
    b = store.import_file(tiny_model(tmp_path / "b.gguf", seed=2), pinned=True)
    model.set_models(store.list_models(), active_id=b.id)
    qtmodeltester.check(model)
    assert model.rowCount() == 2
    row_b = model.row_of(b.id)
    assert model.data(model.index(row_b, Column.STATE)) == "Active, Pinned"
    assert model.data(model.index(model.row_of(a.id), Column.STATE)) == ""
    assert model.data(model.index(row_b, 0), Role.MODEL) == b
    model.set_models([], active_id=None)
    qtmodeltester.check(model)
    assert model.rowCount() == 0
