"""The main window: a navigation rail (Chat, Documents, Classify, Models), the page, a status line.

The rail lists :attr:`MainWindow.PAGES` in order; each page's shortcut is Ctrl+its place.
Narrower than :data:`COMPACT_BELOW`, the rail shows icons only.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence, QResizeEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QStackedWidget,
    QWidget,
)

from app import APP_NAME
from app.core.chat.conversations import ConversationStore
from app.core.chat.engine import Engine
from app.core.chat.protocols import ChatEngine
from app.core.chat.states import disk_states
from app.core.drift.starter import needs_recording, record_starter_check
from app.core.logs import current_log_file
from app.core.models.starter import ensure_starter
from app.core.models.store import InstalledModel, ModelStore
from app.core.runtime.results import LoadedModel
from app.core.settings import Settings, load_settings
from app.ui.active_model import ActiveModel
from app.ui.api.controller import ApiController, ApiState, ServerFactory
from app.ui.api.dialog import ApiDialog
from app.ui.chat.page import ChatPage
from app.ui.classify.page import ClassifyPage
from app.ui.desktop import open_folder
from app.ui.doc_access import DocsAccess
from app.ui.docs.page import DocsPage
from app.ui.elided_label import ElidedLabel
from app.ui.errors import show_error
from app.ui.focus_ring import FocusRing
from app.ui.help import SHORTCUTS_KEY, ShortcutsDialog, show_about
from app.ui.models.downloads import DownloadQueue
from app.ui.models.page import ModelsPage
from app.ui.progress import StatusProgress
from app.ui.rail import NavigationRail
from app.ui.tasks import Task
from app.ui.welcome import WelcomeDialog
from app.ui.window_state import WindowState

OFFER_STARTER_CHECK = True
"""The welcome offers recording the starter's check set (GUI tests turn it off: it loads the
real model; the test of the first-run check turns it on)."""

RUNTIME_CHECKS_TEXT = "The runtime changed: checking behaviour…"

COMPACT_BELOW = 1000
"""A window narrower than this (px) shows the rail's icons only."""
MINIMUM_WIDTH = 760
"""The narrowest the window goes: every page fits, nothing clipped (tests/gui/test_fit.py)."""


class MainWindow(QMainWindow):
    """Top-level window; owns the pages and the status line."""

    starter_ready = Signal()

    PAGES = ("Chat", "Documents", "Classify", "Models")

    def __init__(
        self,
        store: ModelStore,
        *,
        conversations: ConversationStore | None = None,
        engine_factory: Callable[[], ChatEngine] | None = None,
        server_factory: ServerFactory | None = None,
        docs: DocsAccess | None = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.conversations = conversations or ConversationStore(store.paths)
        self.setWindowTitle(APP_NAME)
        self.resize(1100, 720)

        self.nav = NavigationRail()
        self.pages = QStackedWidget()

        # One owner of the active model: the pages follow it, the status line names it.
        self.active = ActiveModel(store, self)
        # The document collections, shared by the Documents page and Chat's "Answer from".
        self.docs = docs or DocsAccess(store)
        self.chat_page = ChatPage(
            store,
            self.conversations,
            engine_factory or (lambda: Engine(store, states=(disk_states(store.paths),))),
            active=self.active,
            docs=self.docs,
        )
        self.docs_page = DocsPage(store, self.docs, active=self.active)
        self.classify_page = ClassifyPage(store, store.paths, active=self.active)
        # The download queue outlives the Models page's tabs; it belongs to the window.
        self.download_queue = DownloadQueue(store, parent=self)
        self.models_page = ModelsPage(store, self.download_queue, active=self.active)
        for name, page in zip(
            self.PAGES,
            (self.chat_page, self.docs_page, self.classify_page, self.models_page),
            strict=True,
        ):
            self.nav.add_page(name, f"Ctrl+{self.PAGES.index(name) + 1}")
            self.pages.addWidget(page)
        self.nav.currentRowChanged.connect(self.pages.setCurrentIndex)

        central = QWidget()
        layout = QHBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.nav)
        layout.addWidget(self.pages, 1)
        self.setCentralWidget(central)

        self.active_label = ElidedLabel("Checking the starter model…")
        self.active_label.setAccessibleName("Active model")
        # Shown only while "Work offline" is on (Models > Settings): it used to show always.
        self.offline_label = QLabel("● Offline")
        self.offline_label.setToolTip(
            "Working offline: Hub search and downloads are off (Models > Settings). "
            "Chat and classification never make a network connection either way."
        )
        # Long work (checking the starter, loading a model) shows here, whatever the page.
        self.progress = StatusProgress()
        self.statusBar().addWidget(self.active_label, 1)
        self.statusBar().addPermanentWidget(self.progress)
        self.statusBar().addPermanentWidget(self.offline_label)
        # The local API (File > Local API server…); its address shows here while it serves.
        self.api = ApiController(store, server_factory, self)
        self.api_dialog: ApiDialog | None = None
        self.api_label = QLabel()
        self.api_label.setAccessibleName("API server")
        self.api_label.setVisible(False)
        self.statusBar().addPermanentWidget(self.api_label)
        self.api.state_changed.connect(self._on_api_state_changed)
        self.window_state = WindowState(store.paths.home)
        self.welcome_dialog: WelcomeDialog | None = None
        self.starter_checked = False
        self.check_task: Task | None = None
        self._build_menus()

        self.models_page.models_changed.connect(self._on_models_changed)
        self.active.active_model_changed.connect(self._on_active_model_changed)
        self.download_queue.settings_changed.connect(self._on_queue_settings_changed)
        checks = self.models_page.runtime_checks
        checks.started.connect(self._on_runtime_checks_started)
        checks.progressed.connect(self._on_runtime_checks_progressed)
        checks.finished.connect(self._on_runtime_checks_finished)
        self.offline_label.setVisible(self.download_queue.settings.offline)
        self.nav.currentRowChanged.connect(self._on_nav_current_row_changed)
        controller = self.chat_page.controller
        controller.load_started.connect(self._on_chat_load_started)
        controller.load_progressed.connect(self._on_chat_load_progressed)
        controller.model_loaded.connect(self._on_chat_model_loaded)
        controller.load_failed.connect(self._on_chat_load_failed)
        self.nav.setCurrentRow(self.PAGES.index("Chat"))
        self._restore_state()
        settings = load_settings(store.paths)
        if settings.api_autostart:
            self.api.start(settings)
        self.progress.begin("starter", "Checking the starter model…")
        self._starter_task = Task(lambda task: ensure_starter(store), self)
        self._starter_task.succeeded.connect(self._on_starter_succeeded)
        self._starter_task.failed.connect(self._on_starter_failed)
        self._starter_task.start()
        self.focus_ring = FocusRing(self)
        self.focus_page()  # not the page list: typing at start goes to the message box
        if controller.loading:  # the chat page asked for its model before we listened
            self._on_chat_load_started(self.chat_page.model_combo.currentData() or "the model")

    def _build_menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        chat = self.chat_page
        for action in (chat.new_action, chat.import_action):
            file_menu.addAction(action)
        file_menu.addSeparator()
        for action in (chat.export_markdown_action, chat.export_json_action):
            file_menu.addAction(action)
        for action in (
            chat.new_action,
            chat.import_action,
            chat.export_markdown_action,
            chat.export_json_action,
        ):
            # From another page, these are chat commands: show the chat they act on.
            action.triggered.connect(self._show_chat)
        file_menu.addSeparator()
        quit_action = file_menu.addAction("&Quit", self.close)
        quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        go_menu = self.menuBar().addMenu("&Go")
        self.page_actions = QActionGroup(self)
        for number, name in enumerate(self.PAGES, 1):
            action = QAction(name, self, checkable=True)
            action.setShortcut(QKeySequence(f"Ctrl+{number}"))
            action.triggered.connect(lambda _checked=False, page=name: self._go_to(page))
            self.page_actions.addAction(action)
            go_menu.addAction(action)
        file_menu.insertAction(quit_action, self._api_action())
        file_menu.insertSeparator(quit_action)
        help_menu = self.menuBar().addMenu("&Help")
        shortcuts = help_menu.addAction("&Keyboard shortcuts", self.show_shortcuts)
        shortcuts.setShortcut(QKeySequence(SHORTCUTS_KEY))
        help_menu.addAction("&Welcome", self.show_welcome)
        help_menu.addAction("Open the &log folder", self._on_open_logs_triggered)
        help_menu.addSeparator()
        help_menu.addAction(f"&About {APP_NAME}", self.show_about)

    def _api_action(self) -> QAction:
        action = QAction("Local &API server…", self)
        action.setStatusTip("Let other programs use your models over an OpenAI-compatible API")
        action.triggered.connect(self.show_api)
        return action

    def show_api(self) -> ApiDialog:
        if self.api_dialog is None:
            self.api_dialog = ApiDialog(self.api, self.store.paths, self)
        if self.api_dialog.isVisible():  # already open, perhaps behind: bring it forward
            self.api_dialog.raise_()
            self.api_dialog.activateWindow()
        else:
            self.api_dialog.show()
        return self.api_dialog

    @Slot(object)
    def _on_api_state_changed(self, state: ApiState) -> None:
        self.api_label.setVisible(state.running or state.busy or bool(state.error))
        if state.running:
            self.api_label.setText(f"● API {state.url}")
            self.api_label.setToolTip(state.text)
        elif state.error:
            self.api_label.setText("API off")
            self.api_label.setToolTip(state.text)
        else:
            self.api_label.setText("API…")
            self.api_label.setToolTip(state.text)

    # --- window state -------------------------------------------------------

    def _restore_state(self) -> None:
        state = self.window_state
        geometry = state.geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        splitter = state.splitter("chat")
        if splitter is not None:
            self.chat_page.splitter.restoreState(splitter)
        page = state.page()
        if page in self.PAGES:
            self.show_page(page)

    def save_state(self) -> None:
        self.window_state.save(
            geometry=self.saveGeometry(),
            page=self.PAGES[self.nav.currentRow()],
            splitters={"chat": self.chat_page.splitter.saveState()},
        )

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.nav.set_compact(event.size().width() < COMPACT_BELOW)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_state()
        if self.check_task is not None:
            self.check_task.cancel()  # a check set half recorded is not kept
        self.models_page.runtime_checks.cancel()
        # In order: stop the reply, unload the model, end the inference thread.
        self.chat_page.shutdown()
        self.docs_page.shutdown()
        self.classify_page.shutdown()
        self.api.shutdown()
        self.conversations.close()
        self.docs.close()
        super().closeEvent(event)

    def show_page(self, name: str) -> None:
        self.nav.setCurrentRow(self.PAGES.index(name))

    def _go_to(self, name: str) -> None:
        self.show_page(name)
        self.focus_page()

    @Slot()
    def _show_chat(self) -> None:
        self.show_page("Chat")

    def focus_page(self) -> None:
        """Put the keyboard where typing is meant to go: on Chat, the message box."""
        if self.pages.currentWidget() is self.chat_page:
            self.chat_page.focus_composer()

    # --- help and first run -------------------------------------------------

    def greet_first_run(self) -> None:
        """Show the welcome once, after the starter check (it names the model that is ready)."""
        if self.window_state.welcomed:
            return
        if self.starter_checked:
            self.show_welcome()
        else:
            self.starter_ready.connect(self.show_welcome, Qt.ConnectionType.SingleShotConnection)

    @Slot()
    def show_welcome(self) -> WelcomeDialog:
        if self.welcome_dialog is not None:
            self.welcome_dialog.raise_()
            return self.welcome_dialog
        offer = (
            OFFER_STARTER_CHECK
            and self.check_task is None
            and needs_recording(self.store.paths, self.store)
        )
        dialog = WelcomeDialog(self.store.active(), self, offer_check=offer)
        dialog.catalog_requested.connect(self._on_welcome_catalog_requested)
        dialog.finished.connect(self._on_welcome_finished)
        self.welcome_dialog = dialog
        self.window_state.mark_welcomed()
        dialog.open()
        return dialog

    @Slot()
    def show_shortcuts(self) -> ShortcutsDialog:
        dialog = ShortcutsDialog(self.PAGES, self)
        dialog.open()
        return dialog

    @Slot()
    def show_about(self) -> None:
        show_about(self, self.store.paths.home, current_log_file())

    @Slot()
    def _on_open_logs_triggered(self) -> None:
        self.store.paths.logs_dir.mkdir(parents=True, exist_ok=True)
        open_folder(self.store.paths.logs_dir)

    @Slot()
    def _on_welcome_catalog_requested(self) -> None:
        self.show_page("Models")
        self.models_page.show_tab("Catalog")

    @Slot()
    def _on_welcome_finished(self) -> None:
        dialog = self.welcome_dialog
        self.welcome_dialog = None
        if dialog is not None and dialog.record_check.isChecked():
            self.record_starter_check()
        self.focus_page()

    def record_starter_check(self) -> Task | None:
        """Record the built-in check set on the starter in the background (first run)."""
        if self.check_task is not None or not needs_recording(self.store.paths, self.store):
            return None
        paths, store = self.store.paths, self.store
        text = "Recording the starter's behaviour check…"
        self.progress.begin("checks", text)
        task = Task(
            lambda task: record_starter_check(
                paths, store, on_progress=task.report_progress, cancel=task.cancel_token
            ),
            self,
        )
        task.progressed.connect(
            lambda p: self.progress.begin("checks", text, p[0] / p[1] if p[1] else None)
        )
        task.succeeded.connect(self._on_check_recorded)
        task.failed.connect(self._on_check_not_recorded)
        task.cancelled.connect(lambda: self._on_check_not_recorded("Cancelled."))
        self.check_task = task
        task.start()
        return task

    @Slot(object)
    def _on_check_recorded(self, _check_set: object) -> None:
        self.check_task = None
        self.progress.end("checks")
        self.models_page.refresh()
        self.models_page.status.setText(
            "Recorded the starter's behaviour check (driftless drift check starter-basics)."
        )

    @Slot(str)
    def _on_check_not_recorded(self, message: str) -> None:
        self.check_task = None
        self.progress.end("checks")
        self.models_page.status.setText(
            f"The starter's behaviour check was not recorded: {message}"
        )

    @Slot(int)
    def _on_nav_current_row_changed(self, row: int) -> None:
        actions = self.page_actions.actions()
        if 0 <= row < len(actions):
            actions[row].setChecked(True)

    # --- progress and errors ------------------------------------------------

    @Slot(str)
    def _on_chat_load_started(self, model_id: str) -> None:
        self.progress.begin("model", f"Loading {model_id}…")

    @Slot(float)
    def _on_chat_load_progressed(self, fraction: float) -> None:
        self.progress.begin("model", "Checking the model file…", fraction)

    @Slot(object)
    def _on_chat_model_loaded(self, _loaded: LoadedModel) -> None:
        self.progress.end("model")

    @Slot(str)
    def _on_chat_load_failed(self, message: str) -> None:
        self.progress.end("model")
        show_error(
            self,
            "The model could not be loaded. Pick another one in the chat's Model list, "
            "or check this one in Models.",
            message,
        )

    @Slot(object)
    def _on_starter_succeeded(self, _model: InstalledModel | None) -> None:
        self.starter_checked = True
        self.progress.end("starter")
        self._on_models_changed()
        self.models_page.runtime_checks.start()
        self.starter_ready.emit()

    @Slot(str)
    def _on_starter_failed(self, message: str) -> None:
        self.starter_checked = True
        self.progress.end("starter")
        self._on_models_changed()
        self.models_page.status.setText(f"The starter model could not be registered: {message}")
        show_error(
            self,
            "The bundled starter model could not be set up, so Driftless has no model "
            "ready. You can still download or import one in Models.",
            message,
        )
        self.models_page.runtime_checks.start()
        self.starter_ready.emit()

    # --- checks at start when the runtime changed ---------------------------

    @Slot(str)
    def _on_runtime_checks_started(self, _message: str) -> None:
        # Short here; the Models page says what changed.
        self.progress.begin("runtime", RUNTIME_CHECKS_TEXT)

    @Slot(str, float)
    def _on_runtime_checks_progressed(self, _text: str, fraction: float) -> None:
        self.progress.begin("runtime", RUNTIME_CHECKS_TEXT, fraction)

    @Slot(str)
    def _on_runtime_checks_finished(self, _message: str) -> None:
        self.progress.end("runtime")

    @Slot(object)
    def _on_queue_settings_changed(self, settings: Settings) -> None:
        self.offline_label.setVisible(settings.offline)

    @Slot()
    def _on_models_changed(self) -> None:
        self.active.refresh()  # e.g. the starter, registered after start-up
        self.models_page.refresh()
        self.chat_page.refresh_models()
        self._show_active()

    @Slot(str)
    def _on_active_model_changed(self, _model_id: str) -> None:
        self._show_active()

    def _show_active(self) -> None:
        active = self.active.current()
        if active is None:
            self.active_label.setText("No active model. Import or download one in Models.")
            return
        version = f"@{active.short_commit}" if active.commit else f"sha {active.sha256[:7]}"
        pinned = "pinned " if active.pinned else ""
        self.active_label.setText(f"Model: {active.id} ({pinned}{version})")
        self.active_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
