"""At 800x600 every page, tab and main dialog fits: nothing outside its parent, squeezed
below its minimum, or cut mid-word (issue 25: the window's minimum was 1,055 px)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QApplication, QDialog, QWidget
from pytestqt.qtbot import QtBot

from app.core.models.store import ModelStore
from app.ui.main_window import MainWindow
from tests.gui.classify.test_matrix import world_scores
from tests.gui.fit import clipped
from tests.gui.test_desktop_manners import open_window

SIZE = (800, 600)


@pytest.fixture(autouse=True)
def no_classifier(monkeypatch: pytest.MonkeyPatch) -> None:
    """Showing Classify loads its model: not needed to measure the page."""
    from app.ui.classify.controller import ClassifyController

    monkeypatch.setattr(ClassifyController, "open_model", lambda *args, **kwargs: None)


def settle() -> None:
    for _ in range(5):
        QApplication.processEvents()


def every_page(window: MainWindow) -> Iterator[str]:
    """Shows each page and each of its tabs in turn; yields what is shown."""
    for name in window.PAGES:
        window.show_page(name)
        page = window.pages.currentWidget()
        tabs = getattr(page, "tabs", None)
        for index in range(tabs.count() if tabs is not None else 1):
            if tabs is not None:
                tabs.setCurrentIndex(index)
            settle()
            yield f"{name} > {tabs.tabText(index)}" if tabs is not None else name


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_fits_800_by_600(qtbot: QtBot, store: ModelStore, scheme: str) -> None:
    from app.ui import theme

    installed = theme.installed()
    assert installed is not None
    before = installed.scheme
    installed.apply(scheme)
    try:
        window = open_window(qtbot, store)
        assert window.minimumSizeHint().width() <= SIZE[0]
        window.resize(*SIZE)
        settle()
        assert (window.width(), window.height()) == SIZE
        assert window.nav.compact, "a narrow window shows the rail's icons only"
        problems = []
        for shown in every_page(window):
            problems += [f"{shown}: {p}" for p in clipped(window)]
        assert not problems, "\n".join(problems)
    finally:
        installed.apply(before)
        installed.forced = None


def main_dialogs(window: MainWindow) -> Iterator[tuple[str, QDialog]]:
    from app.ui.chat.dialogs import SamplingDialog, SystemPromptDialog
    from app.ui.classify.options import OptionsDialog
    from app.ui.models.settings_dialog import SettingsDialog

    yield "Welcome", window.show_welcome()
    yield "Keyboard shortcuts", window.show_shortcuts()
    yield "Local API server", window.show_api()
    from app.core.chat.sampling import DEFAULT_PRESET, preset

    yield "Sampling", SamplingDialog(preset(DEFAULT_PRESET), window)
    yield "System prompt", SystemPromptDialog("You are a helpful assistant.", window)
    yield "Classify options", OptionsDialog(window.classify_page.scoring, window)
    settings = window.download_queue.settings
    yield "Models settings", SettingsDialog(settings, window.store.paths.models_dir, window)


def test_every_main_dialog_fits_and_opens_smaller_than_800_by_600(
    qtbot: QtBot, store: ModelStore
) -> None:
    window = open_window(qtbot, store)
    window.resize(*SIZE)
    problems = []
    for name, dialog in main_dialogs(window):
        dialog.show()
        settle()
        if dialog.minimumSizeHint().width() > SIZE[0]:
            problems.append(f"{name}: at least {dialog.minimumSizeHint().width()} px wide")
        problems += [f"{name}: {p}" for p in clipped(dialog)]
        dialog.close()
    assert not problems, "\n".join(problems)


def tab_chain(start: QWidget, limit: int = 200) -> list[QWidget]:
    """The widgets Tab visits from ``start`` (focusNextChild), once round."""
    seen: list[QWidget] = []
    current = start
    for _ in range(limit):
        seen.append(current)
        current = current.nextInFocusChain()
        while not (
            current.isVisible()
            and current.isEnabled()
            and current.focusPolicy() & current.focusPolicy().TabFocus
            and current.focusProxy() is None  # a tab widget hands its focus to its tab bar
        ):
            current = current.nextInFocusChain()
        if current is start:
            break
    return seen


def test_classify_tabs_from_its_choices_to_its_results(qtbot: QtBot, store: ModelStore) -> None:
    window = open_window(qtbot, store)
    window.show_page("Classify")
    page = window.classify_page
    page.tabs.setCurrentWidget(page.eval_tab)
    page.eval_tab.results_stack.show_content()  # as after an evaluation (before: its empty state)
    matrix = page.eval_tab.matrix
    matrix.set_scores(world_scores())  # the zoom buttons are enabled with a matrix
    settle()
    chain = tab_chain(window.nav)
    model = chain.index(page.model_combo)
    zoom = [chain.index(b) for b in (matrix.zoom_out_button, matrix.zoom_in_button) if b in chain]
    assert chain.index(window.nav) < model
    assert len(zoom) == 2, "Tab reaches the zoom buttons"
    assert all(model < z for z in zoom), "Model comes before the matrix's zoom buttons"
    order = [page.model_combo, page.label_set_combo, page.method_combo, page.tabs.tabBar()]
    positions = [chain.index(w) for w in order]
    assert positions == sorted(positions)


def test_tab_reaches_every_control_on_every_page_and_its_focus_shows(
    qtbot: QtBot, store: ModelStore
) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QAbstractSpinBox, QLineEdit

    from app.ui.focus_ring import rings

    window = open_window(qtbot, store)
    window.resize(*SIZE)
    unmarked, missed = [], []
    for shown in every_page(window):
        chain = tab_chain(window.nav)
        page = window.pages.currentWidget()
        focusable = [
            w
            for w in page.findChildren(QWidget)
            if w.isVisible()
            and w.isEnabled()
            and w.focusPolicy() & Qt.FocusPolicy.TabFocus
            and w.focusProxy() is None
        ]
        missed += [
            f"{shown}: {type(w).__name__} {w.accessibleName()!r}"
            for w in focusable
            if w not in chain
        ]
        for widget in chain:
            own = isinstance(widget, QLineEdit | QAbstractSpinBox) or widget.property(
                "drawsOwnFocus"
            )
            if not (own or rings(widget)):
                unmarked.append(f"{shown}: {type(widget).__name__} {widget.accessibleName()!r}")
    assert not missed, "Tab never reaches:\n" + "\n".join(missed)
    assert not unmarked, "focus not shown on:\n" + "\n".join(sorted(set(unmarked)))


def test_the_ring_follows_the_keyboard_on_a_list(qtbot: QtBot, store: ModelStore) -> None:
    from PySide6.QtCore import Qt

    window = open_window(qtbot, store)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    listed = window.chat_page.list_view
    listed.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(lambda: window.focus_ring.target is listed)
    assert window.focus_ring.isVisible()


def test_the_check_finds_what_is_cut(qtbot: QtBot) -> None:
    from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton

    box = QWidget()
    qtbot.addWidget(box)
    row = QHBoxLayout(box)
    row.addWidget(QPushButton("A button with a long label"))
    row.addWidget(QLabel("And a label that will not fit either"))
    box.setMinimumSize(10, 10)
    box.show()
    box.resize(120, 40)
    for child in box.findChildren(QWidget):
        child.setMinimumSize(1, 1)  # let the layout squeeze them, as a too-small window does
    settle()
    found = clipped(box)
    assert any("QPushButton" in p for p in found)
    assert any("QLabel" in p for p in found)
