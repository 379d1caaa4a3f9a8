"""SST-2 rows (0 = negative, 1 = positive) and a scripted classifier that knows them.

The classifier answers by label *name*: right on four rows of five, wrong on the fifth.
Scored with the right gold map its accuracy is 0.8; with the positional map the
sentiment set would suggest (0 = positive, 1 = negative) it would be 0.2.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from app.core.cancel import CancelToken
from app.core.classify.classifier import Classifier, ClassifierInfo, Prediction, make_prediction
from app.core.classify.labels import LabelSet

# The labelled sets live beside the checkout (../shared/data), in CI and in make rehearse.
SST2 = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "sst2_train.tsv"
FALLBACK = [
    ("hide new secretions from the parental units", "0"),
    ("contains no wit , only labored gags", "0"),
    ("that loves its characters and communicates something rather beautiful", "1"),
    ("remains utterly satisfied to remain the same throughout", "0"),
    ("the greatest musicians", "1"),
    ("a gorgeous , witty , seductive movie", "1"),
    ("are more deeply thought through than in most ` right-thinking ' films", "1"),
    ("goes to absurd lengths", "0"),
    ("is a charming and often affecting journey", "1"),
    ("unflinchingly bleak and desperate", "0"),
]


def sst2_rows(n: int = 200) -> list[tuple[str, str]]:
    """The first ``n`` SST-2 training rows. Without the data folder (a fresh clone), the ten
    above over and over, numbered after the first ten so that each text is its own."""
    if not SST2.is_file():
        cycled = zip(range(n), itertools.cycle(FALLBACK), strict=False)
        return [
            (text if i < len(FALLBACK) else f"{text} ({i})", label) for i, (text, label) in cycled
        ]
    with SST2.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader)
        rows = []
        for text, label in reader:
            rows.append((text.strip(), label.strip()))
            if len(rows) == n:
                break
    return rows


def write_sst2(path: Path, rows: Sequence[tuple[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["sentence", "label"])
        writer.writerows(rows)
    return path


class OracleClassifier(Classifier):
    """Knows each text's sentiment by name; wrong on every fifth text it is given."""

    def __init__(
        self, label_set: LabelSet, truth: dict[str, str], seen: list[str] | None = None
    ) -> None:
        self.label_set = label_set
        self.info = ClassifierInfo(
            method="prompt",
            label_set=label_set.version_id,
            labels=label_set.label_names,
            model_id="scripted",
            lock_id="scripted@1/model.gguf",
            threshold=0.5,
        )
        self.truth = truth
        self.seen = [] if seen is None else seen
        self.count = 0

    def predict(self, texts: Sequence[str], cancel: CancelToken | None = None) -> list[Prediction]:
        names = self.label_set.label_names
        out = []
        for text in texts:
            self.seen.append(text)
            right = "negative" if self.truth[text] == "0" else "positive"
            wrong = "positive" if right == "negative" else "negative"
            self.count += 1
            answer = wrong if self.count % 5 == 0 else right
            probs = np.array([0.9 if n == answer else 0.1 / (len(names) - 1) for n in names])
            out.append(make_prediction(names, probs, self.info.threshold, False))
        return out
