"""Chat's "Answer from": the conversation keeps the collections it answers from, the
prompt gets their passages, the reply lists its Sources and keeps which collection
version and passages it used, and a source opens its passage highlighted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.core.chat.conversations import ConversationStore
from app.core.models.store import ModelStore
from app.core.paths import Paths
from app.ui.chat.page import ChatPage
from app.ui.doc_access import DocsAccess
from tests.fake_engine import FakeEngine
from tests.gui.docs.shots import shot


@pytest.fixture
def conversations(paths: Paths) -> Iterator[ConversationStore]:
    made = ConversationStore(paths)
    yield made
    made.close()


@pytest.fixture
def indexed(docs: DocsAccess, folder: Path) -> str:
    docs.library.add("help", [folder], docs.open_embedder)
    return "help"


def open_page(
    qtbot: QtBot,
    store: ModelStore,
    conversations: ConversationStore,
    docs: DocsAccess,
    fake: FakeEngine,
) -> ChatPage:
    page = ChatPage(store, conversations, lambda: fake, docs=docs)
    qtbot.addWidget(page)
    page.resize(800, 600)
    page.show()
    qtbot.waitUntil(lambda: page.controller.loaded is not None, timeout=10_000)
    return page


def choose(page: ChatPage, name: str) -> None:
    """Tick ``name`` in the Answer from menu, as a click would."""
    page.answer_from_button.fill_menu()
    (action,) = [a for a in page.answer_from_button.menu_.actions() if a.text() == name]
    action.trigger()


def test_answer_from_puts_passages_in_the_prompt_and_lists_sources_under_the_reply(
    qtbot: QtBot,
    store: ModelStore,
    conversations: ConversationStore,
    docs: DocsAccess,
    indexed: str,
) -> None:
    fake = FakeEngine(["A refund is paid within 14 days [1]."])
    page = open_page(qtbot, store, conversations, docs, fake)
    try:
        assert page.answer_from_button.text() == "Answer from: the model alone"
        choose(page, "help")
        assert page.answer_from_button.text() == "Answer from: help"
        conversation = page.current
        assert conversation is not None and conversation.params["docs"] == ["help"]

        page.composer.setPlainText("How are refunds paid?")
        with qtbot.waitSignal(page.controller.reply_ended, timeout=10_000):
            page.send()
        system = fake.requests[0].messages[0]
        assert system.role == "system"
        assert "[1] refunds.md, line 1" in system.content
        assert "Cite each passage" in system.content
        assert "Answering from 3 of the 3 passages found in help" in page.state_label.toolTip()

        bubble = page.transcript.bubbles[-1]
        qtbot.waitUntil(lambda: bubble.sources.isVisible(), timeout=5_000)
        assert "Sources" in bubble.sources.text()
        listed = bubble.sources.text()
        assert '<b>[1] <a href="source:0">refunds.md, line 1</a> · cited</b>' in listed
        assert '<br>[2] <a href="source:1">' in listed, "given to the model, not cited"
        message = conversations.get_thread(conversation.id)[-1]
        record = message.params["docs"] if message.params else {}
        info = docs.library.get("help")
        assert record["collections"] == [
            {
                "name": "help",
                "version": info.version,
                "updated_at": info.updated_at,
                "embedder": info.embedder.lock_id,
                "embedder_sha256": info.embedder.sha256,
            }
        ]
        first = record["passages"][0]
        assert first["number"] == 1 and first["source"].endswith("refunds.md")
        assert "within 14 days" in first["text"]
        shot(page, "chat-sources")

        with qtbot.waitSignal(page.transcript.source_requested, timeout=2_000):
            bubble.sources.linkActivated.emit("source:0")
        dialog = page.passage_dialog
        assert dialog is not None
        qtbot.waitUntil(lambda: dialog.shown is not None, timeout=5_000)
        assert dialog.highlighted == first["text"]
        shot(dialog, "chat-source-opened")
        dialog.close()

        # Kept with the conversation: a new one answers from the model alone, the old one
        # from help again when it is opened.
        page.new_conversation()
        assert page.answer_from_button.text() == "Answer from: the model alone"
        page.open_conversation(conversation.id)
        assert page.answer_from_button.text() == "Answer from: help"
        # Reopened, the saved reply still lists its sources.
        reopened = page.transcript.bubbles[-1]
        assert reopened.role == "assistant", [b.role for b in page.transcript.bubbles]
        assert reopened.source_refs, reopened.sources.text()
        qtbot.waitUntil(lambda: reopened.sources.isVisible(), timeout=5_000)
    finally:
        page.shutdown()


def test_without_answer_from_the_prompt_has_no_passages_and_the_reply_no_sources(
    qtbot: QtBot,
    store: ModelStore,
    conversations: ConversationStore,
    docs: DocsAccess,
    indexed: str,
) -> None:
    fake = FakeEngine(["Hello."])
    page = open_page(qtbot, store, conversations, docs, fake)
    try:
        page.composer.setPlainText("How are refunds paid?")
        with qtbot.waitSignal(page.controller.reply_ended, timeout=10_000):
            page.send()
        assert all(m.role != "system" for m in fake.requests[0].messages)
        assert not page.transcript.bubbles[-1].sources.isVisibleTo(page)
    finally:
        page.shutdown()


def test_a_removed_collection_fails_the_reply_in_a_sentence(
    qtbot: QtBot,
    store: ModelStore,
    conversations: ConversationStore,
    docs: DocsAccess,
    indexed: str,
) -> None:
    fake = FakeEngine(["Hello."])
    page = open_page(qtbot, store, conversations, docs, fake)
    try:
        choose(page, "help")
        docs.library.remove("help")
        page.answer_from_button.fill_menu()
        texts = [a.text() for a in page.answer_from_button.menu_.actions()]
        assert "help (removed)" in texts
        page.composer.setPlainText("How are refunds paid?")
        with qtbot.waitSignal(page.controller.reply_ended, timeout=10_000):
            page.send()
        assert not fake.requests
        assert "The reply failed:" in page.state_label.toolTip()
        assert "help" in page.state_label.toolTip()
    finally:
        page.shutdown()
