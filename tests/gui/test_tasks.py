"""The window's one kind of background work: results, failures, cancelling, progress."""

from __future__ import annotations

import logging

import pytest
from pytestqt.qtbot import QtBot

from app.core.errors import LOG_HINT, ModelNotFound
from app.ui.tasks import Task


def test_a_result_arrives_on_the_gui_thread(qtbot: QtBot) -> None:
    task = Task(lambda _task: 6 * 7)
    with qtbot.waitSignal(task.succeeded, timeout=5000) as blocker:
        task.start()
    assert blocker.args == [42]


def test_a_failure_is_a_sentence(qtbot: QtBot) -> None:
    def fail(_task: Task) -> None:
        raise ModelNotFound("No installed model is called 'x'.")

    task = Task(fail)
    with qtbot.waitSignal(task.failed, timeout=5000) as blocker:
        task.start()
    assert blocker.args == ["No installed model is called 'x'."]


def test_an_unexpected_error_is_reported_and_its_traceback_logged(
    qtbot: QtBot, caplog: pytest.LogCaptureFixture
) -> None:
    def crash(_task: Task) -> None:
        raise ValueError("bad header")

    task = Task(crash)
    with caplog.at_level(logging.ERROR), qtbot.waitSignal(task.failed, timeout=5000) as blocker:
        task.start()
    assert blocker.args == [f"Unexpected error: ValueError: bad header. {LOG_HINT}"]
    assert any(r.exc_info and "in crash" in caplog.text for r in caplog.records)


def test_cancelling_is_a_normal_ending(qtbot: QtBot) -> None:
    def wait_for_cancel(task: Task) -> None:
        while not task.cancel_token.wait(0.01):
            pass
        task.cancel_token.raise_if_cancelled()

    task = Task(wait_for_cancel)
    with qtbot.waitSignal(task.cancelled, timeout=5000):
        task.start()
        task.cancel()


def test_progress_is_throttled_but_the_last_report_arrives(qtbot: QtBot) -> None:
    def count(task: Task) -> None:
        for done in range(1, 10_001):
            task.report_progress(done, 10_000)

    task = Task(count, progress_interval=3600)
    seen: list[tuple[int, int]] = []
    task.progressed.connect(seen.append)
    with qtbot.waitSignal(task.succeeded, timeout=5000):
        task.start()
    qtbot.waitUntil(lambda: bool(seen) and seen[-1] == (10_000, 10_000), timeout=5000)
    assert seen == [(1, 10_000), (10_000, 10_000)]
