"""Evaluation on a file with gold labels, and side-by-side comparisons on the same file.

Rows whose gold value matches no label are left out and listed (a typo in the gold
column should not silently count as an error), as are malformed rows. The speed is
measured over the classification alone, in texts per second.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.core.cancel import CancelToken
from app.core.classify.classifier import Classifier, ClassifierInfo, ClassifyProgress, Prediction
from app.core.classify.errors import ClassifyError
from app.core.classify.labels import LabelSet
from app.core.classify.metrics import GoldMapping, Scores, map_gold, score
from app.core.classify.table import Row, RowProblem, TableRead


@dataclass(frozen=True)
class GoldRows:
    """The rows of a gold file that can be scored, with their label positions."""

    rows: tuple[Row, ...]
    gold: tuple[int, ...]
    mapping: GoldMapping
    problems: tuple[RowProblem, ...]
    unmatched_rows: int

    @property
    def texts(self) -> list[str]:
        return [r.text for r in self.rows]


def gold_rows(table: TableRead, label_set: LabelSet) -> GoldRows:
    """Match the gold column to ``label_set``; rows with an unknown gold value are set aside."""
    if table.columns.gold is None:
        raise ClassifyError("The file has no gold-label column to evaluate against.")
    values = [r.gold or "" for r in table.rows]
    mapping = map_gold(values, label_set)
    kept = [(r, i) for r, i in zip(table.rows, mapping.indices, strict=True) if i is not None]
    if not kept:
        raise ClassifyError(
            "No gold label in the file matches a label of the set "
            f"({', '.join(label_set.label_names)}); found e.g. "
            f"{', '.join(mapping.unknown[:5])}. Numeric gold labels are mapped by position: "
            "give the labels in that order."
        )
    return GoldRows(
        rows=tuple(r for r, _ in kept),
        gold=tuple(i for _, i in kept),
        mapping=mapping,
        problems=table.problems,
        unmatched_rows=len(table.rows) - len(kept),
    )


@dataclass(frozen=True)
class EvalReport:
    """One classifier's results on one gold file."""

    info: ClassifierInfo
    scores: Scores
    texts_per_second: float
    seconds: float
    skipped_rows: int
    unmatched_rows: int
    unknown_gold: tuple[str, ...]
    predictions: tuple[Prediction, ...] = field(repr=False, default=())

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "n": self.scores.n,
            "accuracy": round(self.scores.accuracy, 4),
            "macro_f1": round(self.scores.macro_f1, 4),
            "texts_per_second": round(self.texts_per_second, 2),
            "seconds": round(self.seconds, 2),
            "method": self.info.method,
            "model": self.info.model_id,
            "lock_id": self.info.lock_id,
            "label_set": self.info.label_set,
            "detail": self.info.detail,
            "weights": self.info.weights,
            "threshold": self.info.threshold,
            "skipped_rows": self.skipped_rows,
            "unmatched_rows": self.unmatched_rows,
            "unknown_gold": list(self.unknown_gold),
        }
        detail = self.scores.to_json()
        for key in ("n", "accuracy", "macro_f1"):
            detail.pop(key)
        data.update(detail)
        return data


def evaluate(
    classifier: Classifier,
    gold: GoldRows,
    *,
    on_progress: Callable[[ClassifyProgress], None] | None = None,
    cancel: CancelToken | None = None,
) -> EvalReport:
    """Classify the gold rows and score the predictions."""
    started = time.perf_counter()
    predictions = list(
        classifier.classify_many(gold.texts, on_progress, cancel, total=len(gold.rows))
    )
    seconds = time.perf_counter() - started
    labels = classifier.label_set.label_names
    index = {name: i for i, name in enumerate(labels)}
    predicted = [index[p.label] for p in predictions]
    scores = score(
        labels, gold.gold, predicted, confident=[not p.needs_review for p in predictions]
    )
    return EvalReport(
        info=classifier.info,
        scores=scores,
        texts_per_second=len(predictions) / seconds if seconds > 0 else 0.0,
        seconds=seconds,
        skipped_rows=len(gold.problems),
        unmatched_rows=gold.unmatched_rows,
        unknown_gold=gold.mapping.unknown,
        predictions=tuple(predictions),
    )


def comparison_table(reports: Sequence[EvalReport]) -> list[list[str]]:
    """Rows of a side-by-side table: a header, then one line per measure."""
    header = ["", *[f"{r.info.method} · {r.info.model_id}" for r in reports]]
    lines: list[tuple[str, Callable[[EvalReport], str]]] = [
        ("texts", lambda r: str(r.scores.n)),
        ("accuracy", lambda r: f"{r.scores.accuracy:.3f}"),
        ("macro-F1", lambda r: f"{r.scores.macro_f1:.3f}"),
        ("needs review", lambda r: str(r.scores.needs_review)),
        ("texts/s", lambda r: f"{r.texts_per_second:.1f}"),
    ]
    table = [header]
    for name, cell in lines:
        table.append([name, *[cell(r) for r in reports]])
    labels = reports[0].scores.labels if reports else ()
    for i, label in enumerate(labels):
        table.append(
            [
                f"{label} P/R",
                *[
                    f"{r.scores.per_class[i].precision:.2f}/{r.scores.per_class[i].recall:.2f}"
                    for r in reports
                ],
            ]
        )
    return table
