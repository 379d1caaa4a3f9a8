"""Teaching in the window: the examples are counted per label before anything is taught."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from app.core.classify.coverage import Coverage
from app.core.classify.labels import Label, LabelSet
from app.core.classify.library import LabelSetLibrary
from app.core.paths import Paths
from app.ui.classify.dialogs import CoverageDialog
from app.ui.classify.page import ClassifyPage
from tests.gui.classify.test_page import (
    NEGATIVE,
    POSITIVE,
    choose_file,
    confirm_columns,
    page,
    write_csv,
)

__all__ = ["choose_file", "confirm_columns", "page"]  # fixtures, imported to be used here


def test_the_coverage_dialog_names_the_labels_without_examples(qtbot: QtBot) -> None:
    coverage = Coverage.of([f"intent_{i}" for i in range(77)], [i % 5 for i in range(600)])
    dialog = CoverageDialog(coverage)
    qtbot.addWidget(dialog)
    text = " ".join(label.text() for label in dialog.findChildren(QLabel))
    assert "The examples cover 5 of 77 labels; 72 have none" in text
    assert "intent_5" in text and "Teach anyway?" in text
    assert CoverageDialog.ask(dialog, Coverage.of(["a", "b"], [0] * 9 + [1] * 9))  # complete


@pytest.mark.slow
def test_the_window_warns_before_teaching_from_a_file_missing_labels(
    qtbot: QtBot,
    page: ClassifyPage,
    tmp_path: Path,
    choose_file: Callable[[Path], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[Coverage] = []

    def decline(cls: type, parent: object, coverage: Coverage) -> bool:
        asked.append(coverage)
        return False

    monkeypatch.setattr(CoverageDialog, "ask", classmethod(decline))
    taught: list[object] = []
    monkeypatch.setattr(page.controller, "teach_file", lambda *a: taught.append(a))
    rows = [[t, "positive"] for t in POSITIVE] + [[t, "negative"] for t in NEGATIVE[:3]]
    choose_file(write_csv(tmp_path / "teach.csv", ["text", "label"], rows))
    page.tabs.setCurrentWidget(page.teach_tab)
    with qtbot.waitSignal(page.teach_tab.coverage_checked, timeout=20_000) as blocker:
        page.teach_tab.open_button.click()
    coverage = blocker.args[0]
    assert dict(zip(coverage.labels, coverage.counts, strict=True)) == {
        "positive": 10,
        "negative": 3,
    }
    assert asked == [coverage] and taught == []
    assert "Not taught" in page.teach_tab.result_label.text()
    assert "negative (3)" in page.teach_tab.result_label.text()
    assert page.teach_tab.open_button.isEnabled()


@pytest.mark.slow
def test_the_window_warns_before_teaching_600_rows_holding_5_of_77_intents(
    qtbot: QtBot,
    page: ClassifyPage,
    paths: Paths,
    tmp_path: Path,
    choose_file: Callable[[Path], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The issue's case: the first 600 rows of Banking77 hold 5 of its 77 intents. The
    dialog names the 72 without examples before anything is read through the model."""
    intents = [f"intent_{i}" for i in range(77)]
    banking = LabelSet(name="banking", instruction="Intent?", labels=tuple(map(Label, intents)))
    LabelSetLibrary.for_paths(paths).save(banking)
    page.choices.refresh_label_sets(select="banking")
    assert page.label_set is not None and page.label_set.name == "banking"
    asked: list[Coverage] = []

    def decline(cls: type, parent: object, coverage: Coverage) -> bool:
        asked.append(coverage)
        return False

    monkeypatch.setattr(CoverageDialog, "ask", classmethod(decline))
    taught: list[object] = []
    monkeypatch.setattr(page.controller, "teach_file", lambda *a: taught.append(a))
    rows = [[f"question {i}", intents[i % 5]] for i in range(600)]
    choose_file(write_csv(tmp_path / "first600.csv", ["text", "category"], rows))
    page.tabs.setCurrentWidget(page.teach_tab)
    with qtbot.waitSignal(page.teach_tab.coverage_checked, timeout=20_000) as blocker:
        page.teach_tab.open_button.click()
    coverage = blocker.args[0]
    assert coverage.covered == 5
    assert list(coverage.without) == intents[5:]
    assert asked == [coverage] and taught == [], "asked first; declining teaches nothing"
    assert "5 of 77 labels; 72 have none" in page.teach_tab.result_label.text()
