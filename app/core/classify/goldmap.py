"""Which label each gold value is: matched by name, or said by the person, never by position.

A gold column that holds label names (``positive``, ``Billing``) needs nothing. A gold
column of other values (SST-2's ``0``/``1``, ``pos``/``neg``) is never matched to labels
silently: the values are counted and shown, with a guess for each (from the label names,
then from the labels' order), and the person confirms or corrects it. The confirmed
:class:`GoldMap` is written ``0=negative,1=positive``; it is part of what an evaluation
or a taught head records, so results under another mapping are never confused with these.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from app.core.classify.errors import ClassifyError
from app.core.classify.labels import LabelSet

Source = Literal["name", "given", "guess-name", "guess-order", "none"]
"""How a value got its label: its own name, the person, a guess, or nothing."""

POLARITY = ("negative", "neutral", "positive")
"""The usual order of numbered sentiment scales (SST-2: 0 negative, 1 positive)."""


class GoldMapNeeded(ClassifyError):
    """The gold values are not label names, and no one said which label each one is."""

    def __init__(self, message: str, values: tuple[GoldValue, ...]) -> None:
        super().__init__(message)
        self.values = values

    @property
    def suggested(self) -> str:
        """The guess, written as a map (for an example on the command line)."""
        return GoldMap.from_values(self.values).text


@dataclass(frozen=True)
class GoldValue:
    """One distinct gold value of a file: how often it occurs and which label it is."""

    value: str
    count: int
    label: str | None
    source: Source

    @property
    def guessed(self) -> bool:
        return self.source in ("guess-name", "guess-order")


@dataclass(frozen=True)
class GoldMap:
    """Gold values and their labels (None: the value's rows are left out)."""

    pairs: tuple[tuple[str, str | None], ...]

    @property
    def text(self) -> str:
        """``0=negative,1=positive``: how the map is written, shown and recorded."""
        return ",".join(f"{value}={label or ''}" for value, label in self.pairs)

    def label_for(self, value: str) -> tuple[bool, str | None]:
        """(whether the map names ``value``, its label)."""
        wanted = value.strip()
        for known, label in self.pairs:
            if known == wanted:
                return True, label
        return False, None

    @classmethod
    def from_values(cls, values: Iterable[GoldValue]) -> GoldMap:
        return cls(tuple(sorted(((v.value, v.label) for v in values), key=_value_order)))

    @classmethod
    def parse(cls, text: str, label_set: LabelSet) -> GoldMap:
        """Read ``0=negative,1=positive``; ``2=`` leaves the rows of ``2`` out."""
        pairs: dict[str, str | None] = {}
        for part in text.split(","):
            if not part.strip():
                continue
            value, sep, label = part.partition("=")
            if not sep or not value.strip():
                raise ClassifyError(
                    f"'{part.strip()}' in the gold map is not VALUE=LABEL. Write it like "
                    '"0=negative,1=positive".'
                )
            name: str | None = None
            if label.strip():
                index = label_set.index_of(label)
                if index is None:
                    raise ClassifyError(
                        f"The gold map names '{label.strip()}', which is not a label of "
                        f"{label_set.name} ({', '.join(label_set.label_names)})."
                    )
                name = label_set.label_names[index]
            pairs[value.strip()] = name
        if not pairs:
            raise ClassifyError('The gold map is empty. Write it like "0=negative,1=positive".')
        return cls(tuple(sorted(pairs.items(), key=_value_order)))


def _value_order(pair: tuple[str, object]) -> tuple[int, float, str]:
    value = pair[0]
    return (0, float(value), value) if _is_number(value) else (1, 0.0, value.casefold())


def _is_number(value: str) -> bool:
    return value.strip().lstrip("-").isdigit()


def survey_gold(
    values: Sequence[str], label_set: LabelSet, gold_map: GoldMap | None = None
) -> tuple[GoldValue, ...]:
    """Each distinct gold value with its count and label: given, by name, or guessed.

    Guesses come from the names first (``pos`` is ``positive``; numbered values of a
    scale whose labels include negative and positive run negative, neutral, positive),
    then from the labels' order (0 is the first label).
    """
    return survey_counts(Counter(v.strip() for v in values if v.strip()), label_set, gold_map)


def survey_counts(
    counts: Mapping[str, int], label_set: LabelSet, gold_map: GoldMap | None = None
) -> tuple[GoldValue, ...]:
    """:func:`survey_gold` from values already counted (a run's stored gold column)."""
    ordered = sorted(((k.strip(), n) for k, n in counts.items() if k.strip()), key=_value_order)
    names = label_set.label_names
    found: list[GoldValue] = []
    for value, count in ordered:
        if gold_map is not None:
            given, label = gold_map.label_for(value)
            if given:
                found.append(GoldValue(value, count, label, "given"))
                continue
        index = label_set.index_of(value)
        if index is not None:
            found.append(GoldValue(value, count, names[index], "name"))
        else:
            found.append(GoldValue(value, count, None, "none"))
    if gold_map is None and needs_map(found):
        found = _guess(found, names)
    return tuple(found)


def needs_map(values: Sequence[GoldValue]) -> bool:
    """True when no gold value is a label name (and no map said otherwise).

    Then matching by name finds nothing and the only way on would be a guess. A file
    where most values are names and a few are not (a typo) needs no map: those rows
    are left out and listed.
    """
    return bool(values) and not any(v.source in ("name", "given") for v in values)


def _guess(values: list[GoldValue], names: tuple[str, ...]) -> list[GoldValue]:
    folded = [n.casefold().replace("_", " ") for n in names]
    guessed: dict[str, tuple[str, Source]] = {}
    for v in values:  # a prefix or an abbreviation: pos, neg, neu
        key = v.value.casefold().replace("_", " ")
        hits = [n for n, f in zip(names, folded, strict=True) if f.startswith(key) or key in f]
        if not _is_number(v.value) and len(hits) == 1:
            guessed[v.value] = (hits[0], "guess-name")
    numbers = [v.value for v in values if _is_number(v.value)]
    scale = [n for n, f in zip(names, folded, strict=True) if f in POLARITY]
    scale.sort(key=lambda n: POLARITY.index(n.casefold()))
    if numbers and len(scale) >= 2 and {"negative", "positive"} <= {s.casefold() for s in scale}:
        if len(numbers) == 2:
            scale = [scale[0], scale[-1]]
        if len(numbers) == len(scale):
            for value, name in zip(numbers, scale, strict=True):
                guessed[value] = (name, "guess-name")
    for value in numbers:
        if value not in guessed and 0 <= int(value) < len(names):
            guessed[value] = (names[int(value)], "guess-order")
    return [
        GoldValue(v.value, v.count, *guessed[v.value]) if v.value in guessed else v for v in values
    ]


def describe_values(values: Sequence[GoldValue], limit: int = 6) -> str:
    """``0 (29,780 rows), 1 (37,569 rows)``."""
    shown = [f"{v.value} ({v.count:,} row{'s' * (v.count != 1)})" for v in values[:limit]]
    more = f" and {len(values) - limit} more" if len(values) > limit else ""
    return ", ".join(shown) + more


def require_map(
    values: Sequence[str], label_set: LabelSet, gold_map: GoldMap | None, source: str
) -> tuple[GoldValue, ...]:
    """The survey of ``values``; raises :class:`GoldMapNeeded` when a map is needed and missing."""
    survey = survey_gold(values, label_set, gold_map)
    if gold_map is None and needs_map(survey):
        guess = GoldMap.from_values(survey)
        raise GoldMapNeeded(
            f"The gold labels of {source} are not label names of {label_set.name} "
            f"({', '.join(label_set.label_names)}): they are {describe_values(survey)}. "
            f"Say which label each value is (a guess: {guess.text}); values are never "
            "matched to labels by position without asking.",
            survey,
        )
    return survey


__all__ = [
    "GoldMap",
    "GoldMapNeeded",
    "GoldValue",
    "describe_values",
    "needs_map",
    "require_map",
    "survey_counts",
    "survey_gold",
]
