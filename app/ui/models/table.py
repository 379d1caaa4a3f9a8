"""A table model of installed model versions, with their verification and update badges."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont

from app.core.chat.context import default_context_size
from app.core.drift.results import Behaviour
from app.core.hub.updates import UpdateState, UpdateStatus
from app.core.models.store import InstalledModel
from app.core.units import human_size
from app.ui import colors
from app.ui.icons import icon

Index = QModelIndex | QPersistentModelIndex


class Column(IntEnum):
    NAME = 0
    VERSION = 1
    SIZE = 2
    QUANT = 3
    CONTEXT = 4
    LICENSE = 5
    STATE = 6
    VERIFIED = 7
    UPDATES = 8
    BEHAVIOUR = 9


HEADERS = {
    Column.NAME: "Model",
    Column.VERSION: "Version",
    Column.SIZE: "Size",
    Column.QUANT: "Quant",
    Column.CONTEXT: "Context",
    Column.LICENSE: "Licence",
    Column.STATE: "State",
    Column.VERIFIED: "Verified",
    Column.UPDATES: "Updates",
    Column.BEHAVIOUR: "Behaviour",
}


class Role(IntEnum):
    MODEL = Qt.ItemDataRole.UserRole + 1
    MODEL_ID = Qt.ItemDataRole.UserRole + 2
    PINNED = Qt.ItemDataRole.UserRole + 3
    ACTIVE = Qt.ItemDataRole.UserRole + 4
    UPDATE_AVAILABLE = Qt.ItemDataRole.UserRole + 5
    VERIFIED_OK = Qt.ItemDataRole.UserRole + 6


@dataclass(frozen=True)
class VerifyMark:
    """This session's verification of one model: ``ok`` is None while it runs."""

    ok: bool | None
    message: str


UPDATE_TEXT = {
    UpdateState.UP_TO_DATE: "Up to date",
    UpdateState.FILE_UNCHANGED: "Up to date",
    UpdateState.FILE_CHANGED: "Update available",
    UpdateState.FILE_REMOVED: "Removed upstream",
    UpdateState.NOT_TRACKED: "",
    UpdateState.ERROR: "Could not check",
}


def state_text(model: InstalledModel, active: bool) -> str:
    parts = []
    if active:
        parts.append("Active")
    if model.pinned:
        parts.append("Pinned")
    return ", ".join(parts)


def context_text(trained: int | None) -> str:
    """The context chat loads the model with, and the trained one when that is longer:
    ``4,096 of 8,192``."""
    used = default_context_size(trained)
    return f"{used:,} of {trained:,}" if trained and trained > used else f"{used:,}"


def context_tooltip(trained: int | None) -> str:
    used = default_context_size(trained)
    if not trained:
        return f"Chat uses {used:,} tokens; the file does not say what the model was trained with."
    if trained > used:
        return (
            f"Chat and the API use {used:,} tokens of the {trained:,} the model was trained "
            f"with (more takes more memory; the command line's chat --context asks for more)."
        )
    return f"Chat uses the whole context the model was trained with: {trained:,} tokens."


def describe(model: InstalledModel) -> str:
    """Where a model came from and where it lives, for its tooltip and the details line."""
    if model.repo and model.commit:
        origin = f"{model.repo} at commit {model.commit[:12]}"
    else:
        origin = "a local file" if model.source == "local-file" else model.source
    return f"{model.model_name or model.filename}: {origin}\n{model.path}"


class InstalledModelsModel(QAbstractTableModel):
    """Rows of :class:`InstalledModel`; replaced wholesale from a store snapshot.

    Verification marks and update statuses are kept by model id across snapshots.
    """

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._models: list[InstalledModel] = []
        self._active_id: str | None = None
        self._verify: dict[str, VerifyMark] = {}
        self._updates: dict[str, UpdateStatus] = {}
        self._behaviours: dict[str, Behaviour] = {}
        self._checking: set[str] = set()

    def set_models(
        self,
        models: list[InstalledModel],
        active_id: str | None,
        behaviours: dict[str, Behaviour] | None = None,
    ) -> None:
        self.beginResetModel()
        self._models = list(models)
        self._active_id = active_id
        self._behaviours = dict(behaviours or {})
        self.endResetModel()

    def behaviour(self, model_id: str) -> Behaviour | None:
        return self._behaviours.get(model_id)

    def set_checking(self, model_ids: set[str]) -> None:
        """Models whose behaviour is being checked in the background (the cell says so)."""
        changed = self._checking ^ model_ids
        self._checking = set(model_ids)
        for model_id in changed:
            self._changed(model_id, Column.BEHAVIOUR)

    def set_verify_mark(self, model_id: str, mark: VerifyMark) -> None:
        self._verify[model_id] = mark
        self._changed(model_id, Column.VERIFIED)

    def verify_mark(self, model_id: str) -> VerifyMark | None:
        return self._verify.get(model_id)

    def clear_verify_mark(self, model_id: str) -> None:
        """Back to what the store recorded (a verification was cancelled or could not run)."""
        if self._verify.pop(model_id, None) is not None:
            self._changed(model_id, Column.VERIFIED)

    def set_update_statuses(self, statuses: list[UpdateStatus]) -> None:
        self._updates = {s.model.id: s for s in statuses}
        if self._models:
            last = len(self._models) - 1
            self.dataChanged.emit(self.index(0, Column.UPDATES), self.index(last, Column.UPDATES))

    def update_status(self, model_id: str) -> UpdateStatus | None:
        return self._updates.get(model_id)

    def _changed(self, model_id: str, column: Column) -> None:
        row = self.row_of(model_id)
        if row >= 0:
            index = self.index(row, column)
            self.dataChanged.emit(index, index)

    def model_at(self, row: int) -> InstalledModel | None:
        return self._models[row] if 0 <= row < len(self._models) else None

    def row_of(self, model_id: str) -> int:
        for row, model in enumerate(self._models):
            if model.id == model_id:
                return row
        return -1

    @property
    def active_id(self) -> str | None:
        return self._active_id

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(self._models)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(Column)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(Column)
        ):
            return HEADERS[Column(section)]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._models):
            return None
        model = self._models[index.row()]
        active = model.id == self._active_id
        if role == Role.MODEL:
            return model
        if role == Role.MODEL_ID:
            return model.id
        if role == Role.PINNED:
            return model.pinned
        if role == Role.ACTIVE:
            return active
        if role == Role.UPDATE_AVAILABLE:
            status = self._updates.get(model.id)
            return bool(status and status.update_available)
        if role == Role.VERIFIED_OK:
            mark = self._verify.get(model.id)
            return mark.ok if mark else None
        column = Column(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(model, column, active)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(model, column)
        if role == Qt.ItemDataRole.ForegroundRole:
            return self._color(model, column)
        if role == Qt.ItemDataRole.DecorationRole and column == Column.NAME and model.pinned:
            return icon("pin", "good")  # the pin, seen at a glance beside the name
        if role == Qt.ItemDataRole.FontRole and self._bold(model, column, active):
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (Column.SIZE, Column.CONTEXT):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _bold(self, model: InstalledModel, column: Column, active: bool) -> bool:
        if column == Column.NAME:
            return active
        if column == Column.UPDATES:
            status = self._updates.get(model.id)
            return bool(status and status.update_available)
        return False

    def _display(self, model: InstalledModel, column: Column, active: bool) -> str:
        if column == Column.NAME:
            return model.id
        if column == Column.VERSION:
            return f"@{model.short_commit}" if model.commit else f"sha {model.sha256[:7]}"
        if column == Column.QUANT:
            return model.quantization or "?"
        if column == Column.SIZE:
            return human_size(model.size)
        if column == Column.CONTEXT:
            return context_text(model.context_length)
        if column == Column.LICENSE:
            return model.license or "?"
        if column == Column.VERIFIED:
            mark = self._verify.get(model.id)
            if mark is not None:
                return "Verifying…" if mark.ok is None else ("✓ OK" if mark.ok else "✗ Changed")
            return f"✓ {model.verified_at[:10]}" if model.verified_at else "Not yet"
        if column == Column.UPDATES:
            status = self._updates.get(model.id)
            return UPDATE_TEXT[status.state] if status else ""
        if column == Column.BEHAVIOUR:
            if model.id in self._checking:
                return "Checking…"
            behaviour = self._behaviours.get(model.id)
            return behaviour.short if behaviour else ""
        return state_text(model, active)

    def _tooltip(self, model: InstalledModel, column: Column) -> str | None:
        if column == Column.CONTEXT:
            return context_tooltip(model.context_length)
        if column == Column.VERSION:
            return model.commit or f"sha256 {model.sha256}"
        if column == Column.NAME:
            return describe(model)
        if column == Column.VERIFIED:
            mark = self._verify.get(model.id)
            if mark is not None:
                return mark.message
            return f"sha256 {model.sha256}\nlast verified {model.verified_at or 'never'}"
        if column == Column.UPDATES:
            status = self._updates.get(model.id)
            return status.message if status else "Not checked yet: use Check for updates."
        if column == Column.BEHAVIOUR:
            if model.id in self._checking:
                return "The runtime changed since the recording: checking in the background."
            behaviour = self._behaviours.get(model.id)
            return behaviour.details if behaviour else "No check set recorded or checked on it."
        return None

    def _color(self, model: InstalledModel, column: Column) -> QColor | None:
        if column == Column.VERIFIED:
            mark = self._verify.get(model.id)
            if mark is not None and mark.ok is not None:
                return colors.good() if mark.ok else colors.bad()
        if column == Column.UPDATES:
            status = self._updates.get(model.id)
            if status is not None and status.update_available:
                return colors.note()
            if status is not None and status.state is UpdateState.ERROR:
                return colors.bad()
        if column == Column.BEHAVIOUR:
            behaviour = self._behaviours.get(model.id)
            if behaviour is not None and behaviour.results:
                return colors.bad() if behaviour.drifted else colors.good()
        if column == Column.STATE and model.pinned:
            return colors.good()
        return None
