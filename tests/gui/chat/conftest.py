"""Fixtures shared by the chat page's tests: a conversation store and a page on a fake engine."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pytestqt.qtbot import QtBot

from app.core.chat.conversations import ConversationStore
from app.core.chat.protocols import ChatEngine
from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
from app.core.paths import Paths
from app.ui.chat.page import ChatPage
from tests.fake_engine import FakeEngine


@pytest.fixture
def conversations(paths: Paths) -> Iterator[ConversationStore]:
    store = ConversationStore(paths)
    yield store
    store.close()


@pytest.fixture
def make_page(
    qtbot: QtBot, store: ModelStore, conversations: ConversationStore
) -> Iterator[Callable[..., ChatPage]]:
    ensure_starter(store)
    pages: list[ChatPage] = []

    def make(engine: ChatEngine | None = None) -> ChatPage:
        engine = engine or FakeEngine(["Hello! How can I help?", "Second answer."])
        page = ChatPage(store, conversations, lambda: engine)
        qtbot.addWidget(page)
        pages.append(page)
        page.resize(900, 600)
        page.show()
        qtbot.waitUntil(
            lambda: (
                page.controller.loaded is not None or "not be loaded" in page.state_label.text()
            ),
            timeout=10_000,
        )
        return page

    yield make
    for page in pages:
        page.shutdown()
