"""The first start: a three-line welcome naming the ready model, shown once; the whole
start-up path (``run_gui``) in smoke-test mode; screenshots of the welcome and the window.

    DRIFTLESS_SCREENSHOTS=docs/screenshots QT_QPA_PLATFORM=offscreen \\
        .venv/bin/python -m pytest tests/gui/test_first_run.py -k screenshots

writes the screenshots there (without the variable, into the test's tmp folder).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app import APP_ID
from app.core.logs import current_log_file, log_file
from app.core.models.catalog import RECOMMENDED, recommended
from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
from app.core.paths import Paths
from app.core.units import human_size
from app.ui import application, colors
from app.ui.main_window import MainWindow
from app.ui.smoke import SmokeTest
from app.ui.welcome import WelcomeDialog, welcome_lines
from tests.fake_engine import FakeEngine
from tests.model_files import tiny_model


def open_window(qtbot: QtBot, store: ModelStore, **kwargs: object) -> MainWindow:
    window = MainWindow(store, **kwargs)  # type: ignore[arg-type]
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.starter_ready, timeout=30_000):
        window.show()
    return window


def greet(qtbot: QtBot, window: MainWindow) -> WelcomeDialog:
    window.greet_first_run()
    qtbot.waitUntil(lambda: window.welcome_dialog is not None and window.welcome_dialog.isVisible())
    assert window.welcome_dialog is not None
    return window.welcome_dialog


@pytest.mark.slow
def test_first_start_welcomes_with_three_lines_naming_the_starter(
    qtbot: QtBot, store: ModelStore
) -> None:
    window = open_window(qtbot, store)
    dialog = greet(qtbot, window)
    what, private, ready = (label.text() for label in dialog.lines)
    assert "small language models on this computer" in what
    assert "Nothing you type leaves this machine" in private
    assert "SmolLM2-135M-Instruct.Q4_1" in ready and "98 MB" in ready
    assert "Models > Catalog" in ready
    assert dialog.start_button.isDefault()


@pytest.mark.slow
def test_the_welcome_is_shown_once(qtbot: QtBot, store: ModelStore) -> None:
    first = open_window(qtbot, store)
    qtbot.mouseClick(greet(qtbot, first).start_button, Qt.MouseButton.LeftButton)
    assert first.welcome_dialog is None
    first.close()

    second = open_window(qtbot, store)
    second.greet_first_run()
    assert second.welcome_dialog is None, "a second start must not welcome again"
    assert second.show_welcome().isVisible(), "Help > Welcome still shows it"


@pytest.mark.slow
def test_welcome_waits_for_the_starter_check(qtbot: QtBot, store: ModelStore) -> None:
    window = MainWindow(store)
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.starter_ready, timeout=30_000):
        window.greet_first_run()  # before the starter is registered: it must wait
        assert window.welcome_dialog is None
    qtbot.waitUntil(lambda: window.welcome_dialog is not None)
    assert window.welcome_dialog is not None
    assert "SmolLM2" in window.welcome_dialog.lines[2].text()


@pytest.mark.slow
def test_welcome_button_opens_the_catalog(qtbot: QtBot, store: ModelStore) -> None:
    window = open_window(qtbot, store)
    dialog = greet(qtbot, window)
    qtbot.mouseClick(dialog.catalog_button, Qt.MouseButton.LeftButton)
    assert window.pages.currentWidget() is window.models_page
    assert window.models_page.tabs.currentWidget() is window.models_page.catalog


def test_the_welcome_has_no_blank_band_above_its_buttons(qtbot: QtBot) -> None:
    dialog = WelcomeDialog(None)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    last_line = dialog.lines[-1]
    text_bottom = last_line.mapTo(dialog, last_line.rect().bottomLeft()).y()
    buttons_top = dialog.buttons.mapTo(dialog, dialog.buttons.rect().topLeft()).y()
    assert 0 <= buttons_top - text_bottom <= 24, (text_bottom, buttons_top)


def test_the_welcomes_check_box_is_not_clipped(qtbot: QtBot) -> None:
    dialog = WelcomeDialog(None, offer_check=True)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    box = dialog.record_check
    assert box.isVisible() and box.sizeHint().width() <= box.width()


def test_the_welcome_says_what_the_starter_is_for_and_which_model_to_get(
    qtbot: QtBot, store: ModelStore, tmp_path: Path
) -> None:
    starter = ensure_starter(store)
    assert starter is not None
    pick = recommended()
    assert pick is not None, f"{RECOMMENDED} is not in the catalog"
    ready = welcome_lines(starter)[2]
    assert "SmolLM2-135M-Instruct.Q4_1 (98 MB)" in ready
    assert "for trying Driftless out" in ready and "get sentiment wrong sometimes" in ready
    assert f"get {pick.name} (about {human_size(pick.size)}) in Models > Catalog" in ready
    other = store.import_file(tiny_model(tmp_path / "Other.gguf"))
    assert "trying Driftless out" not in welcome_lines(other)[2]  # said of the starter only

    dialog = WelcomeDialog(starter, offer_check=True)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    last_line = dialog.lines[-1]
    assert last_line.height() >= last_line.heightForWidth(last_line.width())  # not cut
    out = Path(os.environ.get("DRIFTLESS_SCREENSHOTS") or tmp_path / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    assert dialog.grab().save(str(out / "welcome-starter-note.png"))


def test_welcome_without_a_model_says_where_to_get_one() -> None:
    ready = welcome_lines(None)[2]
    assert "No model is installed yet" in ready and "Models > Catalog" in ready


@pytest.mark.slow
def test_run_gui_smoke_test_starts_loads_generates_and_exits_0(
    qtbot: QtBot, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start-up path the packaged app takes, in-process, on the real starter model."""
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    code = application.run_gui([], smoke_test=True)
    printed = out.getvalue()
    assert code == 0, printed
    assert "smoke: welcome dialog shown" in printed
    assert "smoke: loaded smollm2-135m-instruct-q4_1" in printed
    reply = next(line for line in printed.splitlines() if line.startswith("smoke: reply: "))
    assert len(reply.removeprefix("smoke: reply: ").split()) >= 1
    assert "smoke: probe: a child process loaded the model in " in printed
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    assert app.desktopFileName() == APP_ID
    assert not app.windowIcon().isNull()
    log = log_file(paths).read_text(encoding="utf-8")
    assert "Driftless 0.1.0 started" in log and "closed (exit status 0)" in log
    assert current_log_file() is None, "run_gui closes its log file when it ends"


def test_smoke_test_fails_with_the_step_when_the_model_does_not_load(
    qtbot: QtBot, store: ModelStore
) -> None:
    from app.core.errors import ModelLoadError

    engine = FakeEngine(fail_on_load=ModelLoadError("The file is not a model."))
    window = open_window(qtbot, store, engine_factory=lambda: engine)
    out = io.StringIO()
    smoke = SmokeTest(window, out=out, timeout=30)
    with qtbot.waitSignal(smoke.finished, timeout=10_000) as ended:
        smoke.start()
    assert ended.args == [1]
    assert "FAILED while loading smollm2-135m-instruct-q4_1: The file is not a model." in (
        out.getvalue()
    )


def dark_palette() -> QPalette:
    """What a desktop in dark mode hands Qt (the offscreen platform cannot be asked)."""
    palette = QPalette(QColor("#3a3a3a"), QColor("#2b2b2b"))
    for role, color in {
        QPalette.ColorRole.WindowText: "#e8e8e8",
        QPalette.ColorRole.Text: "#e8e8e8",
        QPalette.ColorRole.ButtonText: "#e8e8e8",
        QPalette.ColorRole.Base: "#1f1f1f",
        QPalette.ColorRole.AlternateBase: "#262626",
        QPalette.ColorRole.ToolTipBase: "#1f1f1f",
        QPalette.ColorRole.ToolTipText: "#e8e8e8",
        QPalette.ColorRole.PlaceholderText: "#9a9a9a",
        QPalette.ColorRole.Highlight: "#3d7fd6",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: "#7db8ff",
    }.items():
        palette.setColor(role, QColor(color))
    disabled = QPalette.ColorGroup.Disabled
    for role in (
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
    ):
        palette.setColor(disabled, role, QColor("#777777"))
    return palette


def test_screenshots(qtbot: QtBot, store: ModelStore, tmp_path: Path) -> None:
    out = Path(os.environ.get("DRIFTLESS_SCREENSHOTS") or tmp_path / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    engine = FakeEngine(
        ["Hello! I run on this computer, so nothing you type leaves it."], token_delay=0.04
    )
    window = open_window(qtbot, store, engine_factory=lambda: engine)
    window.resize(960, 600)
    dialog = greet(qtbot, window)
    image = dialog.grab().toImage()
    assert image.width() >= 520
    assert image.save(str(out / "welcome.png"))
    dialog.accept()
    page = window.chat_page
    qtbot.waitUntil(lambda: page.controller.loaded is not None, timeout=10_000)
    page.composer.setPlainText("What are you?")
    with qtbot.waitSignal(page.controller.reply_ended, timeout=10_000):
        page.send()
    qtbot.waitUntil(lambda: not window.progress.isVisible())
    assert window.grab().toImage().save(str(out / "chat-light.png"))

    app = QApplication.instance()
    assert isinstance(app, QApplication)
    light = app.palette()
    try:
        app.setPalette(dark_palette())
        qtbot.waitUntil(lambda: colors.is_dark(window.palette()))
        window.show_page("Models")
        queue = window.models_page.queue
        queue.set_settings(queue.settings.with_changes(offline=True))  # shows the banner
        assert window.grab().toImage().save(str(out / "models-dark.png"))
        window.show_page("Chat")
        assert window.grab().toImage().save(str(out / "chat-dark.png"))
    finally:
        app.setPalette(light)


@pytest.mark.slow
def test_first_start_records_a_check_set_for_the_starter(
    qtbot: QtBot, store: ModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.core.drift import CheckSetLibrary
    from app.core.drift.starter import NAME, starter_model
    from app.ui import main_window
    from app.ui.models.table import Column

    monkeypatch.setattr(main_window, "OFFER_STARTER_CHECK", True)
    window = open_window(qtbot, store)
    dialog = greet(qtbot, window)
    assert dialog.record_check.isVisible() and dialog.record_check.isChecked()
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert window.check_task is not None, "recording runs in the background"
    assert "checks" in window.progress.jobs
    library = CheckSetLibrary.for_paths(store.paths)
    qtbot.waitUntil(lambda: window.check_task is None, timeout=300_000)
    assert library.names() == [NAME], window.models_page.status.text()
    check_set = library.load(NAME)
    starter = starter_model(store)
    assert starter is not None and check_set.recording is not None
    assert check_set.recording.environment.get("lock_id") == starter.lock_id
    assert len(check_set.recording.prompts) == 5 and len(check_set.recording.labels) == 6
    table = window.models_page.table_model
    cell = table.index(table.row_of(starter.id), Column.BEHAVIOUR).data()
    assert cell == "Recorded"
    line = table.index(table.row_of(starter.id), Column.BEHAVIOUR).data(Qt.ItemDataRole.ToolTipRole)
    assert "starter-basics" in line
    assert "checks" not in window.progress.jobs

    window.close()
    second = open_window(qtbot, store)
    assert second.record_starter_check() is None, "recorded once"
    assert not second.show_welcome().record_check.isVisible()
