"""The Classify page says what the starter model is for while it is chosen (issue 25)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.core.models.catalog import recommended
from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
from app.core.paths import Paths
from app.ui.classify.controller import ClassifyController
from app.ui.classify.page import ClassifyPage
from tests.model_files import tiny_model


def test_the_starter_is_said_to_be_for_trying_out_with_a_model_for_real_work(
    qtbot: QtBot,
    store: ModelStore,
    paths: Paths,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    starter = ensure_starter(store)
    other = store.import_file(tiny_model(tmp_path / "Other.gguf"))
    assert starter is not None
    # Shown, the page would load the model ahead of time: not needed to read a sentence.
    monkeypatch.setattr(ClassifyController, "open_model", lambda self, *_a: None)
    page = ClassifyPage(store, paths)
    qtbot.addWidget(page)
    page.resize(900, 560)
    page.show()
    try:
        combo = page.model_combo
        combo.setCurrentIndex(combo.findData(starter.id))
        note = page.choices.starter_label
        pick = recommended()
        assert pick is not None
        assert note.isVisible() and "for trying Driftless out" in note.text()
        assert "get sentiment wrong sometimes" in note.text() and pick.name in note.text()
        assert note.height() >= note.heightForWidth(note.width())  # wrapped, not cut
        out = Path(os.environ.get("DRIFTLESS_SCREENSHOTS") or tmp_path / "screenshots")
        out.mkdir(parents=True, exist_ok=True)
        QApplication.processEvents()
        assert page.grab().save(str(out / "classify-starter-note.png"))

        combo.setCurrentIndex(combo.findData(other.id))
        assert not note.isVisible()  # another model: nothing to say
    finally:
        page.shutdown()
