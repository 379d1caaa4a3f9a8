"""Checks at start: when the runtime changed since a check set was recorded, answer it again.

:meth:`RuntimeChecks.start` runs one background :class:`Task` that finds the check sets
whose recording names another llama-cpp-python, llama.cpp build or CPU kernels
(:func:`app.core.drift.startup.due_checks`, which imports llama_cpp: never on the GUI
thread) and answers them one after the other, keeping each result. Nothing runs when
nothing changed, and a runtime already checked is not checked again. :meth:`cancel`
stops it between tokens (the window calls it when it closes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, Signal, Slot

from app.core.cancel import CancelToken
from app.core.drift import DriftReport, check
from app.core.drift.record import ProgressCallback
from app.core.drift.startup import DueCheck, describe_changes, due_checks
from app.core.errors import Cancelled, DriftlessError, describe_failure
from app.core.models.store import ModelStore
from app.ui.tasks import Task

log = logging.getLogger(__name__)

Checker = Callable[[ModelStore, DueCheck, ProgressCallback, CancelToken], DriftReport]
"""Answers one due check set again and keeps its result (a test may pass a fake)."""


def check_again(
    store: ModelStore, due: DueCheck, on_progress: ProgressCallback, cancel: CancelToken
) -> DriftReport:
    return check(
        store.paths,
        store,
        due.check_set,
        due.model.id,
        on_progress=on_progress,
        cancel=cancel,
        keep=True,
    )


class _ChecksTask(Task):
    planned = Signal(object)
    """The list of :class:`DueCheck` (sent once, before the first answer)."""
    checked = Signal(object)
    """``(DueCheck, DriftReport | str)``: a report, or why that check could not run."""


class RuntimeChecks(QObject):
    """At most one background run of the due checks; signals carry what the page shows."""

    started = Signal(str)
    """The runtime changed: a sentence naming what, and that checks are running."""
    progressed = Signal(str, float)
    model_checked = Signal(str)
    """A model's check finished (its kept result is on disk): its id."""
    finished = Signal(str)
    """A sentence with the outcome ("" when nothing was due)."""

    def __init__(
        self, store: ModelStore, parent: QObject | None = None, *, checker: Checker = check_again
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.checker = checker
        self.task: _ChecksTask | None = None
        self.due: list[DueCheck] = []
        self.checking: set[str] = set()
        """Ids of the models whose checks are due and not finished yet."""
        self._outcomes: list[str] = []

    @property
    def running(self) -> bool:
        return self.task is not None

    def start(self) -> Task | None:
        """Find the due checks and run them in the background; None if already running."""
        if self.task is not None:
            return None
        store, checker = self.store, self.checker

        def run(task: Task) -> int:
            assert isinstance(task, _ChecksTask)
            due = due_checks(store.paths, store)
            task.send(task.planned, due)
            total = sum(d.check_set.size for d in due)
            done = 0
            for item in due:

                def progress(count: int, _total: int, base: int = done) -> None:
                    task.report((base + count, total))

                try:
                    result: DriftReport | str = checker(store, item, progress, task.cancel_token)
                except Cancelled:
                    raise
                except DriftlessError as exc:
                    result = str(exc)
                except Exception as exc:  # one broken check set must not stop the others
                    if task.cancel_token.cancelled:
                        raise
                    result = describe_failure(exc, log)
                task.cancel_token.raise_if_cancelled()
                done += item.check_set.size
                task.send(task.checked, (item, result))
            return len(due)

        task = _ChecksTask(run, self)
        task.planned.connect(self._on_task_planned)
        task.checked.connect(self._on_task_checked)
        task.progressed.connect(self._on_task_progressed)
        task.succeeded.connect(self._on_task_succeeded)
        task.failed.connect(self._on_task_failed)
        task.cancelled.connect(self._on_task_cancelled)
        self.task = task
        self._outcomes = []
        task.start()
        return task

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    # --- from the task --------------------------------------------------------

    @Slot(object)
    def _on_task_planned(self, due: list[DueCheck]) -> None:
        self.due = list(due)
        self.checking = {d.model.id for d in due}
        if due:
            count = len(due)
            self.started.emit(
                f"{describe_changes(due)}: checking {count} check set{'s' * (count != 1)} "
                "in the background…"
            )

    @Slot(object)
    def _on_task_progressed(self, progress: tuple[int, int]) -> None:
        done, total = progress
        self.progressed.emit(
            "Checking behaviour on the new runtime…", done / total if total else 0.0
        )

    @Slot(object)
    def _on_task_checked(self, outcome: tuple[DueCheck, DriftReport | str]) -> None:
        item, result = outcome
        if not any(d.model.id == item.model.id for d in self._left(item)):
            self.checking.discard(item.model.id)
        if isinstance(result, str):
            self._outcomes.append(
                f"'{item.check_set.name}' on {item.model.id} could not run: {result}"
            )
        else:
            self._outcomes.append(result.summary())
        self.model_checked.emit(item.model.id)

    def _left(self, item: DueCheck) -> list[DueCheck]:
        index = next((i for i, d in enumerate(self.due) if d is item), len(self.due))
        return self.due[index + 1 :]

    @Slot(object)
    def _on_task_succeeded(self, count: int) -> None:
        self._end(" ".join(self._outcomes) if count else "")

    @Slot(str)
    def _on_task_failed(self, message: str) -> None:
        self._end(f"The behaviour checks for the new runtime could not run: {message}")

    @Slot()
    def _on_task_cancelled(self) -> None:
        self._end(
            "The behaviour checks for the new runtime were cancelled; they run at the next start."
        )

    def _end(self, message: str) -> None:
        self.task = None
        self.checking = set()
        self.finished.emit(message)
