"""Issue 13: typing at start goes to the message box, focus is visible, Ctrl+F searches, and the
File menu has New conversation, Import and Export as well as Quit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.core.chat.conversations import ConversationStore
from app.core.models.store import ModelStore
from app.ui.main_window import MainWindow
from tests.fake_engine import FakeEngine
from tests.gui.chat.helpers import send, texts


@pytest.fixture
def window(
    qtbot: QtBot, store: ModelStore, conversations: ConversationStore
) -> Iterator[MainWindow]:
    engine = FakeEngine(["Hello! How can I help?", "Second answer."])
    window = MainWindow(store, conversations=conversations, engine_factory=lambda: engine)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.starter_ready, timeout=30_000):
        window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.waitUntil(lambda: window.chat_page.controller.loaded is not None, timeout=10_000)
    yield window


def activate(qtbot: QtBot, window: MainWindow) -> None:
    """Offscreen, a window loses activation when a reply starts (it does on main too)."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)


def test_typing_at_start_goes_to_the_message_box(qtbot: QtBot, window: MainWindow) -> None:
    page = window.chat_page
    assert QApplication.focusWidget() is page.composer
    qtbot.keyClicks(QApplication.focusWidget(), "Hi")
    assert page.composer.toPlainText() == "Hi"


def test_after_the_welcome_the_message_box_has_the_focus(qtbot: QtBot, window: MainWindow) -> None:
    window.nav.setFocus()
    dialog = window.show_welcome()
    with qtbot.waitSignal(dialog.finished):
        dialog.accept()
    assert window.focusWidget() is window.chat_page.composer


def test_ctrl_1_goes_to_the_message_box(qtbot: QtBot, window: MainWindow) -> None:
    window.show_page("Models")
    qtbot.keyClick(window, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert window.pages.currentWidget() is window.chat_page
    assert QApplication.focusWidget() is window.chat_page.composer


def test_ctrl_f_goes_to_the_conversation_search(qtbot: QtBot, window: MainWindow) -> None:
    page = window.chat_page
    page.search_box.setText("old words")
    qtbot.keyClick(page.composer, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.focusWidget() is page.search_box
    assert page.search_box.selectedText() == "old words", "typing replaces the last search"


def test_the_file_menu_has_new_import_export_the_api_and_quit(window: MainWindow) -> None:
    (file_menu,) = [a.menu() for a in window.menuBar().actions() if a.text() == "&File"]
    names = [a.text() for a in file_menu.actions() if not a.isSeparator()]
    assert names == [
        "&New conversation",
        "&Import conversation…",
        "Export as &Markdown…",
        "Export as &JSON (with provenance)…",
        "Local &API server…",
        "&Quit",
    ]


def test_new_conversation_from_another_page_shows_the_chat(
    qtbot: QtBot, window: MainWindow, conversations: ConversationStore
) -> None:
    send(qtbot, window.chat_page, "First")
    activate(qtbot, window)
    window.show_page("Models")
    qtbot.keyClick(window, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert window.pages.currentWidget() is window.chat_page
    assert len(conversations.list_conversations()) == 2
    assert texts(window.chat_page) == []
    assert QApplication.focusWidget() is window.chat_page.composer


def test_export_then_import_from_the_file_menu(
    qtbot: QtBot, window: MainWindow, conversations: ConversationStore, tmp_path: Path
) -> None:
    page = window.chat_page
    send(qtbot, page, "Keep this")
    target = tmp_path / "chat.json"
    page.transfer.choose_export_path = lambda suffix: target  # type: ignore[method-assign]
    page.export_json_action.trigger()
    assert target.exists()
    page.transfer.choose_import_path = lambda: target  # type: ignore[method-assign]
    page.import_action.trigger()
    assert len(conversations.list_conversations()) == 2
    assert page.current is not None and page.current.id == conversations.list_conversations()[0].id
    assert texts(page) == [("user", "Keep this"), ("assistant", "Hello! How can I help?")]
    assert "Imported" in page.state_label.text()

    target.write_text("{}")
    page.import_action.trigger()
    assert "Could not import" in page.state_label.text()
    assert len(conversations.list_conversations()) == 2


def test_keyboard_focus_on_a_button_is_visible(qtbot: QtBot, window: MainWindow) -> None:
    page = window.chat_page
    send(qtbot, page, "Hi")
    activate(qtbot, window)
    ring = window.focus_ring
    page.composer.setFocus()
    qtbot.keyClick(page.composer, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is page.send_button
    assert ring.isVisible() and ring.target is page.send_button
    button = page.send_button
    top_left = button.mapTo(window, QPoint(0, 0))
    assert ring.geometry().contains(button.rect().translated(top_left))
    before = window.grab(ring.geometry()).toImage()
    ring.hide()
    assert window.grab(ring.geometry()).toImage() != before, "the ring is drawn"
    ring.show()

    copy = page.transcript.bubbles[-1].copy_button  # a flat button: the style draws no focus
    copy.setFocus(Qt.FocusReason.TabFocusReason)
    assert ring.target is copy and ring.isVisible()
    qtbot.mousePress(page.system_button, Qt.MouseButton.LeftButton)
    assert QApplication.focusWidget() is page.system_button
    assert not ring.isVisible(), "a click needs no ring"
    qtbot.mouseRelease(page.system_button, Qt.MouseButton.LeftButton, pos=QPoint(-5, -5))


def test_the_ring_follows_a_scroll_and_lets_go_of_a_deleted_control(qtbot: QtBot) -> None:
    from PySide6.QtWidgets import QPushButton, QScrollArea, QVBoxLayout, QWidget

    from app.ui.focus_ring import FocusRing

    window = QWidget()
    qtbot.addWidget(window)
    area = QScrollArea(window)
    area.setGeometry(0, 0, 200, 150)
    content = QWidget()
    column = QVBoxLayout(content)
    buttons = [QPushButton(f"Button {n}") for n in range(20)]
    for button in buttons:
        column.addWidget(button)
    area.setWidget(content)
    ring = FocusRing(window)
    window.resize(200, 150)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    buttons[2].setFocus(Qt.FocusReason.TabFocusReason)
    assert ring.target is buttons[2] and ring.isVisible()
    top = ring.y()
    area.verticalScrollBar().setValue(10)
    qtbot.waitUntil(lambda: ring.y() == top - 10)
    buttons[2].deleteLater()
    qtbot.waitUntil(lambda: ring.target is not buttons[2] or not ring.isVisible())
    buttons[5].setFocus(Qt.FocusReason.TabFocusReason)
    assert ring.target is buttons[5]
