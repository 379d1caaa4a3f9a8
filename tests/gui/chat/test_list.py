"""Small manners: the list tells conversations apart, an empty search says so, Copy says it
copied."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot

from app.core.chat.conversations import ConversationStore
from app.ui.chat.conversation_list import ConversationListModel
from app.ui.chat.page import ChatPage
from tests.gui.chat.helpers import send


def test_two_conversations_with_one_title_show_when_each_was_used(
    conversations: ConversationStore,
) -> None:
    first = conversations.create_conversation(title="Weekly report")
    second = conversations.create_conversation(title="Weekly report")
    other = conversations.create_conversation(title="Holidays")
    model = ConversationListModel()
    model.set_conversations([second, first, other])
    shown = [model.data(model.index(row)) for row in range(3)]
    assert shown[0].startswith("Weekly report · ") and shown[1].startswith("Weekly report · ")
    assert shown[2] == "Holidays"
    # Renaming starts from the title alone.
    assert model.data(model.index(0), 2) == "Weekly report"  # EditRole


def test_an_empty_search_says_so(qtbot: QtBot, make_page: Callable[..., ChatPage]) -> None:
    page = make_page()
    page.search_box.setText("zebra crossing")
    qtbot.waitUntil(lambda: page.no_match_label.isVisible(), timeout=5000)
    assert page.no_match_label.text() == "No conversation mentions “zebra crossing”."
    assert page.list_model.rowCount() == 0
    # In the list's place, drawn by the shared empty state.
    sidebar = page.sidebar
    assert sidebar.list_stack.state == "empty" and not sidebar.list_view.isVisible()
    assert page.no_match_label is sidebar.list_stack.empty.label
    page.search_box.clear()
    assert not page.no_match_label.isVisible()
    assert sidebar.list_stack.state == "content" and sidebar.list_view.isVisible()


def test_copy_says_it_copied(qtbot: QtBot, make_page: Callable[..., ChatPage]) -> None:
    page = make_page()
    send(qtbot, page, "Hi")
    bubble = page.transcript.bubbles[-1]
    bubble.copy_button.click()
    assert QGuiApplication.clipboard().text() == "Hello! How can I help?"
    assert bubble.copy_button.text() == "Copied"
    qtbot.waitUntil(lambda: bubble.copy_button.text() == "Copy", timeout=5000)
