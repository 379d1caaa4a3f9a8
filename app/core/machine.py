"""Facts about the machine Driftless runs on, read when asked (never cached)."""

from __future__ import annotations


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux), or None when unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None
