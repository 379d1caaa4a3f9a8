"""Coverage: examples counted per label before teaching, and the estimate over every label."""

from __future__ import annotations

import numpy as np

from app.core.classify.coverage import FEW_EXAMPLES, Coverage, gold_coverage
from app.core.classify.goldmap import survey_gold
from app.core.classify.head import HeadFit, fit_head, validation_folds
from app.core.classify.labels import LabelSet
from app.core.classify.teach import FeatureSpec, TaughtHead, block_columns, candidate_specs
from tests.unit.classify.test_head import blobs

INTENTS = [f"intent_{i}" for i in range(77)]


def head_for(fit: HeadFit, labels: LabelSet, targets: list[int]) -> TaughtHead:
    """A taught head around ``fit``, as if read from a model ("scripted")."""
    return TaughtHead(
        fit=fit,
        labels=labels.label_names,
        spec=FeatureSpec(mean_layers=(1,)),
        lock_id="scripted@1/model.gguf",
        model_id="scripted",
        label_set=labels.version_id,
        label_set_key=labels.key,
        examples_per_label=Coverage.of(labels.label_names, targets).counts,
        prior=None,
        created_at="20260101T000000Z",
        read_seconds=0.0,
    )


def test_five_of_77_labels_are_named_as_covered_and_the_72_others_listed() -> None:
    targets = [i % 5 for i in range(600)]
    coverage = Coverage.of(INTENTS, targets)
    assert coverage.covered == 5
    assert coverage.without == tuple(INTENTS[5:])
    assert coverage.few == {}
    first = coverage.sentences()[0]
    assert first.startswith("The examples cover 5 of 77 labels; 72 have none")
    assert "intent_5, intent_6" in first and "and 64 more" in first
    data = coverage.to_json()
    assert data["labels_without_examples"] == INTENTS[5:]
    assert data["labels_covered"] == 5 and data["labels_in_set"] == 77
    # 98.7 % on the 5 covered labels is 6.4 % over the set's 77.
    assert abs(coverage.over_all_labels(0.987) - 0.987 * 5 / 77) < 1e-12


def test_labels_with_few_examples_are_named_with_their_counts() -> None:
    coverage = Coverage.of(["a", "b", "c"], [0] * 20 + [1] * 3 + [2] * FEW_EXAMPLES)
    assert coverage.few == {"b": 3}
    assert not coverage.complete
    assert coverage.sentences() == [
        f"1 label(s) have fewer than {FEW_EXAMPLES} examples and will be learned poorly: b (3)."
    ]
    assert Coverage.of(["a", "b"], [0] * 9 + [1] * 9).complete


def test_coverage_from_a_files_surveyed_values_counts_by_label() -> None:
    sentiment = LabelSet.from_names("negative,neutral,positive")
    values = ["Negative"] * 10 + ["positive"] * 12 + ["typo"]
    coverage = gold_coverage(survey_gold(values, sentiment), sentiment)
    assert coverage.counts == (10, 0, 12)  # matched by name; the typo matches nothing
    assert coverage.without == ("neutral",)


def test_with_few_examples_the_estimate_is_cross_validated_over_every_row() -> None:
    x, y = blobs([8] * 10, seed=3)
    folds = validation_folds(y, seed=0)
    assert len(folds) == 5
    held = np.sum(folds, axis=0)
    assert (held == 1).all()  # every row held out exactly once
    for mask in folds:  # stratified: each label in every fold's training rows
        assert len(np.unique(y[~mask])) == 10
    fit = fit_head(x, y, 10)
    assert fit.validation == "5-fold cross-validation"
    assert fit.validation_accuracy is not None and fit.validation_accuracy > 0.5


def test_with_many_examples_a_tenth_is_held_out() -> None:
    x, y = blobs([150, 150], seed=1)
    folds = validation_folds(y, seed=0)
    assert len(folds) == 1 and folds[0].sum() == 30
    assert fit_head(x, y, 2).validation == "a held-out tenth"


def test_a_head_taught_on_5_of_77_labels_reports_its_estimate_over_all_77() -> None:
    x, y = blobs([60] * 5, seed=2)
    fit = fit_head(x, y, 77)
    head = head_for(fit, LabelSet.from_names(INTENTS), list(y))
    assert fit.validation_accuracy is not None and fit.validation_accuracy > 0.9
    summary = head.summary()
    assert summary["held_out_balanced_accuracy"] < 0.07
    assert len(summary["labels_without_examples"]) == 72
    sentence = head.held_out_sentence()
    assert "over all 77 labels" in sentence and "the 72 without count as unlearned" in sentence


def test_feature_candidates_are_read_once_and_cut_into_each_candidates_columns() -> None:
    default, wide = candidate_specs(30)  # the starter's depth
    assert default.mean_layers == (12, 17) and default.last_layers == (17,)
    assert wide.mean_layers == (6, 9, 12, 14, 17) and wide.last_layers == (17,)
    read = FeatureSpec(mean_layers=(6, 9, 12, 14, 17), last_layers=(17,))
    n = 3
    # Each block holds its own tag, so the columns picked say which blocks they came from.
    tags = [(6, "m"), (9, "m"), (12, "m"), (14, "m"), (17, "m"), (17, "l")]
    row = np.concatenate([np.full(n, 100 * layer + (kind == "l")) for layer, kind in tags])
    picked = row[block_columns(read, default, n)]
    assert list(picked) == [1200] * n + [1700] * n + [1701] * n
    assert (row[block_columns(read, wide, n)] == row).all()
