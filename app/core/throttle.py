"""One throttle for every progress report: a few updates a second, never the last one lost.

Core loops report progress as often as they like (every chunk, every row); people read a
few updates a second, and each update a window draws or a terminal prints costs time.
Every progress path, in the window and on the command line, goes through
:func:`throttled`, so they all agree on the pace and all pass on the final report.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

P = TypeVar("P")

PROGRESS_INTERVAL = 0.2
"""Seconds between two progress reports that are let through."""


class Throttle:
    """Says whether enough time has passed since the last report it let through."""

    def __init__(
        self, interval: float = PROGRESS_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._last: float | None = None

    def due(self, *, final: bool = False) -> bool:
        """True (and the clock restarts) for a final report or once ``interval`` has passed."""
        now = self._clock()
        if final or self._last is None or now - self._last >= self.interval:
            self._last = now
            return True
        return False


def is_final(progress: Any) -> bool:
    """Whether a report must go through: the work is done, or it paused.

    Reports are ``(done, total)`` pairs or objects with ``done`` and ``total``
    (``DownloadProgress``, ``ClassifyProgress``, ...); a total of None or 0 is unknown.
    """
    if isinstance(progress, tuple) and len(progress) == 2:
        done, total = progress
    else:
        if getattr(progress, "paused", False):
            return True
        done, total = getattr(progress, "done", 0), getattr(progress, "total", None)
    return bool(total) and done >= total


def throttled(
    report: Callable[[P], None],
    *,
    interval: float = PROGRESS_INTERVAL,
    final: Callable[[P], bool] = is_final,
) -> Callable[[P], None]:
    """``report``, called at most once per ``interval`` and always for a final report."""
    throttle = Throttle(interval)

    def callback(progress: P) -> None:
        if throttle.due(final=final(progress)):
            report(progress)

    return callback


def throttled_counts(
    report: Callable[[int, int], None], *, interval: float = PROGRESS_INTERVAL
) -> Callable[[int, int], None]:
    """:func:`throttled` for the ``(done, total)`` callbacks of hashing and loading."""

    def report_pair(pair: tuple[int, int]) -> None:
        report(*pair)

    pass_on = throttled(report_pair, interval=interval)
    return lambda done, total: pass_on((done, total))
