"""The column picker shows SST-2's gold values with their counts and a marked guess.

The README's screenshot of the picker comes from here::

    DRIFTLESS_SCREENSHOTS=docs/screenshots QT_QPA_PLATFORM=offscreen \\
        .venv/bin/python -m pytest tests/gui/classify/test_goldmap.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.core.classify import LabelSetLibrary, choose_columns, evaluate, gold_rows, read_all, sniff
from app.core.classify.labels import LabelSet
from app.core.paths import Paths
from app.ui.classify.goldmap import GoldMapDialog
from app.ui.classify.options import ColumnsDialog
from tests.unit.classify.sst2 import OracleClassifier, sst2_rows, write_sst2


@pytest.fixture
def sentiment(paths: Paths) -> LabelSet:
    return LabelSetLibrary.for_paths(paths).resolve("sentiment")


def screenshot_dir(tmp_path: Path) -> Path:
    out = Path(os.environ.get("DRIFTLESS_SCREENSHOTS") or tmp_path / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    return out


def test_the_picker_shows_values_counts_and_a_marked_guess_then_the_map_scores_right(
    qtbot: QtBot, tmp_path: Path, sentiment: LabelSet
) -> None:
    rows = sst2_rows(200)
    source = write_sst2(tmp_path / "sst2_train.tsv", rows)
    dialog = ColumnsDialog(choose_columns(sniff(source)), need_gold=True, label_set=sentiment)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: not dialog.counting)
    editor = dialog.gold_editor
    assert not editor.isHidden() and "not label names" in editor.intro.text()
    table = editor.table
    zeros = sum(1 for _, g in rows if g == "0")
    assert [table.item(r, 0).text() for r in range(table.rowCount())] == ["0", "1"]
    assert [table.item(r, 1).text() for r in range(2)] == [f"{zeros:,}", f"{len(rows) - zeros:,}"]
    assert [c.currentText() for c in editor.combos] == ["negative", "positive"]
    assert all(table.item(r, 3).text().startswith("guess") for r in range(2))
    assert table.item(0, 3).font().italic()
    assert editor.guessed() == ["0", "1"]

    dialog.show()
    QApplication.processEvents()
    assert dialog.grab().save(str(screenshot_dir(tmp_path) / "classify-gold-map.png"))

    # The person picks the guessed label itself: confirmed, no longer marked "check it".
    editor.combos[0].activated.emit(editor.combos[0].currentIndex())
    assert editor.guessed() == ["1"] and table.item(0, 3).text() == "as you said"
    assert not table.item(0, 3).font().italic()

    # The person corrects one value: it is no longer a guess, and the map says so.
    editor.combos[1].setCurrentIndex(editor.combos[1].findData("neutral"))
    assert editor.guessed() == [] and table.item(1, 3).text() == "as you said"
    editor.combos[1].setCurrentIndex(editor.combos[1].findData("positive"))
    chosen = dialog.chosen()
    assert chosen.gold_map is not None and chosen.gold_map.text == "0=negative,1=positive"

    # The confirmed map travels with the columns and gives the classifier's true accuracy.
    gold = gold_rows(read_all(source, columns=chosen, need_gold=True), sentiment)
    report = evaluate(OracleClassifier(sentiment, dict(rows)), gold)
    assert report.scores.accuracy == pytest.approx(0.8)
    assert report.gold_map == "0=negative,1=positive"


def test_names_need_no_map_and_leaving_every_value_out_is_refused(
    qtbot: QtBot, tmp_path: Path, sentiment: LabelSet
) -> None:
    source = tmp_path / "named.csv"
    source.write_text("text,label\ngood,Positive\nbad,negative\nmeh,mixed\n", encoding="utf-8")
    dialog = ColumnsDialog(choose_columns(sniff(source)), need_gold=True, label_set=sentiment)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: not dialog.counting)
    assert [c.currentText() for c in dialog.gold_editor.combos] == [
        "(leave out)",  # mixed matches no label
        "negative",
        "positive",
    ]
    assert dialog.chosen().gold_map is None  # matched by name: nothing to record
    for combo in dialog.gold_editor.combos:
        combo.setCurrentIndex(0)
    dialog.buttons.accepted.emit()
    assert "at least one gold value" in dialog.error_label.text()


def test_a_run_whose_values_are_names_is_evaluated_without_asking(
    qtbot: QtBot, sentiment: LabelSet
) -> None:
    from app.core.classify import survey_gold

    named = survey_gold(["positive", "negative"], sentiment)
    assert GoldMapDialog.ask(None, "t", named, sentiment) is not None  # type: ignore[arg-type]
    numbers = survey_gold(["0", "1"], sentiment)
    dialog = GoldMapDialog("Evaluate run 1", numbers, sentiment)
    qtbot.addWidget(dialog)
    assert dialog.editor.gold_map() is not None
    assert dialog.editor.gold_map().text == "0=negative,1=positive"  # type: ignore[union-attr]


def test_a_big_gold_column_is_counted_in_the_background(
    qtbot: QtBot, tmp_path: Path, sentiment: LabelSet
) -> None:
    source = tmp_path / "big.csv"
    with source.open("w", encoding="utf-8") as file:
        file.write("text,label,other\n")
        file.writelines(f"text number {i},{i % 2},x{i % 3}\n" for i in range(200_000))
    dialog = ColumnsDialog(choose_columns(sniff(source)), need_gold=True, label_set=sentiment)
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(dialog.buttons.StandardButton.Ok)
    # The dialog is up and answering while the file is read; OK waits for the count.
    assert dialog.counting and not ok.isEnabled()
    assert "Counting the values" in dialog.error_label.text()
    dialog.buttons.accepted.emit()
    assert dialog.result() == 0 and dialog.counting, "OK does nothing until the count is in"
    # Another column while counting: the first count is dropped, never shown.
    with qtbot.waitSignal(dialog.values_counted, timeout=60_000):
        dialog.gold_combo.setCurrentIndex(dialog.gold_combo.findText("other"))
    table = dialog.gold_editor.table
    assert [table.item(r, 0).text() for r in range(table.rowCount())] == ["x0", "x1", "x2"]
    assert ok.isEnabled() and dialog.error_label.text() == ""
