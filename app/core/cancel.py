"""Cooperative cancellation shared by downloads, hashing and generation."""

from __future__ import annotations

import threading

from app.core.errors import Cancelled


class CancelToken:
    """A flag one thread sets and a worker checks between steps.

    Setting it is a direct call (not a queued signal), so a busy worker sees it at
    its next check: between tokens, chunks or rows.
    """

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled()

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds; return True at once if cancelled."""
        return self._event.wait(timeout)
