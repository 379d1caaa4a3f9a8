"""How a reply is sampled: :class:`SamplingParams` and the named presets.

Parameters travel with every request and are stored with every reply (as JSON), so a
reply can be reproduced: with ``temperature=0`` decoding is greedy and the seed does
not matter; with a higher temperature, the same ``seed`` gives the same reply on the
same model, build and thread count.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from types import MappingProxyType
from typing import Any

from app.core.errors import DriftlessError
from app.core.runtime.grammar import MAX_GRAMMAR_CHARS

MAX_STOP_STRINGS = 16
MAX_STOP_CHARS = 200
MAX_TOP_LOGPROBS = 20
MAX_SEED = 2**32 - 2  # 2**32 - 1 is llama.cpp's "pick one at random"


class InvalidSamplingParams(DriftlessError):
    """A sampling parameter is out of range or of the wrong type."""


@dataclass(frozen=True)
class SamplingParams:
    """Sampling settings for one reply. Immutable; derive variants with :meth:`replace`.

    ``top_k=0`` disables top-k, ``top_p=1`` and ``min_p=0`` disable those filters,
    ``repeat_penalty=1`` disables the penalty. ``seed=None`` picks a fresh seed per reply
    (the engine reports the one it used in its stats). ``stop`` strings end the reply
    and are not part of it.
    """

    temperature: float = 0.7
    top_p: float = 0.9
    top_k: int = 40
    min_p: float = 0.05
    repeat_penalty: float = 1.1
    max_tokens: int = 512
    seed: int | None = None
    stop: tuple[str, ...] = ()
    grammar: str | None = None
    logprobs: int | None = None
    """Record each reply token's log-probability and this many alternatives (0 to
    ``MAX_TOP_LOGPROBS``), or nothing (None). Set by the local API for ``logprobs``."""
    """A GBNF grammar (root rule ``root``) the reply must follow, or None. Set by the
    local API for ``response_format``; not saved with a reply when None."""

    def __post_init__(self) -> None:
        # A list given for ``stop`` is accepted and frozen, so params stay hashable.
        if isinstance(self.stop, list):
            object.__setattr__(self, "stop", tuple(self.stop))
        _check(self)

    def replace(self, **changes: Any) -> SamplingParams:
        return replace(self, **changes)

    @property
    def greedy(self) -> bool:
        """Temperature 0: always the most likely token, so the reply is reproducible."""
        return self.temperature == 0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["stop"] = list(self.stop)
        for name in ("grammar", "logprobs"):
            if data[name] is None:
                del data[name]
        return data

    @classmethod
    def from_json(
        cls, data: Mapping[str, Any], *, base: SamplingParams | None = None
    ) -> SamplingParams:
        """Params from a JSON object; missing keys come from ``base`` (the defaults).

        Unknown keys are ignored, so params saved by a newer version still load.
        """
        if not isinstance(data, Mapping):
            raise InvalidSamplingParams("Sampling parameters must be a JSON object.")
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "stop" in values:
            stop = values["stop"]
            if not isinstance(stop, list | tuple):
                raise InvalidSamplingParams("'stop' must be a list of strings.")
            values["stop"] = tuple(stop)
        return replace(base or cls(), **values)


def _check(p: SamplingParams) -> None:
    def number(name: str, value: object, low: float, high: float) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidSamplingParams(f"{name} must be a number, not {value!r}.")
        if not math.isfinite(value) or not low <= value <= high:
            raise InvalidSamplingParams(f"{name} must be between {low:g} and {high:g}: {value!r}.")

    def integer(name: str, value: object, low: int, high: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidSamplingParams(f"{name} must be a whole number, not {value!r}.")
        if not low <= value <= high:
            raise InvalidSamplingParams(f"{name} must be between {low:,} and {high:,}: {value:,}.")

    number("temperature", p.temperature, 0.0, 5.0)
    number("top_p", p.top_p, 0.0, 1.0)
    integer("top_k", p.top_k, 0, 100_000)
    number("min_p", p.min_p, 0.0, 1.0)
    number("repeat_penalty", p.repeat_penalty, 0.5, 5.0)
    integer("max_tokens", p.max_tokens, 1, 1_000_000)
    if p.seed is not None:
        integer("seed", p.seed, 0, MAX_SEED)
    if not isinstance(p.stop, tuple) or not all(isinstance(s, str) for s in p.stop):
        raise InvalidSamplingParams("stop must be a list of strings.")
    grammar = p.grammar
    if grammar is not None and (
        not isinstance(grammar, str) or not grammar.strip() or len(grammar) > MAX_GRAMMAR_CHARS
    ):
        raise InvalidSamplingParams(
            f"grammar must be a non-empty GBNF text of at most {MAX_GRAMMAR_CHARS:,} characters."
        )
    if p.logprobs is not None:
        integer("logprobs", p.logprobs, 0, MAX_TOP_LOGPROBS)
    if len(p.stop) > MAX_STOP_STRINGS:
        raise InvalidSamplingParams(f"At most {MAX_STOP_STRINGS} stop strings are allowed.")
    for text in p.stop:
        if not text or len(text) > MAX_STOP_CHARS:
            raise InvalidSamplingParams(
                f"Each stop string must be 1 to {MAX_STOP_CHARS} characters long."
            )


PRESETS: Mapping[str, SamplingParams] = MappingProxyType(
    {
        # Factual answers, extraction, code: little randomness, a firm repeat penalty
        # (small models loop when decoding is too greedy).
        "Precise": SamplingParams(
            temperature=0.2, top_p=0.9, top_k=20, min_p=0.1, repeat_penalty=1.15
        ),
        "Balanced": SamplingParams(
            temperature=0.7, top_p=0.9, top_k=40, min_p=0.05, repeat_penalty=1.1
        ),
        "Creative": SamplingParams(
            temperature=1.0, top_p=0.95, top_k=100, min_p=0.02, repeat_penalty=1.05
        ),
    }
)
DEFAULT_PRESET = "Balanced"


def preset(name: str) -> SamplingParams:
    """A preset by name, case-insensitively."""
    for key, params in PRESETS.items():
        if key.lower() == name.strip().lower():
            return params
    names = ", ".join(PRESETS)
    raise InvalidSamplingParams(f"There is no preset called '{name}'. Presets: {names}.")


def split_at_stop(text: str, stops: Sequence[str]) -> tuple[str, str, bool]:
    """Split streamed text into (safe to show, held back, a stop string was found).

    Text before the earliest stop string is shown and the rest dropped. Without a stop
    string, a tail that could be the start of one is held back until the next piece.
    """
    earliest = -1
    for stop in stops:
        found = text.find(stop)
        if found != -1 and (earliest == -1 or found < earliest):
            earliest = found
    if earliest != -1:
        return text[:earliest], "", True
    hold = 0
    for stop in stops:
        for length in range(min(len(stop) - 1, len(text)), hold, -1):
            if text.endswith(stop[:length]):
                hold = length
                break
    return text[: len(text) - hold], text[len(text) - hold :], False
