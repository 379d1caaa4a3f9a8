"""The Models page: the model manager. Installed versions, the catalog, Hub search and
the download queue, as tabs, with the manager's settings one click away.

The download queue belongs to the main window and outlives the page's tabs; the page
shows it and reacts to what it installs. A ``.gguf`` file dropped anywhere on the page
is checked and imported.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QPushButton, QTabWidget, QVBoxLayout, QWidget

from app.core.models.store import InstalledModel, ModelStore
from app.core.settings import Settings, load_settings, save_settings
from app.ui.active_model import ActiveModel
from app.ui.colors import Banner
from app.ui.models.catalog_tab import CatalogTab
from app.ui.models.downloads import DownloadQueue
from app.ui.models.downloads_tab import DownloadsTab
from app.ui.models.installed_tab import InstalledTab
from app.ui.models.runtime_checks import RuntimeChecks
from app.ui.models.search_tab import SearchTab
from app.ui.models.settings_dialog import SettingsDialog
from app.ui.states import PageHeader

OFFLINE_BANNER = (
    "Working offline: Hub search and downloads are off, and nothing touches the network. "
    "Turn it off in Settings."
)


def dropped_gguf_files(event: QDragEnterEvent | QDropEvent) -> list[Path]:
    mime = event.mimeData()
    if not mime.hasUrls():
        return []
    paths = [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]
    return [p for p in paths if p.suffix.lower() == ".gguf"]


class ModelsPage(QWidget):
    """Find, download, pin, verify and lock models without a terminal."""

    models_changed = Signal()

    TABS = ("Installed", "Catalog", "Search the Hub", "Downloads")

    def __init__(
        self,
        store: ModelStore,
        queue: DownloadQueue | None = None,
        parent: QWidget | None = None,
        *,
        memory: int | None = None,
        active: ActiveModel | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.active = active if active is not None else ActiveModel(store, self)
        self.queue = queue if queue is not None else DownloadQueue(store, parent=self)

        self.header = PageHeader(
            "Models",
            "Every model runs on this machine. A <b>pinned</b> model is frozen: nothing "
            "updates, replaces or removes it until you unpin it. Drop a .gguf file here to "
            "import it.",
        )
        self.settings_button = QPushButton("Se&ttings…")
        self.settings_button.setToolTip("Hub endpoint, access token, offline switch")
        self.header.add_action(self.settings_button)
        self.offline_banner = Banner(OFFLINE_BANNER)

        self.installed = InstalledTab(store, self.queue, active=self.active)
        self.catalog = CatalogTab(store, self.queue, memory=memory)
        self.search = SearchTab(self.queue)
        self.downloads = DownloadsTab(self.queue)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.setAccessibleName("Model manager")
        for name, tab in zip(
            self.TABS, (self.installed, self.catalog, self.search, self.downloads), strict=True
        ):
            self.tabs.addTab(tab, name)

        # What the main window and its tests reach for, unchanged from the single-table page.
        self.table_model = self.installed.table_model
        self.table = self.installed.table
        self.use_button = self.installed.use_button
        self.pin_button = self.installed.pin_button
        self.verify_button = self.installed.verify_button
        self.remove_button = self.installed.remove_button
        self.status = self.installed.status
        # Checks at start when the runtime changed (the window starts them).
        self.runtime_checks = RuntimeChecks(store, self)

        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addWidget(self.offline_banner)
        layout.addWidget(self.tabs, 1)
        self.setAcceptDrops(True)

        self.settings_button.clicked.connect(self._on_settings_clicked)
        self.installed.models_changed.connect(self._on_installed_models_changed)
        self.installed.catalog_requested.connect(self._on_installed_catalog_requested)
        for tab in (self.installed, self.catalog, self.search):
            tab.download_started.connect(self._on_tab_download_started)
        self.queue.model_installed.connect(self._on_queue_model_installed)
        self.queue.jobs_changed.connect(self._on_queue_jobs_changed)
        self.queue.settings_changed.connect(self._on_queue_settings_changed)
        self.runtime_checks.started.connect(self._on_runtime_checks_started)
        self.runtime_checks.model_checked.connect(self._on_runtime_checks_model_checked)
        self.runtime_checks.finished.connect(self._on_runtime_checks_finished)
        self.queue.restore_partials()
        self._on_queue_settings_changed(self.queue.settings)
        self._on_queue_jobs_changed()

    # --- what the main window uses ----------------------------------------

    def refresh(self) -> None:
        self.installed.refresh()
        self.catalog.refresh()

    def selected_model(self) -> InstalledModel | None:
        return self.installed.selected_model()

    def show_tab(self, name: str) -> None:
        self.tabs.setCurrentIndex(self.TABS.index(name))

    @Slot()
    def _on_installed_catalog_requested(self) -> None:
        self.show_tab("Catalog")
        self.catalog.table.setFocus()

    def apply_settings(self, settings: Settings) -> None:
        """Save the settings and use them for every search and download from now on."""
        save_settings(self.store.paths, settings)
        self.queue.set_settings(settings)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.runtime_checks.cancel()
        super().closeEvent(event)

    # --- drag and drop ----------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped_gguf_files(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = dropped_gguf_files(event)
        if paths:
            event.acceptProposedAction()
            self.show_tab("Installed")
            self.installed.import_files(paths)

    # --- slots ------------------------------------------------------------

    @Slot()
    def _on_settings_clicked(self) -> None:
        current = load_settings(self.store.paths)  # the Classify page saves a setting too
        settings = SettingsDialog.ask(self, current, self.store.paths.models_dir)
        if settings is not None:
            self.apply_settings(settings)

    @Slot()
    def _on_installed_models_changed(self) -> None:
        self.catalog.refresh()
        self.models_changed.emit()

    @Slot()
    def _on_tab_download_started(self) -> None:
        self._on_queue_jobs_changed()

    @Slot(object)
    def _on_queue_model_installed(self, model: InstalledModel) -> None:
        self.active.refresh()  # a download may have made its model the active one
        self.refresh()
        self.installed.status.setText(f"Installed {model.id} ({model.repo}@{model.short_commit}).")
        self.models_changed.emit()
        self.installed.model_installed(model)

    @Slot(str)
    def _on_runtime_checks_started(self, message: str) -> None:
        self.table_model.set_checking(self.runtime_checks.checking)
        self.status.setText(message)

    @Slot(str)
    def _on_runtime_checks_model_checked(self, _model_id: str) -> None:
        self.installed.refresh()
        self.table_model.set_checking(self.runtime_checks.checking)

    @Slot(str)
    def _on_runtime_checks_finished(self, message: str) -> None:
        self.table_model.set_checking(set())
        self.installed.refresh()
        if message:
            self.status.setText(message)

    @Slot()
    def _on_queue_jobs_changed(self) -> None:
        count = self.queue.active_count
        title = f"Downloads ({count})" if count else "Downloads"
        self.tabs.setTabText(self.TABS.index("Downloads"), title)

    @Slot(object)
    def _on_queue_settings_changed(self, settings: Settings) -> None:
        self.offline_banner.setVisible(settings.offline)
