"""Evaluation on a file with gold labels, and side-by-side comparisons on the same file.

Rows whose gold value matches no label are left out and listed (a typo in the gold
column should not silently count as an error), as are malformed rows. Gold values
that are not label names at all are matched only through a confirmed map
(:mod:`.goldmap`), which the report records. The speed is measured over the
classification alone, in texts per second. A finished run whose file had a gold
column is evaluated from its stored results, without the model (:func:`evaluate_run`);
the window's evaluations of a file are such runs (:func:`evaluate_file_run`), so they are
kept, listed with the other runs, and their confirmed gold map with them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from app.core.cancel import CancelToken
from app.core.classify.batch import DEFAULT_CHUNK, BatchCallback, open_file_run, run_file
from app.core.classify.classifier import Classifier, ClassifierInfo, ClassifyProgress, Prediction
from app.core.classify.errors import ClassifyError
from app.core.classify.goldmap import GoldMap, GoldValue, require_map, survey_counts
from app.core.classify.labels import Label, LabelSet
from app.core.classify.metrics import GoldMapping, Scores, map_gold, score
from app.core.classify.runs import RunStore
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


def gold_rows(table: TableRead, label_set: LabelSet, gold_map: GoldMap | None = None) -> GoldRows:
    """Match the gold column to ``label_set``; rows with an unknown gold value are set aside.

    ``gold_map`` (else the one chosen with the columns) says which label each value is;
    raises :class:`~.goldmap.GoldMapNeeded` when no value is a label name and no map is given.
    """
    if table.columns.gold is None:
        raise ClassifyError("The file has no gold-label column to evaluate against.")
    gold_map = gold_map or table.columns.gold_map
    values = [r.gold or "" for r in table.rows]
    require_map(values, label_set, gold_map, table.columns.table.path.name)
    mapping = map_gold(values, label_set, gold_map)
    kept = [(r, i) for r, i in zip(table.rows, mapping.indices, strict=True) if i is not None]
    if not kept:
        raise ClassifyError(
            "No gold label in the file matches a label of the set "
            f"({', '.join(label_set.label_names)}); found e.g. "
            f"{', '.join(mapping.unknown[:5])}. Say which label each value is."
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
    gold_map: str = ""
    """The confirmed map of gold values to labels (``0=negative,1=positive``); empty: names."""
    run_id: int | None = None
    """The run whose stored results were scored (then nothing was classified again)."""
    taught: dict[str, Any] | None = None
    """For a taught head: which labels its examples covered and its held-out estimate."""
    classified: int = 0
    """Texts classified for this report; the others' predictions were stored (``run_id``)."""

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
            "gold_map": self.gold_map,
            "run": self.run_id,
            "reader": "decoder",
        }
        detail = self.scores.to_json()
        for key in ("n", "accuracy", "macro_f1"):  # already above
            detail.pop(key)
        data.update(detail)
        if self.taught is not None:
            data.update(self.taught)
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
        gold_map=gold.mapping.gold_map,
        taught=classifier.taught(),
        classified=len(predictions),
    )


def run_label_set(store: RunStore, run_id: int) -> LabelSet:
    """The labels of a finished run, as a set to match gold values against.

    Raises :class:`ClassifyError` when the run is unfinished or its file had no gold column.
    """
    run = store.get_run(run_id)
    name = Path(run.input_path).name
    if not run.gold_column:
        raise ClassifyError(
            f"Run {run_id} ({name}) was classified without a gold-label column, so there "
            "is nothing to compare with. Evaluate on a file with gold labels instead."
        )
    if run.finished_at is None:
        done, skipped = store.count(run_id)
        raise ClassifyError(
            f"Run {run_id} ({name}) is not finished ({done + skipped:,} of "
            f"{run.total_rows or 0:,} rows). Classify the same file again to finish it, "
            "then evaluate it."
        )
    return LabelSet(
        run.info.label_set.partition("@")[0].partition("#")[0] or "labels",
        "(the labels of a stored run)",
        tuple(Label(n) for n in run.info.labels),
    )


def evaluate_run(store: RunStore, run_id: int, gold_map: GoldMap | None = None) -> EvalReport:
    """Score a finished run's stored predictions against its gold column (no model needed).

    The evaluation (with its gold map) is recorded with the run, so the list of past runs
    shows its accuracy; another map is another evaluation.
    """
    run = store.get_run(run_id)
    label_set = run_label_set(store, run_id)
    rows = [r for r in store.results(run_id) if r.prediction is not None]
    values = [r.gold or "" for r in rows]
    require_map(values, label_set, gold_map, f"run {run_id} ({Path(run.input_path).name})")
    mapping = map_gold(values, label_set, gold_map)
    index = {name: i for i, name in enumerate(run.info.labels)}
    gold: list[int] = []
    predicted: list[int] = []
    confident: list[bool] = []
    kept: list[Prediction] = []
    for row, g in zip(rows, mapping.indices, strict=True):
        if g is None or row.prediction is None:
            continue
        gold.append(g)
        predicted.append(index[row.prediction.label])
        confident.append(not row.prediction.needs_review)
        kept.append(row.prediction)
    if not gold:
        raise ClassifyError(
            f"No gold label of run {run_id} matches a label of "
            f"{run.info.label_set} ({', '.join(run.info.labels)}); found e.g. "
            f"{', '.join(mapping.unknown[:5])}. Say which label each value is."
        )
    scores = score(run.info.labels, gold, predicted, confident=confident)
    _classified, skipped = store.count(run_id)
    report = EvalReport(
        info=run.info,
        scores=scores,
        texts_per_second=0.0,
        seconds=0.0,
        skipped_rows=skipped,
        unmatched_rows=len(rows) - len(gold),
        unknown_gold=mapping.unknown,
        predictions=tuple(kept),
        gold_map=mapping.gold_map,
        run_id=run_id,
    )
    store.record_evaluation(run_id, report.gold_map, report.to_json())
    return report


def evaluate_file_run(
    store: RunStore,
    classifier: Classifier,
    table: TableRead,
    *,
    chunk_size: int = DEFAULT_CHUNK,
    on_progress: BatchCallback | None = None,
    cancel: CancelToken | None = None,
) -> EvalReport:
    """Classify a labelled file as a run kept with the others, then score that run.

    The rows are stored as a file run's are, so a later evaluation (or a classification
    of the same file with the same settings) resumes and reuses them; the evaluation and
    its gold map (``table.columns.gold_map``) are recorded with the run. Rows an earlier
    run of the same settings stored without the gold column get their gold values here.
    Refuses (:class:`~.goldmap.GoldMapNeeded`, :class:`ClassifyError`) before classifying.
    """
    gold_rows(table, classifier.label_set)  # a map that is needed, a gold label that matches
    columns = table.columns
    run = open_file_run(store, classifier, columns, cancel=cancel)
    earlier = store.done_rows(run.id)
    started = time.perf_counter()
    classified = 0
    for row in run_file(
        store,
        classifier,
        columns,
        run=run,
        chunk_size=chunk_size,
        on_progress=on_progress,
        cancel=cancel,
    ):
        classified += row.prediction is not None
    seconds = time.perf_counter() - started
    if earlier:
        store.set_gold(run.id, ((r.number, r.gold) for r in table.rows if r.number in earlier))
    report = evaluate_run(store, run.id, columns.gold_map)
    return replace(
        report,
        texts_per_second=classified / seconds if classified and seconds > 0 else 0.0,
        seconds=seconds,
        classified=classified,
    )


def gold_survey_of_run(
    store: RunStore, run_id: int, gold_map: GoldMap | None = None
) -> tuple[LabelSet, tuple[GoldValue, ...]]:
    """A finished run's gold values, counted, with their labels or guesses (for a picker)."""
    label_set = run_label_set(store, run_id)
    return label_set, survey_counts(store.gold_counts(run_id), label_set, gold_map)


def comparison_table(reports: Sequence[EvalReport]) -> list[list[str]]:
    """Rows of a side-by-side table: a header, then one line per measure."""
    header = ["", *[f"{r.info.method} · {r.info.model_id}" for r in reports]]
    lines: list[tuple[str, Callable[[EvalReport], str]]] = [
        ("texts", lambda r: str(r.scores.n)),
        ("accuracy", lambda r: f"{r.scores.accuracy:.3f}"),
        ("macro-F1", lambda r: f"{r.scores.macro_f1:.3f}"),
        ("needs review", lambda r: str(r.scores.needs_review)),
        ("texts/s", lambda r: f"{r.texts_per_second:.1f}" if r.classified else "stored"),
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
