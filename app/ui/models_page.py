"""The Models page: installed versions, which one is active, pinning."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.store import InstalledModel, ModelStore, VerifyResult
from app.ui.model_table import Column, InstalledModelsModel
from app.ui.tasks import Task


class ModelsPage(QWidget):
    """Lists installed models and offers use, pin/unpin, verify and remove."""

    models_changed = Signal()

    def __init__(self, store: ModelStore, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.table_model = InstalledModelsModel(self)
        self._task: Task | None = None

        title = QLabel("<h2>Models</h2>")
        intro = QLabel(
            "Every model runs on this machine. A <b>pinned</b> model is frozen: nothing "
            "updates, replaces or removes it until you unpin it."
        )
        intro.setWordWrap(True)

        self.table = QTableView()
        self.table.setModel(self.table_model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(Column.SOURCE, QHeaderView.ResizeMode.Stretch)
        self.table.setAccessibleName("Installed models")

        self.use_button = QPushButton("&Use")
        self.pin_button = QPushButton("&Pin")
        self.verify_button = QPushButton("&Verify")
        self.remove_button = QPushButton("&Remove…")
        self.use_button.setToolTip("Make the selected model the active one")
        self.pin_button.setToolTip("Freeze or unfreeze the selected model")
        self.verify_button.setToolTip("Re-hash the file and compare it with the recorded sha256")
        self.remove_button.setToolTip("Remove the selected model (pinned models are refused)")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        buttons = QHBoxLayout()
        for button in (self.use_button, self.pin_button, self.verify_button, self.remove_button):
            buttons.addWidget(button)
        buttons.addStretch(1)

        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        layout.addWidget(self.status)

        self.use_button.clicked.connect(self._on_use_clicked)
        self.pin_button.clicked.connect(self._on_pin_clicked)
        self.verify_button.clicked.connect(self._on_verify_clicked)
        self.remove_button.clicked.connect(self._on_remove_clicked)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.table.doubleClicked.connect(self._on_use_clicked)
        self._update_buttons()

    # --- data -------------------------------------------------------------

    def refresh(self) -> None:
        selected = self.selected_model()
        active = self.store.active()
        self.table_model.set_models(self.store.list_models(), active.id if active else None)
        keep = selected.id if selected else (active.id if active else None)
        if keep is not None and (row := self.table_model.row_of(keep)) >= 0:
            self.table.selectRow(row)
        self._update_buttons()

    def selected_model(self) -> InstalledModel | None:
        rows = self.table.selectionModel().selectedRows()
        return self.table_model.model_at(rows[0].row()) if rows else None

    @Slot()
    def _update_buttons(self) -> None:
        model = self.selected_model()
        busy = self._task is not None
        has = model is not None
        self.use_button.setEnabled(
            has and model is not None and model.id != self.table_model.active_id
        )
        self.pin_button.setEnabled(has)
        self.pin_button.setText("Un&pin" if model is not None and model.pinned else "&Pin")
        self.verify_button.setEnabled(has and not busy)
        self.remove_button.setEnabled(has and model is not None and not model.pinned)
        if model is not None and model.pinned:
            self.remove_button.setToolTip("Pinned models cannot be removed. Unpin it first.")
        else:
            self.remove_button.setToolTip("Remove the selected model")

    def _changed(self, message: str) -> None:
        self.status.setText(message)
        self.refresh()
        self.models_changed.emit()

    # --- actions ----------------------------------------------------------

    @Slot()
    def _on_use_clicked(self) -> None:
        model = self.selected_model()
        if model is not None:
            self.store.set_active(model.id)
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
    def _on_remove_clicked(self) -> None:
        model = self.selected_model()
        if model is None:
            return
        if not self.confirm_remove(model):
            return
        self.store.remove(model.id)
        self._changed(f"Removed {model.id}.")

    def confirm_remove(self, model: InstalledModel) -> bool:
        """Ask before removing; tests replace this method."""
        answer = QMessageBox.question(
            self,
            "Remove model",
            f"Remove {model.id}?"
            + ("\nIts file will be deleted from the model store." if model.managed else ""),
        )
        return answer == QMessageBox.StandardButton.Yes

    @Slot()
    def _on_verify_clicked(self) -> None:
        model = self.selected_model()
        if model is None or self._task is not None:
            return
        store = self.store
        self._task = Task(lambda task: store.verify(model.id, cancel=task.cancel_token), self)
        self._task.succeeded.connect(self._on_verify_finished)
        self._task.failed.connect(self._on_verify_failed)
        self.status.setText(f"Verifying {model.id}…")
        self._update_buttons()
        self._task.start()

    @Slot(object)
    def _on_verify_finished(self, result: VerifyResult) -> None:
        self._task = None
        self._changed(result.message if result.ok else f"Verification failed: {result.message}")

    @Slot(str)
    def _on_verify_failed(self, message: str) -> None:
        self._task = None
        self.status.setText(f"Verification failed: {message}")
        self._update_buttons()
