"""The Classify page: pick a model, label set and method, then try, run, evaluate or teach.

The page only arranges widgets and forwards choices: every model call happens on
the controller's worker thread, and answers come back as immutable values.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer, Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.classify import (
    BatchProgress,
    ClassifyError,
    Columns,
    EvalReport,
    LabelSet,
    LabelSetError,
    LabelSetLibrary,
    MethodOptions,
    RowResult,
    RunStore,
    choose_columns,
    gold_survey_of_run,
    sniff,
)
from app.core.classify.runner import RunnerInfo
from app.core.models.store import ModelStore
from app.core.paths import Paths
from app.core.settings import load_settings, save_settings
from app.core.units import duration
from app.ui.active_model import ActiveModel
from app.ui.classify.controller import ClassifyController
from app.ui.classify.dialogs import LabelSetDialog, TableFileDialog
from app.ui.classify.goldmap import GoldMapDialog
from app.ui.classify.models import ResultColumn
from app.ui.classify.options import STYLES, ColumnsDialog, OptionsDialog, ScoringOptions
from app.ui.classify.runs import RunsTab
from app.ui.classify.summary import comparison_html, eval_summary_html, teach_summary
from app.ui.classify.tabs import EvaluateTab, FileTab, TeachTab, TryTab
from app.ui.classify.worker import (
    EvalOutcome,
    FileOutcome,
    FileStarted,
    Job,
    RunOpened,
    TeachOutcome,
    TryOutcome,
)

TYPING_PAUSE_MS = 350
"""Typing pauses this long before the text is classified."""
PROBLEMS_SHOWN = 3
MAX_COMPARED = 4
METHODS = (("Prompted scoring", "prompt"), ("Taught by examples", "examples"))


class ClassifyPage(QWidget):
    def __init__(
        self,
        store: ModelStore,
        paths: Paths,
        parent: QWidget | None = None,
        *,
        active: ActiveModel | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.active = active if active is not None else ActiveModel(store, self)
        self.paths = paths
        self.library = LabelSetLibrary.for_paths(paths)
        self.runs = RunStore.for_paths(paths)
        settings = load_settings(paths)
        style = settings.classify_style
        self.scoring = ScoringOptions(
            style=next((s for _t, s in STYLES if s == style), "plain"),
            few_shot=settings.classify_few_shot,
            calibrated=settings.classify_calibrated,
            threshold=settings.classify_threshold,
            unpack=settings.unpack_for_classification,
        )
        self.cluster_address = settings.cluster_address
        """Where "Run on a cluster…" runs (Settings); read again each time the page shows."""
        self.controller = ClassifyController(paths, store, self)
        self.run_id: int | None = None
        self.resumed_rows = 0
        self.run_description = ""
        self.label_sets: list[LabelSet] = []
        self.eval_path: Path | None = None
        self.eval_history: list[EvalReport] = []
        """This session's evaluations of ``eval_path``, shown side by side."""

        self.model_combo = QComboBox()
        self.model_combo.setAccessibleName("Model")
        self.label_set_combo = QComboBox()
        self.label_set_combo.setAccessibleName("Label set")
        self.method_combo = QComboBox()
        self.method_combo.setAccessibleName("Method")
        for title, method in METHODS:
            self.method_combo.addItem(title, method)
        for combo in (self.model_combo, self.label_set_combo, self.method_combo):
            # Long model ids must not widen the whole window.
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(10)
        self.edit_button = QPushButton("Edit label set…")
        self.options_button = QPushButton("Options…")
        self.options_button.setToolTip("Prompt style, few-shot, calibration, threshold, speed")
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        top = QHBoxLayout()
        for title, widget in (
            ("Model", self.model_combo),
            ("Label set", self.label_set_combo),
            ("Method", self.method_combo),
        ):
            label = QLabel(title)
            label.setBuddy(widget)
            top.addWidget(label)
            top.addWidget(widget, 1)
        top.addWidget(self.edit_button)
        top.addWidget(self.options_button)

        self.try_tab = TryTab()
        self.file_tab = FileTab()
        self.eval_tab = EvaluateTab()
        self.teach_tab = TeachTab()
        self.runs_tab = RunsTab()
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Classify tasks")
        self.tabs.addTab(self.try_tab, "Try a text")
        self.tabs.addTab(self.file_tab, "Classify a file")
        self.tabs.addTab(self.eval_tab, "Evaluate")
        self.tabs.addTab(self.teach_tab, "Teach from examples")
        self.tabs.addTab(self.runs_tab, "Past runs")
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.status_label)

        self.typing_timer = QTimer(self)
        self.typing_timer.setSingleShot(True)
        self.typing_timer.setInterval(TYPING_PAUSE_MS)
        self.typing_timer.timeout.connect(self._on_typing_timer_timeout)

        self.model_combo.activated.connect(self._on_model_combo_activated)
        self.active.active_model_changed.connect(self._on_active_model_changed)
        self.label_set_combo.activated.connect(self._on_choice_changed)
        self.method_combo.activated.connect(self._on_choice_changed)
        self.edit_button.clicked.connect(self._on_edit_button_clicked)
        self.options_button.clicked.connect(self._on_options_button_clicked)
        self.try_tab.text_edit.textChanged.connect(self.typing_timer.start)
        self.try_tab.classify_button.clicked.connect(self._on_typing_timer_timeout)
        self.file_tab.open_button.clicked.connect(self._on_file_open_clicked)
        self.file_tab.cluster_button.clicked.connect(self._on_file_cluster_clicked)
        self.file_tab.pause_button.clicked.connect(self._on_file_pause_clicked)
        self.file_tab.cancel_button.clicked.connect(self._on_file_cancel_clicked)
        self.file_tab.export_button.clicked.connect(self._on_file_export_clicked)
        self.file_tab.evaluate_button.clicked.connect(self._on_file_evaluate_clicked)
        self.runs_tab.open_button.clicked.connect(self._on_runs_open_clicked)
        self.runs_tab.evaluate_button.clicked.connect(self._on_runs_evaluate_clicked)
        self.runs_tab.export_button.clicked.connect(self._on_runs_export_clicked)
        self.runs_tab.table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.runs_tab.table.doubleClicked.connect(self._on_runs_open_clicked)
        self.tabs.currentChanged.connect(self._on_tabs_current_changed)
        self.eval_tab.open_button.clicked.connect(self._on_eval_open_clicked)
        self.eval_tab.cancel_button.clicked.connect(self._on_eval_cancel_clicked)
        self.teach_tab.open_button.clicked.connect(self._on_teach_open_clicked)
        self.teach_tab.cancel_button.clicked.connect(self._on_teach_cancel_clicked)
        self.controller.file_started.connect(self._on_controller_file_started)
        self.controller.rows_classified.connect(self._on_controller_rows_classified)
        self.controller.progressed.connect(self._on_controller_progressed)
        self.controller.finished.connect(self._on_controller_finished)
        self.controller.failed.connect(self._on_controller_failed)
        self.controller.busy_changed.connect(self._update_buttons)
        self.controller.model_loading.connect(self._on_controller_model_loading)
        self.controller.model_loaded.connect(self._on_controller_model_loaded)

        self.refresh_models()
        self.refresh_label_sets(select=settings.classify_label_set or None)
        method_index = self.method_combo.findData(settings.classify_method)
        self.method_combo.setCurrentIndex(max(0, method_index))
        self.refresh_runs()
        self._update_buttons()

    def showEvent(self, event: QShowEvent) -> None:
        # Models installed elsewhere appear, and the model loads while the user looks.
        super().showEvent(event)
        self.cluster_address = load_settings(self.paths).cluster_address
        self.refresh_models()

    # --- choices ----------------------------------------------------------------

    def refresh_models(self) -> None:
        chosen = self.model_combo.currentData()
        self.model_combo.clear()
        for model in self.store.list_models():
            self.model_combo.addItem(model.id, model.id)
        wanted = chosen or self.active.model_id
        index = self.model_combo.findData(wanted) if wanted else -1
        self.model_combo.setCurrentIndex(max(index, 0) if self.model_combo.count() else -1)
        if not self.model_combo.currentData():
            self.status_label.setText("No model is installed. Download one on the Models page.")
        elif self.isVisible():
            self.controller.open_model(self.model_combo.currentData(), self.scoring.unpack)
        self._update_buttons()

    @Slot(str)
    def _on_active_model_changed(self, _model_id: str) -> None:
        """Follow **Use** in Models: classify with the model just made active."""
        self.model_combo.setCurrentIndex(-1)  # forget the earlier choice
        self.refresh_models()

    def refresh_label_sets(self, select: str | None = None) -> None:
        current = select or self.label_set_combo.currentData()
        saved = self.library.list_latest()
        names = {s.name.casefold() for s in saved}
        builtins = [s for s in self.library.builtins() if s.name.casefold() not in names]
        self.label_sets = sorted(saved + builtins, key=lambda s: s.name.casefold())
        self.label_set_combo.clear()
        for label_set in self.label_sets:
            kind = "built-in" if label_set.builtin else f"v{label_set.version}"
            self.label_set_combo.addItem(f"{label_set.name}  ({kind})", label_set.name)
        index = self.label_set_combo.findData(current) if current else -1
        self.label_set_combo.setCurrentIndex(max(index, 0))

    @property
    def label_set(self) -> LabelSet | None:
        index = self.label_set_combo.currentIndex()
        return self.label_sets[index] if 0 <= index < len(self.label_sets) else None

    def job(self) -> Job | None:
        model_id = self.model_combo.currentData()
        label_set = self.label_set
        if not model_id or label_set is None:
            return None
        options = MethodOptions(
            method=self.method_combo.currentData(),
            style=self.scoring.style,
            few_shot=self.scoring.few_shot,
            calibrated=self.scoring.calibrated,
            threshold=self.scoring.threshold,
        )
        return Job(model_id, label_set, options, unpack=self.scoring.unpack)

    def ask_columns(self, path: Path, *, need_gold: bool) -> Columns | None:
        """The columns of ``path`` to read: guessed, then shown to the person to confirm.

        With gold labels, the picker also asks which label each gold value is.
        """
        try:
            guessed = choose_columns(sniff(path))
        except (ClassifyError, OSError) as exc:
            QMessageBox.warning(self, "The file cannot be read", str(exc))
            return None
        if need_gold and guessed.gold is None:
            others = [i for i in range(len(guessed.table.columns)) if i != guessed.text]
            guessed = Columns(guessed.table, guessed.text, others[0] if others else None)
        label_set = self.label_set if need_gold else None
        return ColumnsDialog.ask(self, guessed, need_gold=need_gold, label_set=label_set)

    @Slot(str)
    def _on_controller_model_loading(self, model_id: str) -> None:
        copy = " (the first time, a faster 16-bit copy is made)" if self.scoring.unpack else ""
        self.status_label.setText(f"Loading {model_id} for classification{copy}…")

    @Slot(object)
    def _on_controller_model_loaded(self, info: RunnerInfo) -> None:
        text = f"{info.model_id} is ready, scoring on {info.weights} weights."
        if info.weights_note:
            text += f" The faster 16-bit copy is not used: {info.weights_note}."
        self.status_label.setText(text)

    @Slot(int)
    def _on_model_combo_activated(self, _index: int) -> None:
        self.controller.open_model(self.model_combo.currentData(), self.scoring.unpack)
        self._on_choice_changed()

    @Slot()
    def _on_choice_changed(self) -> None:
        self._remember_choices()
        if self.try_tab.text_edit.toPlainText().strip():
            self.typing_timer.start()

    def _remember_choices(self) -> None:
        """Keep the label set, method and options for the next start."""
        label_set = self.label_set
        changes = {
            "classify_label_set": label_set.name if label_set is not None else "",
            "classify_method": self.method_combo.currentData() or "prompt",
            "classify_style": self.scoring.style,
            "classify_few_shot": self.scoring.few_shot,
            "classify_calibrated": self.scoring.calibrated,
            "classify_threshold": float(self.scoring.threshold),
            "unpack_for_classification": self.scoring.unpack,
        }
        try:
            settings = load_settings(self.paths)
            if any(getattr(settings, k) != v for k, v in changes.items()):
                save_settings(self.paths, settings.with_changes(**changes))
        except (OSError, ValueError) as exc:
            self.status_label.setText(f"Your choices could not be saved: {exc}")

    @Slot()
    def _on_options_button_clicked(self) -> None:
        chosen = OptionsDialog.ask(self, self.scoring)
        if chosen is None or chosen == self.scoring:
            return
        self.scoring = chosen  # saved with the other choices below
        if self.model_combo.currentData():
            self.controller.open_model(self.model_combo.currentData(), chosen.unpack)
        self._on_choice_changed()

    @Slot()
    def _on_edit_button_clicked(self) -> None:
        if self.label_set is None:
            return
        edited = LabelSetDialog.ask(self, self.label_set)
        if edited is None:
            return
        try:
            saved = self.library.save(edited)
        except (LabelSetError, OSError) as exc:
            QMessageBox.warning(self, "Label set not saved", str(exc))
            return
        self.refresh_label_sets(select=saved.name)
        self.status_label.setText(f"Saved the label set as {saved.version_id}.")
        self._remember_choices()
        self._on_choice_changed()

    # --- try a text ---------------------------------------------------------------

    @Slot()
    def _on_typing_timer_timeout(self) -> None:
        self.typing_timer.stop()
        text = self.try_tab.text_edit.toPlainText().strip()
        job = self.job()
        if text and job is not None:
            self.controller.classify_text(job, text)

    def _show_try(self, outcome: TryOutcome) -> None:
        prediction = outcome.prediction
        self.try_tab.answer_label.setText(prediction.answer)
        notes = [f"best label {prediction.label}, {prediction.confidence:.1%}"]
        if prediction.needs_review:
            notes.append("below the confidence threshold: needs review")
        if prediction.truncated:
            notes.append("the text was too long; its beginning was classified")
        line = "; ".join(notes)
        self.try_tab.detail_label.setText(line[:1].upper() + line[1:] + ".")
        self.try_tab.bars.show_prediction(outcome.labels, prediction)

    # --- a file ---------------------------------------------------------------------

    @Slot()
    def _on_file_open_clicked(self) -> None:
        self._start_file_run("")

    @Slot()
    def _on_file_cluster_clicked(self) -> None:
        self._start_file_run(self.cluster_address)

    def _start_file_run(self, cluster: str) -> None:
        job = self.job()
        title = "Classify a file on the cluster" if cluster else "Classify a file"
        path = TableFileDialog.ask_open(self, title) if job else None
        columns = self.ask_columns(path, need_gold=False) if path is not None else None
        if job is None or path is None or columns is None:
            return
        self.run_id = None
        self.resumed_rows = 0
        self.run_description = ""
        self.file_tab.model.clear()
        self.file_tab.problems_label.hide()
        self.file_tab.progress.setValue(0)
        self.file_tab.rate_label.clear()
        where = f" for the cluster at {cluster}" if cluster else ""
        self.file_tab.summary_label.setText(f"Opening {path.name}{where}…")
        self.controller.classify_file(job, path, columns, cluster=cluster)

    @Slot()
    def _on_file_pause_clicked(self) -> None:
        if self.controller.paused:
            self.controller.resume()
            self.file_tab.summary_label.setText("Resumed.")
        else:
            self.controller.pause()
            self.file_tab.summary_label.setText("Pausing after the rows under way…")
        self._update_buttons()

    @Slot()
    def _on_file_cancel_clicked(self) -> None:
        self.controller.cancel("file")

    @Slot()
    def _on_file_export_clicked(self) -> None:
        if self.run_id is None:
            return
        path = TableFileDialog.ask_save(self, Path.home() / "classified.csv")
        if path is not None:
            self.controller.export_run(self.run_id, path)

    @Slot(object)
    def _on_controller_file_started(self, started: FileStarted) -> None:
        self.run_id = started.run_id
        self.resumed_rows = sum(1 for r in started.earlier if r.prediction is not None)
        resumed = f" Resuming: {len(started.earlier):,} rows were done before." * bool(
            started.earlier
        )
        self.run_description = (
            f"Run {started.run_id}: {started.total:,} rows, label set {started.label_set}, "
            f"model lock {started.lock_id}, weights {started.weights}."
        )
        if started.weights_note:
            self.run_description += f" The faster 16-bit copy was not used: {started.weights_note}."
        self.file_tab.summary_label.setText(self.run_description + resumed)
        self._add_rows(started.earlier)

    @Slot(object)
    def _on_controller_rows_classified(self, rows: tuple[RowResult, ...]) -> None:
        self._add_rows(rows)

    def _add_rows(self, rows: tuple[RowResult, ...]) -> None:
        model = self.file_tab.model
        model.add(rows)
        self.file_tab.table.setColumnHidden(ResultColumn.GOLD, not model.has_gold)
        if model.problems:
            shown = "; ".join(
                f"line {r.line}: {r.problem}" for r in model.problems[:PROBLEMS_SHOWN]
            )
            more = len(model.problems) - PROBLEMS_SHOWN
            tail = f"; and {more} more" if more > 0 else ""
            self.file_tab.problems_label.setText(
                f"{len(model.problems)} malformed row(s) skipped: {shown}{tail}."
            )
            self.file_tab.problems_label.show()

    def _show_batch(self, progress: BatchProgress) -> None:
        self.file_tab.progress.setValue(round(progress.fraction * 1000))
        self.file_tab.progress.setFormat(f"{progress.done:,} / {progress.total:,}")
        eta = progress.eta_seconds
        running = not progress.paused and progress.done < progress.total
        left = f", {duration(eta)} left" if eta is not None and running else ""
        state = "paused" if progress.paused else f"{progress.texts_per_second:.1f} texts/s{left}"
        self.file_tab.rate_label.setText(state)

    def _file_finished(self, outcome: FileOutcome | None) -> None:
        model = self.file_tab.model
        review = f"; {model.needs_review:,} need review" if model.needs_review else ""
        if outcome is None or outcome.status == "cancelled":
            text = (
                f"Cancelled after {model.rowCount():,} rows{review}. "
                "Classify the same file again to resume where it stopped."
            )
        else:
            resumed = (
                f", {self.resumed_rows:,} of them resumed from an earlier run"
                if self.resumed_rows
                else ""
            )
            text = f"Done: {model.rowCount():,} rows classified{resumed}{review}."
        self.file_tab.summary_label.setText(f"{text} {self.run_description}".strip())
        self.file_tab.rate_label.setText(self.file_tab.rate_label.text().replace("paused", ""))

    # --- evaluate --------------------------------------------------------------------

    @Slot()
    def _on_eval_open_clicked(self) -> None:
        job = self.job()
        path = TableFileDialog.ask_open(self, "Evaluate on a file") if job else None
        columns = self.ask_columns(path, need_gold=True) if path is not None else None
        if job is None or path is None or columns is None:
            return
        self.eval_tab.progress.setValue(0)
        self.eval_tab.matrix.clear()
        self.eval_tab.summary_label.setText(f"Evaluating on {path.name}…")
        if path != self.eval_path:
            self.eval_path = path
            self.eval_history = []
            self.eval_tab.compare_label.hide()
        self.controller.evaluate_file(job, path, columns)

    @Slot()
    def _on_eval_cancel_clicked(self) -> None:
        self.controller.cancel("eval")

    def _show_eval(self, outcome: EvalOutcome) -> None:
        report = outcome.report
        self.eval_tab.summary_label.setText(eval_summary_html(report))
        if self.eval_history and self.eval_history[-1].scores.labels != report.scores.labels:
            self.eval_history = []  # another label set: not comparable
        self.eval_history = [*self.eval_history, report][-MAX_COMPARED:]
        compare = self.eval_tab.compare_label
        compare.setText(comparison_html(self.eval_history))
        compare.setVisible(len(self.eval_history) > 1)
        title = f"{report.info.method} on {report.info.model_id}"
        self.eval_tab.matrix.set_scores(report.scores, title)

    # --- past runs -----------------------------------------------------------------------

    def refresh_runs(self) -> None:
        """List past runs (newest first) with the accuracy of their latest evaluation."""
        try:
            runs, evaluations = self.runs.list_runs(), self.runs.evaluations()
        except ClassifyError as exc:
            self.runs_tab.empty_label.setText(str(exc))
            return
        self.runs_tab.model.set_runs(runs, evaluations)
        self.runs_tab.empty_label.setVisible(not runs)
        self._update_buttons()

    @Slot(int)
    def _on_tabs_current_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.runs_tab:
            self.refresh_runs()

    def evaluate_run(self, run_id: int) -> None:
        """Evaluate a finished run from its stored results, asking what its gold values are."""
        try:
            label_set, values = gold_survey_of_run(self.runs, run_id)
        except ClassifyError as exc:
            self.status_label.setText(str(exc))
            return
        choice = GoldMapDialog.ask(self, f"Evaluate run {run_id}", values, label_set)
        if choice is None:
            return
        self.tabs.setCurrentWidget(self.eval_tab)
        self.eval_tab.progress.setValue(0)
        self.eval_tab.matrix.clear()
        self.eval_tab.summary_label.setText(f"Evaluating run {run_id} from its stored results…")
        key = Path(f"run:{run_id}")
        if key != self.eval_path:
            self.eval_path = key
            self.eval_history = []
            self.eval_tab.compare_label.hide()
        self.controller.evaluate_run(run_id, choice.gold_map)

    @Slot()
    def _on_file_evaluate_clicked(self) -> None:
        if self.run_id is not None:
            self.evaluate_run(self.run_id)

    @Slot()
    def _on_runs_open_clicked(self) -> None:
        past = self.runs_tab.selected()
        if past is not None:
            self.controller.open_run(past.run.id)

    @Slot()
    def _on_runs_evaluate_clicked(self) -> None:
        past = self.runs_tab.selected()
        if past is not None:
            self.evaluate_run(past.run.id)

    @Slot()
    def _on_runs_export_clicked(self) -> None:
        past = self.runs_tab.selected()
        if past is None:
            return
        suggested = Path.home() / f"{Path(past.run.input_path).stem}-classified.csv"
        path = TableFileDialog.ask_save(self, suggested)
        if path is not None:
            self.controller.export_run(past.run.id, path)

    def _show_opened_run(self, opened: RunOpened) -> None:
        run = opened.run
        self.run_id = run.id
        self.resumed_rows = 0
        self.file_tab.model.clear()
        self.file_tab.problems_label.hide()
        self.file_tab.rate_label.clear()
        done = sum(1 for r in opened.rows if r.prediction is not None)
        self.file_tab.progress.setValue(1000 if run.finished_at else 0)
        self.file_tab.progress.setFormat(f"{len(opened.rows):,} / {run.total_rows or 0:,}")
        state = "finished" if run.finished_at else "unfinished: classify the file again to resume"
        self.run_description = (
            f"Run {run.id}, {Path(run.input_path).name} ({state}): {done:,} rows, label set "
            f"{run.info.label_set}, {run.info.method} on {run.info.model_id}, "
            f"weights {run.info.weights}, {run.created_at[:16].replace('T', ' ')}."
        )
        self.file_tab.summary_label.setText(self.run_description)
        self._add_rows(opened.rows)
        self.tabs.setCurrentWidget(self.file_tab)

    # --- teach -------------------------------------------------------------------------

    @Slot()
    def _on_teach_open_clicked(self) -> None:
        job = self.job()
        path = TableFileDialog.ask_open(self, "Teach from a labelled file") if job else None
        columns = self.ask_columns(path, need_gold=True) if path is not None else None
        if job is None or path is None or columns is None:
            return
        self.teach_tab.progress.setValue(0)
        self.teach_tab.result_label.setText(f"Reading {path.name} through the model…")
        self.controller.teach_file(job, path, columns)

    @Slot()
    def _on_teach_cancel_clicked(self) -> None:
        self.controller.cancel("teach")

    def _show_teach(self, outcome: TeachOutcome) -> None:
        self.teach_tab.result_label.setText(teach_summary(outcome))
        self.method_combo.setCurrentIndex(self.method_combo.findData("examples"))
        self._remember_choices()

    # --- answers -----------------------------------------------------------------------

    @Slot(str, object)
    def _on_controller_progressed(self, kind: str, progress: object) -> None:
        if isinstance(progress, BatchProgress):
            self._show_batch(progress)
            return
        done, total = getattr(progress, "done", 0), getattr(progress, "total", 0) or 0
        bar = {"eval": self.eval_tab.progress, "teach": self.teach_tab.progress}.get(kind)
        if bar is not None and total:
            bar.setValue(round(done / total * 1000))
            stage = getattr(progress, "stage", "reading")
            bar.setFormat(f"{stage} {done:,} / {total:,}" if kind == "teach" else "%p%")

    @Slot(str, object)
    def _on_controller_finished(self, kind: str, outcome: object) -> None:
        if isinstance(outcome, TryOutcome):
            self._show_try(outcome)
        elif kind == "file":
            self._file_finished(outcome if isinstance(outcome, FileOutcome) else None)
            self.refresh_runs()
        elif isinstance(outcome, EvalOutcome):
            self.eval_tab.progress.setValue(1000)
            self._show_eval(outcome)
            if outcome.report.run_id is not None:
                self.refresh_runs()
        elif isinstance(outcome, RunOpened):
            self._show_opened_run(outcome)
        elif isinstance(outcome, TeachOutcome):
            self.teach_tab.progress.setValue(1000)
            self._show_teach(outcome)
        elif kind == "export" and isinstance(outcome, int):
            self.status_label.setText(f"Exported {outcome:,} results.")
        elif outcome is None and kind in ("eval", "teach"):
            label = self.eval_tab.summary_label if kind == "eval" else self.teach_tab.result_label
            label.setText("Cancelled.")
        self._update_buttons()

    @Slot(str, str)
    def _on_controller_failed(self, kind: str, message: str) -> None:
        target = {
            "try": self.try_tab.detail_label,
            "file": self.file_tab.summary_label,
            "eval": self.eval_tab.summary_label,
            "teach": self.teach_tab.result_label,
        }.get(kind, self.status_label)
        target.setText(message)
        if kind == "try":
            self.try_tab.answer_label.setText("—")
        self._update_buttons()

    @Slot()
    def _update_buttons(self) -> None:
        ready = self.model_combo.count() > 0 and self.label_set is not None
        running = self.controller.busy("file")
        self.file_tab.open_button.setEnabled(ready and not running)
        self.file_tab.cluster_button.setVisible(bool(self.cluster_address))
        self.file_tab.cluster_button.setEnabled(ready and not running)
        self.file_tab.pause_button.setEnabled(running and not self.controller.on_cluster)
        self.file_tab.pause_button.setText("Resume" if self.controller.paused else "Pause")
        self.file_tab.cancel_button.setEnabled(running)
        self.file_tab.export_button.setEnabled(self.run_id is not None and not running)
        has_gold = self.file_tab.model.has_gold
        evaluating = self.controller.busy("eval")
        self.file_tab.evaluate_button.setEnabled(
            self.run_id is not None
            and not running
            and has_gold
            and not self.controller.busy("eval")
        )
        chosen = self.runs_tab.selected()
        self.runs_tab.open_button.setEnabled(chosen is not None and not running)
        self.runs_tab.export_button.setEnabled(chosen is not None)
        self.runs_tab.evaluate_button.setEnabled(
            chosen is not None
            and bool(chosen.run.gold_column)
            and chosen.run.finished_at is not None
            and not evaluating
        )
        self.eval_tab.open_button.setEnabled(ready and not self.controller.busy("eval"))
        self.eval_tab.cancel_button.setEnabled(self.controller.busy("eval"))
        self.teach_tab.open_button.setEnabled(ready and not self.controller.busy("teach"))
        self.teach_tab.cancel_button.setEnabled(self.controller.busy("teach"))
        self.try_tab.classify_button.setEnabled(ready)

    def shutdown(self) -> None:
        self.typing_timer.stop()
        self.controller.shutdown()
        self.runs.close()
