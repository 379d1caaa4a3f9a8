"""Finding one's way in the chat (issue 25): Enter in the search box goes from match to
match with the words highlighted, the ‹ › switcher stays under the pointer, and a long
model name keeps its ends in the picker."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from app.ui.chat.page import ChatPage
from app.ui.elided_combo import ElidedComboBox
from app.ui.passage_view import mark_colors
from tests.fake_engine import FakeEngine
from tests.gui.chat.helpers import send

LONG_ID = "bartowski/Llama-3.2-1B-Instruct-GGUF:Llama-3.2-1B-Instruct-Q4_1.gguf  (pinned @1a2b3c4)"


def shot(widget: QWidget, tmp_path: Path, name: str) -> None:
    out = Path(os.environ.get("DRIFTLESS_SCREENSHOTS") or tmp_path / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    QApplication.processEvents()
    assert widget.grab().save(str(out / name))


def highlight(page: ChatPage) -> str:
    return QColor(mark_colors()[0]).name()


def test_enter_in_search_shows_each_match_in_turn_highlighted(
    qtbot: QtBot, make_page: Callable[..., ChatPage], tmp_path: Path
) -> None:
    page = make_page(
        FakeEngine(["Banana bread wants ripe bananas.", "Yes.", "A split with banana, yes."])
    )
    send(qtbot, page, "How do I bake banana bread?")
    first = page.current
    page.new_conversation()
    send(qtbot, page, "Anything else?")
    page.new_conversation()
    send(qtbot, page, "And a banana split?")
    second = page.current
    assert first is not None and second is not None

    page.search_box.setText("banana")
    seen: list[tuple[int, int]] = []
    for _ in range(5):  # four messages mention it; the fifth Enter starts again
        qtbot.keyClick(page.search_box, Qt.Key.Key_Return)
        assert page.current is not None
        seen.append((page.current.id, page.sidebar.match_position()[0]))
        assert page.state_label.text().startswith(f"Match {seen[-1][1]} of 4")
        marked = [b for b in page.transcript.bubbles if highlight(page) in b.body.text()]
        assert marked and all("banana" in b.text.casefold() for b in marked)
        if len(seen) == 2:
            shot(page, tmp_path, "chat-search-highlighted.png")
    assert [n for _, n in seen] == [1, 2, 3, 4, 1]
    assert {c for c, _ in seen} == {first.id, second.id}, "both conversations were visited"

    page.search_box.clear()
    assert not any(highlight(page) in b.body.text() for b in page.transcript.bubbles)


def test_the_branch_switcher_stays_where_it_was_clicked(
    qtbot: QtBot, make_page: Callable[..., ChatPage], tmp_path: Path
) -> None:
    long = " ".join(f"Sentence {i} of a long answer." for i in range(160))
    page = make_page(FakeEngine([long, "Second version. " + long, long + " Third."]))
    send(qtbot, page, "Tell me everything")
    for _ in range(2):
        with qtbot.waitSignal(page.controller.reply_ended, timeout=15_000):
            qtbot.mouseClick(page.regenerate_button, Qt.MouseButton.LeftButton)
    view = page.transcript
    reply = view.bubbles[-1]
    bar = view.verticalScrollBar()
    qtbot.waitUntil(lambda: reply.height() > view.viewport().height())  # a tall reply
    qtbot.waitUntil(lambda: bar.maximum() > 0)

    def top(message_id: int | None) -> int:
        bubble = view.bubble_for(message_id) if message_id is not None else None
        assert bubble is not None
        return bubble.mapTo(view.viewport(), QPoint(0, 0)).y()

    # The switcher of the third version, a little below the view's top.
    bar.setValue(bar.value() + top(reply.message_id) - 60)
    assert top(reply.message_id) == 60 and reply.branch_label.text() == "3/3"
    for expected in ("2/3", "1/3"):
        shown = view.bubbles[-1]
        qtbot.mouseClick(shown.previous_button, Qt.MouseButton.LeftButton)
        now = view.bubbles[-1]
        assert now.branch_label.text() == expected
        qtbot.waitUntil(lambda now=now: top(now.message_id) == 60)
        for _ in range(3):  # laid out and scrolled since: still there
            QApplication.processEvents()
        assert top(now.message_id) == 60, f"version {expected} jumped"
    shot(page, tmp_path, "chat-switcher-in-place.png")


def test_a_long_model_name_keeps_both_ends_in_the_picker(
    qtbot: QtBot, make_page: Callable[..., ChatPage], tmp_path: Path
) -> None:
    page = make_page()
    combo = page.model_combo
    assert isinstance(combo, ElidedComboBox)
    combo.addItem(LONG_ID, "long")
    combo.setCurrentIndex(combo.findData("long"))
    page.resize(820, 600)
    qtbot.waitUntil(lambda: combo.width() < combo.fontMetrics().horizontalAdvance(LONG_ID))
    shot(page, tmp_path, "chat-model-picker-elided.png")
    shown = combo.shown_text()
    head, _, tail = shown.partition("…")
    assert tail and LONG_ID.startswith(head) and LONG_ID.endswith(tail)
    assert len(head) >= 4 and tail.endswith("1a2b3c4)")  # the version is never cut off
    assert LONG_ID in combo.toolTip()
