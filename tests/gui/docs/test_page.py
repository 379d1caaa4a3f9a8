"""The Documents page on a fake embedder: make a collection from a folder, progress and
Cancel, what was skipped and why, search with highlighted words, a hit opened in its
file, Refresh, Remove with confirmation, drag and drop, the empty and error states."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from pytestqt.qtbot import QtBot

from app.core.errors import ModelNotFound
from app.ui.doc_access import DocsAccess
from app.ui.docs import dialogs
from app.ui.docs.dialogs import NewCollection, NewCollectionDialog, suggested_name
from app.ui.docs.page import EMPTY_TEXT, DocsPage
from app.ui.docs.results import matched_words
from tests.gui.docs.conftest import GatedEmbedder
from tests.gui.docs.shots import shot

MakePage = Callable[[], DocsPage]


def answer_new(monkeypatch: pytest.MonkeyPatch, name: str, paths: list[Path]) -> list[object]:
    """The New collection dialog answers ``name`` and ``paths`` (the default embedder)."""
    asked: list[object] = []

    def ask(cls, parent, models, default_model, taken, given=()):  # type: ignore[no-untyped-def]
        asked.append((default_model, list(taken), list(given)))
        return NewCollection(name, default_model, tuple(paths))

    monkeypatch.setattr(NewCollectionDialog, "ask", classmethod(ask))
    return asked


def make_collection(
    qtbot: QtBot, page: DocsPage, monkeypatch: pytest.MonkeyPatch, folder: Path
) -> None:
    answer_new(monkeypatch, "help", [folder])
    with qtbot.waitSignal(page.controller.index_finished, timeout=10_000):
        qtbot.mouseClick(page.empty_new_button, Qt.MouseButton.LeftButton)


def test_empty_state_is_a_sentence_and_the_main_action(make_page: MakePage) -> None:
    page = make_page()
    assert page.stack.currentWidget() is page.empty
    assert page.empty_label.text() == EMPTY_TEXT
    assert page.empty_new_button.isVisible() and page.empty_new_button.isEnabled()
    shot(page, "docs-empty")


def test_make_a_collection_lists_what_was_skipped_and_why(
    qtbot: QtBot, make_page: MakePage, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = make_page()
    asked = answer_new(monkeypatch, "help", [folder])
    with qtbot.waitSignal(page.controller.index_finished, timeout=10_000):
        qtbot.mouseClick(page.empty_new_button, Qt.MouseButton.LeftButton)
    assert asked == [("smollm2-135m-instruct-q4_1", [], [])], "the starter is the default"
    assert page.stack.currentWidget() is page.main
    assert page.collection_combo.currentText() == "help"
    assert page.info_label.text().startswith("3 files, ")
    assert page.embedder_row.label.text().startswith("Embedder: fake-aaaa · lock sha256:")
    skipped = [page.skipped_list.item(i).text() for i in range(page.skipped_list.count())]
    assert sorted(skipped) == [
        "empty.md: the file is empty",
        "junk.txt: " + next(s.split(": ", 1)[1] for s in skipped if s.startswith("junk.txt")),
    ]
    assert "binary" in next(s for s in skipped if s.startswith("junk.txt"))
    assert page.tabs.tabText(1) == "Skipped (2)"
    assert "Read 3 files" in page.status_label.text()
    assert "2 skipped" in page.status_label.text()


def test_search_ranks_hits_highlights_words_and_opens_the_passage(
    qtbot: QtBot, make_page: MakePage, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = make_page()
    make_collection(qtbot, page, monkeypatch, folder)
    page.search_box.setText("how are refunds paid")
    with qtbot.waitSignal(page.controller.searched, timeout=10_000):
        qtbot.keyClick(page.search_box, Qt.Key.Key_Return)
    hits = page.hits_view.hits
    assert hits and Path(hits[0].source).name == "refunds.md"
    html = page.hits_view.toHtml()
    assert "refunds.md" in html and "line 1" in html and "score 0.0" in html
    # Matched words are marked (bold on a highlight colour); common words are not.
    text_html = page.hits_view.document().toHtml()
    assert "font-weight:700" in text_html or "font-weight:600" in text_html
    assert matched_words(hits[0].text, "how are refunds paid") == {
        "refund",
        "refunds",
        "refunded",
        "paid",
    }
    shot(page, "docs-results")

    dialog = page.open_hit(hits[0])
    qtbot.waitUntil(lambda: dialog.shown is not None, timeout=5_000)
    assert dialog.highlighted == hits[0].text
    assert "highlighted" in dialog.note.text()
    assert dialog.open_button.isEnabled()
    dialog.close()


def test_a_changed_file_shows_the_passage_as_indexed_and_says_so(
    qtbot: QtBot, make_page: MakePage, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = make_page()
    make_collection(qtbot, page, monkeypatch, folder)
    page.search_box.setText("parcels post")
    with qtbot.waitSignal(page.controller.searched, timeout=10_000):
        page.search()
    hit = page.hits_view.hits[0]
    (folder / "shipping.txt").write_text("Everything about shipping has changed.")
    dialog = page.open_hit(hit)
    qtbot.waitUntil(lambda: dialog.shown is not None, timeout=5_000)
    assert dialog.highlighted == hit.text
    assert "changed since it was indexed" in dialog.note.text()
    dialog.close()


def test_progress_and_cancel_then_refresh_goes_on(
    qtbot: QtBot,
    store,
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
) -> None:
    gated = GatedEmbedder(free=1)
    docs = DocsAccess(store, lambda ref: gated)
    page = DocsPage(store, docs)
    qtbot.addWidget(page)
    page.resize(640, 520)
    page.show()
    try:
        answer_new(monkeypatch, "help", [folder])
        page.new_collection()
        assert page.progress_box.isVisible() and page.cancel_button.isEnabled()
        assert not page.refresh_button.isEnabled() and not page.new_button.isEnabled()
        qtbot.waitUntil(lambda: gated.waiting.is_set(), timeout=10_000)
        qtbot.waitUntil(lambda: "Reading 1 of" in page.progress_label.text(), timeout=10_000)
        assert page.progress_bar.value() == 1 and page.progress_bar.maximum() == 5
        assert page.collection_combo.currentText() == "help", "shown while it is being made"
        shot(page, "docs-indexing")
        with qtbot.waitSignal(page.controller.index_cancelled, timeout=10_000):
            qtbot.mouseClick(page.cancel_button, Qt.MouseButton.LeftButton)
        assert "cancelled" in page.status_label.text()
        assert not page.progress_box.isVisible()
        assert page.current is not None and page.current.files == 1, "the file read is kept"
        gated.gate.set()
        with qtbot.waitSignal(page.controller.index_finished, timeout=10_000):
            qtbot.mouseClick(page.refresh_button, Qt.MouseButton.LeftButton)
        assert page.current is not None and page.current.files == 3
        assert "1 unchanged" in page.status_label.text()
    finally:
        page.shutdown()
        docs.close()


def test_remove_asks_first_and_returns_to_the_empty_state(
    qtbot: QtBot, make_page: MakePage, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = make_page()
    make_collection(qtbot, page, monkeypatch, folder)
    monkeypatch.setattr(dialogs.RemoveConfirm, "ask", staticmethod(lambda *a: False))
    qtbot.mouseClick(page.remove_button, Qt.MouseButton.LeftButton)
    assert page.current is not None and page.remove_button.isEnabled(), "nothing was removed"
    monkeypatch.setattr(dialogs.RemoveConfirm, "ask", staticmethod(lambda *a: True))
    with qtbot.waitSignal(page.controller.removed, timeout=10_000):
        qtbot.mouseClick(page.remove_button, Qt.MouseButton.LeftButton)
    assert page.stack.currentWidget() is page.empty
    assert folder.joinpath("refunds.md").exists(), "the files stay"
    assert "Removed the collection help" in page.status_label.text()


def test_dropped_folders_are_added_to_the_collection_shown(
    qtbot: QtBot, make_page: MakePage, folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = make_page()
    make_collection(qtbot, page, monkeypatch, folder)
    more = tmp_path / "more"
    more.mkdir()
    (more / "returns.txt").write_text("Returns are accepted for thirty days after delivery.")
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(more))])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        data,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    with qtbot.waitSignal(page.controller.index_finished, timeout=10_000):
        page.dropEvent(event)
    assert page.current is not None and page.current.files == 4
    assert str(more) in page.roots_label.text()


def test_dropping_on_the_empty_page_offers_a_new_collection_named_after_the_folder(
    qtbot: QtBot, make_page: MakePage, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = make_page()
    asked = answer_new(monkeypatch, "help", [folder])
    with qtbot.waitSignal(page.controller.index_finished, timeout=10_000):
        page.add_paths([folder])
    assert asked[0][2] == [folder]
    assert suggested_name([folder]) == "help"


def test_a_collection_whose_embedder_cannot_open_is_searched_by_keywords_and_says_so(
    qtbot: QtBot,
    make_page: MakePage,
    docs: DocsAccess,
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    page = make_page()
    make_collection(qtbot, page, monkeypatch, folder)

    def gone(ref: str | None) -> object:
        raise ModelNotFound(f"No installed model matches '{ref}'.")

    docs.open_embedder = gone  # type: ignore[assignment]
    page.search_box.setText("warranty years")
    with qtbot.waitSignal(page.controller.searched, timeout=10_000):
        page.search()
    assert Path(page.hits_view.hits[0].source).name == "warranty.html"
    assert page.status_label.text().startswith("Searched by keywords alone")


def test_closing_while_indexing_stops_the_indexing_before_the_index_closes(
    qtbot: QtBot,
    store,  # type: ignore[no-untyped-def]
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gated = GatedEmbedder(free=1)
    docs = DocsAccess(store, lambda ref: gated)
    page = DocsPage(store, docs)
    qtbot.addWidget(page)
    answer_new(monkeypatch, "help", [folder])
    page.new_collection()
    qtbot.waitUntil(lambda: gated.waiting.is_set(), timeout=10_000)
    page.shutdown()  # as the window does on close, before it closes the index
    assert page.controller._index_ended.is_set(), "indexing ended within the shutdown"
    docs.close()
    reopened = DocsAccess(store, lambda ref: gated)
    try:
        assert reopened.library.get("help").files == 1, "the file read whole is kept"
    finally:
        reopened.close()


def test_a_search_shows_the_loading_state_then_hits_and_a_failure_offers_retry(
    qtbot: QtBot, make_page: MakePage, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = make_page()
    make_collection(qtbot, page, monkeypatch, folder)
    page.search_box.setText("refund")
    with qtbot.waitSignal(page.controller.searched, timeout=10_000):
        page.search()
        assert page.hits_stack.currentWidget() is page.search_loading
        assert page.search_loading.text() == "Searching help…"
    assert page.hits_stack.currentWidget() is page.hits_view and page.hits_view.hits
    # A failure is said in the error state, whose Retry searches again.
    page.controller.search_failed.emit("the index is busy; try again in a moment.")
    assert page.hits_stack.currentWidget() is page.search_error
    assert (
        page.search_error.text() == "The search failed: the index is busy; try again in a moment."
    )
    assert page.search_error.retry_button is not None
    with qtbot.waitSignal(page.controller.searched, timeout=10_000):
        qtbot.mouseClick(page.search_error.retry_button, Qt.MouseButton.LeftButton)
    assert page.hits_stack.currentWidget() is page.hits_view and page.hits_view.hits


def link_colors(page: DocsPage) -> set[str]:
    """The colours the hits' file names (links) are drawn in."""
    found = set()
    block = page.hits_view.document().begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            if fragment.charFormat().isAnchor():
                found.add(fragment.charFormat().foreground().color().name())
            it += 1
        block = block.next()
    return found


def test_hits_links_follow_a_switch_to_the_dark_scheme(
    qtbot: QtBot, make_page: MakePage, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.ui import theme

    installed = theme.installed()
    assert installed is not None
    before = installed.scheme
    installed.apply("light")
    try:
        page = make_page()
        make_collection(qtbot, page, monkeypatch, folder)
        page.search_box.setText("refund")
        with qtbot.waitSignal(page.controller.searched, timeout=10_000):
            page.search()
        assert link_colors(page) == {theme.LIGHT.link}
        installed.apply("dark")
        assert link_colors(page) == {theme.DARK.link}, "readable on the dark background"
    finally:
        installed.apply(before)
        installed.forced = None
