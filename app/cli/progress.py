"""Progress on stderr, drawn by tqdm: a bar on a terminal, a plain line now and then otherwise.

Every progress line of the command line (downloads, hashing, classifying, teaching) is a
:class:`ProgressLine`. The pace comes from the core's one throttle and the sizes and times
from its one format (:mod:`app.core.units`), so the command line and the window agree.
"""

from __future__ import annotations

import sys
import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TextIO

from tqdm import tqdm

from app.core.throttle import throttled
from app.core.units import duration, human_size

if TYPE_CHECKING:
    from app.core.hub.download import DownloadProgress

Unit = Literal["bytes", "texts", "files", "passages"]

TTY_INTERVAL = 0.2
"""Seconds between redraws of the bar on a terminal."""
LOG_INTERVAL = 10.0
"""Seconds between progress lines when stderr is a file or a pipe."""


@dataclass(frozen=True)
class _Reading:
    done: int
    total: int | None
    rate: float | None
    eta: float | None


class _Lines:
    """A stream for tqdm that turns each redraw into a line of its own (for logs and pipes)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> None:
        text = text.replace("\r", "").rstrip()
        if text:
            self.stream.write(text + "\n")

    def flush(self) -> None:
        self.stream.flush()


class _Bar(tqdm):  # type: ignore[type-arg]
    """tqdm with one more field for ``bar_format``: our own text (tqdm's ``postfix``
    would put a comma before it)."""

    text = ""

    @property
    def format_dict(self) -> MutableMapping[str, Any]:
        values = super().format_dict
        values["text"] = self.text
        return values


class ProgressLine:
    """Done, total, speed and time left for one piece of work; ``finish()`` when it ends."""

    def __init__(self, label: str, unit: Unit, stream: TextIO | None = None) -> None:
        self.label = label
        self.unit = unit
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._started = time.monotonic()
        self._bar: _Bar | None = None  # drawn from the first report on
        self._show = throttled(self._draw, interval=TTY_INTERVAL if self._tty else LOG_INTERVAL)
        self._note = ""

    def update(
        self,
        done: int,
        total: int | None,
        rate: float | None = None,
        eta: float | None = None,
        note: str = "",
    ) -> None:
        """Report progress (as often as you like: redraws are throttled); ``note`` is
        shown after the time left (a cluster run's worker count)."""
        self._note = note
        if rate is None:
            elapsed = time.monotonic() - self._started
            rate = done / elapsed if elapsed > 0 else None
        if eta is None and rate and total:
            eta = max(0, total - done) / rate
        self._show(_Reading(done, total, rate, eta))

    def __call__(self, done: int, total: int) -> None:
        """A ``(done, total)`` callback for hashing and copying."""
        self.update(done, total)

    def download(self, progress: DownloadProgress) -> None:
        """A callback for the downloader."""
        self.update(progress.done, progress.total, progress.bytes_per_second, progress.eta_seconds)

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.close()

    def _draw(self, reading: _Reading) -> None:
        final = bool(reading.total) and reading.done >= (reading.total or 0)
        if not self._tty and final:
            return  # a log gets lines while work is under way; the command says how it ended
        bar = self._bar
        if bar is None:
            bar = self._bar = _Bar(
                desc=self.label,
                file=self._stream if self._tty else _Lines(self._stream),
                bar_format="{desc}: {text}",
                dynamic_ncols=True,
                mininterval=0,
                leave=self._tty,
            )
        if reading.total:
            bar.bar_format = "{desc}: {percentage:3.0f}%|{bar:24}| {text}"
            bar.total = reading.total
        bar.n = reading.done
        bar.text = self._describe(reading)
        bar.refresh()

    def _describe(self, r: _Reading) -> str:
        final = bool(r.total) and r.done >= (r.total or 0)
        if self.unit == "bytes":
            amount = human_size(r.done) + (f" of {human_size(r.total)}" if r.total else "")
            speed = f"{human_size(int(r.rate))}/s" if r.rate else ""
        else:
            amount = f"{r.done:,}" + (f"/{r.total:,}" if r.total else "") + f" {self.unit}"
            speed = f"{r.rate:.1f} {self.unit}/s" if r.rate else ""
        left = f"{duration(r.eta)} left" if r.eta is not None and not final else ""
        return ", ".join(part for part in (amount, speed, left, self._note) if part)
