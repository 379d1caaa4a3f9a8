"""Classify's Try a text and Classify a file draw their empty, loading and error states
with the shared components: before anything is run, while a file opens, and when a run
fails (Retry runs it again). The model is not loaded: the lanes' signals stand in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.core.models.store import ModelStore
from app.core.paths import Paths
from app.ui.classify.controller import ClassifyController
from app.ui.classify.page import ClassifyPage

CLICK = Qt.MouseButton.LeftButton


@pytest.fixture
def page(
    qtbot: QtBot, store: ModelStore, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ClassifyPage]:
    monkeypatch.setattr(ClassifyController, "open_model", lambda *args, **kwargs: None)
    page = ClassifyPage(store, paths)
    qtbot.addWidget(page)
    page.resize(900, 620)
    page.show()
    yield page
    page.shutdown()


def test_try_a_text_says_what_to_do_before_a_text_and_retries_a_failure(
    qtbot: QtBot, page: ClassifyPage, monkeypatch: pytest.MonkeyPatch
) -> None:
    tab = page.try_tab
    page.tabs.setCurrentWidget(tab)
    assert tab.result_stack.state == "empty" and tab.result_stack.empty.isVisible()
    assert tab.result_stack.empty.text().startswith("Type or paste a text above")
    assert not tab.bars.isVisible()

    asked: list[str] = []
    monkeypatch.setattr(tab.choices, "job", lambda: object())
    monkeypatch.setattr(page.controller, "classify_text", lambda job, text: asked.append(text))
    tab.text_edit.setPlainText("a warm and lovely film")
    page.controller.try_lane.failed.emit("The model could not be opened: the file is damaged.")
    assert tab.result_stack.state == "error"
    error = tab.result_stack.error
    assert error.text() == "The model could not be opened: the file is damaged."
    assert error.retry_button is not None and error.retry_button.isVisible()
    qtbot.mouseClick(error.retry_button, CLICK)
    assert asked == ["a warm and lovely film"]


def test_classify_a_file_before_a_run_while_it_opens_and_when_it_fails(
    qtbot: QtBot, page: ClassifyPage, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tab = page.file_tab
    page.tabs.setCurrentWidget(tab)
    stack = tab.table_stack
    assert stack.state == "empty" and stack.empty.isVisible() and not tab.table.isVisible()
    assert stack.empty.text().startswith("No file classified here yet.")

    path = tmp_path / "reviews.csv"
    runs: list[Path] = []
    monkeypatch.setattr(tab, "ask_file", lambda title, need_gold: ("job", path, "columns"))
    monkeypatch.setattr(
        page.controller, "classify_file", lambda job, p, columns, cluster: runs.append(p)
    )
    tab._start_run("")
    assert runs == [path]
    assert stack.state == "loading" and stack.loading.text() == "Opening reviews.csv…"

    page.controller.file_lane.failed.emit("reviews.csv has no text column: name one.")
    assert stack.state == "error"
    assert stack.error.text() == "reviews.csv has no text column: name one."
    assert tab.summary_label.text() == "reviews.csv has no text column: name one."
    assert stack.error.retry_button is not None
    qtbot.mouseClick(stack.error.retry_button, CLICK)
    assert runs == [path, path] and stack.state == "loading"


def test_long_ids_in_the_evaluation_details_are_cut_so_they_wrap() -> None:
    from app.ui.classify.summary import short_ids

    commit = "ab810cf0123456789abcdef0123456789abcdef0"
    lock_id = f"HuggingFaceTB/SmolLM2-135M-Instruct-GGUF@{commit}/smollm2.gguf"
    assert short_ids(lock_id) == (
        "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF@ab810cf01234…/smollm2.gguf"
    )
    assert short_ids("sha256:" + "0f" * 32 + "/own.gguf") == "sha256:0f0f0f0f0f0f…/own.gguf"
    assert short_ids("mood@v1") == "mood@v1"  # short words stay whole


def test_evaluate_before_an_evaluation_and_when_one_fails(
    qtbot: QtBot, page: ClassifyPage, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tab = page.eval_tab
    page.tabs.setCurrentWidget(tab)
    stack = tab.results_stack
    assert stack.state == "empty" and stack.empty.isVisible()
    assert stack.empty.text().startswith("No evaluation yet.")
    assert not tab.matrix.isVisible()

    path = tmp_path / "gold.csv"
    asked: list[Path] = []
    monkeypatch.setattr(tab, "ask_file", lambda title, need_gold: ("job", path, "columns"))
    monkeypatch.setattr(page.controller, "evaluate_file", lambda job, p, columns: asked.append(p))
    tab._on_open_button_clicked()
    assert asked == [path] and stack.state == "content"
    assert tab.summary_label.text() == "Evaluating on gold.csv…"

    page.controller.eval_lane.failed.emit("No row of gold.csv has a gold label in the set.")
    assert stack.state == "error" and stack.error.isVisible()
    assert stack.error.text() == "No row of gold.csv has a gold label in the set."
    assert stack.error.retry_button is not None
    qtbot.mouseClick(stack.error.retry_button, CLICK)
    assert asked == [path, path] and stack.state == "content"
