"""Facts about the machine Driftless runs on, read when asked (never cached).

Memory comes from psutil, which knows Linux, Windows and macOS alike; ``/proc/meminfo``
(Linux only) is read only when psutil is missing, so a broken install degrades to
"unknown" on other systems instead of failing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

MEMINFO = Path("/proc/meminfo")


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
