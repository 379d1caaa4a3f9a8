"""What every tab of the Classify page shares: its base class and small widgets.

Each tab is a widget of its own: it asks the controller for its kind of work with
what the :class:`~app.ui.classify.choices.ChoicesBar` has chosen, listens to its own
lane's typed answers, and keeps its buttons right. The page only assembles the tabs
and passes on what one tab does for another (a taught head, a run to evaluate).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QLocale, Qt, Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from app.core.classify import Columns
from app.core.classify.dialect import export_dialect
from app.core.settings import load_settings, save_settings
from app.ui.classify.choices import ChoicesBar
from app.ui.classify.controller import ClassifyController
from app.ui.classify.dialogs import TableFileDialog
from app.ui.classify.worker import Job
from app.ui.model_worker import Lane


class ClassifyTab(QWidget):
    """A tab that asks the classification thread for work and shows the answers."""

    status_changed = Signal(str)
    """A sentence for the page's status line (not about this tab's own work)."""

    def __init__(
        self, controller: ClassifyController, choices: ChoicesBar, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.choices = choices
        controller.busy_changed.connect(self.update_buttons)
        choices.ready_changed.connect(self.update_buttons)

    @Slot()
    def update_buttons(self) -> None:
        """Enable what can be done now (subclasses: their own buttons)."""

    def ask_file(self, title: str, *, need_gold: bool) -> tuple[Job, Path, Columns] | None:
        """What to work on: the chosen job, a file the person picks and its columns
        (confirmed by the person); None when any of them is missing."""
        ready = self.choices.job() is not None
        path = TableFileDialog.ask_open(self, title) if ready else None
        columns = self.choices.ask_columns(path, need_gold=need_gold) if path else None
        job = self.choices.job()  # after the columns: a label set may have been made there
        if job is None or path is None or columns is None:
            return None
        return job, path, columns

    def export_run(self, run_id: int, suggested: Path) -> None:
        """Ask where and how to write a run's results (like the input, for Excel, plain),
        then export them; the layout chosen is offered first next time."""
        paths = self.choices.paths
        layout = load_settings(paths).export_layout
        choice = TableFileDialog.ask_export(self, suggested, layout)
        if choice is None:
            return
        if choice.layout != layout:
            try:
                save_settings(paths, load_settings(paths).with_changes(export_layout=choice.layout))
            except (OSError, ValueError) as exc:
                self.status_changed.emit(f"The export layout could not be remembered: {exc}")
        dialect = export_dialect(choice.layout, QLocale().decimalPoint())
        self.controller.export_run(run_id, choice.path, dialect)


class LabelledFileTab(ClassifyTab):
    """A tab that reads a whole labelled file in one request of its ``lane`` (evaluate,
    teach): an open button, a cancel button and a progress bar."""

    staged_progress = False
    """Show the progress's stage ("reading", "fitting") on the bar."""

    def __init__(
        self,
        controller: ClassifyController,
        choices: ChoicesBar,
        lane: Lane,
        open_button: QPushButton,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(controller, choices, parent)
        self.lane = lane
        self.open_button = open_button
        self.cancel_button = QPushButton("Cancel")
        self.progress = progress_bar()
        self.buttons = QHBoxLayout()
        self.buttons.addWidget(self.open_button)
        self.buttons.addWidget(self.cancel_button)
        self.buttons.addStretch(1)
        self.open_button.clicked.connect(self._on_open_button_clicked)
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        lane.progressed.connect(self._on_lane_progressed)

    @Slot()
    def update_buttons(self) -> None:
        busy = self.lane.busy
        self.open_button.setEnabled(self.choices.ready and not busy)
        self.cancel_button.setEnabled(busy)

    @Slot()
    def _on_open_button_clicked(self) -> None:
        """Ask for the file and start the request (subclasses)."""

    @Slot()
    def _on_cancel_button_clicked(self) -> None:
        self.lane.cancel()

    @Slot(object)
    def _on_lane_progressed(self, progress: object) -> None:
        show_progress(self.progress, progress, staged=self.staged_progress)


def wrapping_label(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def progress_bar() -> QProgressBar:
    bar = QProgressBar()
    bar.setRange(0, 1000)
    bar.setValue(0)
    bar.setTextVisible(True)
    return bar


def show_progress(bar: QProgressBar, progress: object, *, staged: bool = False) -> None:
    """A ClassifyProgress or TeachProgress on ``bar``; ``staged``: with its stage's name."""
    done, total = getattr(progress, "done", 0), getattr(progress, "total", 0) or 0
    if total:
        bar.setValue(round(done / total * 1000))
        stage = getattr(progress, "stage", "reading")
        bar.setFormat(f"{stage} {done:,} / {total:,}" if staged else "%p%")
