"""A table model of installed model versions."""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from app.core.fsutil import human_size
from app.core.store import InstalledModel

Index = QModelIndex | QPersistentModelIndex


class Column(IntEnum):
    NAME = 0
    VERSION = 1
    QUANT = 2
    SIZE = 3
    CONTEXT = 4
    SOURCE = 5
    STATE = 6


HEADERS = {
    Column.NAME: "Model",
    Column.VERSION: "Version",
    Column.QUANT: "Quantization",
    Column.SIZE: "Size",
    Column.CONTEXT: "Context",
    Column.SOURCE: "Source",
    Column.STATE: "State",
}


class Role(IntEnum):
    MODEL = Qt.ItemDataRole.UserRole + 1
    MODEL_ID = Qt.ItemDataRole.UserRole + 2
    PINNED = Qt.ItemDataRole.UserRole + 3
    ACTIVE = Qt.ItemDataRole.UserRole + 4


def state_text(model: InstalledModel, active: bool) -> str:
    parts = []
    if active:
        parts.append("Active")
    if model.pinned:
        parts.append("Pinned")
    return ", ".join(parts)


class InstalledModelsModel(QAbstractTableModel):
    """Rows of :class:`InstalledModel`; replaced wholesale from a store snapshot."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._models: list[InstalledModel] = []
        self._active_id: str | None = None

    def set_models(self, models: list[InstalledModel], active_id: str | None) -> None:
        self.beginResetModel()
        self._models = list(models)
        self._active_id = active_id
        self.endResetModel()

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
        column = Column(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(model, column, active)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == Column.VERSION:
                return model.commit or f"sha256 {model.sha256}"
            if column == Column.NAME:
                return f"{model.model_name or model.filename}\n{model.path}"
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (Column.SIZE, Column.CONTEXT):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _display(model: InstalledModel, column: Column, active: bool) -> str:
        if column == Column.NAME:
            return model.id
        if column == Column.VERSION:
            return f"@{model.short_commit}" if model.commit else f"sha {model.sha256[:7]}"
        if column == Column.QUANT:
            return model.quantization or "?"
        if column == Column.SIZE:
            return human_size(model.size)
        if column == Column.CONTEXT:
            return f"{model.context_length:,}" if model.context_length else "?"
        if column == Column.SOURCE:
            return model.repo or model.source
        return state_text(model, active)
