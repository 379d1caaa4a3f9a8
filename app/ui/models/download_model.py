"""What the download queue shows: immutable snapshots of each download, in a list model."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, Qt

from app.core.units import duration
from app.ui.models.text import bytes_text, speed_text

Index = QModelIndex | QPersistentModelIndex


class DownloadState(Enum):
    QUEUED = "Waiting"
    DOWNLOADING = "Downloading"
    CHECKING = "Checking"
    PAUSING = "Pausing"
    PAUSED = "Paused"
    CANCELLING = "Cancelling"
    FAILED = "Failed"
    DONE = "Installed"

    @property
    def running(self) -> bool:
        return self in (
            DownloadState.DOWNLOADING,
            DownloadState.CHECKING,
            DownloadState.PAUSING,
            DownloadState.CANCELLING,
        )

    @property
    def resumable(self) -> bool:
        return self in (DownloadState.PAUSED, DownloadState.FAILED)


@dataclass(frozen=True)
class DownloadRequest:
    """What to download. ``revision`` is a branch, tag or commit; ``track`` is the branch
    update checks follow afterwards (default: the revision, when it is a branch)."""

    repo: str
    filename: str
    revision: str = "main"
    pin: bool = False
    activate: bool = False
    track: str | None = None


@dataclass(frozen=True)
class DownloadSnapshot:
    key: int
    request: DownloadRequest
    state: DownloadState
    commit: str | None = None
    done: int = 0
    total: int = 0
    bytes_per_second: float = 0.0
    eta_seconds: float | None = None
    message: str = ""
    model_id: str | None = None

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0

    @property
    def source(self) -> str:
        """``repo@commit`` (the short commit once it is known)."""
        at = f"@{self.commit[:7]}" if self.commit else ""
        return f"{self.request.repo}{at}"

    def detail(self) -> str:
        """The line under the progress bar: bytes, speed and time left, or what happened."""
        state = self.state
        if state is DownloadState.DOWNLOADING:
            parts = [bytes_text(self.done, self.total)]
            if speed := speed_text(self.bytes_per_second):
                parts.append(speed)
            if self.eta_seconds is not None:
                parts.append(f"{duration(self.eta_seconds)} left")
            return " · ".join(parts)
        if state is DownloadState.CHECKING:
            return "All bytes arrived; checking the sha256 and the GGUF header…"
        if state is DownloadState.QUEUED:
            return "Waiting for another download to finish."
        if state is DownloadState.PAUSING:
            return "Pausing…"
        if state is DownloadState.CANCELLING:
            return "Cancelling…"
        if state is DownloadState.PAUSED:
            kept = bytes_text(self.done, self.total)
            return self.message or f"Paused at {kept}; the partial file is kept."
        if state is DownloadState.DONE:
            return self.message or f"Installed as {self.model_id}, sha256 verified."
        return self.message


class DownloadRole(IntEnum):
    SNAPSHOT = Qt.ItemDataRole.UserRole + 1
    KEY = Qt.ItemDataRole.UserRole + 2
    STATE = Qt.ItemDataRole.UserRole + 3
    FRACTION = Qt.ItemDataRole.UserRole + 4


class DownloadsModel(QAbstractListModel):
    """One row per download, kept in the order they were added."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[DownloadSnapshot] = []

    def upsert(self, snapshot: DownloadSnapshot) -> None:
        row = self.row_of(snapshot.key)
        if row < 0:
            row = len(self._rows)
            self.beginInsertRows(QModelIndex(), row, row)
            self._rows.append(snapshot)
            self.endInsertRows()
            return
        self._rows[row] = snapshot
        index = self.index(row, 0)
        self.dataChanged.emit(index, index)

    def remove(self, key: int) -> None:
        row = self.row_of(key)
        if row >= 0:
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._rows[row]
            self.endRemoveRows()

    def row_of(self, key: int) -> int:
        for row, snapshot in enumerate(self._rows):
            if snapshot.key == key:
                return row
        return -1

    def snapshots(self) -> list[DownloadSnapshot]:
        return list(self._rows)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        snapshot = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{snapshot.request.filename}: {snapshot.state.value}"
        if role == Qt.ItemDataRole.ToolTipRole:
            return snapshot.detail()
        if role == DownloadRole.SNAPSHOT:
            return snapshot
        if role == DownloadRole.KEY:
            return snapshot.key
        if role == DownloadRole.STATE:
            return snapshot.state.name
        if role == DownloadRole.FRACTION:
            return snapshot.fraction
        return None
