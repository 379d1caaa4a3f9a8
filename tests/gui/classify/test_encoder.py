"""The Classify page with a sentence encoder: marked in the model list, taught by examples,
refused for prompted scoring with a sentence. The encoder is a tiny random BERT made in the
test (tests/encoder_model.py): a real llama.cpp load of a few kB, so the tests are slow-marked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.core.classify.runner import RunnerInfo
from app.core.models.store import InstalledModel, ModelStore
from app.ui.classify.choices import ENCODER_MARK
from app.ui.classify.page import ClassifyPage
from tests.encoder_model import tiny_encoder
from tests.gui.classify.test_page import (
    choose_file,
    confirm_columns,
    page,
    teach_mood,
)

__all__ = ["choose_file", "confirm_columns", "page"]  # fixtures, imported to be used here


@pytest.fixture
def encoder(store: ModelStore, tmp_path: Path, page: ClassifyPage) -> InstalledModel:
    model = store.import_file(tiny_encoder(tmp_path / "models" / "tiny-encoder.gguf"))
    page.choices.refresh_models()
    return model


def choose_model(page: ClassifyPage, model_id: str) -> None:
    combo = page.choices.model_combo
    index = combo.findData(model_id)
    assert index >= 0
    combo.setCurrentIndex(index)
    combo.activated.emit(index)  # as a person's choice: the model is opened


def choose_method(page: ClassifyPage, method: str) -> None:
    index = page.method_combo.findData(method)
    page.method_combo.setCurrentIndex(index)
    page.method_combo.activated.emit(index)


@pytest.mark.slow
def test_the_model_list_marks_an_encoder_and_prompting_it_is_refused(
    qtbot: QtBot, page: ClassifyPage, encoder: InstalledModel
) -> None:
    combo = page.choices.model_combo
    index = combo.findData(encoder.id)
    assert combo.itemText(index) == encoder.id + ENCODER_MARK
    starter = next(i for i in range(combo.count()) if i != index)
    assert ENCODER_MARK not in combo.itemText(starter)  # the chat model is not marked
    choose_method(page, "prompt")

    def is_encoder(info: RunnerInfo) -> bool:
        return info.model_id == encoder.id

    with qtbot.waitSignal(
        page.controller.model_loaded, timeout=20_000, check_params_cb=is_encoder
    ) as loaded:
        choose_model(page, encoder.id)
    assert loaded.args[0].reader == "encoder" and loaded.args[0].pooling == "mean"
    status = page.choices.status_label.text()
    assert "a sentence encoder" in status and "Taught by examples" in status
    # A typed text is refused with the sentence, not a crash.
    with qtbot.waitSignal(page.controller.failed, timeout=20_000):
        page.try_tab.text_edit.setPlainText("a wonderful film")
    # In the result's place, with Try again (the shared error state).
    assert page.try_tab.result_stack.state == "error"
    assert "is a sentence encoder" in page.try_tab.result_stack.error.text()


@pytest.mark.slow
def test_teaching_on_an_encoder_then_classifying_a_typed_text(
    qtbot: QtBot,
    page: ClassifyPage,
    encoder: InstalledModel,
    tmp_path: Path,
    choose_file: Callable[[Path], None],
) -> None:
    choose_model(page, encoder.id)
    teach_mood(qtbot, page, tmp_path, choose_file)
    heads = list(page.paths.home.rglob("*pooled*"))
    assert heads, "the head is saved under its pooled features"

    with qtbot.waitSignal(page.controller.finished, timeout=20_000) as blocker:
        page.try_tab.text_edit.setPlainText("what a wonderful day")
    assert blocker.args[0] == "try"
    bars = page.try_tab.bars.bars
    assert set(bars) == {"positive", "negative"}
    assert sum(bar.value() for bar in bars.values()) == pytest.approx(1000, abs=2)
