"""The Classify page on the real starter model: a text, a file run, evaluation, teaching.

The README's screenshot comes from the file-run test::

    DRIFTLESS_SCREENSHOTS=docs/screenshots QT_QPA_PLATFORM=offscreen \\
        .venv/bin/python -m pytest tests/gui/classify/test_page.py -k fills
"""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from app.core.classify import (
    BatchProgress,
    Columns,
    Label,
    LabelSet,
    LabelSetLibrary,
    Prediction,
    choose_columns,
    sniff,
)
from app.core.classify.runs import RowResult
from app.core.models import unpacked
from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
from app.core.paths import Paths
from app.core.settings import Settings, load_settings, save_settings
from app.ui.classify.dialogs import ExportChoice, LabelSetDialog, TableFileDialog
from app.ui.classify.models import ResultsModel
from app.ui.classify.options import ColumnsDialog, OptionsDialog, ScoringOptions
from app.ui.classify.page import ClassifyPage

MOOD = LabelSet(
    "mood",
    "Is the writer happy or unhappy about what they describe?",
    (Label("positive", "pleased, praising"), Label("negative", "unhappy, complaining")),
)
POSITIVE = [
    "I loved it, wonderful",
    "great food and friendly staff",
    "a delight from start to finish",
    "brilliant and warm",
    "beautiful, I am so happy",
    "excellent service, thank you",
    "the best day ever",
    "lovely and touching",
    "fantastic, would buy again",
    "superb quality, very pleased",
]
NEGATIVE = [
    "awful, I hated it",
    "boring and far too long",
    "terrible service, never again",
    "a dull waste of time",
    "broken on arrival, very angry",
    "painfully bad and rude staff",
    "the worst purchase I made",
    "dirty, noisy and cold",
    "disappointing and overpriced",
    "it failed after one day",
]


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


GOLD = [[t, "positive"] for t in POSITIVE[:3]] + [[t, "negative"] for t in NEGATIVE[:3]]


def teach_mood(
    qtbot: QtBot, page: ClassifyPage, tmp_path: Path, choose_file: Callable[[Path], None]
) -> None:
    """Teach from 20 labelled mood texts with a click on the Teach tab, and check the page
    says what it learned and switched to the taught head."""
    rows = [[t, "positive"] for t in POSITIVE] + [[t, "negative"] for t in NEGATIVE]
    choose_file(write_csv(tmp_path / "teach.csv", ["text", "label"], rows))
    page.tabs.setCurrentWidget(page.teach_tab)
    with qtbot.waitSignal(page.controller.finished, timeout=60_000) as blocker:
        page.teach_tab.open_button.click()
    assert blocker.args[0] == "teach", page.teach_tab.result_label.text()
    text = page.teach_tab.result_label.text()
    assert "from 20 examples" in text and "Held-out balanced accuracy" in text
    assert page.method_combo.currentData() == "examples"


def evaluate(qtbot: QtBot, page: ClassifyPage) -> None:
    """Evaluate on the file ``choose_file`` named, as a click on the Evaluate tab."""
    page.tabs.setCurrentWidget(page.eval_tab)
    with qtbot.waitSignal(page.controller.finished, timeout=30_000):
        page.eval_tab.open_button.click()


@pytest.fixture(autouse=True)
def confirm_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """The person accepts the columns the page guessed (tests choose others themselves)."""
    monkeypatch.setattr(
        ColumnsDialog, "ask", classmethod(lambda cls, parent, columns, need_gold, **_kw: columns)
    )


@pytest.fixture
def page(qtbot: QtBot, store: ModelStore, paths: Paths) -> Iterator[ClassifyPage]:
    assert ensure_starter(store) is not None
    LabelSetLibrary.for_paths(paths).save(MOOD)
    # The packed file, as chat uses it: no 271 MB copy per test (one test turns it on).
    save_settings(paths, Settings(unpack_for_classification=False))
    page = ClassifyPage(store, paths)
    qtbot.addWidget(page)
    page.resize(900, 620)
    page.label_set_combo.setCurrentIndex(page.label_set_combo.findData("mood"))
    page.show()
    yield page
    page.shutdown()


@pytest.fixture
def choose_file(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    def choose(path: Path) -> None:
        monkeypatch.setattr(TableFileDialog, "ask_open", classmethod(lambda cls, p, t: path))

    return choose


@pytest.mark.slow
def test_a_typed_text_gets_a_label_and_probability_bars(qtbot: QtBot, page: ClassifyPage) -> None:
    assert page.label_set is not None and page.label_set.name == "mood"
    with qtbot.waitSignal(page.controller.finished, timeout=20_000):
        page.try_tab.text_edit.setPlainText("I loved it, wonderful and warm")
    assert page.try_tab.answer_label.text() in ("positive", "negative", "needs review")
    bars = page.try_tab.bars.bars
    assert set(bars) == {"positive", "negative"}
    assert sum(bar.value() for bar in bars.values()) == pytest.approx(1000, abs=2)


@pytest.mark.slow
def test_a_file_fills_the_table_reports_a_bad_row_and_exports(
    qtbot: QtBot,
    page: ClassifyPage,
    tmp_path: Path,
    choose_file: Callable[[Path], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = [[t] for t in POSITIVE[:3]] + [["a", "b"]] + [[t] for t in NEGATIVE[:3]]
    source = write_csv(tmp_path / "reviews.csv", ["text"], rows)
    choose_file(source)
    page.tabs.setCurrentWidget(page.file_tab)
    with qtbot.waitSignal(page.controller.finished, timeout=30_000) as blocker:
        page.file_tab.open_button.click()
    assert blocker.args[0] == "file"
    model = page.file_tab.model
    assert model.rowCount() == 6
    assert {model.row_result(r).prediction.label for r in range(6)} <= {"positive", "negative"}  # type: ignore[union-attr]
    problems = page.file_tab.problems_label
    assert not problems.isHidden() and "1 malformed" in problems.text()
    assert "line 5" in problems.text()
    assert "Done: 6 rows" in page.file_tab.summary_label.text()
    assert "mood@v1" in page.file_tab.summary_label.text()
    assert page.file_tab.progress.value() == 1000
    assert "texts/s" in page.file_tab.rate_label.text()

    target = tmp_path / "out.csv"
    monkeypatch.setattr(
        TableFileDialog,
        "ask_export",
        classmethod(lambda cls, p, s, layout: ExportChoice(target, layout)),
    )
    with qtbot.waitSignal(page.controller.finished, timeout=10_000):
        page.file_tab.export_button.click()
    with target.open(encoding="utf-8") as handle:
        exported = list(csv.reader(handle))
    assert len(exported) == 7  # a header and the six classified rows
    assert "Exported 6 results" in page.status_label.text()

    QApplication.processEvents()  # let the layout settle before the screenshot
    out = Path(os.environ.get("DRIFTLESS_SCREENSHOTS") or tmp_path / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    assert page.grab().save(str(out / "classify.png"))


@pytest.mark.slow
def test_a_file_run_pauses_resumes_and_cancels(
    qtbot: QtBot, page: ClassifyPage, tmp_path: Path, choose_file: Callable[[Path], None]
) -> None:
    texts = POSITIVE[:6] + NEGATIVE[:6]
    page.controller.file_chunk_size = 4  # three chunks: pause, resume and cancel between them
    choose_file(write_csv(tmp_path / "many.csv", ["text"], [[t] for t in texts]))

    def paused(kind: str, progress: object) -> bool:
        return isinstance(progress, BatchProgress) and progress.paused

    with qtbot.waitSignal(page.controller.progressed, timeout=20_000, check_params_cb=paused):
        page.file_tab.open_button.click()
        page.file_tab.pause_button.click()  # before the first chunk is classified
    assert page.file_tab.pause_button.text() == "Resume"
    assert page.file_tab.rate_label.text() == "paused"
    held = page.file_tab.model.rowCount()
    assert held < len(texts)

    with qtbot.waitSignal(page.controller.progressed, timeout=20_000, check_params_cb=paused):
        page.file_tab.pause_button.click()  # resume
        qtbot.waitUntil(lambda: page.file_tab.model.rowCount() > held, timeout=20_000)
        page.file_tab.pause_button.click()  # and pause again
    with qtbot.waitSignal(page.controller.finished, timeout=10_000):
        page.file_tab.cancel_button.click()
    done = page.file_tab.model.rowCount()
    assert held < done < len(texts)
    assert "Cancelled after" in page.file_tab.summary_label.text()
    assert not page.controller.busy("file")

    # The same file again resumes: the earlier rows come back and the rest are classified.
    with qtbot.waitSignal(page.controller.finished, timeout=30_000):
        page.file_tab.open_button.click()
    assert page.file_tab.model.rowCount() == len(texts)
    assert f"{done} of them resumed" in page.file_tab.summary_label.text()


@pytest.mark.slow
def test_evaluation_shows_accuracy_provenance_and_a_confusion_matrix(
    qtbot: QtBot, page: ClassifyPage, tmp_path: Path, choose_file: Callable[[Path], None]
) -> None:
    choose_file(write_csv(tmp_path / "gold.csv", ["text", "label"], GOLD))
    evaluate(qtbot, page)
    summary = page.eval_tab.summary_label.text()
    assert "Accuracy" in summary and "on 6 texts" in summary
    assert "Label set: mood@v1" in summary and "Lock id: " in summary
    # The 40-character commit is cut (it made the details scroll sideways); whole in the tip.
    lock_id = page.eval_tab.eval_history[-1].info.lock_id
    assert lock_id not in summary and page.eval_tab.summary_label.toolTip() == f"Lock id: {lock_id}"
    matrix = page.eval_tab.matrix
    assert matrix.scores is not None and matrix.scores.labels == ("positive", "negative")
    assert matrix.title.startswith(("prompt on ", "examples on "))
    assert matrix.canvas.layout_ is not None and matrix.canvas.width() > 100
    assert page.eval_tab.compare_label.isHidden()  # nothing to compare with yet


@pytest.mark.slow
def test_evaluations_of_one_file_are_compared_side_by_side(
    qtbot: QtBot,
    page: ClassifyPage,
    tmp_path: Path,
    choose_file: Callable[[Path], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    choose_file(write_csv(tmp_path / "gold.csv", ["text", "label"], GOLD))
    evaluate(qtbot, page)
    uncalibrated = ScoringOptions(calibrated=False, unpack=False)
    monkeypatch.setattr(OptionsDialog, "ask", classmethod(lambda cls, parent, o: uncalibrated))
    page.options_button.click()
    evaluate(qtbot, page)
    compare = page.eval_tab.compare_label
    assert not compare.isHidden()
    table = compare.text()
    assert "calibrated=True" in table and "calibrated=False" in table
    assert table.count("accuracy") == 1 and "positive P/R" in table

    # Another file starts a new comparison.
    choose_file(write_csv(tmp_path / "other.csv", ["text", "label"], GOLD[:4]))
    evaluate(qtbot, page)
    assert compare.isHidden()


@pytest.mark.slow
def test_teaching_from_a_labelled_file_shows_held_out_accuracy(
    qtbot: QtBot, page: ClassifyPage, tmp_path: Path, choose_file: Callable[[Path], None]
) -> None:
    teach_mood(qtbot, page, tmp_path, choose_file)

    # The taught head now classifies a typed text.
    with qtbot.waitSignal(page.controller.finished, timeout=20_000) as blocker:
        page.try_tab.text_edit.setPlainText("what a wonderful day")
    assert blocker.args[0] == "try"
    assert set(page.try_tab.bars.bars) == {"positive", "negative"}


@pytest.mark.slow
def test_examples_method_without_a_head_says_what_to_do(qtbot: QtBot, page: ClassifyPage) -> None:
    page.try_tab.text_edit.setPlainText("hello")
    index = page.method_combo.findData("examples")
    page.method_combo.setCurrentIndex(index)
    with qtbot.waitSignal(page.controller.failed, timeout=20_000):
        page.method_combo.activated.emit(index)  # as a user's choice: the text is redone
    # In the result's place, with Try again (the shared error state).
    assert page.try_tab.result_stack.state == "error"
    assert "Teach one" in page.try_tab.result_stack.error.text()


@pytest.mark.slow
def test_editing_a_label_set_saves_a_new_version(
    page: ClassifyPage, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert page.label_set is not None
    edited = page.label_set.edited(
        labels=[*page.label_set.labels, Label("mixed", "both happy and unhappy")]
    )
    monkeypatch.setattr(LabelSetDialog, "ask", classmethod(lambda cls, parent, s: edited))
    page.edit_button.click()
    assert page.label_set.version_id == "mood@v2"
    assert page.label_set.label_names == ("positive", "negative", "mixed")
    assert "mood@v2" in page.status_label.text()


def test_label_set_dialog_builds_the_edited_set(qtbot: QtBot) -> None:
    dialog = LabelSetDialog(MOOD)
    qtbot.addWidget(dialog)
    dialog.name_edit.setText("feeling")
    dialog._add_row("neutral", "neither")
    result = dialog.edited()
    assert result.name == "feeling" and result.version == 0
    assert result.label_names == ("positive", "negative", "neutral")
    dialog.table.removeRow(2)
    dialog.table.removeRow(1)
    dialog._on_buttons_accepted()
    assert dialog.result_set is None and "two labels" in dialog.error_label.text()


def test_results_model_passes_the_model_tester(qtmodeltester: ModelTester) -> None:
    model = ResultsModel()
    prediction = Prediction("positive", 0.4, (0.4, 0.35, 0.25), needs_review=True)
    model.add([RowResult(0, 2, "fine", None, prediction)])
    model.add([RowResult(1, 3, "", None, None, "has 2 columns, the header has 1")])
    model.add(
        [RowResult(2, 4, "bad", "negative", Prediction("negative", 0.9, (0.1, 0.9, 0.0), False))]
    )
    model.add([RowResult(2, 4, "bad", "negative", None)])  # a row seen twice is ignored
    qtmodeltester.check(model)
    assert model.rowCount() == 2 and len(model.problems) == 1
    assert model.needs_review == 1
    assert model.data(model.index(0, 2)) == "needs review"


@pytest.mark.slow
def test_options_set_the_prompt_and_the_weights_and_are_remembered(
    qtbot: QtBot,
    page: ClassifyPage,
    paths: Paths,
    tmp_path: Path,
    choose_file: Callable[[Path], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert page.job() is not None and page.job().unpack is False  # type: ignore[union-attr]
    chosen = ScoringOptions(style="chat", calibrated=False, threshold=0.9, unpack=True)
    monkeypatch.setattr(OptionsDialog, "ask", classmethod(lambda cls, parent, o: chosen))
    page.options_button.click()  # the model is opened again, on the copy
    qtbot.waitUntil(
        lambda: "scoring on F16 from Q4_1 weights" in page.status_label.text(), timeout=30_000
    )
    job = page.job()
    assert job is not None and job.unpack
    assert (job.options.style, job.options.calibrated, job.options.threshold) == (
        "chat",
        False,
        0.9,
    )
    assert load_settings(paths).unpack_for_classification  # kept for the next start

    choose_file(write_csv(tmp_path / "two.csv", ["text"], [[POSITIVE[0]], [NEGATIVE[0]]]))
    with qtbot.waitSignal(page.controller.finished, timeout=30_000):
        page.file_tab.open_button.click()
    summary = page.file_tab.summary_label.text()
    assert "Done: 2 rows" in summary and "weights F16 from Q4_1" in summary
    assert len(list(paths.unpacked_dir.glob("*.f16.gguf"))) == 1


def test_the_options_dialog_edits_every_option(qtbot: QtBot) -> None:
    dialog = OptionsDialog(ScoringOptions())
    qtbot.addWidget(dialog)
    dialog.style_combo.setCurrentIndex(dialog.style_combo.findData("chat"))
    dialog.few_shot.setChecked(True)
    dialog.calibrated.setChecked(False)
    dialog.threshold.setValue(0.75)
    dialog.unpack.setChecked(False)
    assert dialog.edited() == ScoringOptions("chat", True, False, 0.75, False)


@pytest.mark.slow
def test_a_file_is_read_from_the_columns_the_person_chose(
    qtbot: QtBot,
    page: ClassifyPage,
    tmp_path: Path,
    choose_file: Callable[[Path], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = [["1", "note A", POSITIVE[1]], ["2", "note B", NEGATIVE[1]]]
    source = write_csv(tmp_path / "tickets.csv", ["id", "text", "review"], rows)
    asked: list[ColumnsDialog] = []

    def pick_review(
        cls: type, parent: object, columns: Columns, need_gold: bool, **_kw: object
    ) -> Columns:
        dialog = ColumnsDialog(columns, need_gold=need_gold)
        qtbot.addWidget(dialog)
        asked.append(dialog)
        assert dialog.text_combo.currentText() == "text"  # the guess, offered first
        preview = dialog.preview
        assert preview.rowCount() == 2 and preview.item(0, 2).text() == POSITIVE[1]
        dialog.text_combo.setCurrentIndex(dialog.text_combo.findText("review"))
        return dialog.chosen()

    monkeypatch.setattr(ColumnsDialog, "ask", classmethod(pick_review))
    choose_file(source)
    with qtbot.waitSignal(page.controller.finished, timeout=30_000):
        page.file_tab.open_button.click()
    model = page.file_tab.model
    texts = [model.row_result(r).text for r in range(model.rowCount())]
    assert texts == [POSITIVE[1], NEGATIVE[1]] and len(asked) == 1


def test_the_columns_dialog_refuses_one_column_for_both(qtbot: QtBot, tmp_path: Path) -> None:
    source = write_csv(tmp_path / "gold.csv", ["text", "label"], [["fine", "positive"]])
    dialog = ColumnsDialog(choose_columns(sniff(source)), need_gold=True)
    qtbot.addWidget(dialog)
    assert dialog.gold_combo.currentText() == "label" and dialog.gold_combo.findData(-1) == -1
    dialog.gold_combo.setCurrentIndex(dialog.gold_combo.findText("text"))
    dialog.buttons.accepted.emit()
    assert "different columns" in dialog.error_label.text()
    assert dialog.result() != dialog.DialogCode.Accepted


@pytest.mark.slow
def test_a_file_run_says_why_the_16_bit_copy_was_not_used(
    qtbot: QtBot,
    page: ClassifyPage,
    tmp_path: Path,
    choose_file: Callable[[Path], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(unpacked.shutil, "disk_usage", lambda _p: SimpleNamespace(free=10**6))
    monkeypatch.setattr(
        OptionsDialog, "ask", classmethod(lambda cls, parent, o: ScoringOptions(unpack=True))
    )
    page.options_button.click()
    qtbot.waitUntil(lambda: "16-bit copy is not used" in page.status_label.text(), timeout=30_000)
    choose_file(write_csv(tmp_path / "one.csv", ["text"], [[POSITIVE[2]]]))
    with qtbot.waitSignal(page.controller.finished, timeout=30_000):
        page.file_tab.open_button.click()
    summary = page.file_tab.summary_label.text()
    assert "weights Q4_1" in summary and "16-bit copy was not used" in summary
    assert "free disk space" in summary


def test_the_columns_dialog_shows_how_the_file_was_read(qtbot: QtBot, tmp_path: Path) -> None:
    source = tmp_path / "excel-de.csv"
    source.write_bytes("text;label\nsch\u00f6n;positiv\nschlecht;negativ\n".encode("utf-16"))
    dialog = ColumnsDialog(choose_columns(sniff(source)), need_gold=True)
    qtbot.addWidget(dialog)
    assert "read as semicolon-separated, UTF-16" in dialog.reading_label.text()
    cells = [dialog.preview.item(r, 0).text() for r in range(dialog.preview.rowCount())]
    assert cells == ["sch\u00f6n", "schlecht"]


@pytest.mark.slow
def test_a_file_runs_on_the_cluster_set_in_settings(
    qtbot: QtBot,
    page: ClassifyPage,
    paths: Paths,
    tmp_path: Path,
    choose_file: Callable[[Path], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The page's side of a cluster run; the cluster's own is tests/unit/cluster's.

    The cluster is replaced by one in-process "worker" that rebuilds the classifier from
    the job (checking the model's sha256 as a real worker does) and runs the file.
    """
    from app.core.classify import run_file
    from app.core.cluster import BlockDone, ClusterProgress, build_classifier
    from app.ui.classify import worker

    assert page.file_tab.cluster_button.isHidden()  # no cluster in Settings
    save_settings(paths, load_settings(paths).with_changes(cluster_address="auto"))
    page.hide()
    page.show()
    assert not page.file_tab.cluster_button.isHidden()
    jobs: list[tuple[str, object]] = []

    def one_worker_cluster(store, job, source, *, run, address, on_progress, on_block, cancel):  # type: ignore[no-untyped-def]
        jobs.append((address, job))
        runner, classifier = build_classifier(job)
        try:
            rows = tuple(run_file(store, classifier, source.columns, run=run, cancel=cancel))
        finally:
            runner.close()
        on_block(BlockDone(0, tuple(r.number for r in rows), "worker pid 1", 0.1, rows))
        on_progress(ClusterProgress(run.id, len(rows), run.total_rows or 0, 0, 1.0, 1))
        return store.get_run(run.id)

    ray_before = _ray_running()
    monkeypatch.setattr(worker, "run_on_cluster", one_worker_cluster)
    source = write_csv(tmp_path / "reviews.csv", ["text"], [[t] for t in POSITIVE[:3]])
    choose_file(source)
    page.tabs.setCurrentWidget(page.file_tab)
    with qtbot.waitSignal(page.controller.finished, timeout=30_000) as blocker:
        page.file_tab.cluster_button.click()
    assert blocker.args[0] == "file"
    assert [address for address, _job in jobs] == ["auto"]
    assert jobs[0][1].info.label_set == "mood@v1"  # type: ignore[attr-defined]
    assert page.file_tab.model.rowCount() == 3
    assert "Done: 3 rows" in page.file_tab.summary_label.text()
    assert _ray_running() == ray_before  # no Ray was started in the window


def _ray_running() -> bool:
    """Whether this process is connected to a Ray (the cluster tests' may be, already)."""
    ray = sys.modules.get("ray")
    return ray is not None and bool(ray.is_initialized())
