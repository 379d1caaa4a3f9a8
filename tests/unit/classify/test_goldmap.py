"""Gold values that are not label names: counted, guessed, confirmed, never mapped by position."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from app.core.classify import (
    Columns,
    GoldMap,
    GoldMapNeeded,
    LabelSetLibrary,
    RunStore,
    choose_columns,
    evaluate,
    evaluate_file_run,
    gold_rows,
    open_file_run,
    read_all,
    run_file,
    sniff,
    survey_gold,
)
from app.core.classify.errors import ClassifyError
from app.core.classify.labels import LabelSet
from app.core.paths import Paths
from tests.unit.classify.sst2 import OracleClassifier, sst2_rows, write_sst2


@pytest.fixture
def sentiment(paths: Paths) -> LabelSet:
    label_set = LabelSetLibrary.for_paths(paths).resolve("sentiment")
    assert label_set.label_names == ("positive", "negative", "neutral")  # the trap: 0 is first
    return label_set


def test_numbers_are_counted_and_guessed_from_the_names_and_marked_as_guesses(
    sentiment: LabelSet,
) -> None:
    survey = survey_gold(["0", "1", "1", " 0", "1"], sentiment)
    assert [(v.value, v.count, v.label, v.guessed) for v in survey] == [
        ("0", 2, "negative", True),
        ("1", 3, "positive", True),
    ]
    # Without names to guess from, the order of the labels is the guess (and says so).
    routes = LabelSet.from_names("billing,shipping,returns")
    survey = survey_gold(["2", "0"], routes)
    assert [(v.value, v.label, v.source) for v in survey] == [
        ("0", "billing", "guess-order"),
        ("2", "returns", "guess-order"),
    ]
    assert [(v.label, v.source) for v in survey_gold(["pos", "neg"], sentiment)] == [
        ("negative", "guess-name"),
        ("positive", "guess-name"),
    ]


def test_names_need_no_map_and_a_given_map_wins(sentiment: LabelSet) -> None:
    survey = survey_gold(["Positive", "negative", "meh"], sentiment)
    assert [(v.value, v.label, v.source) for v in survey] == [
        ("meh", None, "none"),  # a typo is left out and listed, not guessed
        ("negative", "negative", "name"),
        ("Positive", "positive", "name"),
    ]
    given = GoldMap.parse("1=positive, 0 = negative, 2=", sentiment)
    assert given.text == "0=negative,1=positive,2="
    assert [v.source for v in survey_gold(["0", "1", "2"], sentiment, given)] == ["given"] * 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0=negativ", "'negativ', which is not a label of sentiment"),
        ("0", "is not VALUE=LABEL"),
        (" , ", "The gold map is empty"),
    ],
)
def test_a_wrong_map_is_refused_with_a_sentence(
    sentiment: LabelSet, text: str, message: str
) -> None:
    with pytest.raises(ClassifyError, match=message):
        GoldMap.parse(text, sentiment)


def test_sst2_evaluated_with_the_right_map_scores_what_the_classifier_got_right(
    tmp_path: Path, sentiment: LabelSet
) -> None:
    rows = sst2_rows(200)
    table = read_all(write_sst2(tmp_path / "sst2.tsv", rows), need_gold=True)
    with pytest.raises(GoldMapNeeded) as refused:
        gold_rows(table, sentiment)  # never by position, never silently
    message = str(refused.value)
    zeros = sum(1 for _, g in rows if g == "0")
    assert f"0 ({zeros:,} rows)" in message and "0=negative,1=positive" in message
    assert refused.value.suggested == "0=negative,1=positive"

    gold = gold_rows(table, sentiment, GoldMap.parse("0=negative,1=positive", sentiment))
    report = evaluate(OracleClassifier(sentiment, dict(rows)), gold)
    assert report.scores.n == len(rows)
    assert report.scores.accuracy == pytest.approx(0.8)
    assert report.gold_map == "0=negative,1=positive"
    assert report.to_json()["gold_map"] == "0=negative,1=positive"

    # The positional reading the old code made silently: the swapped names score 0.2.
    swapped = gold_rows(table, sentiment, GoldMap.parse("0=positive,1=negative", sentiment))
    assert evaluate(OracleClassifier(sentiment, dict(rows)), swapped).scores.accuracy == (
        pytest.approx(0.2)
    )


def test_a_file_evaluated_is_a_run_kept_with_its_map_even_after_a_run_without_gold(
    tmp_path: Path, paths: Paths, sentiment: LabelSet
) -> None:
    rows = sst2_rows(50)
    source = write_sst2(tmp_path / "sst2.tsv", rows)
    seen: list[str] = []
    oracle = OracleClassifier(sentiment, dict(rows), seen)
    with RunStore.for_paths(paths) as store:
        # Classified first without its gold column: the rows are stored with no gold.
        plain = choose_columns(sniff(source))
        plain = Columns(plain.table, plain.text, None)
        first = open_file_run(store, oracle, plain)
        list(run_file(store, oracle, plain, run=first))
        assert store.gold_counts(first.id) == {}

        # Evaluated then: the same run, nothing classified again, scored whole.
        table = read_all(source, need_gold=True)
        with pytest.raises(GoldMapNeeded):
            evaluate_file_run(store, oracle, table)
        mapped = replace(table.columns, gold_map=GoldMap.parse("0=negative,1=positive", sentiment))
        report = evaluate_file_run(store, oracle, replace(table, columns=mapped))
        assert report.run_id == first.id and report.classified == 0 and len(seen) == len(rows)
        assert report.scores.n == len(rows) and report.scores.accuracy == pytest.approx(0.8)
        assert store.kept_gold_map(first.id) == "0=negative,1=positive"
        (kept,) = store.evaluations(first.id)
        assert kept.accuracy == pytest.approx(0.8) and kept.n == len(rows)
