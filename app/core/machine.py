"""Facts about the machine Driftless runs on, read when asked (never cached).

Memory comes from psutil, which knows Linux, Windows and macOS alike; ``/proc/meminfo``
(Linux only) is read only when psutil is missing, so a broken install degrades to
"unknown" on other systems instead of failing. The processor check reads
``/proc/cpuinfo`` (Linux only; elsewhere it never refuses).
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
from pathlib import Path
from typing import Any

from app import APP_NAME

MEMINFO = Path("/proc/meminfo")
CPUINFO = Path("/proc/cpuinfo")

# x86-64-v2, the floor of the packaged app (its llama.cpp, Qt 6 and NumPy all need it): the
# name people know each feature by, its /proc/cpuinfo flag, and where CPUID reports it
# (glibc's leaf index: 0 is CPUID 1, 2 is CPUID 0x80000001; register 2 is ECX; the bit).
X86_64_V2 = (
    ("CMPXCHG16B", "cx16", 0, 2, 13),
    ("LAHF-SAHF", "lahf_lm", 2, 2, 0),
    ("POPCNT", "popcnt", 0, 2, 23),
    ("SSE4.1", "sse4_1", 0, 2, 19),
    ("SSE4.2", "sse4_2", 0, 2, 20),
    ("SSSE3", "ssse3", 0, 2, 9),
)


class _CpuidLeaf(ctypes.Structure):
    """glibc's ``struct cpuid_feature`` (<sys/platform/x86.h>, glibc 2.33 and later)."""

    _fields_ = [("cpuid", ctypes.c_uint * 4), ("active", ctypes.c_uint * 4)]


def _psutil_memory() -> Any | None:
    """psutil's ``virtual_memory()``, or None when psutil is missing or cannot tell."""
    try:
        import psutil
    except ImportError:
        return None
    try:
        return psutil.virtual_memory()
    except (OSError, RuntimeError, AttributeError):
        return None


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation, or None when unknown."""
    memory = _psutil_memory()
    if memory is not None and memory.available > 0:
        return int(memory.available)
    return _meminfo_field(MEMINFO, "MemAvailable")


def total_memory() -> int | None:
    """The machine's physical memory in bytes, or None when the system does not say."""
    memory = _psutil_memory()
    if memory is not None and memory.total > 0:
        return int(memory.total)
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        page_size = os.sysconf("SC_PAGE_SIZE")
        if pages > 0 and page_size > 0:
            return int(pages * page_size)
    except (AttributeError, ValueError, OSError):
        pass  # not POSIX (Windows), or the name is unknown here
    return _meminfo_field(MEMINFO, "MemTotal")


def _meminfo_field(path: Path, name: str) -> int | None:
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(f"{name}:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1]) * 1024
    return None


def missing_cpu_features(cpuinfo: Path | None = None) -> list[str]:
    """The x86-64-v2 features this processor lacks, by name; empty if none or unknown.

    Asked of the processor itself (the CPUID instruction, through glibc), which is right
    under an emulator too; ``/proc/cpuinfo`` is the fallback (and what ``cpuinfo`` names).
    Only Linux on x86-64 is checked: elsewhere, or when neither answers, nothing is
    reported missing (never refuse on a guess).
    """
    if not sys.platform.startswith("linux"):
        return []
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return []
    leaves = None if cpuinfo is not None else _cpuid_leaves()
    if leaves is not None:
        return [
            name
            for name, _flag, leaf, register, bit in X86_64_V2
            if not leaves[leaf][register] >> bit & 1
        ]
    flags = _cpuinfo_flags(cpuinfo or CPUINFO)
    if flags is None:
        return []
    return [name for name, flag, *_ in X86_64_V2 if flag not in flags]


def _cpuid_leaves() -> dict[int, tuple[int, ...]] | None:
    """CPUID leaves 1 and 0x80000001 as glibc read them, or None without that glibc."""
    try:
        function = ctypes.CDLL(None).__x86_get_cpuid_feature_leaf
    except (OSError, AttributeError):
        return None
    function.restype = ctypes.POINTER(_CpuidLeaf)
    function.argtypes = [ctypes.c_uint]
    leaves = {index: tuple(function(index).contents.cpuid) for index in (0, 2)}
    return leaves if any(leaves[0]) else None


def _cpuinfo_flags(path: Path) -> set[str] | None:
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return set(value.split()) or None
    return None


def cpu_floor_problem(cpuinfo: Path | None = None) -> str | None:
    """A sentence saying why this processor cannot run Driftless, or None when it can."""
    missing = missing_cpu_features(cpuinfo)
    if not missing:
        return None
    return (
        f"{APP_NAME} needs a processor with the x86-64-v2 instructions (Intel since 2008, "
        f"AMD since 2011); this one lacks {', '.join(missing)}, so {APP_NAME} cannot run on it."
    )
