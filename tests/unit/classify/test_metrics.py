"""Scores, gold-label matching, calibration, and the confusion matrix's row shares."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.classify.classifier import calibrate, make_prediction, normalise_logprobs
from app.core.classify.goldmap import GoldMap
from app.core.classify.labels import LabelSet
from app.core.classify.metrics import map_gold, score


def test_scores_match_a_hand_computed_example() -> None:
    labels = ["a", "b", "c"]
    gold = [0, 0, 0, 1, 1, 2]
    pred = [0, 0, 1, 1, 2, 2]
    s = score(labels, gold, pred)
    assert s.n == 6 and s.accuracy == pytest.approx(4 / 6)
    assert s.confusion == ((2, 1, 0), (0, 1, 1), (0, 0, 1))  # rows gold, columns predicted
    a, b, c = s.per_class
    assert (a.precision, a.recall, a.support) == (1.0, pytest.approx(2 / 3), 3)
    assert (b.precision, b.recall) == (0.5, 0.5)
    assert (c.precision, c.recall) == (0.5, 1.0)
    f1s = [0.8, 0.5, 2 / 3]
    assert s.macro_f1 == pytest.approx(sum(f1s) / 3)
    assert s.to_json()["per_class"]["b"]["f1"] == 0.5


def test_confident_accuracy_and_needs_review() -> None:
    s = score(["a", "b"], [0, 1, 1, 0], [0, 0, 1, 0], confident=[True, False, True, False])
    assert s.needs_review == 2
    assert s.confident_accuracy == 1.0  # the one mistake was below the threshold
    assert s.accuracy == 0.75  # best guesses still count


def test_gold_values_match_names_case_insensitively_never_by_position() -> None:
    labels = LabelSet.from_names("negative,positive")
    by_name = map_gold(["Positive", "NEGATIVE", "positive ", "meh"], labels)
    assert by_name.indices == (1, 0, 1, None) and by_name.unknown == ("meh",)
    assert by_name.gold_map == ""
    numbers = map_gold(["0", "1", "1", "2"], labels)
    assert numbers.indices == (None, None, None, None)  # only a confirmed map says which
    mapped = map_gold(["0", "1", "1", "2"], labels, GoldMap.parse("1=negative,0=positive", labels))
    assert mapped.indices == (1, 0, 0, None) and mapped.unknown == ("2",)
    assert mapped.gold_map == "0=positive,1=negative"
    intents = LabelSet.from_names("card arrival,card linking")
    assert map_gold(["card_arrival"], intents).indices == (0,)
    # Labels that are themselves numbers are matched by name, not by position.
    stars = LabelSet.from_names("1,2,3")
    assert map_gold(["1", "3"], stars).indices == (0, 2)


def test_calibration_divides_out_the_content_free_prior() -> None:
    probs = normalise_logprobs(np.log(np.array([[0.7, 0.3], [0.9, 0.1]])))
    assert probs.sum(axis=1) == pytest.approx([1.0, 1.0])
    calibrated = calibrate(probs, np.array([0.8, 0.2]))
    # The model says 0.7 for "a" but would say 0.8 to a blank: a lean towards "b".
    assert calibrated[0, 1] > 0.5 > calibrated[1, 1]
    assert calibrated.sum(axis=1) == pytest.approx([1.0, 1.0])
    uniform = calibrate(probs, np.array([0.5, 0.5]))
    assert uniform == pytest.approx(probs)


def test_below_the_threshold_the_answer_is_needs_review() -> None:
    sure = make_prediction(("a", "b"), np.array([0.8, 0.2]), 0.6, False)
    unsure = make_prediction(("a", "b"), np.array([0.45, 0.55]), 0.6, True)
    assert (sure.answer, sure.confidence) == ("a", 0.8)
    assert unsure.answer == "needs review" and unsure.label == "b" and unsure.truncated


def test_row_shares_are_each_gold_rows_split() -> None:
    s = score(["positive", "negative", "unused"], [0, 0, 0, 1], [0, 0, 1, 1])
    assert s.row_share(0, 0) == pytest.approx(2 / 3) and s.row_share(0, 1) == pytest.approx(1 / 3)
    assert s.row_share(1, 1) == 1.0
    assert s.row_share(2, 2) == 0.0  # no gold texts: no share, not a division by zero


def test_macro_f1_is_over_the_labels_in_gold_and_others_predicted_are_shown_apart() -> None:
    # The sentiment set on SST-2's 0/1: "neutral" is predicted but never in gold.
    labels = ("positive", "negative", "neutral")
    gold = [0, 0, 0, 0, 1, 1, 1, 1]
    predicted = [0, 0, 0, 2, 1, 1, 2, 2]
    scores = score(labels, gold, predicted)
    f1_positive = 2 * 1.0 * 0.75 / 1.75
    f1_negative = 2 * 1.0 * 0.5 / 1.5
    assert scores.macro_f1 == pytest.approx((f1_positive + f1_negative) / 2)
    assert scores.macro_f1_labels == 2
    assert scores.predicted_not_in_gold == (("neutral", 3),)
    data = scores.to_json()
    assert data["predicted_but_not_in_gold"] == {"neutral": 3}
    assert data["macro_f1_over_labels_in_gold"] == 2
