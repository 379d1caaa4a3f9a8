"""The Classify page: pick a model, label set and method, then try, run, evaluate or teach.

The page only assembles its parts: the :class:`ChoicesBar` above, one widget per tab
(each asks the controller for its own kind of work and shows its own lane's answers),
and passes on what one part does for another. Every model call happens on the
controller's worker thread, and answers come back as immutable values.
"""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget

from app.core.classify import LabelSet, RunStore
from app.core.models.store import ModelStore
from app.core.paths import Paths
from app.core.settings import load_settings
from app.ui.active_model import ActiveModel
from app.ui.classify.choices import ChoicesBar
from app.ui.classify.controller import ClassifyController
from app.ui.classify.evaluate_tab import EvaluateTab
from app.ui.classify.file_tab import FileTab
from app.ui.classify.options import ScoringOptions
from app.ui.classify.runs import RunsTab
from app.ui.classify.teach_tab import TeachTab
from app.ui.classify.try_tab import TryTab
from app.ui.classify.worker import Job, TeachOutcome
from app.ui.states import PageHeader


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
        self.runs = RunStore.for_paths(paths)
        self.controller = ClassifyController(paths, store, self)
        self.choices = ChoicesBar(store, paths, self.controller, self.active)
        # The choices, by the names tests and the window use.
        self.model_combo = self.choices.model_combo
        self.label_set_combo = self.choices.label_set_combo
        self.method_combo = self.choices.method_combo
        self.edit_button = self.choices.edit_button
        self.options_button = self.choices.options_button
        self.status_label = self.choices.status_label

        self.try_tab = TryTab(self.controller, self.choices)
        self.file_tab = FileTab(self.controller, self.choices)
        self.file_tab.cluster_address = load_settings(paths).cluster_address
        self.eval_tab = EvaluateTab(self.controller, self.choices, self.runs)
        self.teach_tab = TeachTab(self.controller, self.choices)
        self.runs_tab = RunsTab(self.controller, self.choices, self.runs)
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Classify tasks")
        self.tabs.addTab(self.try_tab, "Try a text")
        self.tabs.addTab(self.file_tab, "Classify a file")
        self.tabs.addTab(self.eval_tab, "Evaluate")
        self.tabs.addTab(self.teach_tab, "Teach from examples")
        self.tabs.addTab(self.runs_tab, "Past runs")
        self.header = PageHeader("Classify")
        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addWidget(self.choices)
        layout.addWidget(self.choices.starter_label)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.status_label)

        for tab in (self.try_tab, self.file_tab, self.eval_tab, self.teach_tab, self.runs_tab):
            tab.status_changed.connect(self.status_label.setText)
        self.tabs.currentChanged.connect(self._on_tabs_current_changed)
        self.file_tab.run_ended.connect(self._on_file_tab_run_ended)
        self.file_tab.run_shown.connect(self._on_file_tab_run_shown)
        self.file_tab.evaluate_requested.connect(self.evaluate_run)
        self.runs_tab.evaluate_requested.connect(self.evaluate_run)
        self.eval_tab.run_evaluated.connect(self._on_eval_tab_run_evaluated)
        self.teach_tab.taught.connect(self._on_teach_tab_taught)
        self.controller.export_lane.finished.connect(self._on_exported)
        self.controller.export_lane.failed.connect(self.status_label.setText)
        self.controller.open_lane.failed.connect(self.status_label.setText)

    def showEvent(self, event: QShowEvent) -> None:
        # Models installed elsewhere appear, and the model loads while the user looks.
        super().showEvent(event)
        self.file_tab.cluster_address = load_settings(self.paths).cluster_address
        self.file_tab.update_buttons()
        self.refresh_models()

    # --- what the window and tests use -------------------------------------------------

    def refresh_models(self) -> None:
        self.choices.refresh_models()

    @property
    def label_set(self) -> LabelSet | None:
        return self.choices.label_set

    @property
    def scoring(self) -> ScoringOptions:
        return self.choices.scoring

    def job(self) -> Job | None:
        return self.choices.job()

    def refresh_runs(self) -> None:
        self.runs_tab.refresh()

    def evaluate_run(self, run_id: int) -> None:
        """Evaluate a finished run from its stored results, on the Evaluate tab."""
        if self.eval_tab.evaluate_run(run_id):
            self.tabs.setCurrentWidget(self.eval_tab)

    def shutdown(self) -> None:
        self.try_tab.stop()
        self.controller.shutdown()
        self.runs.close()

    # --- one part for another ----------------------------------------------------------

    @Slot(int)
    def _on_tabs_current_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self.runs_tab:
            self.refresh_runs()

    @Slot(object)
    def _on_file_tab_run_ended(self, _outcome: object) -> None:
        self.refresh_runs()

    @Slot(int)
    def _on_file_tab_run_shown(self, _run_id: int) -> None:
        self.tabs.setCurrentWidget(self.file_tab)

    @Slot(int)
    def _on_eval_tab_run_evaluated(self, _run_id: int) -> None:
        self.refresh_runs()

    @Slot(object)
    def _on_teach_tab_taught(self, _outcome: TeachOutcome) -> None:
        self.choices.use_method("examples")  # the head just taught classifies now

    @Slot(object)
    def _on_exported(self, count: int | None) -> None:
        if count is not None:
            self.status_label.setText(f"Exported {count:,} results.")
