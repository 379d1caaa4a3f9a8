"""How many threads a batch uses, chosen by measuring them: classification's batches and
chat's prompt batches (app.core.chat.engine) alike.

On an idle 2-CPU machine two threads score about 1.6x the texts per second of one. When
another program keeps one CPU busy, llama.cpp's threads spin at a barrier after every
graph node, waiting for the thread that lost its CPU, and two threads run at about 0.6x of
one (bench/bench_classify.py). Neither fixed choice is right for a batch run of many
minutes on a desktop, so the tuner tries each candidate for a few batches, keeps the
fastest, and tries the others again now and then, as the load changes.

Speeds are tokens per second, so batches of different sizes compare.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from app.core.runtime.llama import default_threads

MAX_THREADS = 8


def thread_candidates() -> tuple[int, ...]:
    """The default (about the physical cores) and every logical CPU, capped at eight."""
    every = max(1, min(MAX_THREADS, os.cpu_count() or 1))
    return tuple(sorted({default_threads(), every}))


class ThreadTuner:
    """Picks the thread count of the next batch; told how each batch went."""

    def __init__(
        self,
        candidates: Sequence[int],
        *,
        trial: int = 2,
        explore_every: int = 24,
        widest_first: bool = False,
    ) -> None:
        if not candidates or any(c < 1 for c in candidates):
            raise ValueError("Thread counts must be positive.")
        self.candidates = tuple(sorted(set(candidates), reverse=widest_first))
        """In the order they are tried: the widest first suits a machine mostly idle
        (llama-cpp-python's own choice for prompts), the narrowest first a busy one."""
        self.trial = trial
        self.explore_every = explore_every
        self.rates: dict[int, float] = {}
        self._fresh: dict[int, int] = dict.fromkeys(self.candidates, 0)
        self._since_explore = 0
        self._warm = False

    @property
    def best(self) -> int:
        if not self.rates:
            return self.candidates[0]
        return max(self.rates, key=lambda c: self.rates[c])

    def next(self) -> int:
        """The thread count for the next batch."""
        if len(self.candidates) == 1:
            return self.candidates[0]
        for candidate in self.candidates:  # measure each before choosing
            if self._fresh[candidate] < self.trial:
                return candidate
        return self.best

    def record(self, threads: int, tokens: int, seconds: float) -> None:
        """A batch of ``tokens`` took ``seconds`` on ``threads`` threads."""
        if not self._warm:  # the first batch also sets up the graph: not a fair sample
            self._warm = True
            return
        if threads not in self._fresh or tokens <= 0 or seconds <= 0:
            return
        rate = tokens / seconds
        if self._fresh[threads] == 0 or threads not in self.rates:
            self.rates[threads] = rate  # a new round of measuring starts afresh
        else:
            self.rates[threads] = 0.5 * self.rates[threads] + 0.5 * rate
        self._fresh[threads] += 1
        self._since_explore += 1
        if self._since_explore >= self.explore_every:
            self._since_explore = 0
            best = self.best
            for candidate in self.candidates:  # measure the others again
                if candidate != best:
                    self._fresh[candidate] = 0
