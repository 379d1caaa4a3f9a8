"""The Installed tab's recording of behaviour checks: a new check set on the selected model,
and the check sets of a replaced version recorded again on the new one.

Both answer on a model, so they run behind the tab's :class:`BusyStrip` (progress and
Cancel); a check set is saved only when every answer is in.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QLabel, QPushButton, QWidget

from app.core.drift.checkset import CheckSet
from app.core.drift.sources import record_new
from app.core.drift.versions import VersionComparison, record_again
from app.core.models.store import InstalledModel, ModelStore
from app.ui.models.behaviour import BehaviourPrompts
from app.ui.models.busy import BusyStrip
from app.ui.models.record_dialog import RecordDialog, RecordRequest


class RecordActions(QObject):
    """ "Record behaviour check…" and "Record again on the new version"."""

    changed = Signal(str)
    """A check set was recorded (the behaviour cells change): the sentence to show."""

    def __init__(
        self,
        window: QWidget,
        store: ModelStore,
        busy: BusyStrip,
        status: QLabel,
        selected: Callable[[], InstalledModel | None],
    ) -> None:
        super().__init__(window)
        self.window, self.store, self.busy, self.status = window, store, busy, status
        self.selected = selected
        self.record_button = QPushButton("Rec&ord behaviour check…")
        self.record_button.setToolTip(
            "Record the selected model's answers to messages from your chats or a labelled "
            "file, so later checks can prove nothing changed"
        )
        self.record_button.clicked.connect(self._on_record_clicked)

    def update_buttons(self) -> None:
        self.record_button.setEnabled(self.selected() is not None and not self.busy.busy)

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
            f"Check it again any time: driftless drift check {check_set.name}."
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
