"""A reply cut at its token limit says so, and Continue writes more of it (issue 25, 7):
a new version of the reply that starts with the cut text, the cut one kept."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.core.chat.export import finish_of
from app.core.chat.sampling import DEFAULT_PRESET, preset
from app.core.models.store import ModelStore
from app.ui.chat.page import ChatPage
from tests.fake_engine import FakeEngine
from tests.gui.chat.helpers import send

LONG = "one two three four five six seven eight nine ten eleven twelve"


def limit_replies(page: ChatPage, max_tokens: int) -> None:
    page.new_conversation()
    page.state.set_params(preset(DEFAULT_PRESET).replace(max_tokens=max_tokens))


def test_a_cut_reply_is_marked_and_continue_writes_the_rest(
    qtbot: QtBot, make_page: Callable[..., ChatPage]
) -> None:
    engine = FakeEngine([LONG, " seven eight nine ten eleven twelve"])
    page = make_page(engine)
    limit_replies(page, 6)
    send(qtbot, page, "Count to twelve")
    cut = page.transcript.bubbles[-1]
    assert cut.text == "one two three four five six"
    assert cut.note.text() == "<i>stopped at the 6-token limit</i>"
    assert cut.continue_button.isVisibleTo(cut) and cut.regenerate_button.isVisibleTo(cut)
    assert "Stopped at the 6-token limit" in page.state_label.text()
    assert page.state.can_continue()

    # Continue: the fake is asked with the cut text as the reply's start.
    limit_replies_again = page.state.set_params
    limit_replies_again(preset(DEFAULT_PRESET).replace(max_tokens=50))
    with qtbot.waitSignal(page.controller.reply_ended, timeout=15_000):
        qtbot.mouseClick(cut.continue_button, Qt.MouseButton.LeftButton)
    assert engine.requests[-1].reply_prefix == "one two three four five six"
    assert [m.role for m in engine.requests[-1].messages][-1] == "user"
    whole = page.transcript.bubbles[-1]
    assert whole.text == LONG
    assert whole.note.text() == ""
    assert not whole.continue_button.isVisibleTo(whole)
    assert whole.branch_label.text() == "2/2", "the cut reply is kept as version 1"
    saved = page.conversations.get_thread(page.current.id)  # type: ignore[union-attr]
    assert saved[-1].content == LONG and finish_of(saved[-1]) == "stop"
    assert len(saved) == 2, "the continued reply answers the same question"


def test_only_the_last_reply_offers_regenerate_and_continue(
    qtbot: QtBot, make_page: Callable[..., ChatPage]
) -> None:
    page = make_page(FakeEngine([LONG, "Short."]))
    limit_replies(page, 4)
    send(qtbot, page, "First")
    send(qtbot, page, "Second")
    first, last = page.transcript.bubbles[1], page.transcript.bubbles[3]
    assert first.note.text() == "<i>stopped at the 4-token limit</i>"
    assert not first.continue_button.isVisibleTo(first)
    assert not first.regenerate_button.isVisibleTo(first)
    assert last.regenerate_button.isVisibleTo(last) and not last.continue_button.isVisibleTo(last)


def test_the_empty_conversation_offers_three_prompts_that_send(
    qtbot: QtBot, make_page: Callable[..., ChatPage]
) -> None:
    page = make_page(FakeEngine(["Grey waves fold and break."]))
    empty = page.transcript.empty_label
    assert empty.isVisible() and len(empty.prompt_buttons) == 3
    with qtbot.waitSignal(page.controller.reply_ended, timeout=15_000):
        qtbot.mouseClick(empty.prompt_buttons[0], Qt.MouseButton.LeftButton)
    assert [b.text for b in page.transcript.bubbles] == [
        empty.prompt_buttons[0].text(),
        "Grey waves fold and break.",
    ]
    assert not empty.isVisible()


def test_actions_show_on_hover_or_focus_and_stay_in_the_tab_order(
    qtbot: QtBot, make_page: Callable[..., ChatPage]
) -> None:
    page = make_page()
    send(qtbot, page, "Hi")
    reply = page.transcript.bubbles[-1]
    assert reply._fade.isEnabled() and reply._fade.opacity() == 0.0
    assert reply.copy_button.isVisible(), "faded, not hidden: Tab still reaches it"
    page.activateWindow()
    qtbot.waitUntil(page.isActiveWindow)
    reply.copy_button.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(lambda: not reply._fade.isEnabled())
    page.composer.setFocus()
    qtbot.waitUntil(lambda: reply._fade.isEnabled())


def test_code_blocks_are_monospace_with_their_own_copy(
    qtbot: QtBot, make_page: Callable[..., ChatPage]
) -> None:
    from PySide6.QtGui import QGuiApplication

    from app.ui.chat.transcript import CodeBlock

    reply = "Try this:\n\n```python\nprint('hi')\n```\n\nThen run it."
    page = make_page(FakeEngine([reply]))
    send(qtbot, page, "Code please")
    bubble = page.transcript.bubbles[-1]
    (block,) = [s for s in bubble.segments if isinstance(s, CodeBlock)]
    assert block.view.toPlainText() == "print('hi')"
    assert block.view.font().fixedPitch() or "mono" in block.view.font().family().lower()
    assert block.language_label.text() == "python"
    block.copy_button.click()
    assert QGuiApplication.clipboard().text() == "print('hi')"
    assert bubble.text == reply, "Copy on the message still gives the whole reply"
    assert "Then run it." in bubble.segments[-1].text()  # type: ignore[attr-defined]


@pytest.mark.slow
def test_continue_on_the_real_starter(
    qtbot: QtBot, make_page: Callable[..., ChatPage], store: ModelStore
) -> None:
    """The real engine continues the cut text (the prompt ends with it after the
    generation prompt) rather than starting a new answer."""
    from app.core.chat.engine import Engine

    page = make_page(Engine(store))
    page.new_conversation()
    page.state.set_params(preset("Precise").replace(max_tokens=8))
    send(qtbot, page, "Write three sentences about the sea.")
    cut = page.transcript.bubbles[-1]
    assert cut.continue_button.isVisibleTo(cut), cut.note.text()
    start = cut.text
    page.state.set_params(preset("Precise").replace(max_tokens=24))
    with qtbot.waitSignal(page.controller.reply_ended, timeout=60_000):
        page.continue_reply()
    whole = page.transcript.bubbles[-1].text
    assert whole.startswith(start) and len(whole) > len(start) + 10, (start, whole)
