"""How well a set of examples covers a label set: counted before anything is taught.

A head can only learn labels it has seen. Taught from the first 600 rows of a file
that holds 5 of 77 intents, it scores well on those 5 and can never answer the other
72; a held-out accuracy over the 5 alone would look excellent. So examples are
counted per label first, labels without examples (or with only a few) are named,
and the held-out estimate is also given over every label of the set, a label
without examples counting as unlearned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from app.core.classify.goldmap import GoldValue
from app.core.classify.labels import LabelSet

FEW_EXAMPLES = 8
"""Fewer examples than this for a label are "few": a head learns such a label poorly
(Banking77 at 4 per intent: 6.5 % before this change), and its held-out estimate
comes from cross-validation rather than a held-out share."""

SHOWN = 8
"""At most this many label names in a sentence; the rest are counted."""


@dataclass(frozen=True)
class Coverage:
    """Examples per label, in the label set's order."""

    labels: tuple[str, ...]
    counts: tuple[int, ...]

    @classmethod
    def of(cls, labels: Sequence[str], targets: Sequence[int]) -> Coverage:
        """Count ``targets`` (label positions) for each of ``labels``."""
        counts = [0] * len(labels)
        for target in targets:
            counts[target] += 1
        return cls(tuple(labels), tuple(counts))

    @property
    def without(self) -> tuple[str, ...]:
        """Labels with no example at all."""
        return tuple(n for n, c in zip(self.labels, self.counts, strict=True) if c == 0)

    @property
    def few(self) -> dict[str, int]:
        """Labels with some examples, but fewer than :data:`FEW_EXAMPLES`."""
        return {n: c for n, c in zip(self.labels, self.counts, strict=True) if 0 < c < FEW_EXAMPLES}

    @property
    def covered(self) -> int:
        """How many labels have at least one example."""
        return sum(1 for c in self.counts if c > 0)

    @property
    def complete(self) -> bool:
        """Every label has examples, none only a few."""
        return not self.without and not self.few

    def over_all_labels(self, accuracy_on_covered: float) -> float:
        """A balanced accuracy over the covered labels, spread over every label of the set
        (each label without examples counts as recall 0)."""
        return accuracy_on_covered * self.covered / len(self.labels) if self.labels else 0.0

    def sentences(self) -> list[str]:
        """What a person should know before teaching; empty when coverage is complete."""
        said = []
        if self.without:
            said.append(
                f"The examples cover {self.covered} of {len(self.labels)} labels; "
                f"{len(self.without)} have none and cannot be learned: {_names(self.without)}."
            )
        if self.few:
            shown = [f"{n} ({c})" for n, c in self.few.items()]
            said.append(
                f"{len(self.few)} label(s) have fewer than {FEW_EXAMPLES} examples "
                f"and will be learned poorly: {_names(shown)}."
            )
        return said

    def to_json(self) -> dict[str, Any]:
        return {
            "labels_without_examples": list(self.without),
            "labels_with_few_examples": {n: int(c) for n, c in self.few.items()},
            "labels_covered": self.covered,
            "labels_in_set": len(self.labels),
        }


def gold_coverage(values: Sequence[GoldValue], label_set: LabelSet) -> Coverage:
    """Coverage from a file's surveyed label values (the column picker's count), before
    anything is read through the model; values matching no label are not counted."""
    counts = dict.fromkeys(label_set.label_names, 0)
    for value in values:
        if value.label is not None and value.label in counts:
            counts[value.label] += value.count
    return Coverage(label_set.label_names, tuple(counts.values()))


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:SHOWN])
    return shown if len(names) <= SHOWN else f"{shown} and {len(names) - SHOWN} more"


__all__ = ["FEW_EXAMPLES", "Coverage", "gold_coverage"]
