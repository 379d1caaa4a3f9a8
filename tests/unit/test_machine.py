"""Memory facts from psutil on every system; /proc/meminfo only when psutil is missing."""

from __future__ import annotations

import builtins
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psutil
import pytest

from app.core import machine


def test_memory_is_the_machine_s_as_psutil_tells() -> None:
    total, available = machine.total_memory(), machine.available_memory()
    assert total is not None and total > 256 * 1024 * 1024
    assert available is not None and 0 < available <= total
    assert abs(total - psutil.virtual_memory().total) < 64 * 1024 * 1024


def test_psutil_is_used_where_there_is_no_proc_meminfo(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """As on Windows and macOS: the load check and the catalog's fit still know the memory."""
    monkeypatch.setattr(machine, "MEMINFO", tmp_path / "absent")
    fake = SimpleNamespace(total=16 * 1024**3, available=5 * 1024**3)
    monkeypatch.setattr(psutil, "virtual_memory", lambda: fake)
    assert machine.available_memory() == 5 * 1024**3
    assert machine.total_memory() == 16 * 1024**3


def test_meminfo_when_psutil_is_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real_import = builtins.__import__

    def no_psutil(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "psutil":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    def no_sysconf(name: str) -> int:
        raise ValueError(name)

    monkeypatch.setattr(builtins, "__import__", no_psutil)
    monkeypatch.setattr(machine.os, "sysconf", no_sysconf)
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:        8000000 kB\nMemFree:  1 kB\nMemAvailable: 3000 kB\n")
    monkeypatch.setattr(machine, "MEMINFO", meminfo)
    assert machine.total_memory() == 8000000 * 1024
    assert machine.available_memory() == 3000 * 1024
    monkeypatch.setattr(machine, "MEMINFO", tmp_path / "absent")
    assert machine.total_memory() is None and machine.available_memory() is None
