"""The Installed tab's behaviour checks: record a new check set on the selected model,
check the selected model's check sets now, and record a replaced version's check sets
again on the new one.

All answer on a model, so they run behind the tab's :class:`BusyStrip` (progress and
Cancel); a check set is saved only when every answer is in, and a check keeps its result
(the Behaviour report shows it) only when it finished.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QLabel, QPushButton, QWidget

from app.core.drift import DriftReport, check
from app.core.drift.checkset import CheckSet
from app.core.drift.library import CheckSetLibrary
from app.core.drift.sources import record_new
from app.core.drift.versions import VersionComparison, record_again
from app.core.models.store import InstalledModel, ModelStore
from app.ui.models.behaviour import BehaviourPrompts
from app.ui.models.busy import BusyStrip
from app.ui.models.record_dialog import RecordDialog, RecordRequest
from app.ui.tasks import Task


def check_now(
    task: Task, store: ModelStore, model: InstalledModel, names: Sequence[str]
) -> list[DriftReport]:
    """Answer the check sets ``names`` again on ``model`` and keep each result; progress is
    counted over all of them."""
    library = CheckSetLibrary.for_paths(store.paths)
    check_sets = [library.load(name) for name in names]
    total = sum(check_set.size for check_set in check_sets)
    reports: list[DriftReport] = []
    done = 0
    for check_set in check_sets:

        def progress(count: int, _total: int, base: int = done) -> None:
            task.report_progress(base + count, total)

        reports.append(
            check(
                store.paths,
                store,
                check_set,
                model.id,
                on_progress=progress,
                cancel=task.cancel_token,
                keep=True,
            )
        )
        done += check_set.size
    return reports


class RecordActions(QObject):
    """ "Record check…", "Check now" and "Record again on the new
    version"."""

    changed = Signal(str)
    """A check set was recorded (the behaviour cells change): the sentence to show."""

    def __init__(
        self,
        window: QWidget,
        store: ModelStore,
        busy: BusyStrip,
        status: QLabel,
        selected: Callable[[], InstalledModel | None],
        check_sets: Callable[[InstalledModel], list[str]],
    ) -> None:
        super().__init__(window)
        self.window, self.store, self.busy, self.status = window, store, busy, status
        self.selected = selected
        self.check_sets = check_sets
        """The names of the check sets recorded or checked on a model."""
        self.check_button = QPushButton("Check &now")
        self.check_button.setToolTip(
            "Answer the selected model's check sets again and compare with the recording"
        )
        self.check_button.clicked.connect(self._on_check_clicked)
        self.record_button = QPushButton("Rec&ord check…")
        self.record_button.setToolTip(
            "Record the selected model's answers to messages from your chats or a labelled "
            "file, so later checks can prove nothing changed"
        )
        self.record_button.clicked.connect(self._on_record_clicked)

    def update_buttons(self) -> None:
        model = self.selected()
        self.record_button.setEnabled(model is not None and not self.busy.busy)
        names = self.check_sets(model) if model is not None else []
        self.check_button.setEnabled(bool(names) and not self.busy.busy)
        self.check_button.setToolTip(
            f"Answer {', '.join(names)} again on the selected model and compare with the recording"
            if names
            else "Record a behaviour check on the selected model first"
        )

    @Slot()
    def _on_check_clicked(self) -> None:
        model = self.selected()
        names = self.check_sets(model) if model is not None else []
        if model is None or not names or self.busy.busy:
            return
        store = self.store
        self.status.setText(f"Checking the behaviour of {model.id}…")
        self.busy.run(
            f"Checking {', '.join(names)} on {model.id}",
            lambda task: check_now(task, store, model, names),
            lambda reports: self.changed.emit(" ".join(r.summary() for r in reports)),
            lambda message: self.status.setText(f"The check could not run: {message}"),
            lambda: self.status.setText("Check cancelled; the last result is kept as it was."),
        )

    @Slot()
    def _on_record_clicked(self) -> None:
        model = self.selected()
        if model is None or self.busy.busy:
            return
        request = RecordDialog.ask(self.window, self.store.paths, model.id)
        if request is not None and not request.empty:
            self.record(model, request)

    def record(self, model: InstalledModel, request: RecordRequest) -> None:
        paths, store = self.store.paths, self.store
        self.status.setText(f"Recording '{request.name}' on {model.id}…")
        self.busy.run(
            f"Recording '{request.name}' on {model.id}",
            lambda task: record_new(
                paths,
                store,
                request.name,
                model.id,
                prompts=request.prompts,
                labelled=request.labelled,
                on_progress=task.report_progress,
                cancel=task.cancel_token,
            ),
            lambda check_set: self._on_recorded(model, check_set),
            lambda message: self.status.setText(f"Nothing was recorded: {message}"),
            lambda: self.status.setText("Recording cancelled; nothing was kept."),
        )

    def _on_recorded(self, model: InstalledModel, check_set: CheckSet) -> None:
        self.changed.emit(
            f"Recorded '{check_set.name}' on {model.id}: {check_set.size} answers. "
            "Check now answers them again and compares, any time."
        )

    # --- after an update switched versions -----------------------------------------

    def offer_record_again(self, comparison: VersionComparison) -> None:
        """Ask whether to record the old version's check sets again on the new one."""
        if not comparison.reports or self.busy.busy:
            return
        if not BehaviourPrompts.record_again(self.window, comparison):
            return
        paths, store = self.store.paths, self.store
        old, new = comparison.old, comparison.new
        self.busy.run(
            f"Recording the check sets again on {new.id}",
            lambda task: record_again(
                paths, store, old, new, on_progress=task.report_progress, cancel=task.cancel_token
            ),
            lambda names: self.changed.emit(
                f"Recorded {', '.join(names)} again on {new.id}: the next check compares "
                "with the new version."
            ),
            lambda message: self.status.setText(f"Not recorded again: {message}"),
            lambda: self.status.setText(
                f"Recording again cancelled; the check sets still hold {old.id}'s answers."
            ),
        )
