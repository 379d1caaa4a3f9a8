"""Behaviour checks from the window: "Check now" in the background (progress, Cancel), the
Behaviour report as soon as there is a result, and checks made on the command line shown
without a restart."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.core.drift import CheckSet, CheckSetLibrary, DriftReport, compare
from app.core.drift.results import CheckResults
from app.core.models.store import InstalledModel, ModelStore
from app.core.paths import Paths
from app.ui.models import record_check
from app.ui.models.page import ModelsPage
from app.ui.models.table import Column
from tests.gui.models.support import hub_settings, open_page
from tests.hub_server import FakeHub
from tests.unit.drift.test_results import models, recorded_set, recording

CLICK = Qt.MouseButton.LeftButton


def same_answers(paths: Paths, check_set: CheckSet, model: InstalledModel) -> DriftReport:
    """What a check that found nothing changed reports, kept as `drift check` keeps it."""
    assert check_set.recording is not None
    fresh = recording(model, "2026-12-07T09:00:00Z", (1, 2))
    report = compare(check_set, check_set.recording, fresh)
    CheckResults.for_paths(paths).save(report, model)
    return report


def behaviour_cell(page: ModelsPage, model: InstalledModel) -> str:
    table = page.table_model
    return str(table.index(table.row_of(model.id), Column.BEHAVIOUR).data())


@pytest.fixture
def opened(
    qtbot: QtBot, store: ModelStore, hub_server: FakeHub, tmp_path: Path
) -> tuple[ModelsPage, InstalledModel, InstalledModel]:
    recorded, other = models(store, tmp_path)
    recorded_set(store.paths, recorded)
    page = open_page(qtbot, store, hub_settings(hub_server))
    page.refresh()
    return page, recorded, other


def test_check_now_runs_in_the_background_and_the_report_opens_at_once(
    qtbot: QtBot,
    store: ModelStore,
    opened: tuple[ModelsPage, InstalledModel, InstalledModel],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    page, model, other = opened
    tab = page.installed
    proceed = threading.Event()
    seen: dict[str, Any] = {}

    def fake_check(
        paths: Paths, store: ModelStore, check_set: CheckSet, model_id: str, **kw: Any
    ) -> DriftReport:
        """What check does, without loading a model: progress, then the kept result."""
        seen.update(kw, name=check_set.name, model_id=model_id)
        kw["on_progress"](1, check_set.size)
        assert proceed.wait(20)
        kw["cancel"].raise_if_cancelled()
        return same_answers(paths, check_set, store.get(model_id))

    monkeypatch.setattr(record_check, "check", fake_check)
    tab.table.selectRow(page.table_model.row_of(other.id))
    assert not tab.recorder.check_button.isEnabled(), "nothing recorded on this one"
    tab.table.selectRow(page.table_model.row_of(model.id))
    assert behaviour_cell(page, model) == "Recorded"
    assert tab.recorder.check_button.isEnabled()
    assert not tab.behaviour_button.isEnabled(), "no result yet"
    assert "Check now makes the first report" in tab.behaviour_button.toolTip()

    qtbot.mouseClick(tab.recorder.check_button, CLICK)
    assert tab.busy.busy and not tab.busy.isHidden(), "behind the busy strip"
    assert not tab.recorder.check_button.isEnabled() and tab.busy.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: tab.busy.bar.value() == 333, timeout=10_000)  # 1 of 3 answers
    with qtbot.waitSignal(tab.busy.finished, timeout=20_000):
        proceed.set()
    assert seen["name"] == "basics" and seen["model_id"] == model.id and seen["keep"]
    assert behaviour_cell(page, model) == "Identical (3/3)"
    assert tab.behaviour_button.isEnabled(), "the report is there as soon as the result is"
    assert "identical" in tab.status.text().lower()
    folder = Path(os.environ.get("DRIFTLESS_SCREENSHOTS") or tmp_path)
    assert page.grab().save(str(folder / "models-check-now.png"))


def test_cancelling_check_now_keeps_no_result(
    qtbot: QtBot,
    opened: tuple[ModelsPage, InstalledModel, InstalledModel],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    page, model, _other = opened
    tab = page.installed

    def waits_for_cancel(*args: Any, **kw: Any) -> DriftReport:
        kw["cancel"].wait(20)  # until Cancel is clicked (a real model stops between tokens)
        kw["cancel"].raise_if_cancelled()
        raise AssertionError("not reached")

    monkeypatch.setattr(record_check, "check", waits_for_cancel)
    tab.table.selectRow(page.table_model.row_of(model.id))
    qtbot.mouseClick(tab.recorder.check_button, CLICK)
    with qtbot.waitSignal(tab.busy.finished, timeout=20_000):
        qtbot.mouseClick(tab.busy.cancel_button, CLICK)
    assert tab.status.text() == "Check cancelled; the last result is kept as it was."
    assert CheckResults.for_paths(page.store.paths).for_model(model) == []
    assert not tab.behaviour_button.isEnabled()


def test_checks_and_recordings_from_the_command_line_show_without_a_restart(
    qtbot: QtBot,
    store: ModelStore,
    opened: tuple[ModelsPage, InstalledModel, InstalledModel],
) -> None:
    page, model, other = opened
    tab = page.installed
    tab.table.selectRow(page.table_model.row_of(model.id))
    assert not tab.behaviour_button.isEnabled()
    # `driftless drift check basics --model …` in a terminal keeps its result on disk.
    library = CheckSetLibrary.for_paths(store.paths)
    same_answers(store.paths, library.load("basics"), model)
    qtbot.waitUntil(lambda: behaviour_cell(page, model) == "Identical (3/3)", timeout=10_000)
    assert tab.selected_model() == model, "the selection stays"
    assert tab.behaviour_button.isEnabled()
    # `driftless drift record … --model` on the other model: a new check set file.
    other_set = CheckSet(name="other", prompts=library.load("basics").prompts).recorded(
        recording(other, "2026-12-07T10:00:00Z", (5,))
    )
    library.save(other_set)
    qtbot.waitUntil(lambda: behaviour_cell(page, other) == "Recorded", timeout=10_000)
