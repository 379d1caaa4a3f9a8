"""A person at the command line, for the chat tests: typing lines, pressing Ctrl-C."""

from __future__ import annotations

import io
import signal
import sys

import pytest


class Terminal(io.StringIO):
    """Typed input on a terminal."""

    def isatty(self) -> bool:
        return True


def type_lines(monkeypatch: pytest.MonkeyPatch, *lines: str, tty: bool = False) -> None:
    text = "".join(f"{line}\n" for line in lines)
    monkeypatch.setattr(sys, "stdin", Terminal(text) if tty else io.StringIO(text))


class PressesCtrlC(io.StringIO):
    """A stdout on which the user presses Ctrl-C as the Nth piece of a reply appears."""

    def __init__(self, at_write: int = 1, times: int = 1) -> None:
        super().__init__()
        self.writes = 0
        self.at_write = at_write
        self.times = times

    def write(self, text: str) -> int:
        self.writes += 1
        if self.at_write <= self.writes < self.at_write + self.times:
            signal.raise_signal(signal.SIGINT)
        return super().write(text)
