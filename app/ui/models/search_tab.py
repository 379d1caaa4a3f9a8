"""The Search the Hub tab: GGUF repos for a query, then a repo's files to download.

Searching and listing run in workers; a newer search or listing makes the older
one's answer stale, and a stale answer is dropped when it arrives.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.core.hub.client import COMMIT_RE, HubClient, RemoteFile, RepoSummary
from app.core.units import human_size
from app.ui.models.download_model import DownloadRequest
from app.ui.models.downloads import DownloadQueue
from app.ui.models.records import ColumnSpec, RecordRole, RecordTableModel
from app.ui.states import EmptyState, ErrorState, StateStack
from app.ui.tasks import Task

BEFORE_SEARCH = (
    "Search the Hub for a model that runs here: GGUF repositories, most downloaded first. "
    "Downloads pin the exact commit and check the sha256."
)
OFFLINE_HINT = (
    "Working offline: search and downloads are off, and nothing touches the network. "
    "Turn off 'Work offline' in Settings."
)

REPO_COLUMNS: list[ColumnSpec[RepoSummary]] = [
    ColumnSpec("Repository", lambda r: r.repo + ("  (gated)" if r.gated else "")),
    ColumnSpec(
        "Downloads", lambda r: f"{r.downloads:,}", lambda r: r.downloads, right_aligned=True
    ),
    ColumnSpec("Likes", lambda r: f"{r.likes:,}", lambda r: r.likes, right_aligned=True),
]
FILE_COLUMNS: list[ColumnSpec[RemoteFile]] = [
    ColumnSpec("File", lambda f: f.filename, tooltip=lambda f: f"sha256 {f.sha256 or 'unknown'}"),
    ColumnSpec(
        "Size",
        lambda f: human_size(f.size) if f.size >= 0 else "unknown",
        lambda f: f.size,
        right_aligned=True,
    ),
    ColumnSpec("Quantization", lambda f: f.quantization or "?"),
]


def _table(model: RecordTableModel[RepoSummary] | RecordTableModel[RemoteFile]) -> QTableView:
    proxy = QSortFilterProxyModel(model)
    proxy.setSourceModel(model)
    proxy.setSortRole(RecordRole.SORT)
    table = QTableView()
    table.setModel(proxy)
    table.setSortingEnabled(True)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.verticalHeader().hide()
    table.setAlternatingRowColors(True)
    table.setWordWrap(False)
    table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
    return table


def _selected(table: QTableView) -> object:
    rows = table.selectionModel().selectedRows()
    return rows[0].data(RecordRole.RECORD) if rows else None


class SearchTab(QWidget):
    download_started = Signal()

    def __init__(self, queue: DownloadQueue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.queue = queue
        self._search_task: Task | None = None
        self._files_task: Task | None = None
        self._commit: str | None = None
        self._revision = "main"
        self.repos_model: RecordTableModel[RepoSummary] = RecordTableModel(REPO_COLUMNS, self)
        self.files_model: RecordTableModel[RemoteFile] = RecordTableModel(FILE_COLUMNS, self)

        self.query = QLineEdit()
        self.query.setPlaceholderText("Search GGUF models on the Hub, e.g. qwen2.5 instruct")
        self.query.setClearButtonEnabled(True)
        self.query.setAccessibleName("Search the Hub")
        self.search_button = QPushButton("&Search")
        self.offline_hint = QLabel(OFFLINE_HINT)
        self.offline_hint.setWordWrap(True)
        self.repos_table = _table(self.repos_model)
        self.repos_table.setAccessibleName("Hub repositories")
        # Before a search, while it runs, with no match and when the Hub cannot be
        # reached (what people offline see): the states every page draws.
        self.repos_stack = StateStack(
            self.repos_table,
            empty=EmptyState("search", BEFORE_SEARCH, compact=True),
            error=ErrorState(retry="Search &again", compact=True),
        )
        self.repos_stack.show_empty()
        self.files_table = _table(self.files_model)
        self.files_table.setAccessibleName("GGUF files")
        self.files_stack = StateStack(self.files_table)
        self.files_label = QLabel("Pick a repository to see its GGUF files.")
        self.files_label.setWordWrap(True)
        self.revision = QLineEdit("main")
        self.revision.setMaximumWidth(160)
        self.revision.setAccessibleName("Revision")
        self.revision.setToolTip("A branch, tag or commit; downloads pin the exact commit")
        self.download_button = QPushButton("&Download")
        self.status = QLabel()
        self.status.setTextFormat(Qt.TextFormat.PlainText)  # names from the Hub or a lockfile
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        top = QHBoxLayout()
        top.addWidget(self.query, 1)
        top.addWidget(self.search_button)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.files_label)
        right_layout.addWidget(self.files_stack, 1)
        bottom = QHBoxLayout()
        bottom.addWidget(QLabel("Revision"))
        bottom.addWidget(self.revision)
        bottom.addStretch(1)
        bottom.addWidget(self.download_button)
        right_layout.addLayout(bottom)
        splitter = QSplitter()
        splitter.addWidget(self.repos_stack)
        splitter.addWidget(right)
        splitter.setSizes([520, 420])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.offline_hint)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.status)

        self.query.returnPressed.connect(self.search)
        self.search_button.clicked.connect(self.search)
        self.repos_stack.error.retry_requested.connect(self.search)
        self.files_stack.error.retry_requested.connect(self._on_repos_selection_changed)
        self.repos_table.selectionModel().selectionChanged.connect(self._on_repos_selection_changed)
        self.files_table.selectionModel().selectionChanged.connect(self.update_buttons)
        self.files_table.doubleClicked.connect(self._on_download_clicked)
        self.revision.editingFinished.connect(self._on_repos_selection_changed)
        self.download_button.clicked.connect(self._on_download_clicked)
        queue.settings_changed.connect(self.update_buttons)
        self.update_buttons()

    @property
    def busy(self) -> bool:
        return self._search_task is not None or self._files_task is not None

    @Slot()
    def update_buttons(self) -> None:
        offline = self.queue.settings.offline
        self.offline_hint.setVisible(offline)
        for widget in (self.query, self.search_button):
            widget.setEnabled(not offline)
        self.search_button.setToolTip(OFFLINE_HINT if offline else "Search the Hub")
        has_file = isinstance(_selected(self.files_table), RemoteFile)
        self.download_button.setEnabled(has_file and not offline and self._commit is not None)
        self.download_button.setToolTip(
            OFFLINE_HINT if offline else "Download the selected file at the listed commit"
        )

    @Slot()
    def search(self) -> None:
        if self.queue.settings.offline:
            return
        query = self.query.text().strip()
        client = HubClient(self.queue.settings)
        task = Task(lambda _task: client.search(query), self)
        self._search_task = task
        task.succeeded.connect(lambda found: self._on_search_finished(task, query, found))
        task.failed.connect(lambda message: self._on_search_failed(task, message))
        self.status.clear()
        self.repos_stack.show_loading(
            f"Searching the Hub for '{query}'…" if query else "Searching the Hub…"
        )
        task.start()

    def _on_search_finished(self, task: Task, query: str, found: list[RepoSummary]) -> None:
        if task is not self._search_task:
            return  # a newer search is under way
        self._search_task = None
        self.repos_model.set_records(found)
        self.files_model.set_records([])
        self._commit = None
        self.repos_table.sortByColumn(1, Qt.SortOrder.DescendingOrder)
        shown = f"'{query}'" if query else "everything"
        if found:
            self.repos_stack.show_content()
            self.status.setText(f"{len(found)} GGUF repositories match {shown}.")
        else:
            self.repos_stack.show_empty(
                f"No GGUF repositories match {shown}. Try fewer words, or a family's name "
                "such as qwen2.5 or llama."
            )
            self.status.clear()
        self.update_buttons()

    def _on_search_failed(self, task: Task, message: str) -> None:
        if task is self._search_task:
            self._search_task = None
            self.repos_stack.show_error(message)

    @Slot()
    def _on_repos_selection_changed(self) -> None:
        summary = _selected(self.repos_table)
        if isinstance(summary, RepoSummary):
            self.list_files(summary.repo)

    def list_files(self, repo: str) -> None:
        if self.queue.settings.offline:
            return
        client = HubClient(self.queue.settings)
        revision = self.revision.text().strip() or "main"
        self._revision = revision
        task = Task(lambda _task: client.gguf_files(repo, revision), self)
        self._files_task = task
        self.files_model.set_records([])
        self._commit = None
        self.files_label.setText(f"Listing the GGUF files of {repo} at {revision}…")
        self.files_stack.show_loading(f"Listing the GGUF files of {repo}…")
        task.succeeded.connect(lambda result: self._on_files_finished(task, repo, result))
        task.failed.connect(lambda message: self._on_files_failed(task, message))
        self.update_buttons()
        task.start()

    def _on_files_finished(
        self, task: Task, repo: str, result: tuple[str, list[RemoteFile]]
    ) -> None:
        if task is not self._files_task:
            return
        self._files_task = None
        commit, files = result
        self._commit = commit
        self.files_model.set_records(files)
        self.files_stack.show_content()
        self.files_table.sortByColumn(1, Qt.SortOrder.AscendingOrder)
        self.files_label.setText(
            f"<b>{html.escape(repo)}</b> at {html.escape(self._revision)} = commit "
            f"{html.escape(commit[:7])}: {len(files)} GGUF file(s)."
            if files
            else f"<b>{html.escape(repo)}</b> has no GGUF files at {html.escape(self._revision)} "
            f"(commit {html.escape(commit[:7])})."
        )
        self.update_buttons()

    def _on_files_failed(self, task: Task, message: str) -> None:
        if task is self._files_task:
            self._files_task = None
            self.files_label.setText("The files could not be listed.")
            self.files_stack.show_error(message)
            self.update_buttons()

    def select_file(self, filename: str) -> None:
        for row in range(self.files_table.model().rowCount()):
            record = self.files_table.model().index(row, 0).data(RecordRole.RECORD)
            if isinstance(record, RemoteFile) and record.filename == filename:
                self.files_table.selectRow(row)
                return

    def select_repo(self, repo: str) -> None:
        for row in range(self.repos_table.model().rowCount()):
            record = self.repos_table.model().index(row, 0).data(RecordRole.RECORD)
            if isinstance(record, RepoSummary) and record.repo == repo:
                self.repos_table.selectRow(row)
                return

    @Slot()
    def _on_download_clicked(self) -> None:
        remote = _selected(self.files_table)
        if not isinstance(remote, RemoteFile) or self._commit is None:
            return
        if self.queue.settings.offline:
            return
        # The exact commit listed; update checks then follow the branch it was listed at.
        track = None if COMMIT_RE.match(self._revision) else self._revision
        self.queue.enqueue(DownloadRequest(remote.repo, remote.filename, self._commit, track=track))
        self.status.setText(f"Downloading {remote.filename}; see Downloads.")
        self.download_started.emit()
