"""One format for sizes and one for durations, in the window and on the command line."""

from __future__ import annotations

import pytest

from app.core.units import duration, human_size


@pytest.mark.parametrize(
    ("n_bytes", "text"),
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (999, "999 bytes"),
        (1000, "1.0 kB"),
        (1_500, "1.5 kB"),
        (999_999, "1.0 MB"),
        (9_960_000, "10 MB"),
        (12_000_000, "12 MB"),
        (98_362_432, "98 MB"),
        (4_700_000_000, "4.7 GB"),
        (5 * 10**9, "5.0 GB"),
        (2**70, "1.2 ZB"),
    ],
)
def test_human_size(n_bytes: int, text: str) -> None:
    assert human_size(n_bytes) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "—"),
        (-1, "—"),
        (0, "0 s"),
        (59.4, "59 s"),
        (59.6, "1 min 00 s"),
        (65, "1 min 05 s"),
        (3599, "59 min 59 s"),
        (3720, "1 h 02 min"),
    ],
)
def test_duration(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text
