"""Record behaviour check…: from messages of kept chats or a labelled file, in the background,
and "Record again on the new version" after an update switched."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from app.core.drift import CheckSet, CheckSetLibrary
from app.core.drift.checkset import PromptItem
from app.core.drift.sources import LabelledFile
from app.core.models.store import ModelStore
from app.core.paths import Paths
from app.ui.models import record_check
from app.ui.models.record_dialog import RecordDialog, RecordRequest
from app.ui.models.table import Column
from tests.gui.models.support import hub_settings, open_page
from tests.hub_server import FakeHub
from tests.unit.drift.test_results import models, recording
from tests.unit.drift.test_sources import keep_chats, write_reviews

CLICK = Qt.MouseButton.LeftButton


def test_the_dialog_picks_messages_across_chats_and_a_labelled_file(
    qtbot: QtBot, paths: Paths, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keep_chats(paths)
    CheckSetLibrary.for_paths(paths).save(
        CheckSet(name="tiny-checks", prompts=(PromptItem("p", "Hi"),))
    )
    dialog = RecordDialog(paths, "tiny")
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.name_edit.text() == "tiny-checks-2", "a free name is offered"
    assert not dialog.record_button.isEnabled(), "nothing picked yet"
    titles = [dialog.conversation_list.item(i).text() for i in range(2)]
    capitals = next(i for i, t in enumerate(titles) if t.startswith("Capitals"))
    haiku = 1 - capitals
    dialog.pick(capitals, [1])
    assert "System prompt (goes with them): Answer in one word." in dialog.system_label.text()
    dialog.pick(haiku, [0])
    dialog.conversation_list.setCurrentRow(capitals)
    checked = dialog.message_list.item(1).checkState()
    assert checked == Qt.CheckState.Checked, "picks survive switching conversations"
    assert dialog.record_button.isEnabled()
    assert dialog.summary.text() == "To record: 2 prompts."

    reviews = write_reviews(tmp_path / "reviews.csv")
    monkeypatch.setattr(RecordDialog, "open_table", classmethod(lambda cls, parent: reviews))
    dialog.tabs.setCurrentIndex(1)
    qtbot.mouseClick(dialog.browse_button, CLICK)
    assert dialog.text_combo.currentText() == "review"
    assert dialog.gold_combo.currentText() == "sentiment"
    dialog.label_set_combo.setCurrentText("sentiment")
    assert dialog.summary.text() == "To record: 2 prompts and the texts of reviews.csv."
    request = dialog.request()
    assert request.name == "tiny-checks-2"
    assert {(p.system, p.prompt) for p in request.prompts} == {
        ("Answer in one word.", "And of Spain?"),
        (None, "Write a haiku about rain."),
    }
    assert request.labelled == LabelledFile(reviews, "sentiment", "review", "sentiment")

    dialog.name_edit.setText("tiny-checks")
    assert not dialog.record_button.isEnabled()
    assert "exists already" in dialog.summary.text()
    dialog.name_edit.setText("tiny-checks-2")
    folder = Path(os.environ.get("DRIFTLESS_SCREENSHOTS") or tmp_path)
    QApplication.processEvents()  # lay out the note the file added before the picture
    assert dialog.grab().save(str(tmp_path / "record-check-file.png"))  # a tmp path in it
    dialog.tabs.setCurrentIndex(0)
    assert dialog.grab().save(str(folder / "record-check.png"))


def test_recording_runs_in_the_background_and_the_cell_says_recorded(
    qtbot: QtBot,
    store: ModelStore,
    hub_server: FakeHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model, _other = models(store, tmp_path)
    prompts = (
        PromptItem("p-0", "Prompt 0"),
        PromptItem("p-1", "Prompt 1"),
        PromptItem("p-2", "Prompt 2"),
    )
    request = RecordRequest("mine", prompts)
    monkeypatch.setattr(RecordDialog, "ask", classmethod(lambda cls, *args: request))
    seen: dict[str, Any] = {}

    def fake_record_new(
        paths: Paths, store: ModelStore, name: str, model_id: str, **kw: Any
    ) -> CheckSet:
        """What record_new does, without loading a model: answers arrive, then the file."""
        seen.update(kw, name=name, model_id=model_id)
        kw["on_progress"](1, 3)
        kw["cancel"].raise_if_cancelled()
        saved = CheckSet(name=name, prompts=kw["prompts"]).recorded(
            recording(store.get(model_id), "2026-12-01T10:00:00Z", (1,))
        )
        CheckSetLibrary.for_paths(paths).save(saved)
        return saved

    monkeypatch.setattr(record_check, "record_new", fake_record_new)
    page = open_page(qtbot, store, hub_settings(hub_server))
    page.refresh()
    tab = page.installed
    table = page.table_model
    tab.table.selectRow(table.row_of(model.id))
    assert tab.recorder.record_button.isEnabled()
    with qtbot.waitSignal(tab.busy.finished, timeout=20_000):
        qtbot.mouseClick(tab.recorder.record_button, CLICK)
        assert tab.busy.busy, "recording runs behind the busy strip (progress, Cancel)"
    assert seen["model_id"] == model.id and seen["prompts"] == prompts
    assert table.index(table.row_of(model.id), Column.BEHAVIOUR).data() == "Recorded"
    assert "Recorded 'mine' on " in tab.status.text()


def test_cancelling_a_recording_keeps_nothing(
    qtbot: QtBot,
    store: ModelStore,
    hub_server: FakeHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model, _other = models(store, tmp_path)
    request = RecordRequest("mine", (PromptItem("p-0", "Prompt 0"),))
    monkeypatch.setattr(RecordDialog, "ask", classmethod(lambda cls, *args: request))

    def waits_for_cancel(
        paths: Paths, store: ModelStore, name: str, model_id: str, **kw: Any
    ) -> CheckSet:
        kw["cancel"].wait(20)  # until Cancel is clicked (a real model stops between tokens)
        kw["cancel"].raise_if_cancelled()
        raise AssertionError("not reached")

    monkeypatch.setattr(record_check, "record_new", waits_for_cancel)
    page = open_page(qtbot, store, hub_settings(hub_server))
    page.refresh()
    tab = page.installed
    tab.table.selectRow(page.table_model.row_of(model.id))
    qtbot.mouseClick(tab.recorder.record_button, CLICK)
    with qtbot.waitSignal(tab.busy.finished, timeout=20_000):
        qtbot.mouseClick(tab.busy.cancel_button, CLICK)
    assert tab.status.text() == "Recording cancelled; nothing was kept."
    assert CheckSetLibrary.for_paths(store.paths).names() == []


def test_after_switching_the_check_sets_can_be_recorded_again_on_the_new_version(
    qtbot: QtBot,
    store: ModelStore,
    hub_server: FakeHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.core.drift import compare
    from app.core.drift.results import CheckResults
    from app.core.drift.versions import VersionComparison
    from app.ui.models.behaviour import BehaviourPrompts
    from tests.unit.drift.test_results import recorded_set

    old, new = models(store, tmp_path)
    check_set = recorded_set(store.paths, old)
    assert check_set.recording is not None
    report = compare(check_set, check_set.recording, recording(new, "2026-12-01T09:00Z", (9,)))
    CheckResults.for_paths(store.paths).save(report, new)  # what the update's check kept
    comparison = VersionComparison(old, new, (report,))
    asked: list[VersionComparison] = []

    def record_again(cls: type, parent: object, comparison: VersionComparison) -> bool:
        asked.append(comparison)
        return True

    def fake_record_again(
        paths: Paths, store: ModelStore, old: Any, new: Any, **kw: Any
    ) -> list[str]:
        """The new version's answers replace the old ones (no model is loaded)."""
        CheckSetLibrary.for_paths(paths).save(
            check_set.recorded(recording(new, "2026-12-01T10:00:00Z", (9,)))
        )
        return ["basics"]

    monkeypatch.setattr(BehaviourPrompts, "review_update", classmethod(lambda *a: True))
    monkeypatch.setattr(BehaviourPrompts, "record_again", classmethod(record_again))
    monkeypatch.setattr(record_check, "record_again", fake_record_again)
    page = open_page(qtbot, store, hub_settings(hub_server))
    page.refresh()
    tab = page.installed
    table = page.table_model
    assert table.index(table.row_of(new.id), Column.BEHAVIOUR).data() == "Drifted (3/3)"
    with qtbot.waitSignal(tab.busy.finished, timeout=20_000):
        tab._on_compared(comparison)  # what the Update button's check ends with
    assert asked == [comparison], "offered after switching"
    active = store.active()
    assert active is not None and active.id == new.id
    assert "Recorded basics again on" in tab.status.text()
    assert table.index(table.row_of(new.id), Column.BEHAVIOUR).data() == "Recorded"


def test_keeping_the_old_version_offers_nothing(
    qtbot: QtBot,
    store: ModelStore,
    hub_server: FakeHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.core.drift.versions import VersionComparison
    from app.ui.models.behaviour import BehaviourPrompts
    from tests.unit.drift.test_results import recorded_set

    old, new = models(store, tmp_path)
    recorded_set(store.paths, old)
    monkeypatch.setattr(BehaviourPrompts, "review_update", classmethod(lambda *a: False))
    monkeypatch.setattr(
        BehaviourPrompts, "record_again", classmethod(lambda *a: pytest.fail("not offered"))
    )
    page = open_page(qtbot, store, hub_settings(hub_server))
    page.installed._on_compared(VersionComparison(old, new, ()))
    assert not page.installed.busy.busy


@pytest.mark.slow
def test_recording_from_chats_on_the_starter(
    qtbot: QtBot, store: ModelStore, hub_server: FakeHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.core.drift.sources import chat_prompts, prompt_items
    from app.core.models.starter import ensure_starter

    starter = ensure_starter(store)
    assert starter is not None
    keep_chats(store.paths)
    capitals = next(c for c in chat_prompts(store.paths) if c.title == "Capitals")
    request = RecordRequest(
        "capitals", prompt_items((capitals.system, p) for p in capitals.prompts)
    )
    monkeypatch.setattr(RecordDialog, "ask", classmethod(lambda cls, *args: request))
    page = open_page(qtbot, store, hub_settings(hub_server))
    page.refresh()
    tab = page.installed
    tab.table.selectRow(page.table_model.row_of(starter.id))
    with qtbot.waitSignal(tab.busy.finished, timeout=120_000):
        qtbot.mouseClick(tab.recorder.record_button, CLICK)
    saved = CheckSetLibrary.for_paths(store.paths).load("capitals")
    assert saved.recording is not None and len(saved.recording.prompts) == 2
    assert {p.system for p in saved.prompts} == {"Answer in one word."}
    table = page.table_model
    assert table.index(table.row_of(starter.id), Column.BEHAVIOUR).data() == "Recorded"


def test_with_no_kept_chat_the_chats_tab_says_so_in_the_shared_empty_state(
    qtbot: QtBot, paths: Paths
) -> None:
    dialog = RecordDialog(paths, "tiny")
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.tabs.currentIndex() == 1, "it opens on the labelled file"
    dialog.tabs.setCurrentIndex(0)
    assert dialog.chats_stack.state == "empty" and dialog.chats_stack.empty.isVisible()
    assert dialog.chats_stack.empty.text().startswith(
        "No kept conversation has a message of yours yet."
    )
    assert not dialog.conversation_list.isVisible()
