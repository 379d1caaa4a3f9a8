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
    # The cell is short, so model names stay in sight; the whole line is below the table.
    assert cell(old.id) == "Recorded"
    assert cell(new.id) == "Drifted (3/3)"
    # A long behaviour text never pushes the model names out of sight.
    view = page.installed.table
    assert view.columnWidth(Column.BEHAVIOUR) <= view.columnWidth(Column.NAME)

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


@pytest.mark.slow
def test_update_button_shows_the_drift_of_a_new_template_before_switching(
    qtbot: QtBot,
    store: ModelStore,
    hub_server: FakeHub,
    starter_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app.core.drift import CheckSet, CheckSetLibrary, PromptItem, answer
    from app.core.drift.checkset import item_id
    from app.core.drift.versions import VersionComparison
    from app.core.models.gguf import read_gguf
    from app.core.models.starter import STARTER
    from app.ui.models.download_model import DownloadRequest
    from tests.hub_server import add_starter
    from tests.model_files import starter_with_metadata

    add_starter(hub_server, starter_file)
    page = open_page(qtbot, store, hub_settings(hub_server))
    with qtbot.waitSignal(page.queue.model_installed, timeout=60_000) as installed:
        page.queue.enqueue(DownloadRequest(STARTER.repo, STARTER.filename, activate=True))
    old = installed.args[0]
    prompts = tuple(
        PromptItem(item_id("prompt", system, text), text, system)
        for system, text in ((None, "What is 2 + 2?"), ("Answer in one word.", "Sky colour?"))
    )
    check_set = CheckSet(name="basics", prompts=prompts, max_tokens=12)
    CheckSetLibrary.for_paths(store.paths).save(
        check_set.recorded(answer(store.paths, store, check_set, old.id, threads=1))
    )
    template = read_gguf(starter_file).chat_template
    assert template is not None
    variant = starter_with_metadata(
        starter_file,
        tmp_path / "v2" / STARTER.filename,
        {"tokenizer.chat_template": template.replace("named SmolLM", "named Drifty")},
    )
    hub_server.commit(STARTER.repo, {STARTER.filename: variant}, message="New template")
    reviewed: list[VersionComparison] = []

    def review(cls: type, parent: object, comparison: VersionComparison) -> bool:
        reviewed.append(comparison)
        return False

    monkeypatch.setattr(BehaviourPrompts, "review_update", classmethod(review))
    page.refresh()
    page.installed.table.selectRow(page.table_model.row_of(old.id))
    qtbot.mouseClick(page.installed.check_button, CLICK)
    qtbot.waitUntil(lambda: not page.installed.busy.busy, timeout=20_000)
    assert page.installed.update_button.isEnabled()
    qtbot.mouseClick(page.installed.update_button, CLICK)
    qtbot.waitUntil(lambda: bool(reviewed), timeout=120_000)
    (comparison,) = reviewed
    assert not comparison.identical
    assert "1 of 2 prompts answered differently" in comparison.summary()
    assert "| chat template sha256 |" in comparison.markdown()
    active = store.active()
    assert active is not None and active.id == old.id, "kept: nothing switched"
    table = page.table_model
    new_id = comparison.new.id
    drifted = table.index(table.row_of(new_id), Column.BEHAVIOUR).data()
    assert drifted == "Drifted (1/2)"
