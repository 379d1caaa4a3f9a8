"""The window flow on the real starter model: a collection made on the Documents page with
the starter as its pinned embedder, searched, and answered from in Chat with sources."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.core.chat.conversations import ConversationStore
from app.core.chat.engine import Engine
from app.core.chat.sampling import DEFAULT_PRESET, PRESETS
from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
from app.core.paths import Paths
from app.ui.chat.page import ChatPage
from app.ui.doc_access import DocsAccess
from app.ui.docs.page import DocsPage
from tests.gui.docs.conftest import make_folder
from tests.gui.docs.shots import shot
from tests.gui.docs.test_page import answer_new


@pytest.mark.slow
def test_the_starter_indexes_searches_and_answers_with_sources(
    qtbot: QtBot,
    store: ModelStore,
    paths: Paths,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    starter = ensure_starter(store)
    assert starter is not None
    folder = make_folder(tmp_path / "help")
    docs = DocsAccess(store)  # the real embedders: installed models, leased from the host
    conversations = ConversationStore(paths)
    page = DocsPage(store, docs)
    qtbot.addWidget(page)
    page.resize(640, 520)
    page.show()
    chat: ChatPage | None = None
    try:
        answer_new(monkeypatch, "help", [folder])
        with qtbot.waitSignal(page.controller.index_finished, timeout=120_000):
            page.new_collection()
        info = page.current
        assert info is not None and info.files == 3
        assert info.embedder.sha256 == starter.sha256, "pinned to the starter's weights"
        page.search_box.setText("how long does a refund take")
        with qtbot.waitSignal(page.controller.searched, timeout=60_000):
            page.search()
        assert page.hits_view.hits, page.status_label.text()
        assert page.status_label.text() == "", "searched with vectors, not keywords alone"
        assert Path(page.hits_view.hits[0].source).name == "refunds.md"
        shot(page, "docs-real-results")

        chat = ChatPage(store, conversations, lambda: Engine(store, n_threads=2), docs=docs)
        qtbot.addWidget(chat)
        chat.resize(800, 600)
        chat.show()
        qtbot.waitUntil(
            lambda: chat is not None and chat.controller.loaded is not None, timeout=30_000
        )
        chat.new_conversation()
        chat.state.set_answer_from(["help"])
        chat.state.set_params(PRESETS[DEFAULT_PRESET].replace(max_tokens=24))  # a busy machine
        chat.composer.setPlainText("How many days until a refund is paid?")
        with qtbot.waitSignal(chat.controller.reply_ended, timeout=300_000):
            chat.send()
        reply = conversations.get_thread(chat.current.id)[-1]  # type: ignore[union-attr]
        assert reply.status == "complete" and reply.content.strip()
        assert "docs" in reply.params and "temperature" in reply.params  # type: ignore[operator]
        record = (reply.params or {})["docs"]
        assert record["collections"][0]["embedder_sha256"] == starter.sha256
        sources = [Path(p["source"]).name for p in record["passages"]]
        assert "refunds.md" in sources
        bubble = chat.transcript.bubbles[-1]
        qtbot.waitUntil(lambda: bubble.sources.isVisible(), timeout=5_000)
        assert "refunds.md" in bubble.sources.text()
        shot(chat, "chat-real-sources")
    finally:
        if chat is not None:
            chat.shutdown()
        page.shutdown()
        docs.close()
        conversations.close()
