"""Issue 13: the branches kept by Regenerate and Edit can be reached (‹ 2/3 ›), and search opens
the branch that holds the match."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.core.chat.conversations import ConversationStore
from app.core.models.store import ModelStore
from app.ui.chat.page import ChatPage
from app.ui.main_window import MainWindow
from tests.fake_engine import FakeEngine
from tests.gui.chat.helpers import send, texts


def regenerate(qtbot: QtBot, page: ChatPage) -> None:
    with qtbot.waitSignal(page.controller.reply_ended, timeout=15_000):
        qtbot.mouseClick(page.regenerate_button, Qt.MouseButton.LeftButton)


def test_regenerated_replies_get_a_switcher_that_shows_each_version(
    qtbot: QtBot, make_page: Callable[..., ChatPage]
) -> None:
    page = make_page(FakeEngine(["First.", "Second.", "Third."]))
    send(qtbot, page, "Question")
    reply = page.transcript.bubbles[-1]
    assert not reply.branch_label.isVisible(), "one version: no switcher"
    regenerate(qtbot, page)
    regenerate(qtbot, page)
    reply = page.transcript.bubbles[-1]
    assert reply.text == "Third."
    assert reply.branch_label.isVisible() and reply.branch_label.text() == "3/3"
    assert reply.previous_button.isEnabled() and not reply.next_button.isEnabled()
    assert not page.transcript.bubbles[0].branch_label.isVisible(), "the question has one version"

    qtbot.mouseClick(reply.previous_button, Qt.MouseButton.LeftButton)
    assert texts(page) == [("user", "Question"), ("assistant", "Second.")]
    assert page.transcript.bubbles[-1].branch_label.text() == "2/3"
    qtbot.mouseClick(page.transcript.bubbles[-1].previous_button, Qt.MouseButton.LeftButton)
    reply = page.transcript.bubbles[-1]
    assert reply.text == "First." and reply.branch_label.text() == "1/3"
    assert not reply.previous_button.isEnabled() and reply.next_button.isEnabled()
    assert reply.next_button.hasFocus() or not page.isActiveWindow()


def test_the_chosen_version_is_the_one_continued_and_reopened(
    qtbot: QtBot,
    make_page: Callable[..., ChatPage],
    conversations: ConversationStore,
) -> None:
    engine = FakeEngine(lambda messages: f"Reply to {len(messages)} messages.")
    page = make_page(engine)
    send(qtbot, page, "Question")
    regenerate(qtbot, page)
    qtbot.mouseClick(page.transcript.bubbles[-1].previous_button, Qt.MouseButton.LeftButton)
    first_reply = page.transcript.bubbles[-1].message_id
    send(qtbot, page, "Follow-up")
    assert [m.content for m in engine.requests[-1].messages][:1] == ["Question"]
    thread = conversations.get_thread(page.current.id)  # type: ignore[union-attr]
    assert [m.id for m in thread][1] == first_reply, "the follow-up continues version 1"
    page.open_conversation(page.current.id)  # type: ignore[union-attr]
    assert page.transcript.bubbles[1].branch_label.text() == "1/2"
    assert texts(page)[-2:] == [("user", "Follow-up"), ("assistant", "Reply to 3 messages.")]


def test_edited_messages_switch_with_their_whole_continuation(
    qtbot: QtBot, make_page: Callable[..., ChatPage]
) -> None:
    page = make_page(FakeEngine(lambda messages: f"You said: {messages[-1].content}"))
    send(qtbot, page, "first")
    send(qtbot, page, "second")
    qtbot.mouseClick(page.transcript.bubbles[2].edit_button, Qt.MouseButton.LeftButton)
    page.composer.setPlainText("second, edited")
    with qtbot.waitSignal(page.controller.reply_ended, timeout=15_000):
        page.send()
    edited = page.transcript.bubbles[2]
    assert edited.text == "second, edited" and edited.branch_label.text() == "2/2"
    qtbot.mouseClick(edited.previous_button, Qt.MouseButton.LeftButton)
    assert texts(page)[2:] == [("user", "second"), ("assistant", "You said: second")]
    qtbot.mouseClick(page.transcript.bubbles[2].next_button, Qt.MouseButton.LeftButton)
    assert texts(page)[2:] == [
        ("user", "second, edited"),
        ("assistant", "You said: second, edited"),
    ]


def test_switching_is_refused_while_a_reply_streams(
    qtbot: QtBot, make_page: Callable[..., ChatPage]
) -> None:
    page = make_page(FakeEngine(["one", " ".join(["word"] * 300)], token_delay=0.01))
    send(qtbot, page, "Question")
    first_version = page.transcript.bubbles[-1].message_id
    assert first_version is not None
    with qtbot.waitSignal(page.controller.reply_ended, timeout=15_000):
        page.regenerate()
        page.switch_branch(first_version)
        assert page.transcript.streaming is not None, "the streaming reply stays on screen"
        page.stop()


def test_a_search_hit_opens_the_branch_that_holds_it(
    qtbot: QtBot, make_page: Callable[..., ChatPage], conversations: ConversationStore
) -> None:
    page = make_page(FakeEngine(["The zeppelin answer.", "A plain answer.", "Other."]))
    send(qtbot, page, "Question")
    regenerate(qtbot, page)
    assert texts(page)[-1] == ("assistant", "A plain answer.")
    page.new_conversation()
    send(qtbot, page, "Another topic")
    page.search_box.setText("zeppelin")
    assert page.list_model.rowCount() == 1
    page.list_view.setCurrentIndex(page.list_model.index(0))
    assert texts(page)[-1] == ("assistant", "The zeppelin answer.")
    assert page.transcript.bubbles[-1].branch_label.text() == "1/2"

    # The open conversation clicked again in the results also goes to the match.
    qtbot.mouseClick(page.transcript.bubbles[-1].next_button, Qt.MouseButton.LeftButton)
    assert texts(page)[-1] == ("assistant", "A plain answer.")
    rect = page.list_view.visualRect(page.list_model.index(0))
    qtbot.mouseClick(page.list_view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert texts(page)[-1] == ("assistant", "The zeppelin answer.")


def test_a_reply_stopped_before_the_worker_starts_it_still_ends(
    qtbot: QtBot, make_page: Callable[..., ChatPage]
) -> None:
    page = make_page()
    page.composer.setPlainText("Hi")
    # The worker thread is held until the reply is stopped: on a loaded machine it could
    # otherwise start and finish the fake's reply before the stop (found by make rehearse).
    gate = threading.Event()
    page.controller.post(lambda _: gate.wait(30), None)
    with qtbot.waitSignal(page.controller.reply_ended, timeout=15_000) as ended:
        page.send()
        page.controller._reply.cancel.cancel()  # type: ignore[union-attr]  # before it runs
        page.stop()
        gate.set()
    assert ended.args[0].status == "cancelled"
    qtbot.waitUntil(lambda: page.send_button.isEnabled())


def test_screenshot_of_the_branch_switcher(
    qtbot: QtBot, store: ModelStore, conversations: ConversationStore, tmp_path: Path
) -> None:
    """``DRIFTLESS_SCREENSHOTS=docs/screenshots`` writes chat-branches.png for the README."""
    out = Path(os.environ.get("DRIFTLESS_SCREENSHOTS") or tmp_path / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    engine = FakeEngine(
        [
            "Use a `<div>` element for a block and a `<span>` for a run of text.",
            "A **`<div>`** starts a block on its own line; a `<span>` stays inside the line. "
            "Reach for a `<section>` or `<article>` when the block has a meaning of its own.",
            "Yes: give it `display: inline-block`, and it flows with the text.",
        ],
        token_delay=0.03,  # a believable speed in the status line
    )
    window = MainWindow(store, conversations=conversations, engine_factory=lambda: engine)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.starter_ready, timeout=30_000):
        window.show()
    window.resize(1100, 640)
    page = window.chat_page
    qtbot.waitUntil(lambda: page.controller.loaded is not None, timeout=10_000)
    send(qtbot, page, "Which HTML element for a block of text?")
    regenerate(qtbot, page)
    send(qtbot, page, "Can a <div> sit inside a line?")
    qtbot.waitUntil(lambda: not window.progress.isVisible())
    last = page.transcript.bubbles[-1]
    qtbot.waitUntil(lambda: last.body.height() == last.body.heightForWidth(last.body.width()))
    qtbot.waitUntil(lambda: last.height() > last.body.geometry().bottom())
    bar = page.transcript.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() == 0, timeout=2_000)  # four short messages fit
    reply = page.transcript.bubbles[1]
    assert reply.branch_label.isVisible() and reply.branch_label.text() == "2/2"
    assert "<div>" in reply.text
    assert window.grab().toImage().save(str(out / "chat-branches.png"))
