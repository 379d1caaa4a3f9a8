"""Changing a collection's embedder from the Documents page: the pinned embedder shown,
the dialog (embedding models first, what will happen said plainly), the re-embed with
progress and Cancel (the old vectors kept and searched), and searches on the new
embedder after it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.core.docs.choices import embedder_choices
from app.core.docs.passages import Chunking
from app.core.docs.records import CollectionInfo
from app.core.models.catalog import load_catalog
from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
from app.ui.doc_access import DocsAccess
from app.ui.docs.dialogs import NewCollection, NewCollectionDialog
from app.ui.docs.embedder import ChangeEmbedderDialog, Eta, embedder_line, short_lock
from app.ui.docs.page import DocsPage
from tests.gui.docs.conftest import GatedEmbedder
from tests.gui.docs.shots import shot
from tests.model_files import tiny_model
from tests.unit.docs.fakes import HashEmbedder

STARTER = "smollm2-135m-instruct-q4_1"
NOTES = 40
"""Extra one-passage files, so a re-embed takes two batches (32 passages each)."""


@pytest.fixture
def other_model(store: ModelStore, tmp_path: Path) -> str:
    """A second installed model to switch to (its vectors come from a fake)."""
    ensure_starter(store)
    return store.import_file(tiny_model(tmp_path / "Other.gguf")).id


def with_notes(folder: Path) -> Path:
    for i in range(NOTES):
        (folder / f"note{i:02}.txt").write_text(f"Note {i} is about topic{i} only.")
    return folder


def make_collection(
    qtbot: QtBot, page: DocsPage, monkeypatch: pytest.MonkeyPatch, folder: Path
) -> None:
    """Make "help" from ``folder``, embedded by the starter (here: the fake "a")."""
    starter = STARTER

    def ask(cls, *args, **kwargs):  # type: ignore[no-untyped-def]
        return NewCollection("help", starter, (folder,))

    monkeypatch.setattr(NewCollectionDialog, "ask", classmethod(ask))
    with qtbot.waitSignal(page.controller.index_finished, timeout=10_000):
        qtbot.mouseClick(page.empty_new_button, Qt.MouseButton.LeftButton)


def page_on(qtbot: QtBot, store: ModelStore, docs: DocsAccess) -> DocsPage:
    page = DocsPage(store, docs)
    qtbot.addWidget(page)
    page.resize(720, 560)
    page.show()
    return page


def choose(monkeypatch: pytest.MonkeyPatch, model_id: str | None) -> list[object]:
    """The Change embedder dialog answers ``model_id``; what it was offered is kept."""
    offered: list[object] = []

    def ask(cls, parent, info, choices):  # type: ignore[no-untyped-def]
        offered.append((info.name, [c.model.id for c in choices]))
        return model_id

    monkeypatch.setattr(ChangeEmbedderDialog, "ask", classmethod(ask))
    return offered


def test_the_pinned_embedder_is_shown_and_a_reembed_switches_searches_to_the_new_one(
    qtbot: QtBot,
    store: ModelStore,
    folder: Path,
    other_model: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old, new = HashEmbedder(), HashEmbedder(sha256="b" * 64)
    new.info = dataclasses.replace(new.info, model_id=other_model)  # as a model's would be
    opened: list[str | None] = []

    def factory(ref: str | None) -> HashEmbedder:
        opened.append(ref)
        return new if ref == other_model else old

    docs = DocsAccess(store, factory)
    page = page_on(qtbot, store, docs)
    try:
        make_collection(qtbot, page, monkeypatch, folder)
        row = page.embedder_row
        assert row.label.text() == (
            "Embedder: fake-aaaa · lock sha256:aaaaaaaaaaaa…/fake.gguf · sha256 aaaaaaaaaaaa"
        )
        assert row.change_button.isVisible() and row.change_button.isEnabled()

        choose(monkeypatch, None)  # the user keeps the current one
        qtbot.mouseClick(row.change_button, Qt.MouseButton.LeftButton)
        assert not page.controller.indexing and page.current.embedder.sha256 == "a" * 64

        offered = choose(monkeypatch, other_model)
        with qtbot.waitSignal(page.controller.index_finished, timeout=10_000):
            qtbot.mouseClick(row.change_button, Qt.MouseButton.LeftButton)
        assert offered == [("help", sorted([STARTER, other_model]))]
        info = page.current
        assert info is not None and info.embedder.sha256 == "b" * 64
        assert info.files == 3, "no file was read again or lost"
        assert row.label.text().startswith(f"Embedder: {other_model} · lock sha256:bbbb")
        assert f"embedded {info.passages} passages again" in page.status_label.text()
        assert "searching and answering use it now" in page.status_label.text()

        new.texts.clear()
        page.search_box.setText("refunds")
        with qtbot.waitSignal(page.controller.searched, timeout=10_000):
            page.search()
        assert new.texts == ["refunds"], "the query is embedded by the new embedder"
        assert page.hits_view.hits and Path(page.hits_view.hits[0].source).name == "refunds.md"
    finally:
        page.shutdown()
        docs.close()


def test_a_cancelled_reembed_keeps_the_old_vectors_and_searches_with_them(
    qtbot: QtBot,
    store: ModelStore,
    folder: Path,
    other_model: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = HashEmbedder()
    gated = GatedEmbedder(free=1)  # the first batch at once, then it waits for Cancel
    gated.info = dataclasses.replace(gated.info, sha256="b" * 64, model_id=other_model)
    docs = DocsAccess(store, lambda ref: gated if ref == other_model else old)
    page = page_on(qtbot, store, docs)
    try:
        make_collection(qtbot, page, monkeypatch, with_notes(folder))
        total = page.current.passages
        assert total > 32
        choose(monkeypatch, other_model)
        qtbot.mouseClick(page.embedder_row.change_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(gated.waiting.is_set, timeout=10_000)
        qtbot.waitUntil(
            lambda: page.progress_label.text().startswith(f"Re-embedding 32 of {total:,}"),
            timeout=10_000,
        )
        assert page.progress_box.isVisible() and page.cancel_button.isEnabled()
        assert page.progress_bar.maximum() == total and page.progress_bar.value() == 32
        assert not page.embedder_row.change_button.isEnabled(), "one job at a time"
        assert "Embedding help again with" in page.status_label.text()
        shot(page, "docs-reembed-progress")
        with qtbot.waitSignal(page.controller.index_cancelled, timeout=10_000):
            qtbot.mouseClick(page.cancel_button, Qt.MouseButton.LeftButton)
        assert "Re-embedding was cancelled" in page.status_label.text()
        assert "keeps its vectors from fake-aaaa" in page.status_label.text()
        info = page.current
        assert info is not None and info.embedder.sha256 == "a" * 64 and info.passages == total
        assert page.embedder_row.label.text().startswith("Embedder: fake-aaaa · ")
        assert page.embedder_row.change_button.isEnabled()

        old.texts.clear()
        page.search_box.setText("topic7")
        with qtbot.waitSignal(page.controller.searched, timeout=10_000):
            page.search()
        assert old.texts == ["topic7"], "searched with the old embedder"
        assert Path(page.hits_view.hits[0].source).name == "note07.txt"
    finally:
        gated.gate.set()
        page.shutdown()
        docs.close()


def test_the_dialog_lists_embedding_models_first_and_says_what_will_happen(
    qtbot: QtBot, store: ModelStore, tmp_path: Path
) -> None:
    starter = ensure_starter(store)
    chat = store.get(store.import_file(tiny_model(tmp_path / "Chat.gguf")).id)
    encoder = dataclasses.replace(
        store.get(store.import_file(tiny_model(tmp_path / "Mini.gguf", seed=1)).id),
        id="all-minilm-l6-v2-f16",
        architecture="bert",
    )
    current = HashEmbedder(sha256=starter.sha256).info
    choices = embedder_choices([starter, chat, encoder], load_catalog(), current)
    assert [c.model.id for c in choices] == [encoder.id, *sorted([chat.id, starter.id])]
    assert [c.embedding_model for c in choices] == [True, False, False]
    assert [c.current for c in choices] == [False] + [c.model.id == starter.id for c in choices[1:]]

    info = CollectionInfo(
        id=1,
        name="policies",
        embedder=dataclasses.replace(current, model_id=starter.id),
        chunking=Chunking(),
        roots=(),
        files=131,
        passages=4457,
        bytes=4_000_000,
        skipped=2,
        version=3,
        created_at="2026-12-08T03:00:00",
        updated_at="2026-12-08T03:00:00",
    )
    dialog = ChangeEmbedderDialog(info, choices)
    qtbot.addWidget(dialog)
    dialog.show()
    rows = [dialog.models.item(i).text() for i in range(dialog.models.count())]
    assert rows[0].startswith("all-minilm-l6-v2-f16 (embedding model, recommended, ")
    starter_row = next(i for i, c in enumerate(choices) if c.current)
    assert rows[starter_row].endswith("— the current embedder")
    assert not dialog.models.item(starter_row).flags() & Qt.ItemFlag.ItemIsEnabled
    assert dialog.chosen() == encoder.id, "the recommended model is chosen first"
    assert "Every one of the 4,457 passages of 'policies' will be embedded again" in (
        dialog.warning.text()
    )
    assert "Cancel keeps it" in dialog.warning.text()
    ok = dialog.buttons.button(dialog.buttons.StandardButton.Ok)
    assert ok.isEnabled() and ok.text() == "&Re-embed"
    shot(dialog, "docs-change-embedder")
    dialog.models.setCurrentRow(starter_row)
    assert dialog.chosen() is None and not ok.isEnabled(), "the current one is no change"

    alone = ChangeEmbedderDialog(info, [c for c in choices if c.current])
    qtbot.addWidget(alone)
    alone.show()
    assert alone.chosen() is None
    assert not alone.buttons.button(alone.buttons.StandardButton.Ok).isEnabled()
    assert alone.problem.isVisible() and "No other model is installed" in alone.problem.text()


def test_lock_ids_are_shortened_and_the_time_left_comes_from_the_rate_seen() -> None:
    assert short_lock("sha256:" + "c" * 64 + "/m.gguf") == "sha256:cccccccccccc…/m.gguf"
    assert short_lock("org/repo@" + "1" * 40 + "/m.gguf") == "org/repo@111111111111…/m.gguf"
    assert embedder_line(HashEmbedder().info).startswith("Embedder: fake-aaaa · lock ")
    now = [100.0]
    clock: Callable[[], float] = lambda: now[0]  # noqa: E731
    eta = Eta(clock)
    assert eta.left(32, 4000) == "", "nothing to go by yet"
    now[0] += 1.0
    assert eta.left(64, 4000) == "", "too soon to say"
    now[0] += 9.0  # 320 passages in 10 s: 3,360 more take 105 s
    assert eta.left(352, 4000) == "about 2 min left"
    now[0] += 100.0
    assert eta.left(3990, 4000) == "less than a minute left"
    now[0] += 36_000.0
    eta.reset()
    assert eta.left(0, 100_000) == ""
    now[0] += 60.0
    assert eta.left(1000, 100_000) == "about 1.6 h left"
