"""The one throttle every progress path uses: a few reports a second, never the last lost."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.throttle import Throttle, is_final, throttled, throttled_counts


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Progress:
    done: int
    total: int | None
    paused: bool = False


def test_throttle_lets_one_report_through_per_interval() -> None:
    clock = Clock()
    throttle = Throttle(0.2, clock)
    assert throttle.due()  # the first report always goes
    clock.now += 0.1
    assert not throttle.due()
    clock.now += 0.15
    assert throttle.due()
    assert not throttle.due()
    assert throttle.due(final=True)


def test_final_reports_are_those_at_the_end_or_paused() -> None:
    assert is_final((10, 10))
    assert not is_final((9, 10))
    assert not is_final((5, 0))  # total unknown
    assert is_final(Progress(3, 3))
    assert not is_final(Progress(3, None))
    assert is_final(Progress(1, 10, paused=True))


def test_throttled_drops_the_middle_and_keeps_the_end() -> None:
    seen: list[Progress] = []
    report = throttled(seen.append, interval=3600)
    for done in range(1, 101):
        report(Progress(done, 100))
    assert [p.done for p in seen] == [1, 100]


def test_throttled_counts_for_hashing_callbacks() -> None:
    seen: list[tuple[int, int]] = []
    report = throttled_counts(lambda done, total: seen.append((done, total)), interval=3600)
    for done in range(0, 1001, 100):
        report(done, 1000)
    assert seen == [(0, 1000), (1000, 1000)]
