"""The Installed tab says each model's behaviour, with the report one click away."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from app.core.drift import compare
from app.core.drift.results import CheckResults
from app.core.models.store import ModelStore
from app.ui.models.behaviour import BehaviourPrompts
from app.ui.models.table import Column
from tests.gui.models.support import hub_settings, open_page
from tests.hub_server import FakeHub
from tests.unit.drift.test_results import models, recorded_set, recording

CLICK = Qt.MouseButton.LeftButton


def test_behaviour_column_and_report(
    qtbot: QtBot,
    store: ModelStore,
    hub_server: FakeHub,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old, new = models(store, tmp_path)
    check_set = recorded_set(store.paths, old)
    assert check_set.recording is not None
    drifted = compare(check_set, check_set.recording, recording(new, "2026-12-01T09:00Z", (9,)))
    CheckResults.for_paths(store.paths).save(drifted, new)
    shown: list[tuple[str, str, str]] = []

    def show(cls: type, parent: object, title: str, summary: str, markdown: str) -> None:
        shown.append((title, summary, markdown))

    monkeypatch.setattr(BehaviourPrompts, "show_report", classmethod(show))
    page = open_page(qtbot, store, hub_settings(hub_server))
    page.refresh()
    table = page.table_model

    def cell(model_id: str) -> object:
        return table.index(table.row_of(model_id), Column.BEHAVIOUR).data()

    assert table.headerData(Column.BEHAVIOUR, Qt.Orientation.Horizontal) == "Behaviour"
    assert cell(old.id) == "Recorded 2026-11-02 (3 answers), not checked since"
    assert cell(new.id) == "3 of 3 answers drifted (basics)"

    page.installed.table.selectRow(table.row_of(old.id))
    assert not page.installed.behaviour_button.isEnabled(), "nothing checked, no report"
    page.installed.table.selectRow(table.row_of(new.id))
    assert page.installed.details.text().startswith("Behaviour: 3 of 3 answers drifted")
    assert page.installed.behaviour_button.isEnabled()
    qtbot.mouseClick(page.installed.behaviour_button, CLICK)
    ((title, summary, markdown),) = shown
    assert title == f"Behaviour of {new.id}"
    assert "3 of 3 prompts answered differently" in summary
    assert markdown.startswith("# Behaviour check: basics")


def test_the_report_dialog_renders_the_markdown(qtbot: QtBot) -> None:
    from app.ui.models.behaviour import ReportDialog

    dialog = ReportDialog("Behaviour", "<b>not html</b>", "# Title\n\n- recorded: *a*")
    qtbot.addWidget(dialog)
    assert dialog.summary.text() == "<b>not html</b>"
    assert dialog.browser.toPlainText().startswith("Title")
