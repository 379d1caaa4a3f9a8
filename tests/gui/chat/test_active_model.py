"""Chat follows the active model: **Use** in Models decides what a new conversation runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.core.chat.conversations import ConversationStore
from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
from app.core.paths import Paths
from app.ui.active_model import ActiveModel
from app.ui.chat.page import ChatPage
from app.ui.classify.page import ClassifyPage
from tests.fake_engine import FakeEngine
from tests.gui.models.support import hub_settings, open_page
from tests.hub_server import FakeHub
from tests.model_files import tiny_model


@pytest.fixture
def conversations(paths: Paths) -> Iterator[ConversationStore]:
    store = ConversationStore(paths)
    yield store
    store.close()


def loaded_id(page: ChatPage) -> str | None:
    return page.controller.loaded.model_id if page.controller.loaded else None


def test_use_in_models_makes_a_new_conversation_answer_with_that_model(
    qtbot: QtBot,
    store: ModelStore,
    conversations: ConversationStore,
    hub_server: FakeHub,
    tmp_path: Path,
) -> None:
    starter = ensure_starter(store)
    assert starter is not None
    other = store.import_file(tiny_model(tmp_path / "Other.gguf"))
    active = ActiveModel(store)
    chat = ChatPage(store, conversations, lambda: FakeEngine(["Hi."]), active=active)
    qtbot.addWidget(chat)
    chat.show()
    qtbot.waitUntil(lambda: loaded_id(chat) == starter.id, timeout=10_000)
    chat.composer.setPlainText("Hello")
    with qtbot.waitSignal(chat.controller.reply_ended, timeout=15_000):
        qtbot.keyClick(chat.composer, Qt.Key.Key_Return)
    first = chat.current
    assert first is not None and first.model_id == starter.id

    models = open_page(qtbot, store, hub_settings(hub_server))
    models.installed.active = active  # the window hands all pages the same owner
    models.refresh()
    models.table.selectRow(models.table_model.row_of(other.id))
    with qtbot.waitSignal(active.active_model_changed) as changed:
        qtbot.mouseClick(models.use_button, Qt.MouseButton.LeftButton)
    assert changed.args == [other.id]
    # The conversation already under way keeps its model, and says so.
    assert chat.current is not None and chat.current.model_id == starter.id
    assert f"new conversations use {other.id}" in chat.state_label.text()

    conversation = chat.new_conversation()
    assert conversation.model_id == other.id
    qtbot.waitUntil(lambda: loaded_id(chat) == other.id, timeout=10_000)
    assert chat.model_combo.currentData() == other.id
    chat.shutdown()


def test_an_empty_conversation_switches_to_the_model_put_in_use(
    qtbot: QtBot, store: ModelStore, conversations: ConversationStore, tmp_path: Path
) -> None:
    starter = ensure_starter(store)
    assert starter is not None
    other = store.import_file(tiny_model(tmp_path / "Other.gguf"))
    active = ActiveModel(store)
    chat = ChatPage(store, conversations, lambda: FakeEngine(["Hi."]), active=active)
    qtbot.addWidget(chat)
    chat.show()
    empty = chat.new_conversation()
    qtbot.waitUntil(lambda: loaded_id(chat) == starter.id, timeout=10_000)
    active.use(other.id)
    qtbot.waitUntil(lambda: loaded_id(chat) == other.id, timeout=10_000)
    assert conversations.get_conversation(empty.id).model_id == other.id
    chat.shutdown()


def test_classify_follows_the_active_model(qtbot: QtBot, store: ModelStore, tmp_path: Path) -> None:
    starter = ensure_starter(store)
    assert starter is not None
    other = store.import_file(tiny_model(tmp_path / "Other.gguf"))
    active = ActiveModel(store)
    page = ClassifyPage(store, store.paths, active=active)  # hidden: it loads nothing
    qtbot.addWidget(page)
    assert page.model_combo.currentData() == starter.id
    active.use(other.id)
    assert page.model_combo.currentData() == other.id
    active.use(starter.id)
    assert page.model_combo.currentData() == starter.id
    page.shutdown()
