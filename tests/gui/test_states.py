"""The components every page draws its empty, loading and error states with, its title,
and the Evaluate tab's headline."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.core.classify.metrics import score
from app.ui import theme
from app.ui.classify.headline import AccuracyHeadline, PerLabelTable
from app.ui.states import EmptyState, ErrorState, LoadingState, PageHeader


def test_an_empty_state_shows_its_sentence_and_its_action_fires(qtbot: QtBot) -> None:
    state = EmptyState("history", "Nothing here yet.", "&Make one…", hint="Or drop a file.")
    qtbot.addWidget(state)
    state.resize(600, 400)
    state.show()
    qtbot.waitExposed(state)
    assert state.text() == "Nothing here yet." and state.label.isVisible()
    assert state.hint_label.isVisible() and state.hint_label.text() == "Or drop a file."
    assert state.action_button is not None and state.action_button.isVisible()
    assert state.action_button.property("primary") is True  # the main action, in the accent
    with qtbot.waitSignal(state.action_triggered, timeout=1000):
        qtbot.mouseClick(state.action_button, Qt.MouseButton.LeftButton)


def test_an_empty_state_without_an_action_has_no_button(qtbot: QtBot) -> None:
    state = EmptyState("history", "No downloads.")
    qtbot.addWidget(state)
    state.show()
    assert state.action_button is None and state.hint_label.isHidden()
    assert state.title.isHidden()


def test_a_loading_state_says_what_is_under_way(qtbot: QtBot) -> None:
    state = LoadingState("Reading the collection…")
    qtbot.addWidget(state)
    state.show()
    assert state.text() == "Reading the collection…"
    assert state.busy.minimum() == state.busy.maximum() == 0  # busy, no known end
    state.set_text("Searching…")
    assert state.label.text() == "Searching…"


def test_an_error_state_retries_and_shows_its_details(qtbot: QtBot) -> None:
    state = ErrorState()
    qtbot.addWidget(state)
    state.show()
    state.show_error("The index could not be read: the disk is full.", "OSError 28")
    assert state.text().startswith("The index could not be read")
    assert state.details_button.isVisible() and state.details_label.isHidden()
    qtbot.mouseClick(state.details_button, Qt.MouseButton.LeftButton)
    assert state.details_label.isVisible() and state.details_label.text() == "OSError 28"
    assert state.retry_button is not None
    with qtbot.waitSignal(state.retry_requested, timeout=1000):
        qtbot.mouseClick(state.retry_button, Qt.MouseButton.LeftButton)
    state.show_error("Another failure.")
    assert state.details_button.isHidden() and state.details_label.isHidden()


def test_a_page_title_is_in_the_title_style(qtbot: QtBot) -> None:
    header = PageHeader("Documents", "Search your files.")
    qtbot.addWidget(header)
    body = QApplication.font().pointSizeF()
    assert header.title.font().pointSizeF() > body
    assert header.title.property("textStyle") == "title"
    assert header.subtitle.property("textStyle") == "secondary"


def test_the_headline_shows_an_evaluations_accuracy(qtbot: QtBot) -> None:
    # 6 of 8 right: 75 %.
    scores = score(("positive", "negative"), [0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1, 0, 0])
    headline = AccuracyHeadline()
    qtbot.addWidget(headline)
    assert headline.isHidden()  # nothing evaluated yet
    headline.show_scores(scores)
    assert headline.number.text() == "75.0%"
    assert f"macro-F1 {scores.macro_f1:.3f}" in headline.details.text()
    assert "8 texts" in headline.details.text()
    number = headline.number.font().pointSizeF()
    assert number > theme.font(theme.Type.TITLE).pointSizeF()
    headline.clear()
    assert headline.isHidden() and headline.number.text() == ""

    table = PerLabelTable()
    qtbot.addWidget(table)
    table.show_scores(scores)
    assert table.rowCount() == 2
    recall = {table.item(r, 0).text(): table.item(r, 2).text() for r in range(2)}
    assert recall == {"positive": "1.00", "negative": "0.50"}


def test_a_state_stack_shows_one_state_in_its_views_place(qtbot: QtBot) -> None:
    from PySide6.QtWidgets import QLineEdit, QTableWidget, QVBoxLayout, QWidget

    from app.ui.states import COMPACT_ICON_SIZE, ICON_SIZE, StateStack

    window = QWidget()
    qtbot.addWidget(window)
    before = QLineEdit()
    table = QTableWidget(2, 2)
    stack = StateStack(table)
    layout = QVBoxLayout(window)
    layout.addWidget(before)
    layout.addWidget(stack)
    window.resize(500, 300)
    window.show()
    qtbot.waitExposed(window)
    assert stack.state == "content" and table.isVisible()
    assert stack.empty.compact and stack.empty.icon.width() == COMPACT_ICON_SIZE < ICON_SIZE

    stack.show_loading("Listing the files…")
    assert stack.state == "loading" and stack.loading.text() == "Listing the files…"
    assert stack.loading.isVisible() and not table.isVisible()
    stack.show_empty("Nothing matches.")
    assert stack.state == "empty" and stack.empty.text() == "Nothing matches."
    stack.show_error("The Hub could not be reached.", "ConnectError")
    assert stack.state == "error" and stack.error.text() == "The Hub could not be reached."
    assert stack.error.details_button.isVisible()

    # Tab goes from the field before to Retry, then Details: the hidden table is skipped.
    before.setFocus()
    qtbot.waitUntil(before.hasFocus)
    reached = []
    for _ in range(2):
        qtbot.keyClick(window.focusWidget(), Qt.Key.Key_Tab)
        reached.append(window.focusWidget())
    assert reached == [stack.error.retry_button, stack.error.details_button]
    stack.show_content()
    assert table.isVisible() and not stack.error.isVisible()
