"""The chat page: send, stream, stop, regenerate, edit, conversations, context choices."""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot

from app.core.chat.conversations import ConversationStore
from app.core.chat.protocols import ChatEngine
from app.core.errors import ModelLoadError
from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
from app.core.runtime.template import ChatMessage
from app.ui.chat.conversation_list import ConversationListModel
from app.ui.chat.dialogs import ContextChoice, ContextChoiceDialog
from app.ui.chat.page import ChatPage
from tests.fake_engine import FakeEngine
from tests.gui.chat.helpers import send, texts


def escape(page: ChatPage) -> None:
    """Press Esc: fire the page's Esc shortcut (offscreen windows are never active)."""
    (shortcut,) = [
        s for s in page.findChildren(QShortcut) if s.key() == QKeySequence(Qt.Key.Key_Escape)
    ]
    shortcut.activated.emit()


def test_send_streams_a_reply_and_saves_it(
    qtbot: QtBot, make_page: Callable[..., ChatPage], conversations: ConversationStore
) -> None:
    page = make_page()
    send(qtbot, page, "Hi there")
    assert texts(page) == [("user", "Hi there"), ("assistant", "Hello! How can I help?")]
    (conversation,) = conversations.list_conversations()
    assert conversation.title == "Hi there"
    assert conversation.model_id == "smollm2-135m-instruct-q4_1"
    thread = conversations.get_thread(conversation.id)
    assert [m.status for m in thread] == ["complete", "complete"]
    assert thread[1].model_lock_id == "fake/smollm2-135m-instruct-q4_1"
    assert "tokens/s" in page.state_label.text()
    assert page.composer.toPlainText() == ""


def test_shift_enter_adds_a_line_instead_of_sending(
    qtbot: QtBot, make_page: Callable[..., ChatPage]
) -> None:
    page = make_page()
    page.composer.setPlainText("first line")
    page.composer.moveCursor(page.composer.textCursor().MoveOperation.End)
    qtbot.keyClick(page.composer, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    assert page.composer.toPlainText() == "first line\n"
    assert page.transcript.bubbles == []


def test_stop_keeps_the_partial_reply(
    qtbot: QtBot, make_page: Callable[..., ChatPage], conversations: ConversationStore
) -> None:
    words = " ".join(f"word{i}" for i in range(200))
    page = make_page(FakeEngine([words], token_delay=0.02))
    page.composer.setPlainText("Tell me a long story")
    with qtbot.waitSignal(page.controller.reply_ended, timeout=15_000):
        page.send()
        qtbot.waitUntil(lambda: "word5" in page.transcript.bubbles[-1].text)
        assert page.stop_button.isEnabled()
        escape(page)
    (conversation,) = conversations.list_conversations()
    reply = conversations.get_thread(conversation.id)[-1]
    assert reply.status == "cancelled"
    assert reply.content.startswith("word0 word1") and "word199" not in reply.content
    assert page.transcript.bubbles[-1].note.text() == "<i>stopped</i>"
    assert page.send_button.isEnabled() and not page.stop_button.isEnabled()


def test_regenerate_keeps_the_old_reply_as_a_branch(
    qtbot: QtBot, make_page: Callable[..., ChatPage], conversations: ConversationStore
) -> None:
    page = make_page()
    send(qtbot, page, "Question")
    with qtbot.waitSignal(page.controller.reply_ended, timeout=15_000):
        qtbot.mouseClick(page.regenerate_button, Qt.MouseButton.LeftButton)
    assert texts(page) == [("user", "Question"), ("assistant", "Second answer.")]
    (conversation,) = conversations.list_conversations()
    replies = [m for m in conversations.all_messages(conversation.id) if m.role == "assistant"]
    assert [m.content for m in replies] == ["Hello! How can I help?", "Second answer."]


def test_edit_an_earlier_message_continues_from_there(
    qtbot: QtBot, make_page: Callable[..., ChatPage], conversations: ConversationStore
) -> None:
    engine = FakeEngine(lambda messages: f"You said: {messages[-1].content}")
    page = make_page(engine)
    send(qtbot, page, "first")
    send(qtbot, page, "second")
    first_id = page.transcript.bubbles[0].message_id
    assert first_id is not None
    qtbot.mouseClick(page.transcript.bubbles[0].edit_button, Qt.MouseButton.LeftButton)
    assert page.composer.toPlainText() == "first"
    assert page.edit_banner.isVisible()
    page.composer.setPlainText("first, edited")
    with qtbot.waitSignal(page.controller.reply_ended, timeout=15_000):
        page.send()
    assert texts(page) == [("user", "first, edited"), ("assistant", "You said: first, edited")]
    assert [m.content for m in engine.requests[-1].messages] == ["first, edited"]
    (conversation,) = conversations.list_conversations()
    assert len(conversations.all_messages(conversation.id)) == 6, "the old branch is kept"


def test_system_prompt_reaches_the_model(
    qtbot: QtBot,
    make_page: Callable[..., ChatPage],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = FakeEngine(["ok"])
    page = make_page(engine)
    monkeypatch.setattr(
        "app.ui.chat.dialogs.SystemPromptDialog.ask", classmethod(lambda cls, p, t: "Be brief.")
    )
    page.system_button.click()
    send(qtbot, page, "Hello")
    assert [(m.role, m.content) for m in engine.requests[-1].messages] == [
        ("system", "Be brief."),
        ("user", "Hello"),
    ]


def test_context_overflow_asks_and_drops_oldest_turns_when_chosen(
    qtbot: QtBot, make_page: Callable[..., ChatPage], monkeypatch: pytest.MonkeyPatch
) -> None:
    # 600 tokens of context, 512 kept for the reply: 88 for the prompt. Each turn here
    # costs 34 + 12 fake tokens, so the third message cannot fit with the first two.
    engine = FakeEngine(["a b c d e f g h"], n_ctx=600)
    page = make_page(engine)
    asked: list[str] = []

    def choose(cls: object, parent: object, message: str, raise_to: int | None) -> ContextChoice:
        asked.append(message)
        return ContextChoice.DROP_OLDEST

    monkeypatch.setattr(ContextChoiceDialog, "ask", classmethod(choose))
    long = " ".join(["word"] * 30)
    send(qtbot, page, long)
    send(qtbot, page, long + " two")
    assert not asked
    send(qtbot, page, long + " three")
    assert asked and "Start a new conversation" in asked[0]
    sent = engine.requests[-1].messages
    assert [m.content for m in sent if m.role == "user"][-1] == long + " three"
    assert long not in [m.content for m in sent], "the oldest turn was left out"
    assert texts(page)[0] == ("user", long), "but it stays in the conversation"


def test_load_failure_is_shown_and_sending_is_disabled(
    qtbot: QtBot, make_page: Callable[..., ChatPage]
) -> None:
    page = make_page(FakeEngine(fail_on_load=ModelLoadError("This model needs 9 GB of memory.")))
    assert "could not be loaded: This model needs 9 GB" in page.state_label.text()
    assert not page.send_button.isEnabled()
    page.composer.setPlainText("hello?")
    page.send()
    assert page.composer.toPlainText() == "hello?", "nothing typed is lost"


def test_conversations_new_rename_search_delete_undo(
    qtbot: QtBot, make_page: Callable[..., ChatPage], conversations: ConversationStore
) -> None:
    page = make_page()
    send(qtbot, page, "about apples")
    page.new_conversation()
    send(qtbot, page, "about pears")
    assert [c.title for c in conversations.list_conversations()] == ["about pears", "about apples"]
    index = page.list_model.index(page.list_model.row_of(page.current.id))  # type: ignore[union-attr]
    assert page.list_model.setData(index, "Pear talk")
    qtbot.waitUntil(lambda: page.list_model.data(page.list_model.index(0)) == "Pear talk")
    page.search_box.setText("apples")
    assert page.list_model.rowCount() == 1
    page.search_box.clear()
    page.open_conversation(conversations.list_conversations()[1].id)
    assert texts(page)[0] == ("user", "about apples")
    page.delete_current()
    assert [c.title for c in conversations.list_conversations()] == ["Pear talk"]
    assert page.undo_button.isVisible()
    page.undo_delete()
    assert {c.title for c in conversations.list_conversations()} == {"Pear talk", "about apples"}
    assert texts(page)[0] == ("user", "about apples")


def test_export_markdown(qtbot: QtBot, make_page: Callable[..., ChatPage], tmp_path: Path) -> None:
    page = make_page()
    send(qtbot, page, "export me")
    target = tmp_path / "chat.md"
    page.transfer.choose_export_path = lambda suffix: target  # type: ignore[method-assign]
    page.transfer.export("md")
    assert "export me" in target.read_text() and "Hello! How can I help?" in target.read_text()


def test_conversation_list_model_contract(
    qtmodeltester: ModelTester, conversations: ConversationStore
) -> None:
    model = ConversationListModel()
    qtmodeltester.check(model)
    for title in ("one", "two", "three"):
        conversations.create_conversation(title)
    model.set_conversations(conversations.list_conversations())
    qtmodeltester.check(model)
    assert model.rowCount() == 3 and model.data(model.index(0)) == "three"


@pytest.mark.slow
def test_real_starter_model_end_to_end(
    qtbot: QtBot,
    store: ModelStore,
    conversations: ConversationStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Load, stream and save with the real model, with every socket connection refused."""
    attempts: list[object] = []

    def no_network(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("the chat page must not open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", no_network)
    ensure_starter(store)
    page = ChatPage(store, conversations, lambda: _real_engine(store))
    qtbot.addWidget(page)
    page.show()
    try:
        qtbot.waitUntil(lambda: page.controller.loaded is not None, timeout=30_000)
        page.composer.setPlainText("What is the capital of France? Answer in one word.")
        with qtbot.waitSignal(page.controller.reply_ended, timeout=60_000):
            page.send()
        (conversation,) = conversations.list_conversations()
        reply = conversations.get_thread(conversation.id)[-1]
        assert reply.role == "assistant" and reply.status == "complete"
        assert reply.content.strip()
        assert reply.model_lock_id and "SmolLM2-135M-Instruct" in reply.model_lock_id
        assert attempts == []
    finally:
        page.shutdown()


def _real_engine(store: ModelStore) -> ChatEngine:
    from app.core.chat.engine import Engine

    return Engine(store, n_threads=2)


# --- a chat template that misbehaves (issue 12) ---------------------------------------------

NESTED_LOOP = "{% set s = 'x' * 100000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}"


@pytest.fixture
def endless_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the cancel token can end the nested loop within a test's time."""
    from app.core.runtime import template_budget

    monkeypatch.setattr(template_budget, "MAX_TEMPLATE_SECONDS", 120.0)
    monkeypatch.setattr(template_budget, "MAX_TEMPLATE_STEPS", 10**12)


def hanging_engine() -> FakeEngine:
    from app.core.runtime.template import ChatTemplate

    engine = FakeEngine(["Never seen."])
    engine.prompt_template = ChatTemplate(NESTED_LOOP)
    return engine


@pytest.mark.usefixtures("endless_budget")
def test_stop_ends_a_hanging_template(qtbot: QtBot, make_page: Callable[..., ChatPage]) -> None:
    """The template never ends by itself (no budget): only the stop can end the reply. The
    bound is generous for a loaded machine; the event, a cancelled reply, is the point."""
    page = make_page(hanging_engine())
    page.composer.setPlainText("Hi")
    page.send()
    qtbot.waitUntil(lambda: "Reading" in page.state_label.text(), timeout=5_000)
    with qtbot.waitSignal(page.controller.reply_ended, timeout=15_000) as ended:
        escape(page)
    assert ended.args[0].status == "cancelled"
    assert page.send_button.isEnabled()


@pytest.mark.usefixtures("endless_budget")
def test_the_window_closes_while_a_template_hangs(
    qtbot: QtBot, make_page: Callable[..., ChatPage]
) -> None:
    """The hanging render is cancelled, so the thread really ends (it is not abandoned)."""
    from app.ui.tasks import abandoned_threads

    page = make_page(hanging_engine())
    page.composer.setPlainText("Hi")
    page.send()
    qtbot.waitUntil(lambda: "Reading" in page.state_label.text(), timeout=5_000)
    thread = page.controller._thread
    page.shutdown()
    assert not thread.isRunning()
    assert thread not in abandoned_threads()


def test_closing_never_waits_on_a_worker_stuck_in_native_code(
    qtbot: QtBot, make_page: Callable[..., ChatPage]
) -> None:
    """A call that ignores its cancel token is abandoned, not waited for nor killed."""
    import threading
    import time

    from app.ui.tasks import abandoned_threads

    release = threading.Event()
    entered = threading.Event()

    def stuck(messages: Sequence[ChatMessage]) -> str:
        entered.set()
        release.wait(60)  # like a native call that cannot see the token
        return "Late."

    page = make_page(FakeEngine(stuck))
    page.composer.setPlainText("Hi")
    page.send()
    assert entered.wait(5)
    thread = page.controller._thread
    started = time.monotonic()
    page.shutdown()
    # Far below the stuck call's 60 s: closing did not wait for it (generous for load).
    assert time.monotonic() - started < 15
    assert thread in abandoned_threads()
    release.set()  # the call returns; the thread ends by itself
    assert thread.wait(5_000)
    assert thread not in abandoned_threads()


def test_the_fallback_is_in_the_status_line_and_the_replys_provenance(
    qtbot: QtBot, make_page: Callable[..., ChatPage], conversations: ConversationStore
) -> None:
    from app.core.runtime.template import ChatTemplate

    engine = FakeEngine(["Fine."])
    engine.prompt_template = ChatTemplate("{{ raise_exception('No user role here') }}")
    page = make_page(engine)
    send(qtbot, page, "Hi")
    problem = (
        "The model's chat template refused this conversation (No user role here); "
        "a generic chat format is used instead."
    )
    assert problem in page.state_label.text()
    (conversation,) = conversations.list_conversations()
    reply = conversations.get_thread(conversation.id)[-1]
    assert reply.params is not None and reply.params["template_fallback"] == problem
