"""Teaching on the command line: coverage named before teaching, and in ``eval --json``.

The model is replaced: a text's "features" are a noisy one-hot of the intent number it
names, and the head is the real one (:func:`~app.core.classify.head.fit_head`).
"""

from __future__ import annotations

import csv
import json
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.cli import main
from app.core.cancel import CancelToken
from app.core.classify.classifier import Classifier, Prediction, make_prediction
from app.core.classify.head import fit_head
from app.core.classify.labels import LabelSet
from app.core.classify.teach import TaughtHead
from app.core.classify.workbench import Workbench
from tests.unit.classify.test_coverage import head_for
from tests.unit.cli.test_classify import (
    SENTENCES,
    FakeWorkbench,
    KeywordClassifier,
    seen,
    write_table,
)

INTENTS = [f"intent_{i}" for i in range(77)]
__all__ = ["seen"]  # the fixture, imported to be used here


def features(texts: Sequence[str]) -> np.ndarray:
    rows = []
    for text in texts:
        intent = int(text.split()[1])
        # A stable seed per text: hash() changes with every process (PYTHONHASHSEED).
        rng = np.random.default_rng(zlib.crc32(text.encode()))
        row = rng.normal(0, 0.3, 77)
        row[intent] += 2.0
        rows.append(row)
    return np.array(rows)


class HeadClassifier(KeywordClassifier):
    def __init__(self, label_set: LabelSet, head: TaughtHead) -> None:
        super().__init__(label_set, [])
        self.head = head

    def taught(self) -> dict[str, Any] | None:
        return self.head.summary()

    def predict(self, texts: Sequence[str], cancel: CancelToken | None = None) -> list[Prediction]:
        probs = self.head.fit.predict_proba(features(texts))
        return [make_prediction(self.label_set.label_names, p, 0.5, False) for p in probs]


@pytest.fixture
def teaching(monkeypatch: pytest.MonkeyPatch, seen: list[str]) -> None:
    def teach(self: FakeWorkbench, label_set: LabelSet, examples: Any, **kw: Any) -> TaughtHead:
        y = [i for _, i in examples]
        fit = fit_head(features([t for t, _ in examples]), y, len(label_set.labels))
        return head_for(fit, label_set, y)

    def classifier(
        self: FakeWorkbench, label_set: LabelSet, _o: Any, head: Any = None, **_kw: Any
    ) -> Classifier:
        return HeadClassifier(label_set, head)

    monkeypatch.setattr(FakeWorkbench, "teaching_set", Workbench.teaching_set, raising=False)
    monkeypatch.setattr(FakeWorkbench, "saved_head", lambda *a: None, raising=False)
    monkeypatch.setattr(FakeWorkbench, "teach", teach, raising=False)
    monkeypatch.setattr(FakeWorkbench, "classifier", classifier, raising=False)


def test_taught_from_5_of_77_intents_eval_json_lists_the_72_without_examples(
    tmp_path: Path, teaching: None, capsys: pytest.CaptureFixture[str]
) -> None:
    train = write_table(
        tmp_path / "first600.csv",
        rows=[(f"intent {i % 5} example {i}", INTENTS[i % 5]) for i in range(600)]
        + [(f"intent 5 example {i}", INTENTS[5]) for i in range(3)],
    )
    held = [(f"intent {i % 77} held {i}", INTENTS[i % 77]) for i in range(308)]
    gold = write_table(tmp_path / "gold.csv", rows=held)
    command = ["eval", "--labels", ",".join(INTENTS), "--input", str(gold), "--train", str(train)]
    assert main([*command, "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["labels_without_examples"] == INTENTS[6:]
    assert report["labels_with_few_examples"] == {"intent_5": 3}
    assert report["labels_covered"] == 6
    covered = report["held_out_on_covered_labels"]
    assert report["held_out_balanced_accuracy"] == pytest.approx(covered * 6 / 77, abs=1e-3)
    assert "Warning: The examples cover 6 of 77 labels; 71 have none" in captured.err
    assert "fewer than 8 examples and will be learned poorly: intent_5 (3)" in captured.err
    assert "over all 77 labels" in captured.err


def test_the_issues_600_rows_of_5_intents_list_the_72_without_examples(
    tmp_path: Path, teaching: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """The done-when case word for word: 600 rows holding 5 of the 77 intents."""
    train = write_table(
        tmp_path / "first600.csv",
        rows=[(f"intent {i % 5} example {i}", INTENTS[i % 5]) for i in range(600)],
    )
    gold = write_table(
        tmp_path / "gold.csv",
        rows=[(f"intent {i % 77} held {i}", INTENTS[i % 77]) for i in range(154)],
    )
    command = ["eval", "--labels", ",".join(INTENTS), "--input", str(gold), "--train", str(train)]
    assert main([*command, "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["labels_without_examples"] == INTENTS[5:]
    assert len(report["labels_without_examples"]) == 72
    assert report["labels_with_few_examples"] == {}
    assert report["labels_covered"] == 5
    assert report["held_out_balanced_accuracy"] == pytest.approx(
        report["held_out_on_covered_labels"] * 5 / 77, abs=1e-3
    )
    assert "The examples cover 5 of 77 labels; 72 have none" in captured.err
    assert report["accuracy"] < 0.1, "the 72 unlearned intents are wrong on held-out rows"


def test_labels_from_column_of_train_make_the_label_set_for_eval(
    tmp_path: Path, teaching: None, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [(f"intent {i % 12} example {i}", INTENTS[i % 12]) for i in range(240)]
    train = write_table(tmp_path / "train.csv", rows=rows)
    held = [(f"intent {i % 12} held {i}", INTENTS[i % 12]) for i in range(48)]
    gold = write_table(tmp_path / "gold.csv", rows=held)
    command = ["eval", "--labels-from-column", "label", "--input", str(gold)]
    assert main([*command, "--train", str(train), "--json"]) == 0
    captured = capsys.readouterr()
    assert "Labels from column 'label' of train.csv: 12 labels: intent_0 (20)" in captured.err
    report = json.loads(captured.out)
    assert sorted(report["labels"]) == sorted(INTENTS[:12])
    assert report["labels_without_examples"] == []
    assert report["accuracy"] > 0.9


def test_labels_from_column_of_input_for_classify(
    tmp_path: Path, seen: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_table(tmp_path / "mood.csv")  # labels 0 and 1
    assert main(["classify", "--labels-from-column", "label", "--input", str(source)]) == 0
    err = capsys.readouterr().err
    assert "Labels from column 'label' of mood.csv: 2 labels: 0 (3), 1 (3)" in err
    assert len(seen) == len(SENTENCES)


def test_labels_from_column_of_input_for_eval_without_train(
    tmp_path: Path, seen: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    gold = write_table(tmp_path / "mood.csv")  # gold labels 0 and 1, three each
    command = ["eval", "--labels-from-column", "label", "--input", str(gold), "--json"]
    assert main(command) == 0
    captured = capsys.readouterr()
    assert "Labels from column 'label' of mood.csv: 2 labels: 0 (3), 1 (3)" in captured.err
    report = json.loads(captured.out)
    assert sorted(report["labels"]) == ["0", "1"] and report["n"] == len(SENTENCES)
    assert "predicted_but_not_in_gold" not in report or not report["predicted_but_not_in_gold"]
    assert len(seen) == len(SENTENCES)


def test_labels_from_column_of_train_for_classify(
    tmp_path: Path, teaching: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --train, the labels come from the taught file's column, not the input's."""
    train = write_table(
        tmp_path / "train.csv",
        rows=[(f"intent {i % 3} example {i}", INTENTS[i % 3]) for i in range(90)],
    )
    source = write_table(
        tmp_path / "in.csv", rows=[(f"intent {i % 3} new {i}", "unknown") for i in range(9)]
    )
    output = tmp_path / "out.csv"
    command = ["classify", "--labels-from-column", "label", "--input", str(source)]
    assert main([*command, "--train", str(train), "--output", str(output)]) == 0
    err = capsys.readouterr().err
    assert "Labels from column 'label' of train.csv: 3 labels: intent_0 (30)" in err
    with output.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    columns = [f"p_{name}" for name in INTENTS[:3]]
    assert [c for c in rows[0] if c.startswith("p_")] == columns
    best = [max(columns, key=lambda c, row=row: float(row[c])) for row in rows]
    assert best == [f"p_{INTENTS[i % 3]}" for i in range(9)]


def test_a_column_of_free_text_is_not_a_label_set(
    tmp_path: Path, seen: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [(f"text {i}", f"id-{i}") for i in range(600)]
    source = write_table(tmp_path / "ids.csv", rows=rows)
    assert main(["classify", "--labels-from-column", "label", "--input", str(source)]) == 1
    assert "600 different values: that looks like text or ids" in capsys.readouterr().err
    assert seen == []
