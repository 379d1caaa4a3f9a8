"""Checks at start: a recorded check set whose runtime differs from this one is checked again
in the background, and the Behaviour cell says the result."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from app.core.cancel import CancelToken
from app.core.drift import CheckSet, CheckSetLibrary, DriftReport, compare
from app.core.drift.checkset import Recording
from app.core.drift.environment import runtime_parts
from app.core.drift.record import ProgressCallback
from app.core.drift.results import CheckResults
from app.core.drift.startup import DueCheck
from app.core.models.store import ModelStore
from app.ui.models.table import Column
from tests.gui.models.support import hub_settings, open_page
from tests.hub_server import FakeHub
from tests.unit.drift.test_results import PROMPTS, models, recording

OLD_BINDING = "0.0.1"


def record_on_old_runtime(check_set: CheckSet, recorded: Recording) -> CheckSet:
    """The same answers, as if recorded with another llama-cpp-python."""
    env = recorded.environment.merged(**{**runtime_parts(), "llama_cpp_python": OLD_BINDING})
    return check_set.recorded(Recording(recorded.recorded_at, env, recorded.prompts))


def test_a_changed_runtime_is_checked_once_in_the_background(
    qtbot: QtBot, store: ModelStore, hub_server: FakeHub, tmp_path: Path
) -> None:
    model, _other = models(store, tmp_path)
    check_set = record_on_old_runtime(
        CheckSet(name="basics", prompts=PROMPTS), recording(model, "2026-11-02T10:00:00Z", (1, 2))
    )
    CheckSetLibrary.for_paths(store.paths).save(check_set)
    calls: list[str] = []

    def same_answers(
        store: ModelStore, due: DueCheck, on_progress: ProgressCallback, cancel: CancelToken
    ) -> DriftReport:
        """What a check on this runtime gives when nothing changed (no model is loaded)."""
        calls.append(due.model.id)
        recorded = due.check_set.recording
        assert recorded is not None
        fresh = Recording(
            "2026-12-01T09:00:00Z",
            recorded.environment.merged(**runtime_parts()),
            recorded.prompts,
        )
        on_progress(len(recorded.prompts), len(recorded.prompts))
        report = compare(due.check_set, recorded, fresh)
        CheckResults.for_paths(store.paths).save(report, due.model)
        return report

    page = open_page(qtbot, store, hub_settings(hub_server))
    page.refresh()
    table = page.table_model

    def cell() -> object:
        return table.index(table.row_of(model.id), Column.BEHAVIOUR).data()

    assert cell() == "Recorded"
    checks = page.runtime_checks
    checks.checker = same_answers
    cells: list[object] = []
    checks.started.connect(lambda _message: cells.append(cell()))
    with qtbot.waitSignal(checks.finished, timeout=30_000) as finished:
        assert checks.start() is not None
        assert checks.start() is None, "one run at a time"
    assert calls == [model.id]
    assert cells == ["Checking…"], "the cell says a check is running"
    assert cell() == "Identical (3/3)"
    assert "identical to 2026-11-02T10:00:00Z (3 of 3)" in finished.args[0]
    assert "identical" in page.status.text()
    # The message said why: the binding's version changed.
    page.installed.table.selectRow(table.row_of(model.id))
    assert page.installed.behaviour_button.isEnabled(), "the report is one click away"

    # The next start on the same runtime checks nothing.
    with qtbot.waitSignal(checks.finished, timeout=30_000) as again:
        checks.start()
    assert again.args == [""] and calls == [model.id]


def test_nothing_runs_when_the_runtime_is_the_recorded_one(
    qtbot: QtBot, store: ModelStore, hub_server: FakeHub, tmp_path: Path
) -> None:
    model, _other = models(store, tmp_path)
    recorded = recording(model, "2026-11-02T10:00:00Z", (1, 2))
    env = recorded.environment.merged(**runtime_parts())
    CheckSetLibrary.for_paths(store.paths).save(
        CheckSet(name="basics", prompts=PROMPTS).recorded(
            Recording(recorded.recorded_at, env, recorded.prompts)
        )
    )
    page = open_page(qtbot, store, hub_settings(hub_server))
    started: list[str] = []
    page.runtime_checks.started.connect(started.append)
    page.runtime_checks.checker = lambda *args: pytest.fail("nothing changed: no check")
    with qtbot.waitSignal(page.runtime_checks.finished, timeout=30_000):
        page.runtime_checks.start()
    assert started == []


@pytest.mark.slow
def test_the_window_checks_the_starter_when_llama_cpp_python_changed(
    qtbot: QtBot, store: ModelStore
) -> None:
    from app.core.drift import PromptItem, answer
    from app.core.drift.checkset import item_id
    from app.core.models.starter import ensure_starter
    from app.ui.main_window import MainWindow

    starter = ensure_starter(store)
    assert starter is not None
    prompts = tuple(
        PromptItem(item_id("prompt", None, text), text) for text in ("What is 2 + 2?", "Hi!")
    )
    check_set = CheckSet(name="basics", prompts=prompts, max_tokens=8)
    recorded = answer(store.paths, store, check_set, starter.id, threads=1)
    CheckSetLibrary.for_paths(store.paths).save(record_on_old_runtime(check_set, recorded))

    window = MainWindow(store)
    qtbot.addWidget(window)
    checks = window.models_page.runtime_checks
    shown: list[str] = []
    checks.started.connect(
        lambda _m: shown.extend([window.progress.label.text(), window.models_page.status.text()])
    )
    with qtbot.waitSignal(checks.finished, timeout=120_000):
        window.show()
    status_line, page_message = shown
    assert status_line == "The runtime changed: checking behaviour…"
    assert f"(llama-cpp-python version {OLD_BINDING} -> " in page_message
    assert page_message.endswith("checking 1 check set in the background…")
    assert "runtime" not in window.progress.jobs, "the status line is free again"
    table = window.models_page.table_model
    assert table.index(table.row_of(starter.id), Column.BEHAVIOUR).data() == "Identical (2/2)"


def test_closing_the_page_cancels_the_checks_and_keeps_no_result(
    qtbot: QtBot, store: ModelStore, hub_server: FakeHub, tmp_path: Path
) -> None:
    model, _other = models(store, tmp_path)
    check_set = record_on_old_runtime(
        CheckSet(name="basics", prompts=PROMPTS), recording(model, "2026-11-02T10:00:00Z", (1, 2))
    )
    CheckSetLibrary.for_paths(store.paths).save(check_set)

    def until_cancelled(
        store: ModelStore, due: DueCheck, on_progress: ProgressCallback, cancel: CancelToken
    ) -> DriftReport:
        cancel.wait(20)  # a real check stops between tokens
        cancel.raise_if_cancelled()
        raise AssertionError("not cancelled")

    page = open_page(qtbot, store, hub_settings(hub_server))
    checks = page.runtime_checks
    checks.checker = until_cancelled
    with qtbot.waitSignal(checks.started, timeout=30_000):
        checks.start()
    with qtbot.waitSignal(checks.finished, timeout=30_000) as finished:
        page.close()
    assert "cancelled; they run at the next start" in finished.args[0]
    assert CheckResults.for_paths(store.paths).for_model(model) == []
    assert not checks.running
