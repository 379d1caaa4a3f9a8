"""The Documents page and Chat's "Answer from" fit a narrow window (800 px for the whole
window, less the page list), whatever the collections are called."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.core.chat.conversations import ConversationStore
from app.core.models.store import ModelStore
from app.ui.chat.page import ChatPage
from app.ui.doc_access import DocsAccess
from app.ui.docs.page import DocsPage
from tests.fake_engine import FakeEngine
from tests.gui.docs.shots import shot

PAGE_ROOM = 800 - 150 - 30
"""An 800 px window less its page list and margins."""
LONG = "customer-service-articles-and-refund-policies-2026-edition"


def test_the_documents_page_fits_a_narrow_window(
    qtbot: QtBot,
    make_page: Callable[[], DocsPage],
    docs: DocsAccess,
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deep = folder / ("a-rather-long-folder-name-" * 4).strip("-")
    deep.mkdir()
    (deep / "notes.txt").write_text("Refunds for gift cards are never paid out in cash.")
    docs.library.add(LONG, [folder, deep], docs.open_embedder)
    page = make_page()
    page.refresh(select=LONG)
    assert page.minimumSizeHint().width() <= PAGE_ROOM
    page.resize(PAGE_ROOM, 480)
    page.search_box.setText("gift card refunds")
    with qtbot.waitSignal(page.controller.searched, timeout=10_000):
        page.search()
    shot(page, "docs-narrow")
    assert page.hits_view.horizontalScrollBar().maximum() == 0, "hits wrap, never scroll sideways"


def test_answer_from_with_long_names_does_not_widen_the_chat_page(
    qtbot: QtBot,
    store: ModelStore,
    paths,
    docs: DocsAccess,
    folder: Path,  # type: ignore[no-untyped-def]
) -> None:
    conversations = ConversationStore(paths)
    page = ChatPage(store, conversations, lambda: FakeEngine(), docs=docs)
    qtbot.addWidget(page)
    try:
        before = page.minimumSizeHint().width()
        page.new_conversation()
        page.state.set_answer_from([LONG, LONG + "-2", LONG + "-3"])
        page.answer_from_button.set_chosen(page.state.answer_from)
        assert page.minimumSizeHint().width() <= max(before, PAGE_ROOM)
        assert page.answer_from_button.toolTip().endswith(LONG + "-3")
    finally:
        page.shutdown()
        conversations.close()
