"""Sizes and durations as people read them: one format for the window and the command line."""

from __future__ import annotations

UNKNOWN = "—"


def human_size(n_bytes: int) -> str:
    """``98362432`` -> ``"98 MB"``: decimal units, as file managers and the Hub show them."""
    if n_bytes < 1000:
        return "1 byte" if n_bytes == 1 else f"{n_bytes} bytes"
    value = float(n_bytes)
    for unit in ("kB", "MB", "GB", "TB", "PB", "EB", "ZB"):
        value /= 1000
        if value < 999.5 or unit == "ZB":
            return f"{value:.1f} {unit}" if value < 9.95 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")


def duration(seconds: float | None) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``; an em dash when unknown."""
    if seconds is None or seconds < 0:
        return UNKNOWN
    whole = int(seconds + 0.5)
    if whole >= 3600:
        return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
    if whole >= 60:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole} s"
