"""Past runs on the Classify page: listed, reopened, evaluated from stored results, exported;
and the label set, method and options remembered across a restart.

No model is installed here (nothing is loaded): a scripted classifier made the run, and
evaluating a stored run needs no model. The README's screenshot comes from here::

    DRIFTLESS_SCREENSHOTS=docs/screenshots QT_QPA_PLATFORM=offscreen \\
        .venv/bin/python -m pytest tests/gui/classify/test_past_runs.py
"""

from __future__ import annotations

import codecs
import csv
import os
import re
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import QLocale
from PySide6.QtWidgets import QApplication, QFileDialog, QWidget
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from app.core.classify import (
    GoldMap,
    GoldValue,
    LabelSet,
    LabelSetLibrary,
    RunStore,
    choose_columns,
    open_file_run,
    run_file,
    sniff,
)
from app.core.classify.errors import ClassifyError
from app.core.models.store import ModelStore
from app.core.paths import Paths
from app.core.settings import load_settings
from app.ui.classify.dialogs import TableFileDialog
from app.ui.classify.goldmap import GoldMapChoice, GoldMapDialog
from app.ui.classify.options import ColumnsDialog, OptionsDialog, ScoringOptions
from app.ui.classify.page import ClassifyPage
from app.ui.classify.runs import RunColumn, RunsModel
from app.ui.classify.worker import ClassifyWorker
from tests.unit.classify.sst2 import OracleClassifier, sst2_rows, write_sst2

ROWS = len(sst2_rows(200))  # 200, or the ten fallback rows without the data folder


def make_run(paths: Paths, source: Path, rows: list[tuple[str, str]]) -> int:
    sentiment = LabelSetLibrary.for_paths(paths).resolve("sentiment")
    classifier = OracleClassifier(sentiment, dict(rows))
    with RunStore.for_paths(paths) as store:
        columns = choose_columns(sniff(source))
        run = open_file_run(store, classifier, columns)
        list(run_file(store, classifier, columns, run=run))
        return run.id


def test_a_past_run_is_listed_evaluated_from_its_results_reopened_and_exported(
    qtbot: QtBot,
    store: ModelStore,
    paths: Paths,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = sst2_rows(ROWS)
    source = write_sst2(tmp_path / "sst2_train.tsv", rows)
    run_id = make_run(paths, source, rows)
    notes = tmp_path / "notes.csv"
    notes.write_text("text\nno gold here\nnor here\n", encoding="utf-8")
    make_run_without_gold = OracleClassifier(
        LabelSetLibrary.for_paths(paths).resolve("sentiment"),
        {"no gold here": "0", "nor here": "1"},
    )
    with RunStore.for_paths(paths) as runs:
        columns = choose_columns(sniff(notes))
        list(run_file(runs, make_run_without_gold, columns))

    page = ClassifyPage(store, paths)
    qtbot.addWidget(page)
    page.resize(900, 520)
    page.show()
    try:
        page.tabs.setCurrentWidget(page.runs_tab)
        model = page.runs_tab.model
        assert model.rowCount() == 2  # the newest first
        cell = lambda r, c: model.data(model.index(r, c))  # noqa: E731
        assert (cell(1, RunColumn.FILE), cell(1, RunColumn.ROWS)) == ("sst2_train.tsv", f"{ROWS}")
        assert cell(1, RunColumn.LABEL_SET).startswith("sentiment")
        assert cell(1, RunColumn.MODEL) == "prompt · scripted"
        assert cell(1, RunColumn.ACCURACY) == "—" and cell(0, RunColumn.ACCURACY) == "no gold"
        page.runs_tab.table.selectRow(0)
        assert not page.runs_tab.evaluate_button.isEnabled()  # nothing to compare with

        asked: list[tuple[GoldValue, ...]] = []

        def confirm(
            cls: type, parent: object, title: str, values: tuple[GoldValue, ...], ls: LabelSet
        ) -> GoldMapChoice:
            asked.append(values)
            dialog = GoldMapDialog(title, values, ls)
            qtbot.addWidget(dialog)
            return GoldMapChoice(dialog.editor.gold_map())

        monkeypatch.setattr(GoldMapDialog, "ask", classmethod(confirm))
        page.runs_tab.table.selectRow(1)
        assert page.runs_tab.evaluate_button.isEnabled()
        with qtbot.waitSignal(page.controller.finished, timeout=20_000) as blocker:
            page.runs_tab.evaluate_button.click()
        assert blocker.args[0] == "eval"
        zeros = sum(1 for _, g in rows if g == "0")
        assert [(v.value, v.count, v.label, v.guessed) for v in asked[0]] == [
            ("0", zeros, "negative", True),
            ("1", ROWS - zeros, "positive", True),
        ]
        summary = page.eval_tab.summary_label.text()
        assert "Accuracy 80.0%" in summary and f"stored results of run {run_id}" in summary
        assert "Gold values read as 0=negative,1=positive" in summary
        # The accuracy is the headline, macro-F1 and the count beside it.
        headline = page.eval_tab.headline
        assert not headline.isHidden() and headline.number.text() == "80.0%"
        assert f"{ROWS:,} texts" in headline.details.text()
        table = page.eval_tab.per_label
        labels = [table.item(row, 0).text() for row in range(table.rowCount())]
        assert labels[:2] == ["positive", "negative"]  # each label scored, in its own row
        assert page.tabs.currentWidget() is page.eval_tab
        assert page.eval_tab.matrix.scores is not None
        assert cell(1, RunColumn.ACCURACY) == "80.0%"  # the list shows it now

        page.tabs.setCurrentWidget(page.runs_tab)
        page.runs_tab.table.selectRow(1)
        QApplication.processEvents()
        out = Path(os.environ.get("DRIFTLESS_SCREENSHOTS") or tmp_path / "screenshots")
        out.mkdir(parents=True, exist_ok=True)
        assert page.grab().save(str(out / "classify-past-runs.png"))

        with qtbot.waitSignal(page.controller.finished, timeout=20_000):
            page.runs_tab.open_button.click()
        assert page.tabs.currentWidget() is page.file_tab
        assert page.file_tab.model.rowCount() == ROWS
        assert f"Run {run_id}, sst2_train.tsv (finished)" in page.file_tab.summary_label.text()
        assert page.file_tab.evaluate_button.isEnabled()

        # Exported for Excel in Germany: semicolons, decimal commas, a BOM, Windows line ends.
        target = tmp_path / "again.csv"
        offered: list[str] = []

        def save_as(parent: object, title: str, name: str, types: str, first: str) -> object:
            offered.append(first)
            excel = next(t for t in types.split(";;") if t.startswith("CSV for Excel"))
            return str(target), excel

        monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(save_as))
        QLocale.setDefault(QLocale(QLocale.Language.German, QLocale.Country.Germany))
        try:
            page.tabs.setCurrentWidget(page.runs_tab)
            page.runs_tab.table.selectRow(1)
            with qtbot.waitSignal(page.controller.finished, timeout=20_000):
                page.runs_tab.export_button.click()
        finally:
            QLocale.setDefault(QLocale.c())
        assert offered[0].startswith("CSV like the file classified")  # the input's, first
        data = target.read_bytes()
        assert data.startswith(codecs.BOM_UTF8) and data.count(b"\r\n") == ROWS + 1
        rows_read = list(csv.reader(data.decode("utf-8-sig").splitlines(), delimiter=";"))
        assert len(rows_read) == ROWS + 1
        confidence = rows_read[1][rows_read[0].index("confidence")]
        assert re.fullmatch(r"\d,\d{4}", confidence), confidence
        assert [row[2] for row in rows_read[1:]] == [t for t, _ in rows]  # texts as they were
        # The layout chosen is offered first next time.
        assert load_settings(paths).export_layout == "excel"
        with qtbot.waitSignal(page.controller.finished, timeout=20_000):
            page.runs_tab.export_button.click()
        assert offered[1].startswith("CSV for Excel")
    finally:
        page.shutdown()


def test_an_evaluation_on_a_file_is_kept_with_the_runs_and_its_gold_map_with_it(
    qtbot: QtBot,
    store: ModelStore,
    paths: Paths,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = sst2_rows(ROWS)
    source = write_sst2(tmp_path / "sst2_train.tsv", rows)
    sentiment = LabelSetLibrary.for_paths(paths).resolve("sentiment")
    # The scripted classifier stands in for the model on the classification thread.
    monkeypatch.setattr(
        ClassifyWorker,
        "_classifier",
        lambda self, job, cancel=None: OracleClassifier(job.label_set, dict(rows)),
    )
    monkeypatch.setattr(TableFileDialog, "ask_open", classmethod(lambda cls, p, t: source))
    confirmed = replace(
        choose_columns(sniff(source)),
        gold_map=GoldMap.parse("0=negative,1=positive", sentiment),
    )
    monkeypatch.setattr(ColumnsDialog, "ask", classmethod(lambda cls, *_a, **_kw: confirmed))

    def scripted_page() -> ClassifyPage:
        page = ClassifyPage(store, paths)
        qtbot.addWidget(page)
        page.resize(900, 520)
        page.show()  # shown first: showing lists the installed models (none here)
        page.model_combo.addItem("scripted", "scripted")
        page.label_set_combo.setCurrentIndex(page.label_set_combo.findData("sentiment"))
        page.choices.ready_changed.emit()
        return page

    page = scripted_page()
    try:
        page.tabs.setCurrentWidget(page.eval_tab)
        with qtbot.waitSignal(page.controller.eval_lane.finished, timeout=20_000):
            page.eval_tab.open_button.click()
        summary = page.eval_tab.summary_label.text()
        shot(page, tmp_path, "evaluate-kept-as-a-run.png")
        assert "Accuracy 80.0%" in summary and "kept as run" in summary
    finally:
        page.shutdown()

    # After a restart, Past runs lists the evaluation with its accuracy...
    again = scripted_page()
    try:
        model = again.runs_tab.model
        assert model.rowCount() == 1
        assert model.data(model.index(0, RunColumn.FILE)) == "sst2_train.tsv"
        assert model.data(model.index(0, RunColumn.ACCURACY)) == "80.0%"
        # ...and evaluating it again reads it with the map confirmed then, without asking.
        asked: list[str] = []
        monkeypatch.setattr(
            GoldMapDialog, "ask", classmethod(lambda cls, p, title, *_a: asked.append(title))
        )
        again.tabs.setCurrentWidget(again.runs_tab)
        again.runs_tab.table.selectRow(0)
        with qtbot.waitSignal(again.controller.eval_lane.finished, timeout=20_000):
            again.runs_tab.evaluate_button.click()
        assert asked == []
        summary = again.eval_tab.summary_label.text()
        assert "Accuracy 80.0%" in summary
        assert "Gold values read as 0=negative,1=positive" in summary
        assert "nothing was classified again" in summary
        again.tabs.setCurrentWidget(again.runs_tab)
        assert again.runs_tab.selected() is not None  # still chosen after the list's refresh
        shot(again, tmp_path, "past-runs-with-an-evaluation.png")
    finally:
        again.shutdown()


def shot(widget: QWidget, tmp_path: Path, name: str) -> None:
    """A picture of ``widget`` where DRIFTLESS_SCREENSHOTS says (else the test's folder)."""
    out = Path(os.environ.get("DRIFTLESS_SCREENSHOTS") or tmp_path / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    QApplication.processEvents()
    assert widget.grab().save(str(out / name))


def test_label_set_method_and_options_survive_a_restart(
    qtbot: QtBot, store: ModelStore, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = ClassifyPage(store, paths)
    qtbot.addWidget(page)
    try:
        choose(page, monkeypatch)
    finally:
        page.shutdown()
    assert load_settings(paths).classify_label_set == "spam"

    again = ClassifyPage(store, paths)
    qtbot.addWidget(again)
    try:
        assert again.label_set is not None and again.label_set.name == "spam"
        assert again.method_combo.currentData() == "examples"
        assert again.scoring == CHOSEN
    finally:
        again.shutdown()


CHOSEN = ScoringOptions(style="chat", few_shot=True, calibrated=False, threshold=0.7)


def choose(page: ClassifyPage, monkeypatch: pytest.MonkeyPatch) -> None:
    assert not page.runs_tab.empty_label.isHidden()  # no run yet, and it says so
    page.label_set_combo.setCurrentIndex(page.label_set_combo.findData("spam"))
    page.label_set_combo.activated.emit(page.label_set_combo.currentIndex())
    page.method_combo.setCurrentIndex(page.method_combo.findData("examples"))
    page.method_combo.activated.emit(page.method_combo.currentIndex())
    monkeypatch.setattr(OptionsDialog, "ask", classmethod(lambda cls, parent, o: CHOSEN))
    page.options_button.click()


def test_past_runs_show_one_state_at_a_time_empty_error_then_the_list(
    qtbot: QtBot,
    store: ModelStore,
    paths: Paths,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No run: the empty state. A store that cannot be read: the error with Retry, and
    Retry lists the runs once it can be read again."""
    page = ClassifyPage(store, paths)
    qtbot.addWidget(page)
    page.show()
    try:
        page.tabs.setCurrentWidget(page.runs_tab)
        tab = page.runs_tab
        assert tab.table_stack.state == "empty" and not tab.empty_label.isHidden()

        rows = sst2_rows(ROWS)
        make_run(paths, write_sst2(tmp_path / "sst2_train.tsv", rows), rows)
        listed = tab.runs.list_runs

        def broken() -> list[object]:
            raise ClassifyError("the database is locked")

        monkeypatch.setattr(tab.runs, "list_runs", broken)
        tab.refresh()
        assert tab.table_stack.state == "error"
        assert tab.error_state.text() == "The past runs could not be read: the database is locked"
        assert tab.table.isHidden() and tab.empty_label.isHidden()

        monkeypatch.setattr(tab.runs, "list_runs", listed)
        assert tab.error_state.retry_button is not None
        tab.error_state.retry_button.click()
        assert tab.table_stack.state == "content" and not tab.table.isHidden()
        assert tab.model.rowCount() == 1
    finally:
        page.shutdown()


def test_runs_model_passes_the_model_tester(
    qtmodeltester: ModelTester, paths: Paths, tmp_path: Path
) -> None:
    rows = sst2_rows(10)
    make_run(paths, write_sst2(tmp_path / "s.tsv", rows), rows)
    model = RunsModel()
    with RunStore.for_paths(paths) as runs:
        model.set_runs(runs.list_runs(), runs.evaluations())
    qtmodeltester.check(model)
    assert model.rowCount() == 1
