"""The Downloads tab: one row per download, with its progress bar and its buttons.

The rows follow the queue's :class:`DownloadsModel` (inserted, changed, removed);
each row shows bytes, speed and time left while it runs, and an error in place,
with Retry, when it fails.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Slot
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from app.ui import colors
from app.ui.models.download_model import DownloadRole, DownloadSnapshot, DownloadState
from app.ui.models.downloads import DownloadQueue
from app.ui.states import EmptyState, StateStack

Index = QModelIndex | QPersistentModelIndex
OFFLINE_HINT = "Working offline: resuming is off. Turn off 'Work offline' in Settings."


class DownloadRow(QFrame):
    """One download: title, progress bar, detail line and the buttons that apply."""

    def __init__(self, queue: DownloadQueue, key: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue, self.key = queue, key
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.title = QLabel()
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.state_label = QLabel()
        self.state_label.setTextFormat(Qt.TextFormat.PlainText)  # names from the Hub or a lockfile
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(14)
        self.detail = QLabel()
        self.detail.setTextFormat(Qt.TextFormat.PlainText)  # names from the Hub or a lockfile
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.retry_button = QPushButton("Retry")
        self.cancel_button = QPushButton("Cancel")
        self.clear_button = QPushButton("Clear")
        self.cancel_button.setToolTip("Stop and delete the partial file")
        self.clear_button.setToolTip("Remove this finished download from the list")

        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.state_label)
        buttons = QHBoxLayout()
        buttons.addWidget(self.detail, 1)
        for button in self.buttons():
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.progress)
        layout.addLayout(buttons)

        self.pause_button.clicked.connect(self._on_pause_clicked)
        self.resume_button.clicked.connect(self._on_resume_clicked)
        self.retry_button.clicked.connect(self._on_resume_clicked)
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.clear_button.clicked.connect(self._on_clear_clicked)

    def buttons(self) -> tuple[QPushButton, ...]:
        return (
            self.pause_button,
            self.resume_button,
            self.retry_button,
            self.cancel_button,
            self.clear_button,
        )

    def show_snapshot(self, snapshot: DownloadSnapshot, offline: bool) -> None:
        state = snapshot.state
        self.title.setText(
            f"<b>{html.escape(snapshot.request.filename)}</b>&nbsp;&nbsp;"
            f"<span style='color: gray;'>{html.escape(snapshot.source)}</span>"
        )
        self.state_label.setText(state.value)
        self.progress.setValue(int(snapshot.fraction * 1000))
        self.progress.setRange(0, 0 if state is DownloadState.CHECKING else 1000)
        failed = state is DownloadState.FAILED
        self.detail.setText(snapshot.detail())
        self.detail.setStyleSheet(colors.text_style("bad") if failed else "")
        self.state_label.setStyleSheet(colors.text_style("bad", bold=True) if failed else "")
        self.pause_button.setVisible(state in (DownloadState.DOWNLOADING, DownloadState.QUEUED))
        self.resume_button.setVisible(state is DownloadState.PAUSED)
        self.retry_button.setVisible(failed)
        self.cancel_button.setVisible(state is not DownloadState.DONE)
        self.cancel_button.setText("Remove" if failed else "Cancel")
        self.cancel_button.setEnabled(state is not DownloadState.CANCELLING)
        self.clear_button.setVisible(state is DownloadState.DONE)
        for button in (self.resume_button, self.retry_button):
            button.setEnabled(not offline)
            button.setToolTip(OFFLINE_HINT if offline else "Continue from the partial file")

    @Slot()
    def _on_pause_clicked(self) -> None:
        self.queue.pause(self.key)

    @Slot()
    def _on_resume_clicked(self) -> None:
        self.queue.resume(self.key)

    @Slot()
    def _on_cancel_clicked(self) -> None:
        self.queue.cancel(self.key)

    @Slot()
    def _on_clear_clicked(self) -> None:
        self.queue.clear(self.key)


class DownloadsTab(QWidget):
    """A view of the queue's model as a column of :class:`DownloadRow` widgets."""

    def __init__(self, queue: DownloadQueue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self.rows: list[DownloadRow] = []
        self.empty = EmptyState(
            "download",
            "No downloads. Pick a model in the Catalog or search the Hub; downloads keep "
            "going while you use the rest of Driftless.",
        )
        self._column = QVBoxLayout()
        self._column.setSpacing(6)
        holder = QWidget()
        outer = QVBoxLayout(holder)
        outer.addLayout(self._column)
        outer.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setAccessibleName("Downloads")
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(holder)
        self.scroll_area = scroll
        self.stack = StateStack(scroll, empty=self.empty)
        layout = QVBoxLayout(self)
        layout.addWidget(self.stack, 1)

        model = queue.model
        model.rowsInserted.connect(self._on_model_rows_inserted)
        model.rowsRemoved.connect(self._on_model_rows_removed)
        model.dataChanged.connect(self._on_model_data_changed)
        model.modelReset.connect(self._rebuild)
        queue.settings_changed.connect(self._on_queue_settings_changed)
        self._rebuild()

    def _snapshot(self, row: int) -> DownloadSnapshot:
        value = self.queue.model.index(row, 0).data(DownloadRole.SNAPSHOT)
        assert isinstance(value, DownloadSnapshot)
        return value

    def _show(self, row: int) -> None:
        self.rows[row].show_snapshot(self._snapshot(row), self.queue.settings.offline)

    @Slot()
    def _rebuild(self) -> None:
        for widget in self.rows:
            widget.deleteLater()
        self.rows = []
        self._on_model_rows_inserted(QModelIndex(), 0, self.queue.model.rowCount() - 1)

    def _show_empty(self) -> None:
        if self.rows:
            self.stack.show_content()
        else:
            self.stack.show_empty()

    @Slot(QModelIndex, int, int)
    def _on_model_rows_inserted(self, _parent: Index, first: int, last: int) -> None:
        for row in range(first, last + 1):
            widget = DownloadRow(self.queue, self._snapshot(row).key)
            self.rows.insert(row, widget)
            self._column.insertWidget(row, widget)
            self._show(row)
        self._show_empty()

    @Slot(QModelIndex, int, int)
    def _on_model_rows_removed(self, _parent: Index, first: int, last: int) -> None:
        for row in range(last, first - 1, -1):
            widget = self.rows.pop(row)
            self._column.removeWidget(widget)
            widget.deleteLater()
        self._show_empty()

    @Slot(QModelIndex, QModelIndex)
    def _on_model_data_changed(self, top: Index, bottom: Index) -> None:
        for row in range(top.row(), bottom.row() + 1):
            self._show(row)

    @Slot(object)
    def _on_queue_settings_changed(self, _settings: object) -> None:
        for row in range(len(self.rows)):
            self._show(row)
