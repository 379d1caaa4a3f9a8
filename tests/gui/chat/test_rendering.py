"""Issue 13: model output is Markdown without HTML: tags in a reply are shown, never interpreted."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PySide6.QtGui import QTextDocument
from pytestqt.qtbot import QtBot

from app.core.runtime.results import GenerationError
from app.ui.chat.page import ChatPage
from app.ui.chat.transcript import MessageBubble
from tests.fake_engine import FakeEngine
from tests.gui.chat.helpers import send


def shown(rich_text: str) -> str:
    """What a person reads in a label that shows ``rich_text``."""
    document = QTextDocument()
    document.setHtml(rich_text)
    return document.toPlainText()


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Use a <div> element", "Use a <div> element"),
        ("<think>\nThe user greets me.\n</think>\nHello!", "<think> The user greets me. </think>"),
    ],
)
def test_html_in_a_reply_is_shown_as_written(
    qtbot: QtBot, make_page: Callable[..., ChatPage], reply: str, expected: str
) -> None:
    page = make_page(FakeEngine([reply]))
    send(qtbot, page, "Hi")
    bubble = page.transcript.bubbles[-1]
    assert bubble.text == reply, "Copy gives the reply as the model wrote it"
    assert expected in shown(bubble.body.text())


def test_markdown_is_still_rendered(qtbot: QtBot) -> None:
    bubble = MessageBubble("assistant", 1)
    qtbot.addWidget(bubble)
    bubble.set_text("**bold** and `code <b>` and\n\n- a list")
    assert "<b>" not in bubble.body.text().replace("&lt;b&gt;", "")
    assert "font-weight:700" in bubble.body.text()
    assert shown(bubble.body.text()).startswith("bold and code <b> and")


def test_an_error_that_quotes_html_is_shown_as_written(
    qtbot: QtBot, make_page: Callable[..., ChatPage]
) -> None:
    engine = FakeEngine(
        ["partial"], fail_after_tokens=0, fail_with=GenerationError("bad <div> token")
    )
    page = make_page(engine)
    send(qtbot, page, "Hi")
    assert "bad <div> token" in shown(page.transcript.bubbles[-1].note.text())
    assert "bad <div> token" in page.state_label.text()
    assert page.state_label.textFormat().name == "PlainText"
