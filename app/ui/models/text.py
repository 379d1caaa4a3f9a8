"""Short texts the manager shows: sizes, speeds, durations, download lines."""

from __future__ import annotations

from app.core.units import human_size


def speed_text(bytes_per_second: float) -> str:
    return f"{human_size(int(bytes_per_second))}/s" if bytes_per_second > 0 else ""


def bytes_text(done: int, total: int) -> str:
    if total <= 0:
        return human_size(done)
    return f"{human_size(done)} of {human_size(total)}"


def approximate_size(size: int, approximate: bool) -> str:
    return f"≈ {human_size(size)}" if approximate else human_size(size)
