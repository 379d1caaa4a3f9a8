"""Scores, gold-label matching, calibration, and the confusion matrix as a picture."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from app.core.classify.classifier import calibrate, make_prediction, normalise_logprobs
from app.core.classify.labels import LabelSet
from app.core.classify.metrics import map_gold, score
from app.core.classify.picture import confusion_png, confusion_svg, write_confusion


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


def test_gold_values_match_names_case_insensitively_or_by_position() -> None:
    labels = LabelSet.from_names("negative,positive")
    by_name = map_gold(["Positive", "NEGATIVE", "positive ", "meh"], labels)
    assert by_name.indices == (1, 0, 1, None) and by_name.unknown == ("meh",)
    assert not by_name.numeric
    numeric = map_gold(["0", "1", "1", "2"], labels)
    assert numeric.numeric and numeric.indices == (0, 1, 1, None)
    assert numeric.unknown == ("2",)
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


def _png_size_and_pixels(data: bytes) -> tuple[int, int, bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos = 8
    chunks: dict[bytes, bytes] = {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body)
        chunks[kind] = chunks.get(kind, b"") + body
        pos += 12 + length
    width, height = struct.unpack(">II", chunks[b"IHDR"][:8])
    return width, height, zlib.decompress(chunks[b"IDAT"])


def test_the_confusion_matrix_is_a_valid_png_and_svg(tmp_path: Path) -> None:
    s = score(["positive", "negative"], [0, 0, 1, 1], [0, 0, 0, 1])
    width, height, raw = _png_size_and_pixels(confusion_png(s, "sst-2"))
    assert len(raw) == height * (1 + 3 * width)
    assert b"\x18\x46\x8c" in raw  # the darkest shade: row "positive" predicted all right
    svg = confusion_svg(s, "sst-2 <test>")
    assert "1 positive" in svg and "sst-2 &lt;test&gt;" in svg and "75.0%" in svg
    write_confusion(tmp_path / "cm.svg", s)
    write_confusion(tmp_path / "cm.png", s)
    assert (tmp_path / "cm.svg").read_text(encoding="utf-8").startswith("<svg")
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"
