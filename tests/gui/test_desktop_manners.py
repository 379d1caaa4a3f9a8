"""Desktop manners: state restored on restart, keyboard use, accessible names, progress for
long work, errors as dialogs with their details in the log, colours for light and dark."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QAccessible, QAction, QKeySequence, QPalette, QShortcut
from PySide6.QtWidgets import QApplication, QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from app.core.cancel import CancelToken
from app.core.errors import ChecksumMismatch, ModelLoadError
from app.core.fsutil import ProgressCallback
from app.core.logs import setup_logging, stop_logging
from app.core.models.store import ModelStore
from app.core.paths import Paths
from app.core.runtime.results import LoadedModel
from app.ui import colors
from app.ui.chat.page import ChatPage
from app.ui.errors import ErrorDialog, ExceptionReporter, show_error
from app.ui.help import ShortcutsDialog, shortcuts
from app.ui.main_window import MainWindow
from app.ui.models.busy import BusyStrip
from app.ui.progress import StatusProgress
from app.ui.tasks import Task
from tests.fake_engine import FakeEngine
from tests.gui.test_first_run import dark_palette


@pytest.fixture
def logging_to_file(paths: Paths) -> Iterator[Path]:
    yield setup_logging(paths)
    stop_logging()


def open_window(qtbot: QtBot, store: ModelStore, engine: FakeEngine | None = None) -> MainWindow:
    engine = engine or FakeEngine(["A short answer.", "Another answer."])
    window = MainWindow(store, engine_factory=lambda: engine)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.starter_ready, timeout=30_000):
        window.show()
    return window


def error_dialogs() -> list[ErrorDialog]:
    widgets = QApplication.topLevelWidgets()
    return [w for w in widgets if isinstance(w, ErrorDialog) and w.isVisible()]


def accessible_name(widget: QWidget) -> str:
    """What a screen reader says: the accessible name, else the text or the buddy label's."""
    interface = QAccessible.queryAccessibleInterface(widget)
    return interface.text(QAccessible.Text.Name).strip() if interface is not None else ""


def tab_stops(root: QWidget) -> list[QWidget]:
    """Every control under ``root`` that Tab should reach: visible, enabled, tab-focusable."""
    return [
        w
        for w in root.findChildren(QWidget)
        if w.isVisible() and w.isEnabled() and w.focusPolicy() & Qt.FocusPolicy.TabFocus
    ]


# --- state restored on restart ------------------------------------------------------------


def test_size_position_page_and_splitter_are_restored_on_restart(
    qtbot: QtBot, store: ModelStore
) -> None:
    first = open_window(qtbot, store)
    # The offscreen screen is 800 pixels wide and the window is a little wider at its
    # narrowest, so Qt shifts a restored window left to fit and the splitter has no room
    # to move: the height, y, page and a collapsed conversation list show the restore.
    first.resize(first.minimumSizeHint().width(), 530)
    first.move(37, 41)
    first.chat_page.splitter.setSizes([0, 900])
    size = first.size()
    assert size.height() == 530 and size != first.sizeHint()
    assert first.chat_page.splitter.sizes()[0] == 0
    first.show_page("Models")
    first.close()

    second = open_window(qtbot, store)
    assert second.size() == size
    assert second.y() == 41
    assert second.pages.currentWidget() is second.models_page
    assert second.nav.currentItem().text() == "Models"
    assert second.chat_page.splitter.sizes()[0] == 0, "the conversation list stays collapsed"


def test_a_fresh_data_folder_opens_on_chat(qtbot: QtBot, store: ModelStore) -> None:
    window = open_window(qtbot, store)
    assert window.pages.currentWidget() is window.chat_page
    assert not (store.paths.home / "window.ini").exists() or window.window_state.page() is None


def test_window_state_lives_in_the_data_folder(qtbot: QtBot, store: ModelStore) -> None:
    open_window(qtbot, store).close()
    text = (store.paths.home / "window.ini").read_text(encoding="utf-8")
    assert "page=Chat" in text and "geometry=" in text


# --- keyboard and accessibility -----------------------------------------------------------


def test_tab_reaches_every_control_of_the_chat_page_in_reading_order(
    qtbot: QtBot, store: ModelStore
) -> None:
    window = open_window(qtbot, store)
    page: ChatPage = window.chat_page
    qtbot.waitUntil(lambda: page.controller.loaded is not None, timeout=10_000)
    for text in ("First question", "Second question"):
        page.composer.setPlainText(text)
        with qtbot.waitSignal(page.controller.reply_ended, timeout=10_000):
            page.send()
    expected = tab_stops(page)
    assert page.transcript.bubbles[0].copy_button in expected

    page.new_button.setFocus()
    qtbot.waitUntil(lambda: window.focusWidget() is page.new_button)
    visited: list[QWidget] = []
    for _ in range(4 * len(expected) + 10):
        current = window.focusWidget()
        if current in visited:
            break
        visited.append(current)
        qtbot.keyClick(current, Qt.Key.Key_Tab)
    missing = [f"{type(w).__name__} {accessible_name(w)!r}" for w in expected if w not in visited]
    assert not missing, f"Tab never reaches: {missing}"
    unnamed = [type(w).__name__ for w in visited if not accessible_name(w)]
    assert not unnamed, f"controls without an accessible name: {unnamed}"

    order = [
        page.new_button,
        page.search_box,
        page.list_view,
        page.model_combo,
        page.system_button,
        page.transcript,
        page.transcript.bubbles[0].edit_button,
        page.transcript.bubbles[1].copy_button,
        page.transcript.bubbles[3].copy_button,
        page.composer,
        page.send_button,
    ]
    positions = [visited.index(w) for w in order]
    assert positions == sorted(positions), "Tab must follow the page's reading order"


@pytest.mark.slow
def test_every_control_on_every_page_has_an_accessible_name(
    qtbot: QtBot, store: ModelStore
) -> None:
    window = open_window(qtbot, store)
    unnamed = []
    for name in window.PAGES:
        window.show_page(name)
        page = window.pages.currentWidget()
        tabs = getattr(page, "tabs", None)
        for index in range(tabs.count() if tabs is not None else 1):
            if tabs is not None:
                tabs.setCurrentIndex(index)
            unnamed += [
                f"{name}: {type(w).__name__} {w.objectName()}"
                for w in tab_stops(page)
                if not accessible_name(w)
            ]
    assert not unnamed


def test_listed_shortcuts_are_the_ones_the_window_has(qtbot: QtBot, store: ModelStore) -> None:
    window = open_window(qtbot, store)
    native = QKeySequence.SequenceFormat.PortableText
    bound = {a.shortcut().toString(native) for a in window.findChildren(QAction)}
    bound |= {s.key().toString(native) for s in window.findChildren(QShortcut)}
    listed = [s for s in shortcuts(window.PAGES) if s.bound]
    assert {s.keys for s in listed} <= bound
    assert len(listed) >= 6


def test_ctrl_number_switches_pages_and_f1_lists_the_shortcuts(
    qtbot: QtBot, store: ModelStore
) -> None:
    window = open_window(qtbot, store)
    actions = {a.shortcut().toString(): a for a in window.findChildren(QAction)}
    actions["Ctrl+4"].trigger()
    assert window.pages.currentWidget() is window.models_page
    actions["Ctrl+1"].trigger()
    assert window.pages.currentWidget() is window.chat_page
    window.show_page("Models")
    assert actions["Ctrl+4"].isChecked(), "the Go menu shows the page that is open"

    actions[QKeySequence(QKeySequence.StandardKey.HelpContents).toString()].trigger()
    (dialog,) = [w for w in QApplication.topLevelWidgets() if isinstance(w, ShortcutsDialog)]
    assert dialog.isVisible()
    assert dialog.table.rowCount() == len(shortcuts(window.PAGES))
    keys = [dialog.table.item(row, 0).text() for row in range(dialog.table.rowCount())]
    assert "Ctrl+N" in keys and "Esc" in keys


# --- progress for long work -----------------------------------------------------------------


class SlowLoadEngine(FakeEngine):
    """Loads only when told to, after reporting a quarter of its file checked."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def load(
        self,
        ref: str | None = None,
        *,
        n_ctx: int | None = None,
        on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> LoadedModel:
        if on_progress is not None:
            on_progress(1, 4)
        self.release.wait(10)
        return super().load(ref, n_ctx=n_ctx, cancel=cancel)


def test_model_loading_shows_progress_in_the_status_line(qtbot: QtBot, store: ModelStore) -> None:
    engine = SlowLoadEngine()
    window = open_window(qtbot, store, engine)
    try:
        progress = window.progress
        qtbot.waitUntil(lambda: progress.label.text() == "Checking the model file…")
        assert progress.isVisible() and progress.jobs == ["model"]
        # Readable, not just a bar: the label has room beside the active model's name.
        qtbot.waitUntil(lambda: progress.label.shown_text() == "Checking the model file…")
        assert progress.bar.maximum() == 1000 and progress.bar.value() == 250
    finally:
        engine.release.set()
    qtbot.waitUntil(lambda: window.chat_page.controller.loaded is not None, timeout=10_000)
    assert not window.progress.isVisible() and window.progress.jobs == []


def test_status_progress_shows_the_latest_job_until_all_end(qtbot: QtBot) -> None:
    progress = StatusProgress()
    holder = QWidget()
    qtbot.addWidget(holder)
    progress.setParent(holder)
    holder.show()
    assert not progress.isVisible()
    progress.begin("starter", "Checking the starter model…")
    progress.begin("model", "Checking the model file…", 0.5)
    assert progress.isVisible() and progress.label.text() == "Checking the model file…"
    assert progress.bar.value() == 500
    progress.end("model")
    assert progress.label.text() == "Checking the starter model…"
    assert progress.bar.maximum() == 0, "no estimate: a busy bar"
    progress.end("starter")
    assert not progress.isVisible()


def test_task_progress_carries_file_sizes_beyond_2_gib(qtbot: QtBot) -> None:
    strip = BusyStrip()
    qtbot.addWidget(strip)
    release = threading.Event()

    def hash_a_big_file(task: Task) -> None:
        task.report_progress(3_000_000_000, 6_000_000_000)
        release.wait(10)

    strip.run("Verifying…", hash_a_big_file, lambda _r: None, lambda _m: None)
    try:
        qtbot.waitUntil(lambda: strip.bar.value() == 500)
    finally:
        release.set()
    qtbot.waitUntil(lambda: not strip.busy)


# --- errors ------------------------------------------------------------------------------------


def test_a_model_that_will_not_load_is_a_dialog_with_details_in_the_log(
    qtbot: QtBot, store: ModelStore, logging_to_file: Path
) -> None:
    reason = "The model file is damaged: the header says 7 tensors, the file holds 3."
    window = open_window(qtbot, store, FakeEngine(fail_on_load=ModelLoadError(reason)))
    qtbot.waitUntil(lambda: bool(error_dialogs()), timeout=10_000)
    (dialog,) = error_dialogs()
    assert dialog.text().startswith("The model could not be loaded.")
    assert dialog.detailedText() == reason, "the details are one click away"
    assert str(logging_to_file) in dialog.informativeText()
    assert reason in logging_to_file.read_text(encoding="utf-8")
    assert not window.progress.isVisible()
    assert reason in window.chat_page.state_label.text(), "and inline on the page"


def test_a_damaged_starter_model_is_a_dialog(
    qtbot: QtBot, store: ModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def damaged(_store: ModelStore) -> None:
        raise ChecksumMismatch("The bundled starter model is damaged.", expected="0" * 64)

    monkeypatch.setattr("app.ui.main_window.ensure_starter", damaged)
    open_window(qtbot, store)
    (dialog,) = error_dialogs()
    assert "starter model could not be set up" in dialog.text()
    assert dialog.detailedText() == "The bundled starter model is damaged."


def test_show_error_logs_and_does_not_block(qtbot: QtBot, logging_to_file: Path) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)
    dialog = show_error(parent, "Could not export the conversation.", "Disk full")
    assert dialog.isVisible() and dialog.isModal()
    assert "Could not export the conversation.\nDisk full" in logging_to_file.read_text("utf-8")


def test_unexpected_exceptions_become_one_dialog_and_tracebacks_in_the_log(
    qtbot: QtBot, logging_to_file: Path
) -> None:
    reporter = ExceptionReporter().install()
    try:

        def crash() -> None:
            raise ZeroDivisionError("division by zero in a worker")

        worker = threading.Thread(target=crash, name="worker-7")
        worker.start()
        worker.join()
        qtbot.waitUntil(lambda: reporter.open_dialog is not None)
        try:
            raise KeyError("on the GUI thread")
        except KeyError as exc:
            reporter.handle(type(exc), exc, exc.__traceback__)
        qtbot.waitUntil(lambda: reporter.suppressed == 1)
        dialog = reporter.open_dialog
        assert dialog is not None
        assert "Your conversations and models are saved" in dialog.text()
        assert "ZeroDivisionError: division by zero in a worker" in dialog.detailedText()
        log = logging_to_file.read_text(encoding="utf-8")
        assert "Unexpected error (thread worker-7)" in log
        assert "KeyError: 'on the GUI thread'" in log
        dialog.accept()
        assert reporter.open_dialog is None
    finally:
        reporter.uninstall()


# --- light and dark ----------------------------------------------------------------------------


def test_semantic_colours_and_the_banner_follow_a_dark_palette(
    qtbot: QtBot, store: ModelStore
) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    light = app.palette()
    window = open_window(qtbot, store)
    banner = window.models_page.offline_banner
    light_banner = banner.palette().color(QPalette.ColorRole.Window)
    light_bad = colors.bad()
    try:
        app.setPalette(dark_palette())
        qtbot.waitUntil(lambda: colors.is_dark())
        assert colors.bad() != light_bad
        assert colors.bad().lightness() > light_bad.lightness()
        qtbot.waitUntil(lambda: banner.palette().color(QPalette.ColorRole.Window) != light_banner)
        background = banner.palette().color(QPalette.ColorRole.Window)
        text = banner.palette().color(QPalette.ColorRole.WindowText)
        assert background.lightness() < text.lightness(), "light text on a dark banner"
    finally:
        app.setPalette(light)
    QApplication.sendEvent(banner, QEvent(QEvent.Type.PaletteChange))
    assert banner.palette().color(QPalette.ColorRole.Window) == light_banner


def test_no_style_sheet_in_the_window_hard_codes_a_colour(qtbot: QtBot, store: ModelStore) -> None:
    window = open_window(qtbot, store)
    offending = [
        f"{type(w).__name__}: {w.styleSheet()}"
        for w in window.findChildren(QWidget)
        if "#" in w.styleSheet() or "rgb(" in w.styleSheet()
    ]
    assert not offending


def test_about_names_the_version_data_folder_and_log(
    qtbot: QtBot, store: ModelStore, logging_to_file: Path
) -> None:
    window = open_window(qtbot, store)
    (about,) = [a for a in window.findChildren(QAction) if a.text() == "&About Driftless"]
    about.trigger()
    (box,) = [
        w
        for w in QApplication.topLevelWidgets()
        if isinstance(w, QMessageBox) and w.windowTitle() == "About Driftless" and w.isVisible()
    ]
    assert "Driftless 0.1.0" in box.text()
    assert str(store.paths.home) in box.text() and str(logging_to_file) in box.text()
    assert not box.iconPixmap().isNull()
