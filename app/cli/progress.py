"""Progress on stderr: a bar on a terminal, a few plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from app.core.fsutil import human_size


class ProgressPrinter:
    """A ``(done, total)`` callback that draws at most a few updates a second."""

    def __init__(self, label: str, stream: TextIO | None = None, interval: float = 0.2) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = interval if self.tty else 5.0
        self._last = 0.0
        self._started = time.monotonic()
        self._drawn = False
        self.suffix = ""

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last < self.interval and done < total:
            return
        self._last = now
        percent = 100.0 * done / total if total else 100.0
        elapsed = max(now - self._started, 1e-6)
        speed = done / elapsed
        text = (
            f"{self.label}: {percent:5.1f}%  {human_size(done)} of {human_size(total)}"
            f"  {human_size(int(speed))}/s{self.suffix}"
        )
        if self.tty:
            width = 24
            filled = int(width * percent / 100)
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(f"\r[{bar}] {text}\x1b[K")
            self._drawn = True
        elif done < total:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
