"""The Documents page: make a collection from folders and files, watch it being indexed
(with Cancel), see what was skipped and why, refresh or remove it, and search it.

Indexing and searching never run on the GUI thread (:class:`DocsController`); the page
only shows what they report. With no collection yet the page is one sentence and the
button that makes one. Folders and files dropped on the page are added to the
collection shown (or start a new one).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.core.docs.choices import embedder_choices
from app.core.docs.records import CollectionInfo, DocsError, Hit
from app.core.docs.walk import Skip
from app.core.models.catalog import CatalogError, load_catalog
from app.core.models.store import ModelStore
from app.core.paths import shown_path
from app.core.units import human_size
from app.ui import theme
from app.ui.active_model import ActiveModel
from app.ui.doc_access import DocsAccess
from app.ui.docs.controller import DocsController
from app.ui.docs.dialogs import NewCollectionDialog, RemoveConfirm
from app.ui.docs.embedder import ChangeEmbedderDialog, EmbedderRow, Eta
from app.ui.docs.results import HitsView
from app.ui.docs.worker import IndexJob, IndexOutcome, IndexProgress, SearchResult
from app.ui.passage_view import PassageDialog, PassageRef
from app.ui.states import EmptyState, ErrorState, LoadingState, PageHeader, StateStack

EMPTY_TEXT = (
    "No collections yet. Make one from a folder of your documents (.txt, .md, .html, "
    ".pdf, .docx) to search it here and answer from it in Chat."
)
ROOTS_SHOWN = 3
"""Folders named under the collection; the rest are counted (all in the tooltip)."""
FILE_FILTER = "Documents (*.txt *.md *.markdown *.html *.htm *.pdf *.docx);;All files (*)"


def counted(count: int, noun: str) -> str:
    """ "1 file", "12 files"."""
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def describe(info: CollectionInfo) -> str:
    """One line about a collection: size, when (its embedder has a line of its own)."""
    return (
        f"{counted(info.files, 'file')}, {counted(info.passages, 'passage')} "
        f"({human_size(info.bytes)}), {info.skipped:,} skipped · version {info.version}, "
        f"updated {info.updated_at[:16].replace('T', ' ')}"
    )


class DocsPage(QWidget):
    """Collections of documents: indexing, what was skipped, search."""

    collections_changed = Signal()

    def __init__(
        self,
        store: ModelStore,
        docs: DocsAccess,
        parent: QWidget | None = None,
        *,
        active: ActiveModel | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.docs = docs
        self.active = active if active is not None else ActiveModel(store, self)
        self.controller = DocsController(docs, self)
        self.collections: list[CollectionInfo] = []
        self.passage_dialog: PassageDialog | None = None
        self.eta = Eta()
        self.setAcceptDrops(True)
        self._build()
        self._connect()
        self.refresh()

    # --- building ---------------------------------------------------------

    def _build(self) -> None:
        # The empty state: one sentence and the main action.
        self.empty = EmptyState(
            "folder-plus",
            EMPTY_TEXT,
            "&New collection…",
            hint="You can also drop a folder here.",
        )
        self.empty_label = self.empty.label
        assert self.empty.action_button is not None
        self.empty_new_button = self.empty.action_button

        # The collections.
        self.collection_combo = QComboBox()
        self.collection_combo.setAccessibleName("Collection")
        self.collection_combo.setMinimumContentsLength(12)
        self.collection_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.new_button = QPushButton("&New collection…")
        self.new_button.setToolTip("Make another collection from folders and files")
        self.header = PageHeader(
            "Documents", "Search your own files, and answer from them in Chat."
        )
        self.header.add_action(self.new_button, primary=True)
        collection_label = QLabel("&Collection:")
        collection_label.setBuddy(self.collection_combo)
        top = QHBoxLayout()
        top.addWidget(collection_label)
        top.addWidget(self.collection_combo, 1)
        self.info_label = QLabel()
        self.info_label.setWordWrap(True)
        self.info_label.setAccessibleName("About the collection")
        theme.set_type(self.info_label, theme.Type.SECONDARY)
        self.embedder_row = EmbedderRow()
        self.roots_label = QLabel()
        self.roots_label.setWordWrap(True)
        self.roots_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        theme.set_type(self.roots_label, theme.Type.SECONDARY)
        self.add_folder_button = QPushButton("Add &folder…")
        self.add_files_button = QPushButton("Add f&iles…")
        self.refresh_button = QPushButton("&Refresh")
        self.refresh_button.setToolTip("Read the collection's folders again: changed files only")
        self.remove_button = QPushButton("Re&move…")
        self.remove_button.setToolTip("Delete the collection's index (the files stay)")
        actions = QHBoxLayout()
        for button in (
            self.add_folder_button,
            self.add_files_button,
            self.refresh_button,
            self.remove_button,
        ):
            actions.addWidget(button)
        actions.addStretch(1)

        # Indexing under way.
        self.progress_bar = QProgressBar()
        self.progress_bar.setAccessibleName("Indexing progress")
        self.progress_label = QLabel()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop indexing; the files read so far are kept")
        progress_row = QHBoxLayout()
        progress_row.addWidget(self.progress_label)
        progress_row.addWidget(self.progress_bar, 1)
        progress_row.addWidget(self.cancel_button)
        self.progress_box = QWidget()
        self.progress_box.setLayout(progress_row)
        progress_row.setContentsMargins(0, 0, 0, 0)
        self.progress_box.hide()
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setAccessibleName("Documents status")
        self.status_label.hide()

        # Search and what was skipped.
        self.search_box = QLineEdit()
        self.search_box.setPlaceholderText("Search this collection…")
        self.search_box.setAccessibleName("Search query")
        self.search_box.setClearButtonEnabled(True)
        self.search_button = QPushButton("&Search")
        search_row = QHBoxLayout()
        search_row.addWidget(self.search_box, 1)
        search_row.addWidget(self.search_button)
        self.hits_view = HitsView()
        search_tab = QWidget()
        search_layout = QVBoxLayout(search_tab)
        search_layout.addLayout(search_row)
        # While a search runs, and when it fails: the states every page draws.
        self.hits_stack = StateStack(
            self.hits_view,
            loading=LoadingState("Searching…"),
            error=ErrorState(retry="Search &again"),
        )
        self.search_loading = self.hits_stack.loading
        self.search_error = self.hits_stack.error
        search_layout.addWidget(self.hits_stack, 1)
        self.skipped_list = QListWidget()
        self.skipped_list.setAccessibleName("Skipped files")
        self.skipped_list.setWordWrap(True)
        self.tabs = QTabWidget()
        self.tabs.addTab(search_tab, "Search")
        self.tabs.addTab(self.skipped_list, "Skipped")

        self.main = QWidget()
        main_layout = QVBoxLayout(self.main)
        main_layout.setContentsMargins(0, 0, 0, 0)
        main_layout.addLayout(top)
        main_layout.addWidget(self.info_label)
        main_layout.addWidget(self.embedder_row)
        main_layout.addWidget(self.roots_label)
        main_layout.addLayout(actions)
        main_layout.addWidget(self.progress_box)
        main_layout.addWidget(self.status_label)
        main_layout.addWidget(self.tabs, 1)

        self._show_hint()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.main)
        layout = QVBoxLayout(self)
        layout.setSpacing(theme.M)
        layout.addWidget(self.header)
        layout.addWidget(self.stack, 1)

    def _connect(self) -> None:
        self.empty_new_button.clicked.connect(self._on_new_clicked)
        self.new_button.clicked.connect(self._on_new_clicked)
        self.collection_combo.currentIndexChanged.connect(self._on_collection_changed)
        self.add_folder_button.clicked.connect(self._on_add_folder_clicked)
        self.add_files_button.clicked.connect(self._on_add_files_clicked)
        self.refresh_button.clicked.connect(self._on_refresh_clicked)
        self.remove_button.clicked.connect(self._on_remove_clicked)
        self.embedder_row.change_requested.connect(self._on_change_embedder_requested)
        self.cancel_button.clicked.connect(self.controller.cancel_index)
        self.search_box.returnPressed.connect(self.search)
        self.search_button.clicked.connect(self.search)
        self.hits_view.hit_opened.connect(self.open_hit)
        self.search_error.retry_requested.connect(self.search)
        c = self.controller
        c.index_progressed.connect(self._on_index_progressed)
        c.index_finished.connect(self._on_index_finished)
        c.index_cancelled.connect(self._on_index_cancelled)
        c.index_failed.connect(self._on_index_failed)
        c.searched.connect(self._on_searched)
        c.search_failed.connect(self._on_search_failed)
        c.removed.connect(self._on_removed)
        c.remove_failed.connect(self._on_remove_failed)
        c.busy_changed.connect(self._update_buttons)

    # --- the collections --------------------------------------------------

    @property
    def current(self) -> CollectionInfo | None:
        name = self.collection_combo.currentData()
        return next((c for c in self.collections if c.name == name), None)

    def refresh(self, select: str | None = None) -> None:
        """Read the collections again (a quick read of the index's table)."""
        chosen = select or self.collection_combo.currentData()
        try:
            self.collections = self.docs.collections()
        except DocsError as exc:
            self.collections = []
            self._say(f"The document index could not be read: {exc}")
        self.collection_combo.blockSignals(True)
        self.collection_combo.clear()
        for info in self.collections:
            self.collection_combo.addItem(info.name, info.name)
        index = self.collection_combo.findData(chosen) if chosen else -1
        self.collection_combo.setCurrentIndex(max(index, 0) if self.collections else -1)
        self.collection_combo.blockSignals(False)
        indexing = self.controller.indexing
        self._show_stack(self.main if self.collections or indexing else self.empty)
        self._show_current()
        self.collections_changed.emit()

    @Slot(int)
    def _on_collection_changed(self, _index: int) -> None:
        self._show_current()
        self._show_hint()

    def _show_current(self, skipped: list[Skip] | None = None) -> None:
        info = self.current
        self.embedder_row.show_embedder(info.embedder if info is not None else None)
        if info is None:
            self.info_label.setText("")
            self.roots_label.setText("")
            self.show_skipped([])
        else:
            self.info_label.setText(describe(info))
            roots = "; ".join(shown_path(root) for root in info.roots[:ROOTS_SHOWN])
            more = len(info.roots) - ROOTS_SHOWN
            roots += f"; and {more:,} more" if more > 0 else ""
            self.roots_label.setText(f"From: {roots}" if roots else "")
            self.roots_label.setToolTip("\n".join(info.roots))
            if skipped is None:
                try:
                    skipped = list(self.docs.library.skipped(info.name))
                except DocsError:
                    skipped = []
            self.show_skipped(skipped)
        self._update_buttons()

    def show_skipped(self, skipped: list[Skip]) -> None:
        """List what was skipped and why (the Skipped tab names the count)."""
        self.skipped_list.clear()
        for skip in skipped:
            item = QListWidgetItem(f"{Path(skip.path).name}: {skip.reason}")
            item.setToolTip(skip.path)
            self.skipped_list.addItem(item)
        if not skipped:
            self.skipped_list.addItem("Nothing was skipped.")
        self.tabs.setTabText(1, f"Skipped ({len(skipped):,})" if skipped else "Skipped")

    def _show_stack(self, widget: QWidget) -> None:
        self.stack.setCurrentWidget(widget)
        # The empty state has its own New collection; one on the page is enough.
        self.new_button.setVisible(widget is self.main)

    def _update_buttons(self) -> None:
        indexing = self.controller.indexing
        has = self.current is not None
        for button in (self.add_folder_button, self.add_files_button, self.refresh_button):
            button.setEnabled(has and not indexing)
        self.remove_button.setEnabled(has and not indexing)
        self.embedder_row.change_button.setEnabled(has and not indexing)
        self.new_button.setEnabled(not indexing)
        self.empty_new_button.setEnabled(not indexing)
        self.search_button.setEnabled(has)
        self.progress_box.setVisible(indexing)

    def _say(self, text: str) -> None:
        self.status_label.setText(text)
        self.status_label.setVisible(bool(text))  # no blank line while there is nothing to say

    # --- making and adding ------------------------------------------------

    @Slot()
    def _on_new_clicked(self) -> None:
        self.new_collection()

    def new_collection(self, paths: list[Path] | None = None) -> bool:
        """Ask for a name and an embedder, then index the folders and files."""
        if self.controller.indexing:
            return False
        models = self.store.list_models()
        answer = NewCollectionDialog.ask(
            self,
            models,
            self.active.model_id,
            [c.name for c in self.collections],
            paths or [],
        )
        if answer is None:
            return False
        self.start_index(answer.name, list(answer.paths), answer.embedder)
        return True

    def start_index(
        self, name: str, paths: list[Path], embedder: str | None = None, *, reembed: bool = False
    ) -> None:
        self.controller.index(name, paths, embedder, reembed=reembed)
        self.eta.reset()
        self.cancel_button.setToolTip(
            "Stop re-embedding; the collection keeps its current vectors"
            if reembed
            else "Stop indexing; the files read so far are kept"
        )
        if reembed:
            what = f"Embedding {name} again with {embedder}"
        else:
            what = "Reading the folders again" if not paths else f"Indexing into {name}"
        self.progress_label.setText("Finding files…")
        self.progress_bar.setRange(0, 0)
        self._say(f"{what}; you can search and chat meanwhile.")
        self._show_stack(self.main)
        self._update_buttons()

    def add_paths(self, paths: list[Path]) -> None:
        """Add folders or files to the collection shown (or make a new one)."""
        info = self.current
        if not paths or self.controller.indexing:
            if self.controller.indexing:
                self._say("Wait for the indexing under way to end (or Cancel it) first.")
            return
        if info is None:
            self.new_collection(paths)
            return
        self.start_index(info.name, paths)

    @Slot()
    def _on_add_folder_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder to the collection")
        if folder:
            self.add_paths([Path(folder)])

    @Slot()
    def _on_add_files_clicked(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add files", "", FILE_FILTER)
        if files:
            self.add_paths([Path(f) for f in files])

    @Slot()
    def _on_change_embedder_requested(self) -> None:
        self.change_embedder()

    def change_embedder(self) -> bool:
        """Ask for another embedder, then embed every passage again with it."""
        info = self.current
        if info is None or self.controller.indexing:
            return False
        try:
            catalog = load_catalog()
        except CatalogError:
            catalog = []  # the advice is lost, not the choice: every model is still listed
        choices = embedder_choices(self.store.list_models(), catalog, info.embedder)
        chosen = ChangeEmbedderDialog.ask(self, info, choices)
        if chosen is None:
            return False
        self.start_index(info.name, [], chosen, reembed=True)
        return True

    @Slot()
    def _on_refresh_clicked(self) -> None:
        info = self.current
        if info is not None and not self.controller.indexing:
            self.start_index(info.name, [])

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        if urls and all(url.isLocalFile() for url in urls) and not self.controller.indexing:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.add_paths(paths)

    # --- indexing answers -------------------------------------------------

    @Slot(object)
    def _on_index_progressed(self, progress: IndexProgress) -> None:
        job = self.controller.index_job
        if job is not None and self.collection_combo.findData(job.collection) < 0:
            self.refresh(select=job.collection)  # a new collection: made when indexing began
        unit = "passage" if progress.stage == "re-embedding" else "file"
        self.progress_bar.setRange(0, max(progress.total, 1))
        self.progress_bar.setValue(progress.done)
        text = f"{progress.stage.capitalize()} {progress.done:,} of {counted(progress.total, unit)}"
        if progress.stage == "re-embedding":
            left = self.eta.left(progress.done, progress.total)
            text += f", {left}" if left else ""
        self.progress_label.setText(text)

    @Slot(object)
    def _on_index_finished(self, outcome: IndexOutcome) -> None:
        report = outcome.report
        self.refresh(select=outcome.info.name)
        self._show_current(skipped=list(report.skipped))
        if report.reembedded:
            self._show_hint()
            self._say(
                f"{outcome.info.name}: embedded {counted(report.reembedded, 'passage')} again "
                f"with {outcome.info.embedder.model_id}; searching and answering use it now."
            )
            return
        parts = [
            f"Read {counted(len(report.read), 'file')} into {counted(report.passages, 'passage')}",
            f"{report.unchanged:,} unchanged",
        ]
        if report.removed:
            parts.append(f"{counted(len(report.removed), 'file')} gone and dropped")
        if report.skipped:
            parts.append(f"{len(report.skipped):,} skipped (see Skipped)")
        if report.unsupported:
            parts.append(
                f"{counted(report.unsupported, 'file')} of types Driftless does not read "
                "passed over"
            )
        text = f"{outcome.info.name}: " + ", ".join(parts) + "."
        if report.truncated:
            text += f" {report.truncated}"
        self._say(text)

    @Slot(object)
    def _on_index_cancelled(self, job: IndexJob) -> None:
        self.refresh(select=job.collection or None)
        if job.reembed:
            info = self.current
            kept = info.embedder.model_id if info is not None else "the old embedder"
            self._say(
                f"Re-embedding was cancelled. {job.collection} keeps its vectors from {kept}, "
                "and searches use them as before."
            )
            return
        self._say(
            "Indexing was cancelled. The files read so far are kept; Refresh goes on from there."
        )

    @Slot(str)
    def _on_index_failed(self, message: str) -> None:
        self.refresh()
        self._say(f"Indexing failed: {message}")

    # --- removing ---------------------------------------------------------

    @Slot()
    def _on_remove_clicked(self) -> None:
        info = self.current
        if info is None or not RemoveConfirm.ask(self, info.name, info.files):
            return
        self.remove_button.setEnabled(False)
        self.controller.remove(info.name)

    @Slot(str)
    def _on_removed(self, name: str) -> None:
        self.refresh()
        self._show_hint()
        self._say(f"Removed the collection {name}; its files were not touched.")

    @Slot(str)
    def _on_remove_failed(self, message: str) -> None:
        self._update_buttons()
        self._say(f"The collection could not be removed: {message}")

    # --- searching --------------------------------------------------------

    @Slot()
    def search(self) -> None:
        info = self.current
        query = self.search_box.text().strip()
        if info is None or not query:
            return
        self.hits_stack.show_loading(f"Searching {info.name}…")
        self.controller.search(info.name, query)

    @Slot(object)
    def _on_searched(self, result: SearchResult) -> None:
        if result.collection != self.collection_combo.currentData():
            return
        self.hits_view.show_hits(result.hits, result.query)
        self.hits_stack.show_content()
        self._say(result.note + "." if result.note else "")

    @Slot(str)
    def _on_search_failed(self, message: str) -> None:
        self.hits_stack.show_error(f"The search failed: {message}")

    def _show_hint(self) -> None:
        self.hits_view.show_text("Type a question or some words, then press Enter.")
        self.hits_stack.show_content()

    @Slot(object)
    def open_hit(self, hit: Hit) -> PassageDialog:
        """Show a hit's passage in its file, highlighted."""
        ref = PassageRef(hit.source, hit.page, hit.line, hit.start, hit.end, hit.text)
        if self.passage_dialog is not None:
            self.passage_dialog.close()
        self.passage_dialog = PassageDialog(ref, self)
        self.passage_dialog.open()
        return self.passage_dialog

    def shutdown(self) -> None:
        self.controller.shutdown()
