"""Scores against gold labels: accuracy, macro-F1, per-class precision and recall, confusion.

Gold values are matched to label names case-insensitively (``Billing``, ``billing``
and ``BILLING`` are one label; ``card_arrival`` matches ``card arrival``). Other values
(SST-2's ``0/1``) are matched only through a :class:`~.goldmap.GoldMap` the person
confirmed, never by position (see :mod:`.goldmap`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from app.core.classify.errors import ClassifyError
from app.core.classify.goldmap import GoldMap
from app.core.classify.labels import LabelSet


@dataclass(frozen=True)
class GoldMapping:
    """Gold values turned into label positions; values that match no label are listed."""

    indices: tuple[int | None, ...]
    unknown: tuple[str, ...]
    gold_map: str = ""
    """The map used, as written (``0=negative,1=positive``); empty: matched by name."""


def map_gold(
    values: Sequence[str], label_set: LabelSet, gold_map: GoldMap | None = None
) -> GoldMapping:
    """Match each gold value to a label (by the map, else by name); None when it matches none."""
    indices: list[int | None] = []
    for value in values:
        given, label = gold_map.label_for(value) if gold_map is not None else (False, None)
        if given:
            indices.append(None if label is None else label_set.index_of(label))
        else:
            indices.append(label_set.index_of(value))
    unknown = sorted({v for v, i in zip(values, indices, strict=True) if i is None})
    return GoldMapping(tuple(indices), tuple(unknown), gold_map.text if gold_map else "")


@dataclass(frozen=True)
class ClassScore:
    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Scores:
    """How predictions compare with gold labels. ``confusion[g][p]`` counts gold g, predicted p."""

    labels: tuple[str, ...]
    n: int
    accuracy: float
    macro_f1: float
    per_class: tuple[ClassScore, ...]
    confusion: tuple[tuple[int, ...], ...]
    needs_review: int = 0
    """Predictions below the confidence threshold (they still count, as their best guess)."""
    confident_accuracy: float | None = None
    """Accuracy on the predictions at or above the threshold, or None if there are none."""
    predicted_not_in_gold: tuple[tuple[str, int], ...] = ()
    """Labels predicted but never in the gold column, with how often: shown apart, and
    left out of macro-F1 (their F1 is 0 by construction: there is nothing to recall)."""

    @property
    def macro_f1_labels(self) -> int:
        """How many labels macro-F1 averages over: those present in the gold column."""
        return sum(1 for c in self.per_class if c.support)

    def row_share(self, gold: int, predicted: int) -> float:
        """The share of gold label ``gold``'s texts predicted as ``predicted`` (0 if none)."""
        total = sum(self.confusion[gold])
        return self.confusion[gold][predicted] / total if total else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "macro_f1_over_labels_in_gold": self.macro_f1_labels,
            "predicted_but_not_in_gold": dict(self.predicted_not_in_gold),
            "needs_review": self.needs_review,
            "confident_accuracy": (
                None if self.confident_accuracy is None else round(self.confident_accuracy, 4)
            ),
            "per_class": {
                c.label: {
                    "precision": round(c.precision, 4),
                    "recall": round(c.recall, 4),
                    "f1": round(c.f1, 4),
                    "support": c.support,
                }
                for c in self.per_class
            },
            "labels": list(self.labels),
            "confusion": [list(row) for row in self.confusion],
        }


def confusion_matrix(
    gold: Sequence[int], predicted: Sequence[int], n_labels: int
) -> npt.NDArray[np.int64]:
    matrix = np.zeros((n_labels, n_labels), dtype=np.int64)
    for g, p in zip(gold, predicted, strict=True):
        matrix[g, p] += 1
    return matrix


def score(
    labels: Sequence[str],
    gold: Sequence[int],
    predicted: Sequence[int],
    *,
    confident: Sequence[bool] | None = None,
) -> Scores:
    """Compare predicted label positions with gold ones (same length, same label order)."""
    if len(gold) != len(predicted):
        raise ClassifyError("There are not as many predictions as gold labels.")
    k = len(labels)
    matrix = confusion_matrix(gold, predicted, k)
    n = int(matrix.sum())
    correct = np.diag(matrix)
    support = matrix.sum(axis=1)
    predicted_count = matrix.sum(axis=0)
    per_class = []
    f1s = []
    for i, name in enumerate(labels):
        precision = float(correct[i] / predicted_count[i]) if predicted_count[i] else 0.0
        recall = float(correct[i] / support[i]) if support[i] else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class.append(ClassScore(name, precision, recall, f1, int(support[i])))
        if support[i]:
            f1s.append(f1)  # over the labels in gold: the others have nothing to recall
    review = 0
    confident_accuracy = None
    if confident is not None:
        sure = np.asarray(confident, dtype=bool)
        review = int((~sure).sum())
        if sure.any():
            hits = np.asarray(gold)[sure] == np.asarray(predicted)[sure]
            confident_accuracy = float(hits.mean())
    return Scores(
        labels=tuple(labels),
        n=n,
        accuracy=float(correct.sum() / n) if n else 0.0,
        macro_f1=float(np.mean(f1s)) if f1s else 0.0,
        per_class=tuple(per_class),
        confusion=tuple(tuple(int(v) for v in row) for row in matrix),
        needs_review=review,
        confident_accuracy=confident_accuracy,
        predicted_not_in_gold=tuple(
            (name, int(predicted_count[i]))
            for i, name in enumerate(labels)
            if predicted_count[i] and not support[i]
        ),
    )
