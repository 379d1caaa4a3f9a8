"""Issue 13: which model wrote each reply, a reading column, no jump when a reply ends, and the
draft and the open conversation kept across a restart."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPoint
from pytestqt.qtbot import QtBot

from app.core.chat.conversations import ConversationStore
from app.core.chat.records import Message, utc_now
from app.ui.chat.page import ChatPage
from app.ui.chat.transcript import TranscriptView, short_model_id
from tests.fake_engine import FakeEngine
from tests.gui.chat.helpers import send, texts


def test_each_reply_names_its_model_with_the_provenance_in_a_tooltip(
    qtbot: QtBot, make_page: Callable[..., ChatPage]
) -> None:
    page = make_page(FakeEngine(["one two three four"], token_delay=0.05))
    page.composer.setPlainText("Hi")
    with qtbot.waitSignal(page.controller.reply_ended, timeout=15_000):
        page.send()
        streaming = page.transcript.bubbles[-1]
        assert streaming.model_label.text() == "smollm2-135m-instruct-q4_1", (
            "named while it streams"
        )
    reply = page.transcript.bubbles[-1]
    assert reply.model_label.isVisible()
    assert reply.model_label.text() == "smollm2-135m-instruct-q4_1"
    tooltip = reply.model_label.toolTip()
    assert "Written by fake/smollm2-135m-instruct-q4_1" in tooltip
    assert "sha256 " + "0" * 64 in tooltip and "temperature" in tooltip
    assert not page.transcript.bubbles[0].model_label.isVisible(), "your messages name no model"
    page.open_conversation(page.current.id)  # type: ignore[union-attr]
    assert page.transcript.bubbles[-1].model_label.toolTip() == tooltip


def test_short_model_ids() -> None:
    assert short_model_id("HuggingFaceTB/SmolLM2-GGUF@ab810cf/smollm2-q4_1.gguf") == "smollm2-q4_1"
    assert short_model_id("plain") == "plain"


def test_the_reading_column_stops_growing_on_a_wide_window(
    qtbot: QtBot, make_page: Callable[..., ChatPage]
) -> None:
    page = make_page()
    send(qtbot, page, "Hi")
    page.resize(2400, 800)
    qtbot.waitUntil(lambda: page.transcript.viewport().width() > 1800)
    reply = page.transcript.bubbles[-1]
    assert reply.width() < 1000, "lines of a readable length"
    middle = reply.mapTo(page.transcript.viewport(), QPoint(reply.width() // 2, 0)).x()
    assert abs(middle - page.transcript.viewport().width() // 2) < 20, "centred"
    page.resize(700, 600)
    qtbot.waitUntil(lambda: reply.width() < 600)


def test_the_text_does_not_jump_when_the_reply_ends(qtbot: QtBot) -> None:
    text = "A plain sentence that is long enough to wrap onto another line in the column. " * 3
    view = TranscriptView()
    qtbot.addWidget(view)
    view.resize(600, 500)
    view.show()
    bubble = view.begin_reply("fake/model.gguf")
    view.append_reply(text.strip())
    live = bubble.live
    assert live is not None
    qtbot.waitUntil(lambda: live.height() >= 2 * live.fontMetrics().height())
    qtbot.waitUntil(lambda: bubble.height() > live.geometry().bottom())
    # Laid out for the text's height, actions below it (the layout catches up in steps).
    row = bubble.actions_row
    qtbot.waitUntil(lambda: row.geometry().top() > live.geometry().bottom())
    qtbot.waitUntil(lambda: bubble.height() > row.geometry().bottom())
    streaming_top = live.mapTo(bubble, QPoint(0, 0)).y()
    streaming_height = bubble.height()
    now = utc_now()
    view.finish_reply(Message(7, 1, None, "assistant", text.strip(), "complete", now, now))
    body = bubble.body
    qtbot.waitUntil(lambda: body.isVisible() and body.height() == body.heightForWidth(body.width()))
    qtbot.waitUntil(lambda: bubble.height() > body.geometry().bottom())
    qtbot.waitUntil(lambda: bubble.actions_row.geometry().top() > body.geometry().bottom())
    assert abs(bubble.body.mapTo(bubble, QPoint(0, 0)).y() - streaming_top) <= 1
    assert abs(bubble.height() - streaming_height) <= 2


def test_a_draft_and_the_open_conversation_survive_a_restart(
    qtbot: QtBot, make_page: Callable[..., ChatPage], conversations: ConversationStore
) -> None:
    page = make_page()
    send(qtbot, page, "About apples")
    apples = page.current
    page.new_conversation()
    send(qtbot, page, "About pears")
    assert apples is not None
    page.open_conversation(apples.id)  # not the most recent one
    page.composer.setPlainText("half a thought about apples")
    page.shutdown()  # what Ctrl+Q does

    again = make_page()
    assert again.current is not None and again.current.id == apples.id
    assert texts(again)[0] == ("user", "About apples")
    assert again.composer.toPlainText() == "half a thought about apples"
    pears = again.list_model.conversation_at(0)
    assert pears is not None and pears.id != apples.id
    again.open_conversation(pears.id)
    assert again.composer.toPlainText() == "", "drafts are per conversation"
    again.open_conversation(apples.id)
    assert again.composer.toPlainText() == "half a thought about apples"
    send(qtbot, again, "sent now")
    again.shutdown()
    assert make_page().composer.toPlainText() == "", "a sent message is no draft"


def test_short_messages_leave_no_scroll_gap_and_long_ones_scroll(
    qtbot: QtBot, make_page: Callable[..., ChatPage]
) -> None:
    page = make_page()
    page.resize(700, 500)
    send(qtbot, page, "Hi")
    bar = page.transcript.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() == 0)
    for number in range(8):
        send(qtbot, page, f"Message {number}")
    qtbot.waitUntil(lambda: bar.maximum() > 0)
    qtbot.waitUntil(lambda: bar.value() == bar.maximum(), timeout=2_000)


def test_a_draft_goes_with_its_deleted_conversation_and_comes_back_with_undo(
    qtbot: QtBot, make_page: Callable[..., ChatPage]
) -> None:
    page = make_page()
    send(qtbot, page, "Hi")
    page.composer.setPlainText("not sent yet")
    page.delete_current()
    assert page.composer.toPlainText() == ""
    page.undo_delete()
    assert page.composer.toPlainText() == "not sent yet"


def test_the_model_name_stays_legible_when_the_scheme_turns_dark(qtbot: QtBot) -> None:
    from PySide6.QtGui import QColor, QGuiApplication, QPalette
    from PySide6.QtWidgets import QApplication

    from app.ui.chat.transcript import MessageBubble

    bubble = MessageBubble("assistant", 1)
    qtbot.addWidget(bubble)
    bubble.set_model("fake/model.gguf")
    role = QPalette.ColorRole.WindowText
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    light = QGuiApplication.palette()
    assert bubble.model_label.palette().color(role).lightness() < 128
    dark = QPalette(light)
    dark.setColor(QPalette.ColorRole.Window, QColor("#202020"))
    dark.setColor(role, QColor("#eeeeee"))
    try:
        app.setPalette(dark)
        qtbot.waitUntil(lambda: bubble.model_label.palette().color(role).lightness() > 128)
    finally:
        app.setPalette(light)
