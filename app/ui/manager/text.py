"""Short texts the manager shows: sizes, speeds, durations, download lines."""

from __future__ import annotations

from app.core.fsutil import human_size


def duration_text(seconds: float | None) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``; an em dash when unknown."""
    if seconds is None or seconds < 0:
        return "—"
    whole = int(seconds + 0.5)
    if whole >= 3600:
        return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
    if whole >= 60:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole} s"


def speed_text(bytes_per_second: float) -> str:
    return f"{human_size(int(bytes_per_second))}/s" if bytes_per_second > 0 else ""


def bytes_text(done: int, total: int) -> str:
    if total <= 0:
        return human_size(done)
    return f"{human_size(done)} of {human_size(total)}"


def approximate_size(size: int, approximate: bool) -> str:
    return f"≈ {human_size(size)}" if approximate else human_size(size)
