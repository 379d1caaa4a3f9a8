"""The kit for workers that own a model: ids, stale answers, direct stops, ordered shutdown."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from PySide6.QtCore import QObject, QThread, Signal
from pytestqt.qtbot import QtBot

from app.core.cancel import CancelToken
from app.core.errors import Cancelled, DriftlessError
from app.ui.model_worker import ModelWorker, WorkerController


@dataclass(frozen=True)
class Work:
    request_id: int
    cancel: CancelToken
    answer: str = "done"
    hold: threading.Event | None = None
    """Wait on this (or the cancel token) before answering."""


class FakeWorker(ModelWorker):
    """Owns a pretend model; records on which thread each call ran."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[tuple[str, QThread]] = []
        self.entered = threading.Event()

    def work(self, request: Work) -> None:
        self.threads.append(("work", QThread.currentThread()))

        def run() -> str:
            self.entered.set()
            while request.hold is not None and not request.hold.is_set():
                request.cancel.raise_if_cancelled()
                request.hold.wait(0.01)
            if request.answer == "fail":
                raise DriftlessError("It failed.")
            self.progressed.emit(request.request_id, 1.0)
            return request.answer

        self.guarded(request.request_id, run)

    def release(self) -> None:
        self.threads.append(("release", QThread.currentThread()))


class FakeController(WorkerController):
    asked = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        self.fake = FakeWorker()
        super().__init__(self.fake, "test-model-worker", parent)
        self.work = self.lane("work")
        self.other = self.lane("other")
        self.start()

    def ask(self, answer: str = "done", hold: threading.Event | None = None) -> int:
        request_id, token = self.work.begin()
        self.post(self.fake.work, Work(request_id, token, answer, hold))
        return request_id


def test_an_answer_arrives_on_its_lane_and_runs_on_the_worker_thread(qtbot: QtBot) -> None:
    controller = FakeController()
    try:
        with qtbot.waitSignal(controller.work.finished, timeout=5_000) as finished:
            controller.ask("forty-two")
            assert controller.work.busy and not controller.other.busy
        assert finished.args == ["forty-two"]
        assert not controller.work.busy
        (_name, thread), *_ = controller.fake.threads
        assert thread is not QThread.currentThread()
    finally:
        controller.shutdown()


def test_a_superseded_request_is_cancelled_and_its_answer_dropped(qtbot: QtBot) -> None:
    controller = FakeController()
    answers: list[object] = []
    controller.work.finished.connect(answers.append)
    try:
        hold = threading.Event()
        controller.ask("stale", hold)
        assert controller.fake.entered.wait(5)
        with qtbot.waitSignal(controller.work.finished, timeout=5_000):
            controller.ask("fresh")  # the first one is cancelled; its None is not news
        assert answers == ["fresh"]
    finally:
        controller.shutdown()


def test_stop_is_a_direct_call_that_ends_the_request(qtbot: QtBot) -> None:
    controller = FakeController()
    try:
        controller.ask(hold=threading.Event())
        assert controller.fake.entered.wait(5)
        with qtbot.waitSignal(controller.work.finished, timeout=5_000) as finished:
            controller.work.cancel()  # no event loop turn needed to reach the worker
        assert finished.args == [None]
        with qtbot.waitSignal(controller.work.failed, timeout=5_000) as failed:
            controller.ask("fail")
        assert failed.args == ["It failed."]
    finally:
        controller.shutdown()


def test_shutdown_cancels_releases_on_the_worker_thread_and_ends_it(qtbot: QtBot) -> None:
    controller = FakeController()
    controller.ask(hold=threading.Event())  # never set: only the cancel ends it
    assert controller.fake.entered.wait(5)
    thread = controller._thread
    controller.shutdown()
    assert not thread.isRunning()
    names = [name for name, _thread in controller.fake.threads]
    assert names == ["work", "release"]
    assert all(t is not QThread.currentThread() for _name, t in controller.fake.threads)


def test_cancelled_is_a_normal_ending_for_guarded_work() -> None:
    worker = FakeWorker()
    seen: list[tuple[int, object]] = []
    worker.finished.connect(lambda request_id, outcome: seen.append((request_id, outcome)))

    def cancelled() -> object:
        raise Cancelled()

    worker.guarded(7, cancelled)
    assert seen == [(7, None)]
