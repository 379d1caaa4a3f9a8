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


# --- the processor floor (x86-64-v2) -------------------------------------------------------

NEHALEM_FLAGS = "fpu sse sse2 pni ssse3 cx16 sse4_1 sse4_2 popcnt lahf_lm"


def cpuinfo(tmp_path: Path, flags: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: Test CPU\nflags\t\t: {flags}\n\n")
    return path


def test_this_processor_is_above_the_floor() -> None:
    """Asked through CPUID: the machine running the tests has x86-64-v2 (CI included)."""
    assert machine.missing_cpu_features() == []
    assert machine.cpu_floor_problem() is None


@pytest.mark.skipif(not machine.sys.platform.startswith("linux"), reason="reads /proc")
def test_cpuid_agrees_with_the_kernel_s_flags() -> None:
    leaves = machine._cpuid_leaves()
    assert leaves is not None, "glibc 2.33+ answers CPUID on Linux"
    flags = machine._cpuinfo_flags(machine.CPUINFO) or set()
    for _name, flag, leaf, register, bit in machine.X86_64_V2:
        assert bool(leaves[leaf][register] >> bit & 1) == (flag in flags), flag


def test_a_processor_below_the_floor_is_told_what_it_lacks(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(machine.platform, "machine", lambda: "x86_64")
    assert machine.missing_cpu_features(cpuinfo(tmp_path, NEHALEM_FLAGS)) == []
    core2 = cpuinfo(tmp_path, "fpu sse sse2 pni ssse3 cx16 lahf_lm")
    assert machine.missing_cpu_features(core2) == ["POPCNT", "SSE4.1", "SSE4.2"]
    problem = machine.cpu_floor_problem(core2)
    assert problem is not None
    assert "x86-64-v2" in problem and "lacks POPCNT, SSE4.1, SSE4.2" in problem


def test_no_refusal_on_a_guess(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Unreadable or flagless cpuinfo, or another architecture: nothing is missing."""
    monkeypatch.setattr(machine.platform, "machine", lambda: "x86_64")
    assert machine.missing_cpu_features(tmp_path / "absent") == []
    assert machine.missing_cpu_features(cpuinfo(tmp_path, "")) == []
    (tmp_path / "noflags").write_text("processor\t: 0\n")
    assert machine.missing_cpu_features(tmp_path / "noflags") == []
    monkeypatch.setattr(machine.platform, "machine", lambda: "aarch64")
    assert machine.missing_cpu_features(cpuinfo(tmp_path, "fp asimd")) == []
