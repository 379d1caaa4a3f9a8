"""The Installed tab: every model version, and use, pin, verify, remove, update, lock.

Quick store changes (use, pin, remove) run on the GUI thread; hashing, copying,
lockfile imports, update checks and recording behaviour checks (record_check.py) run in
a worker behind a :class:`BusyStrip`.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.drift.results import behaviours
from app.core.drift.versions import VersionComparison, compare_versions
from app.core.errors import DriftlessError
from app.core.hub.client import HubClient
from app.core.hub.updates import UpdateState, UpdateStatus, check_updates
from app.core.models.store import InstalledModel, ModelStore, VerifyResult, restore_advice
from app.ui import theme
from app.ui.active_model import ActiveModel
from app.ui.copy_button import CopyButton
from app.ui.flow_layout import FlowLayout
from app.ui.models.behaviour import BehaviourPrompts
from app.ui.models.behaviour_watch import BehaviourWatcher
from app.ui.models.busy import BusyStrip
from app.ui.models.download_model import DownloadRequest
from app.ui.models.downloads import DownloadQueue
from app.ui.models.installed_files import FileActions
from app.ui.models.prompts import Prompts
from app.ui.models.record_check import RecordActions
from app.ui.models.table import Column, InstalledModelsModel, Role, VerifyMark, describe
from app.ui.states import EmptyState, StateStack
from app.ui.tasks import Task

OFFLINE_TIP = "Working offline: turn off 'Work offline' in Settings to reach the Hub."


NARROW_WIDTH = 900
"""Below this width (px) the tab leaves out :data:`NARROW_HIDDEN`."""
NARROW_HIDDEN = (Column.QUANT, Column.LICENSE, Column.BEHAVIOUR)


class InstalledTab(QWidget):
    """The installed model versions and everything that can be done to them."""

    models_changed = Signal()
    behaviour_changed = Signal()
    download_started = Signal()
    catalog_requested = Signal()
    """The empty state's action: show the Catalog."""

    def __init__(
        self,
        store: ModelStore,
        queue: DownloadQueue,
        parent: QWidget | None = None,
        *,
        active: ActiveModel | None = None,
    ):
        super().__init__(parent)
        self.store, self.queue = store, queue
        self.active = active if active is not None else ActiveModel(store, self)
        self.table_model = InstalledModelsModel(self)
        self._updating: dict[tuple[str, str, str], str] = {}
        """(repo, filename, commit) of an update being downloaded -> the old version's id."""
        self._to_review: list[tuple[str, str]] = []
        """(old id, new id) installed while another job ran; checked when it ends."""

        self.table = QTableView()
        self.table.setModel(self.table_model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(Column.NAME, QHeaderView.ResizeMode.Stretch)
        self.table.setAccessibleName("Installed models")
        self.table_stack = StateStack(
            self.table,
            empty=EmptyState(
                "box",
                "No model is installed yet. Download one from the Catalog, or import a "
                ".gguf file you have.",
                "Open the Catalo&g",
                compact=True,
            ),
        )
        self.table_stack.empty.action_triggered.connect(self.catalog_requested)
        self.narrow = False

        def button(text: str, tip: str) -> QPushButton:
            widget = QPushButton(text)
            widget.setToolTip(tip)
            return widget

        self.use_button = button("&Use", "Make the selected model the active one")
        self.pin_button = button("&Pin", "Freeze or unfreeze the selected model")
        self.verify_button = button("&Verify", "Re-hash the file and check its GGUF header")
        self.remove_button = button("&Remove…", "Remove the selected model")
        self.folder_button = button("Show in &folder", "Open the model's folder")
        self.update_button = button("Up&date", "Download the new version beside this one")
        self.check_button = button(
            "&Check for updates", "Ask the Hub what changed; changes nothing"
        )
        self.verify_all_button = button("Verify &all", "Re-hash every installed model")
        self.behaviour_button = button(
            "&Behaviour report…", "The last behaviour check of the selected model"
        )
        self.details = QLabel()
        self.details.setTextFormat(Qt.TextFormat.PlainText)  # names from the Hub or a lockfile
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        theme.set_type(self.details, theme.Type.SECONDARY)
        # A long path must not widen the window: clip it (its tooltip has it whole).
        self.details.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        # The whole sha256, to compare with a model card or a colleague's copy.
        self.sha256_label = QLabel()
        self.sha256_label.setTextFormat(Qt.TextFormat.PlainText)
        self.sha256_label.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.sha256_label.setAccessibleName("sha256 of the selected model")
        theme.set_type(self.sha256_label, theme.Type.MONO)
        self.sha256_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.copy_sha256_button = CopyButton("Copy sha256", self._selected_sha256)
        self.copy_sha256_button.setToolTip("Copy the selected model's whole sha256")
        self.status = QLabel()
        self.status.setTextFormat(Qt.TextFormat.PlainText)  # names from the Hub or a lockfile
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.busy = BusyStrip()
        self.files = FileActions(self, store, queue, self.busy, self.status)
        self.import_button = self.files.import_button
        self.export_lock_button = self.files.export_lock_button
        self.import_lock_button = self.files.import_lock_button
        self.import_files = self.files.import_files
        self.recorder = RecordActions(
            self, store, self.busy, self.status, self.selected_model, self._check_sets_of
        )
        # A check or recording made on the command line shows without a restart.
        self.watcher = BehaviourWatcher(store.paths, self)
        self.watcher.changed.connect(self.refresh)

        # Rows that wrap on a narrow window rather than widen it.
        tools = FlowLayout()
        for widget in self.files.buttons():
            tools.addWidget(widget)
        tools.addStretch(1)
        tools.addWidget(self.verify_all_button)
        tools.addWidget(self.check_button)
        actions = FlowLayout()
        for widget in (
            self.use_button,
            self.pin_button,
            self.verify_button,
            self.remove_button,
            self.folder_button,
            self.behaviour_button,
            self.recorder.check_button,
            self.recorder.record_button,
        ):
            actions.addWidget(widget)
        actions.addStretch(1)
        actions.addWidget(self.update_button)
        # The action buttons sit last, so nothing below them can push them about: the
        # busy strip and a status of any length take their room from the table.
        layout = QVBoxLayout(self)
        layout.addLayout(tools)
        layout.addWidget(self.table_stack, 1)
        layout.addWidget(self.details)
        sha256_row = QHBoxLayout()
        sha256_row.addWidget(self.sha256_label, 1)
        sha256_row.addWidget(self.copy_sha256_button)
        layout.addLayout(sha256_row)
        layout.addWidget(self.busy)
        layout.addWidget(self.status)
        layout.addLayout(actions)

        self.use_button.clicked.connect(self._on_use_clicked)
        self.pin_button.clicked.connect(self._on_pin_clicked)
        self.verify_button.clicked.connect(self._on_verify_clicked)
        self.remove_button.clicked.connect(self.remove_selected)
        self.folder_button.clicked.connect(self._on_folder_clicked)
        self.update_button.clicked.connect(self._on_update_clicked)
        self.behaviour_button.clicked.connect(self._on_behaviour_clicked)
        self.check_button.clicked.connect(self._on_check_clicked)
        self.verify_all_button.clicked.connect(self._on_verify_all_clicked)
        self.files.changed.connect(self._changed)
        self.recorder.changed.connect(self._changed)
        self.table.selectionModel().selectionChanged.connect(self.update_buttons)
        self.table.doubleClicked.connect(self._on_use_clicked)
        self.busy.started.connect(self.update_buttons)
        self.busy.finished.connect(self.update_buttons)
        self.busy.finished.connect(self._review_next)
        queue.settings_changed.connect(self.update_buttons)
        self.active.active_model_changed.connect(self._on_active_model_changed)
        self.refresh()

    # --- data -------------------------------------------------------------

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        # On a narrow window the columns a glance needs least step aside, so the name
        # keeps its room (at 800 px it was squeezed to "s…1"); a wider window shows
        # them again.
        narrow = event.size().width() < NARROW_WIDTH
        if narrow != self.narrow:
            self.narrow = narrow
            for column in NARROW_HIDDEN:
                self.table.setColumnHidden(column, narrow)

    def refresh(self) -> None:
        selected = self.selected_model()
        active = self.store.active()
        models = self.store.list_models()
        self.table_model.set_models(
            models, active.id if active else None, behaviours(self.store.paths, models)
        )
        if models:
            self.table_stack.show_content()
        else:
            self.table_stack.show_empty()
        keep = selected.id if selected else (active.id if active else None)
        if keep is not None and (row := self.table_model.row_of(keep)) >= 0:
            self.table.selectRow(row)
        self.update_buttons()

    @Slot(str)
    def _on_active_model_changed(self, _model_id: str) -> None:
        self.refresh()

    def _check_sets_of(self, model: InstalledModel) -> list[str]:
        behaviour = self.table_model.behaviour(model.id)
        if behaviour is None:
            return []
        return sorted({r.name for r in behaviour.results} | set(behaviour.recorded))

    def _selected_sha256(self) -> str:
        model = self.selected_model()
        return model.sha256 if model is not None else ""

    def selected_model(self) -> InstalledModel | None:
        rows = self.table.selectionModel().selectedRows()
        return self.table_model.model_at(rows[0].row()) if rows else None

    @Slot()
    def update_buttons(self) -> None:
        model = self.selected_model()
        has = model is not None
        busy = self.busy.busy
        offline = self.queue.settings.offline
        row = self.table_model.row_of(model.id) if model else -1
        update = row >= 0 and bool(self.table_model.index(row, 0).data(Role.UPDATE_AVAILABLE))
        refusal = self.use_refusal(model) if model is not None else None
        self.use_button.setEnabled(
            model is not None and model.id != self.table_model.active_id and refusal is None
        )
        self.use_button.setToolTip(refusal or "Make the selected model the active one")
        self.pin_button.setEnabled(has)
        self.pin_button.setText("Un&pin" if model is not None and model.pinned else "&Pin")
        self.verify_button.setEnabled(has and not busy)
        self.remove_button.setEnabled(model is not None and not model.pinned)
        self.remove_button.setToolTip(
            "Pinned models cannot be removed. Unpin it first."
            if model is not None and model.pinned
            else "Remove the selected model"
        )
        self.folder_button.setEnabled(has)
        behaviour = self.table_model.behaviour(model.id) if model else None
        self.behaviour_button.setEnabled(behaviour is not None and bool(behaviour.results))
        self.behaviour_button.setToolTip(
            "Recorded, not checked yet: Check now makes the first report"
            if behaviour is not None and not behaviour.results
            else "The last behaviour check of the selected model"
        )
        details = describe(model).replace("\n", " · ") if model else ""
        if behaviour is not None:
            details = f"{behaviour.line} · {details}"
        self.details.setText(details)
        self.details.setToolTip(describe(model) if model else "")
        self.sha256_label.setText(f"sha256 {model.sha256}" if model else "")
        self.copy_sha256_button.setEnabled(has)
        self.update_button.setEnabled(
            update and model is not None and not model.pinned and not offline
        )
        self.check_button.setEnabled(not busy and not offline)
        self.check_button.setToolTip(OFFLINE_TIP if offline else "Ask the Hub what changed")
        self.verify_all_button.setEnabled(not busy and self.table_model.rowCount() > 0)
        self.files.update_buttons()
        self.recorder.update_buttons()

    def _changed(self, message: str) -> None:
        self.status.setText(message)
        self.refresh()
        self.models_changed.emit()

    # --- quick actions ----------------------------------------------------

    def use_refusal(self, model: InstalledModel) -> str | None:
        """Why ``model`` cannot be made active now (it failed verification), or None."""
        mark = self.table_model.verify_mark(model.id)
        if mark is None or mark.ok is not False:
            return None
        return (
            f"{model.id} failed verification, so it cannot be used until it is fixed. "
            f"{restore_advice(model)}"
        )

    @Slot()
    def _on_use_clicked(self) -> None:
        model = self.selected_model()
        if model is None or model.id == self.table_model.active_id:
            return
        refusal = self.use_refusal(model)
        if refusal is not None:  # the button is disabled; a double-click lands here too
            self.status.setText(refusal)
            return
        try:
            self.active.use(model.id)
        except DriftlessError as exc:
            self.status.setText(str(exc))
            return
        self._changed(f"{model.id} is now the active model.")

    @Slot()
    def _on_pin_clicked(self) -> None:
        model = self.selected_model()
        if model is None:
            return
        if model.pinned:
            self.store.unpin(model.id)
            self._changed(f"Unpinned {model.id}: updates and removal are allowed again.")
        else:
            self.store.pin(model.id)
            self._changed(f"Pinned {model.id}: it will not change until you unpin it.")

    @Slot()
    def remove_selected(self) -> None:
        model = self.selected_model()
        if model is None:
            return
        if model.pinned:  # the button is disabled too; the store would refuse as well
            self.status.setText(f"{model.id} is pinned, so it cannot be removed. Unpin it first.")
            return
        if not Prompts.confirm_remove(self, model):
            return
        was_active = model.id == self.table_model.active_id
        try:
            self.store.remove(model.id)
        except DriftlessError as exc:
            self.status.setText(str(exc))
            return
        self.active.refresh()
        message = f"Removed {model.id}."
        if was_active:
            now = self.active.current()
            message += (
                f" {now.id} is now the active model."
                if now is not None
                else " No model is active now: "
                + (
                    "none is installed. Download or import one."
                    if not self.store.list_models()
                    else "the others' files are missing. Restore one, then Use it."
                )
            )
        self._changed(message)

    @Slot()
    def _on_folder_clicked(self) -> None:
        model = self.selected_model()
        if model is not None and not Prompts.show_folder(model.path.parent):
            self.status.setText(f"Could not open a file manager. The file is {model.path}")

    # --- verification -----------------------------------------------------

    @Slot()
    def _on_verify_clicked(self) -> None:
        model = self.selected_model()
        if model is None or self.busy.busy:
            return
        store, model_id = self.store, model.id
        self.table_model.set_verify_mark(model_id, VerifyMark(None, "Verifying…"))
        self.status.setText(f"Verifying {model_id}…")
        self.busy.run(
            f"Verifying {model_id}",
            lambda task: store.verify(
                model_id, on_progress=task.report_progress, cancel=task.cancel_token
            ),
            self._on_verify_finished,
            lambda message: self._on_verify_stopped(model_id, f"Verification failed: {message}"),
            lambda: self._on_verify_stopped(model_id, "Verification cancelled."),
        )

    def _on_verify_finished(self, result: VerifyResult) -> None:
        self.table_model.set_verify_mark(result.model.id, VerifyMark(result.ok, result.message))
        self._changed(result.message if result.ok else f"Verification failed: {result.message}")

    @Slot()
    def _on_verify_all_clicked(self) -> None:
        if self.busy.busy:
            return
        store, ids = self.store, [m.id for m in self.store.list_models()]
        for model_id in ids:
            self.table_model.set_verify_mark(model_id, VerifyMark(None, "Verifying…"))

        def run(task: Task) -> list[VerifyResult]:
            progress = task.report_progress
            return [
                store.verify(model_id, on_progress=progress, cancel=task.cancel_token)
                for model_id in ids
            ]

        self.status.setText(f"Verifying {len(ids)} model(s)…")
        self.busy.run(
            "Verifying every model",
            run,
            self._on_verify_all_finished,
            lambda message: self._on_verify_all_stopped(ids, f"Verification failed: {message}"),
            lambda: self._on_verify_all_stopped(ids, "Verification cancelled."),
        )

    def _on_verify_all_finished(self, results: list[VerifyResult]) -> None:
        for result in results:
            self.table_model.set_verify_mark(result.model.id, VerifyMark(result.ok, result.message))
        bad = [r.message for r in results if not r.ok]
        summary = f"All {len(results)} model(s) verified." if not bad else "\n".join(bad)
        self._changed(summary)

    def _on_verify_all_stopped(self, ids: list[str], message: str) -> None:
        for model_id in ids:
            self.table_model.clear_verify_mark(model_id)
        self.status.setText(message)

    def _on_verify_stopped(self, model_id: str, message: str) -> None:
        self.table_model.clear_verify_mark(model_id)
        self.status.setText(message)

    # --- behaviour ----------------------------------------------------------

    @Slot()
    def _on_behaviour_clicked(self) -> None:
        model = self.selected_model()
        behaviour = self.table_model.behaviour(model.id) if model else None
        if model is None or behaviour is None or not behaviour.results:
            return
        BehaviourPrompts.show_report(
            self, f"Behaviour of {model.id}", behaviour.details, behaviour.markdown()
        )

    # --- updates ----------------------------------------------------------

    @Slot()
    def _on_check_clicked(self) -> None:
        if self.busy.busy:
            return
        store, client = self.store, HubClient(self.queue.settings)
        self.status.setText("Asking the Hub what changed…")
        self.busy.run(
            "Checking for updates",
            lambda task: check_updates(store, client),
            self._on_check_finished,
            lambda message: self.status.setText(f"Could not check for updates: {message}"),
        )

    def _on_check_finished(self, statuses: list[UpdateStatus]) -> None:
        self.table_model.set_update_statuses(statuses)
        available = [s.model.id for s in statuses if s.update_available]
        unchecked = [s for s in statuses if s.state is UpdateState.ERROR]
        lines = []
        if available:
            lines.append(f"Update available for {', '.join(available)}.")
        if unchecked:
            lines.append(
                f"Could not check {', '.join(s.model.id for s in unchecked)}: "
                f"{unchecked[0].message}"
            )
        elif not available:
            lines.append(
                "Every model from the Hub is up to date."
                if statuses
                else "No model here comes from the Hub; there is nothing to check."
            )
        elif len(available) < len(statuses):
            lines.append("The others are up to date.")
        self.status.setText(" ".join(lines))
        self.status.setToolTip("\n".join(f"{s.model.id}: {s.message}" for s in statuses))
        self.update_buttons()

    @Slot()
    def _on_update_clicked(self) -> None:
        model = self.selected_model()
        status = self.table_model.update_status(model.id) if model else None
        if model is None or model.repo is None or status is None or not status.latest_commit:
            return
        # The active model stays as it is: the new version's behaviour check comes first.
        self._updating[(model.repo, model.filename, status.latest_commit)] = model.id
        self.queue.enqueue(
            DownloadRequest(
                model.repo,
                model.filename,
                status.latest_commit,
                activate=False,
                track=model.revision or "main",
            )
        )
        self.status.setText(
            f"Downloading the new version of {model.id} beside the old one; see Downloads. "
            "Its behaviour is checked before you switch to it."
        )
        self.download_started.emit()

    def model_installed(self, model: InstalledModel) -> None:
        """After a download: when it was an update, check the new version's behaviour."""
        if model.repo is None or model.commit is None:
            return
        old_id = self._updating.pop((model.repo, model.filename, model.commit), None)
        if old_id is None:
            return
        self._to_review.append((old_id, model.id))
        if self.busy.busy:
            self.status.setText(
                f"Installed {model.id}; its behaviour is checked when the running job ends."
            )
        else:
            self._review_next()

    @Slot()
    def _review_next(self) -> None:
        if self.busy.busy or not self._to_review:
            return
        old_id, new_id = self._to_review.pop(0)
        try:
            old, new = self.store.get(old_id), self.store.get(new_id)
        except DriftlessError as exc:
            self.status.setText(str(exc))
            return
        paths, store = self.store.paths, self.store
        self.status.setText(
            f"Installed {new.id} beside {old.id}; answering {old.id}'s check sets on it…"
        )
        self.busy.run(
            f"Checking the behaviour of {new.id}",
            lambda task: compare_versions(
                paths, store, old, new, on_progress=task.report_progress, cancel=task.cancel_token
            ),
            self._on_compared,
            lambda message: self.status.setText(
                f"Installed {new.id}, but its behaviour could not be checked: {message} "
                f"{old.id} stays the active model; Use switches."
            ),
            lambda: self.status.setText(
                f"Behaviour check of {new.id} cancelled. The active model is unchanged."
            ),
        )

    def _on_compared(self, comparison: VersionComparison) -> None:
        self.behaviour_changed.emit()
        if BehaviourPrompts.review_update(self, comparison):
            self.active.use(comparison.new.id)
            self.status.setText(
                f"Switched to {comparison.new.id}; {comparison.old.id} stays installed."
            )
            self.models_changed.emit()
            self.recorder.offer_record_again(comparison)
        else:
            active = self.store.active()
            self.status.setText(
                f"Installed {comparison.new.id}; still using "
                f"{active.id if active else 'no model'}. Use switches to it."
            )
        self.refresh()
