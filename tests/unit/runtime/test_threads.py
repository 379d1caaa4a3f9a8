"""The thread tuner: measure each count, keep the fastest, look again as the load changes."""

from __future__ import annotations

import pytest

from app.core.runtime.threads import ThreadTuner, thread_candidates


def _feed(tuner: ThreadTuner, speed: dict[int, float], batches: int) -> list[int]:
    """Run ``batches`` batches of 100 tokens at ``speed[threads]`` tokens/s; the choices."""
    chosen = []
    for _ in range(batches):
        threads = tuner.next()
        chosen.append(threads)
        tuner.record(threads, 100, 100 / speed[threads])
    return chosen


def test_one_candidate_is_always_used() -> None:
    tuner = ThreadTuner([3])
    assert _feed(tuner, {3: 50.0}, 5) == [3] * 5


def test_each_count_is_measured_then_the_fastest_kept() -> None:
    tuner = ThreadTuner([1, 2], trial=2, explore_every=100)
    chosen = _feed(tuner, {1: 100.0, 2: 180.0}, 12)
    # The first batch is a warm-up (graph set-up), then two measured batches of each.
    assert chosen[:5] == [1, 1, 1, 2, 2]
    assert set(chosen[5:]) == {2}
    assert tuner.best == 2


def test_a_busy_machine_moves_it_back_to_one_thread() -> None:
    tuner = ThreadTuner([1, 2], trial=2, explore_every=10)
    _feed(tuner, {1: 100.0, 2: 180.0}, 12)
    assert tuner.best == 2
    # Another program takes a CPU: two threads now wait on each other at every barrier.
    chosen = _feed(tuner, {1: 95.0, 2: 55.0}, 40)
    assert tuner.best == 1
    assert chosen[-10:].count(1) >= 8  # and it stays there, apart from a look now and then


def test_a_fresh_look_replaces_an_old_measurement() -> None:
    tuner = ThreadTuner([1, 2], trial=1, explore_every=4)
    _feed(tuner, {1: 200.0, 2: 100.0}, 8)
    assert tuner.best == 1
    _feed(tuner, {1: 50.0, 2: 100.0}, 12)
    assert tuner.best == 2


def test_nonsense_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        ThreadTuner([])
    with pytest.raises(ValueError):
        ThreadTuner([0, 2])


def test_candidates_are_positive_and_sorted() -> None:
    found = thread_candidates()
    assert found == tuple(sorted(found)) and all(c >= 1 for c in found)
