"""The Catalog tab: curated small models, whether each fits this machine, and Download."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal, Slot
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.machine import total_memory
from app.core.models.catalog import CatalogEntry, CatalogError, Fit, load_catalog
from app.core.models.store import ModelStore
from app.core.units import human_size
from app.ui import colors
from app.ui.models.download_model import DownloadRequest, DownloadState
from app.ui.models.downloads import DownloadQueue
from app.ui.models.records import ColumnSpec, RecordRole, RecordTableModel
from app.ui.models.text import approximate_size
from app.ui.states import EmptyState, StateStack

OFFLINE_HINT = "Working offline: downloads are off. Turn off 'Work offline' in Settings."
FIT_TEXT = {
    Fit.FITS: "✓ fits",
    Fit.TIGHT: "tight",
    Fit.TOO_BIG: "✗ too big",
    Fit.UNKNOWN: "",
}
FIT_COLOR = {Fit.FITS: colors.good, Fit.TIGHT: colors.note, Fit.TOO_BIG: colors.bad}


def fit_color(fit: Fit) -> QColor | None:
    pick = FIT_COLOR.get(fit)
    return pick() if pick else None


def catalog_columns(
    memory: int | None, status: Callable[[CatalogEntry], str]
) -> list[ColumnSpec[CatalogEntry]]:
    def fit_tip(entry: CatalogEntry) -> str:
        have = f"this machine has {human_size(memory)}" if memory else "memory unknown"
        return f"Needs about {human_size(entry.memory)} of memory; {have}."

    return [
        ColumnSpec("Model", lambda e: e.name, tooltip=lambda e: e.note or None),
        ColumnSpec("Params", lambda e: e.parameters, right_aligned=True),
        ColumnSpec(
            "Size",
            lambda e: approximate_size(e.size, e.size_approximate),
            sort_key=lambda e: e.size,
            right_aligned=True,
            tooltip=lambda e: f"{e.repo}/{e.filename}",
        ),
        ColumnSpec(
            "Memory needed",
            lambda e: f"{human_size(e.memory)}  {FIT_TEXT[e.fit(memory)]}",
            sort_key=lambda e: e.memory,
            tooltip=fit_tip,
            foreground=lambda e: fit_color(e.fit(memory)),
        ),
        ColumnSpec("Licence", lambda e: e.license),
        ColumnSpec("Good for", lambda e: ", ".join(e.good_for)),
        ColumnSpec("Status", status),
    ]


class CatalogTab(QWidget):
    """Good small models to start from, each a click away from the download queue."""

    download_started = Signal()

    def __init__(
        self,
        store: ModelStore,
        queue: DownloadQueue,
        parent: QWidget | None = None,
        *,
        memory: int | None = None,
    ) -> None:
        super().__init__(parent)
        self.store, self.queue = store, queue
        self.memory = memory if memory is not None else total_memory()
        self._installed: set[tuple[str, str]] = set()
        self._watched: tuple[str, str, str] | None = None  # repo, file, name of our download
        self.table_model: RecordTableModel[CatalogEntry] = RecordTableModel(
            catalog_columns(self.memory, self._status), self
        )
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.table_model)
        self.proxy.setSortRole(RecordRole.SORT)

        have = (
            f"This machine has <b>{human_size(self.memory)}</b> of memory."
            if self.memory
            else "This machine's memory is unknown."
        )
        self.intro = QLabel(
            f"{have} <b>fits</b>: the model needs at most half of it; <b>tight</b>: it runs "
            "if little else does. Sizes marked ≈ are approximate; the exact commit and sha256 "
            "are fixed when you download."
        )
        self.intro.setWordWrap(True)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(3, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.setAccessibleName("Model catalog")
        self.table_stack = StateStack(
            self.table,
            empty=EmptyState(
                "box",
                "The catalog lists no model. Search the Hub, or import a .gguf file in Installed.",
                compact=True,
            ),
        )
        self.download_button = QPushButton("&Download")
        self.offline_hint = QLabel(OFFLINE_HINT)
        self.status = QLabel()
        self.status.setTextFormat(Qt.TextFormat.PlainText)  # names from the Hub or a lockfile
        self.status.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        buttons.addWidget(self.offline_hint)
        buttons.addWidget(self.download_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.table_stack, 1)
        layout.addLayout(buttons)

        self.load()
        self.table_stack.error.retry_requested.connect(self.load)
        self.download_button.clicked.connect(self._on_download_clicked)
        self.table.doubleClicked.connect(self._on_download_clicked)
        self.table.selectionModel().selectionChanged.connect(self.update_buttons)
        queue.jobs_changed.connect(self._on_queue_jobs_changed)
        queue.settings_changed.connect(self.update_buttons)
        self.refresh()

    @Slot()
    def load(self) -> None:
        """Read the catalog; when it cannot be read, say why in the table's place."""
        try:
            entries = load_catalog()
        except CatalogError as exc:
            self.table_model.set_records([])
            self.table_stack.show_error(str(exc))
            return
        self.table_model.set_records(entries)
        if entries:
            self.table_stack.show_content()
        else:
            self.table_stack.show_empty()

    def refresh(self) -> None:
        """Mark what is installed (any version of the same repo and file)."""
        self._installed = {(m.repo, m.filename) for m in self.store.list_models() if m.repo}
        self.table_model.refresh()
        self.update_buttons()

    def selected_entry(self) -> CatalogEntry | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        value = rows[0].data(RecordRole.RECORD)
        return value if isinstance(value, CatalogEntry) else None

    def select(self, repo: str, filename: str) -> None:
        for row in range(self.proxy.rowCount()):
            entry = self.proxy.index(row, 0).data(RecordRole.RECORD)
            if (entry.repo, entry.filename) == (repo, filename):
                self.table.selectRow(row)
                return

    def _status(self, entry: CatalogEntry) -> str:
        for snapshot in self.queue.model.snapshots():
            request = snapshot.request
            if (request.repo, request.filename) == (entry.repo, entry.filename) and (
                snapshot.state is not DownloadState.DONE
            ):
                return str(snapshot.state.value)
        return "Installed" if (entry.repo, entry.filename) in self._installed else ""

    @Slot()
    def update_buttons(self) -> None:
        offline = self.queue.settings.offline
        entry = self.selected_entry()
        self.offline_hint.setVisible(offline)
        self.download_button.setEnabled(entry is not None and not offline)
        self.download_button.setToolTip(
            OFFLINE_HINT if offline else "Download the selected model, verified"
        )

    @Slot()
    def _on_queue_jobs_changed(self) -> None:
        self.table_model.refresh()
        self._show_watched()

    def _show_watched(self) -> None:
        """The line below the table tells what the row says about the download started here."""
        if self._watched is None:
            return
        repo, filename, name = self._watched
        for snapshot in reversed(self.queue.model.snapshots()):
            if (snapshot.request.repo, snapshot.request.filename) != (repo, filename):
                continue
            state = snapshot.state
            if state is DownloadState.FAILED:
                detail = f": {snapshot.message}" if snapshot.message else "."
                self.status.setText(f"Downloading {name} failed{detail} Retry it in Downloads.")
            elif state is DownloadState.DONE:
                self.status.setText(f"Installed {name}.")
            elif state is DownloadState.PAUSED:
                self.status.setText(f"{name} is paused; resume it in Downloads.")
            else:
                self.status.setText(f"{name}: {state.value.lower()}…; see Downloads.")
            return

    @Slot()
    def _on_download_clicked(self) -> None:
        entry = self.selected_entry()
        if entry is None or self.queue.settings.offline:
            return
        self._watched = (entry.repo, entry.filename, entry.name)
        self.queue.enqueue(DownloadRequest(entry.repo, entry.filename))
        self._show_watched()
        self.download_started.emit()
