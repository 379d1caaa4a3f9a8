"""The main window: a page list (Chat, Classify, Models) and a status line."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app import APP_NAME
from app.core.conversations import ConversationStore
from app.core.engine import ChatEngine, Engine
from app.core.starter import ensure_starter
from app.core.store import InstalledModel, ModelStore
from app.ui.chat.page import ChatPage
from app.ui.manager.downloads import DownloadQueue
from app.ui.models_page import ModelsPage
from app.ui.tasks import Task


def placeholder_page(title: str, text: str) -> QWidget:
    page = QWidget()
    layout = QVBoxLayout(page)
    heading = QLabel(f"<h2>{title}</h2>")
    body = QLabel(text)
    body.setWordWrap(True)
    layout.addWidget(heading)
    layout.addWidget(body)
    layout.addStretch(1)
    return page


class MainWindow(QMainWindow):
    """Top-level window; owns the pages and the status line."""

    starter_ready = Signal()

    PAGES = ("Chat", "Classify", "Models")

    def __init__(
        self,
        store: ModelStore,
        *,
        conversations: ConversationStore | None = None,
        engine_factory: Callable[[], ChatEngine] | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.conversations = conversations or ConversationStore(store.paths)
        self.setWindowTitle(APP_NAME)
        self.resize(1000, 680)

        self.nav = QListWidget()
        self.nav.setAccessibleName("Pages")
        self.nav.setFixedWidth(150)
        self.nav.setIconSize(QSize(20, 20))
        self.pages = QStackedWidget()

        self.chat_page = ChatPage(
            store, self.conversations, engine_factory or (lambda: Engine(store))
        )
        self.classify_page = placeholder_page(
            "Classify",
            "Label texts and CSV files (sentiment, intent, ticket routing) with the local "
            "model. The classification workbench arrives in a later release.",
        )
        # The download queue outlives the Models page's tabs; it belongs to the window.
        self.download_queue = DownloadQueue(store, parent=self)
        self.models_page = ModelsPage(store, self.download_queue)
        for name, page in zip(
            self.PAGES, (self.chat_page, self.classify_page, self.models_page), strict=True
        ):
            QListWidgetItem(name, self.nav)
            self.pages.addWidget(page)
        self.nav.currentRowChanged.connect(self.pages.setCurrentIndex)

        central = QWidget()
        layout = QHBoxLayout(central)
        layout.addWidget(self.nav)
        layout.addWidget(self.pages, 1)
        self.setCentralWidget(central)

        self.active_label = QLabel("Checking the starter model…")
        self.active_label.setAccessibleName("Active model")
        self.offline_label = QLabel("● Offline")
        self.offline_label.setToolTip(
            "Chat and classification make no network connection. "
            "Only the model manager talks to the Hub, when you ask it to."
        )
        self.statusBar().addWidget(self.active_label, 1)
        self.statusBar().addPermanentWidget(self.offline_label)

        self.models_page.models_changed.connect(self._on_models_changed)
        self.nav.setCurrentRow(self.PAGES.index("Chat"))
        self._starter_task = Task(lambda task: ensure_starter(store), self)
        self._starter_task.succeeded.connect(self._on_starter_succeeded)
        self._starter_task.failed.connect(self._on_starter_failed)
        self._starter_task.start()

    def closeEvent(self, event: QCloseEvent) -> None:
        # In order: stop the reply, unload the model, end the inference thread.
        self.chat_page.shutdown()
        self.conversations.close()
        super().closeEvent(event)

    def show_page(self, name: str) -> None:
        self.nav.setCurrentRow(self.PAGES.index(name))

    @Slot(object)
    def _on_starter_succeeded(self, _model: InstalledModel | None) -> None:
        self._on_models_changed()
        self.starter_ready.emit()

    @Slot(str)
    def _on_starter_failed(self, message: str) -> None:
        self._on_models_changed()
        self.models_page.status.setText(f"The starter model could not be registered: {message}")
        self.starter_ready.emit()

    @Slot()
    def _on_models_changed(self) -> None:
        self.models_page.refresh()
        self.chat_page.refresh_models()
        active = self.store.active()
        if active is None:
            self.active_label.setText("No active model. Import or download one in Models.")
            return
        version = f"@{active.short_commit}" if active.commit else f"sha {active.sha256[:7]}"
        pinned = "pinned " if active.pinned else ""
        self.active_label.setText(f"Model: {active.id} ({pinned}{version})")
        self.active_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
