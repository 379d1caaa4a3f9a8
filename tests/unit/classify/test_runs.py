"""Batch runs: checkpoints that survive cancel, pause and SIGKILL; export; malformed rows.

A scripted classifier stands in for the model here (speed matters; the model's own
behaviour is tested in test_classify_model.py). It honours the cancel token and
records every text it is asked to classify, so "nothing classified twice" is checked.
"""

from __future__ import annotations

import codecs
import csv
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from app.core.cancel import CancelToken
from app.core.classify.batch import BatchProgress, PauseToken, open_file_run, run_file
from app.core.classify.classifier import Classifier, ClassifierInfo, Prediction, make_prediction
from app.core.classify.dialect import CsvDialect, export_dialect
from app.core.classify.errors import DataFileError
from app.core.classify.labels import LabelSet
from app.core.classify.runs import RunStore, spreadsheet_safe
from app.core.classify.table import choose_columns, sniff
from app.core.errors import Cancelled

ROWS = 120


class ScriptedClassifier(Classifier):
    """ "long" for texts over 12 characters, else "short"; optionally slow per chunk."""

    def __init__(self, delay: float = 0.0) -> None:
        self.label_set = LabelSet.from_names("short,long")
        self.info = ClassifierInfo(
            method="prompt",
            label_set=self.label_set.version_id,
            labels=self.label_set.label_names,
            model_id="scripted",
            lock_id="scripted@1/model.gguf",
            threshold=0.6,
        )
        self.delay = delay
        self.seen: list[str] = []

    def predict(self, texts: Sequence[str], cancel: CancelToken | None = None) -> list[Prediction]:
        if cancel is not None:
            cancel.raise_if_cancelled()
        if self.delay:
            time.sleep(self.delay)  # stands in for the model's work
        self.seen.extend(texts)
        return [
            make_prediction(
                self.label_set.label_names,
                np.array([0.3, 0.7]) if len(t) > 12 else np.array([0.55, 0.45]),
                self.info.threshold,
                False,
            )
            for t in texts
        ]


def make_input(path: Path, rows: int = ROWS, bad_every: int = 0) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        for i in range(rows):
            if bad_every and i % bad_every == bad_every - 1:
                writer.writerow([i, "", "extra"])  # wrong column count
            else:
                writer.writerow([i, f"text {i}" + (" is a longer one" if i % 3 == 0 else "")])
    return path


def expected_label(text: str) -> str:
    return "long" if len(text) > 12 else "short"


def test_a_run_classifies_every_row_once_and_reports_bad_lines(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "classify.sqlite3")
    columns = choose_columns(sniff(make_input(tmp_path / "in.csv", bad_every=10)), "text")
    fake = ScriptedClassifier()
    progress: list[BatchProgress] = []
    rows = list(run_file(store, fake, columns, chunk_size=16, on_progress=progress.append))
    problems = [r for r in rows if r.problem]
    assert len(rows) == ROWS and len(problems) == ROWS // 10
    assert problems[0].line == 11 and "3 columns" in (problems[0].problem or "")
    assert len(fake.seen) == ROWS - len(problems)
    for row in rows:
        if row.prediction is not None:
            assert row.prediction.label == expected_label(row.text)
            assert row.prediction.needs_review == (row.prediction.confidence < 0.6)
    final = progress[-1]
    assert (final.done, final.total, final.skipped) == (ROWS, ROWS, ROWS // 10)
    assert final.fraction == 1.0 and final.texts_per_second > 0
    run = store.list_runs()[0]
    assert run.finished_at is not None and run.info.lock_id == "scripted@1/model.gguf"


def test_cancel_then_rerun_resumes_without_classifying_twice(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "classify.sqlite3")
    columns = choose_columns(sniff(make_input(tmp_path / "in.csv")), "text")
    first = ScriptedClassifier()
    cancel = CancelToken()

    def stop_after_two_chunks(p: BatchProgress) -> None:
        if p.done >= 20:
            cancel.cancel()

    with pytest.raises(Cancelled):
        for _ in run_file(
            store, first, columns, chunk_size=10, on_progress=stop_after_two_chunks, cancel=cancel
        ):
            pass
    assert len(first.seen) == 20
    second = ScriptedClassifier()
    progress: list[BatchProgress] = []
    new_rows = list(run_file(store, second, columns, chunk_size=10, on_progress=progress.append))
    assert len(second.seen) == ROWS - 20
    assert [r.number for r in new_rows] == list(range(20, ROWS))
    assert progress[0].resumed == 20 and progress[-1].done == ROWS
    all_rows = store.results(store.list_runs()[0].id)
    assert [r.number for r in all_rows] == list(range(ROWS))


def test_pause_holds_the_worker_and_cancel_ends_a_pause(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "classify.sqlite3")
    columns = choose_columns(sniff(make_input(tmp_path / "in.csv")), "text")
    fake = ScriptedClassifier()
    pause = PauseToken()
    pause.pause()
    cancel = CancelToken()
    paused_seen = threading.Event()
    errors: list[BaseException] = []

    def on_progress(p: BatchProgress) -> None:
        if p.paused:
            paused_seen.set()

    def work() -> None:
        try:
            for _ in run_file(
                store,
                fake,
                columns,
                chunk_size=10,
                on_progress=on_progress,
                cancel=cancel,
                pause=pause,
            ):
                pass
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=work)
    worker.start()
    assert paused_seen.wait(10)
    assert fake.seen == []  # held before the first chunk
    cancel.cancel()
    worker.join(10)
    assert not worker.is_alive() and isinstance(errors[0], Cancelled)

    resumed = PauseToken()
    resumed.pause()
    paused_seen.clear()
    errors.clear()
    cancel = CancelToken()
    pause = resumed
    worker = threading.Thread(target=work)
    worker.start()
    assert paused_seen.wait(10)
    pause.resume()
    worker.join(30)
    assert not worker.is_alive() and errors == []
    assert len(fake.seen) == ROWS


def test_export_has_label_confidence_probabilities_and_lock_id(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "classify.sqlite3")
    columns = choose_columns(sniff(make_input(tmp_path / "in.csv", rows=6)), "text")
    list(run_file(store, ScriptedClassifier(), columns))
    out = tmp_path / "out.csv"
    run_id = store.list_runs()[0].id
    assert store.export_csv(run_id, out) == 6
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [
        "row", "line", "text", "label", "best_label", "confidence", "p_short", "p_long",
        "truncated", "label_set", "method", "lock_id", "weights",
    ]  # fmt: skip
    long_row, short_row = rows[0], rows[1]
    assert (long_row["label"], long_row["confidence"], long_row["p_long"]) == (
        "long",
        "0.7000",
        "0.7000",
    )
    assert short_row["label"] == "needs review" and short_row["best_label"] == "short"
    assert {r["lock_id"] for r in rows} == {"scripted@1/model.gguf"}


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tindented", "'\tindented"),
        ("\rreturn", "'\rreturn"),
        ("-1", "-1"),
        ("+0.5", "+0.5"),
        ("-1e3", "-1e3"),
        ("a = b", "a = b"),
        (3, 3),
    ],
)
def test_spreadsheet_safe_neutralises_formulas_only(cell: object, written: object) -> None:
    assert spreadsheet_safe(cell) == written


def test_export_neutralises_formulas_and_keeps_what_the_model_read(tmp_path: Path) -> None:
    source = tmp_path / "tickets.csv"
    source.write_text(
        'text,label\n"=HYPERLINK(""http://evil.example"",""click me please"")",-1\n'
        "@mention me when it ships,+1\n",
        encoding="utf-8",
    )
    store = RunStore(tmp_path / "classify.sqlite3")
    fake = ScriptedClassifier()
    list(run_file(store, fake, choose_columns(sniff(source))))
    assert fake.seen == [
        '=HYPERLINK("http://evil.example","click me please")',
        "@mention me when it ships",
    ]
    run_id = store.list_runs()[0].id
    assert [r.text for r in store.results(run_id)] == fake.seen  # stored as read
    out = tmp_path / "out.csv"
    store.export_csv(run_id, out, include_problems=True)
    with out.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["text"] for r in rows] == ["'" + text for text in fake.seen]
    assert [r["gold"] for r in rows] == ["-1", "+1"]


def test_a_misread_file_is_refused_before_a_run_is_stored(tmp_path: Path) -> None:
    source = tmp_path / "runaway.csv"
    rows = "".join(f"row {i},{i}\n" for i in range(30))
    source.write_text(f'id,text\n1,"never closed\n{rows}', encoding="utf-8")
    store = RunStore(tmp_path / "classify.sqlite3")
    fake = ScriptedClassifier()
    with pytest.raises(DataFileError, match="line 2: opens a quote that is never closed"):
        open_file_run(store, fake, choose_columns(sniff(source), "text"))
    assert store.list_runs() == [] and fake.seen == []


def test_a_run_read_another_way_is_another_run(tmp_path: Path) -> None:
    source = tmp_path / "latin.csv"
    source.write_bytes("text,label\ncaf\u00e9 au lait,a\n".encode("latin-1"))
    store = RunStore(tmp_path / "classify.sqlite3")
    latin = open_file_run(store, ScriptedClassifier(), choose_columns(sniff(source, "latin-1")))
    cp1252 = open_file_run(store, ScriptedClassifier(), choose_columns(sniff(source, "cp1252")))
    assert latin.id != cp1252.id


_KILL_SCRIPT = """
import sys
from pathlib import Path
from app.core.classify.batch import run_file
from app.core.classify.runs import RunStore
from app.core.classify.table import choose_columns, sniff
from tests.unit.classify.test_runs import ScriptedClassifier
store = RunStore(Path(sys.argv[1]))
columns = choose_columns(sniff(Path(sys.argv[2])), "text")
for _ in run_file(store, ScriptedClassifier(delay=0.05), columns, chunk_size=10):
    pass
print("finished")
"""


def test_a_run_killed_with_sigkill_resumes_where_it_stopped(tmp_path: Path) -> None:
    db = tmp_path / "classify.sqlite3"
    source = make_input(tmp_path / "in.csv", rows=400)
    store = RunStore(db)
    columns = choose_columns(sniff(source), "text")
    run = open_file_run(store, ScriptedClassifier(), columns)
    child = subprocess.Popen(
        [sys.executable, "-c", _KILL_SCRIPT, str(db), str(source)],
        cwd=Path(__file__).resolve().parents[3],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while store.count(run.id)[0] < 30:
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    done_before = store.count(run.id)[0]
    assert 30 <= done_before < 400 and done_before % 10 == 0  # whole chunks, nothing half
    fake = ScriptedClassifier()
    list(run_file(store, fake, columns, chunk_size=10))
    assert len(fake.seen) == 400 - done_before  # nothing classified twice
    rows = store.results(run.id)
    assert [r.number for r in rows] == list(range(400))  # nothing lost
    assert all(r.prediction and r.prediction.label == expected_label(r.text) for r in rows)


@pytest.mark.parametrize(
    ("prefix", "delimiter", "line_end", "encoding"),
    [
        (b"", "\t", "\n", "utf-8"),
        (codecs.BOM_UTF8, ";", "\r\n", "utf-8"),
        (b"", ";", "\r", "cp1252"),  # a legacy encoding: UTF-8 with a BOM, for Excel
    ],
)
def test_an_export_is_laid_out_like_its_input(
    tmp_path: Path, prefix: bytes, delimiter: str, line_end: str, encoding: str
) -> None:
    source = tmp_path / "in.csv"
    lines = ["text", "Café au lait, s'il vous plaît", "ok"]
    body = "".join(f'"{t}"{delimiter}{n}{line_end}' for n, t in enumerate(lines))
    source.write_bytes(prefix + body.encode(encoding))
    store = RunStore(tmp_path / "classify.sqlite3")
    columns = choose_columns(sniff(source, encoding=encoding if encoding != "utf-8" else None))
    list(run_file(store, ScriptedClassifier(), columns))
    out = tmp_path / "out.csv"
    run_id = store.list_runs()[0].id
    assert store.export_csv(run_id, out) == 2
    data = out.read_bytes()
    assert data.startswith(
        (codecs.BOM_UTF8 if prefix or encoding != "utf-8" else b"")
        + f"row{delimiter}line{delimiter}text{delimiter}".encode()
    )
    assert data.count(line_end.encode()) == 3
    assert "Café au lait" in data.decode("utf-8-sig")
    # A named dialect wins, and a vanished input falls back to plain CSV.
    source.unlink()
    store.export_csv(run_id, out)
    assert out.read_bytes().startswith(b"row,line,text,")
    store.export_csv(run_id, out, dialect=CsvDialect(";", bom=True, line_end="\r\n"))
    assert out.read_bytes().startswith(codecs.BOM_UTF8 + b"row;line;text;")


def test_an_export_for_excel_follows_the_decimal_mark_and_leaves_texts_alone(
    tmp_path: Path,
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("text\nversion 3.5 is out\nok\n", encoding="utf-8")
    store = RunStore(tmp_path / "classify.sqlite3")
    list(run_file(store, ScriptedClassifier(), choose_columns(sniff(source))))
    run_id = store.list_runs()[0].id
    out = tmp_path / "out.csv"
    store.export_csv(run_id, out, dialect=export_dialect("excel", ","))
    data = out.read_bytes()
    assert data.startswith(codecs.BOM_UTF8 + b"row;line;text;") and data.count(b"\r\n") == 3
    header, first, _second = csv.reader(data.decode("utf-8-sig").splitlines(), delimiter=";")
    assert first[2] == "version 3.5 is out"  # a text keeps its point
    assert first[header.index("confidence")].count(",") == 1  # a number takes the comma
    assert first[header.index("p_long")].startswith(("0,", "1,"))
    # Where the decimal mark is a point, Excel reads commas; plain CSV has no BOM.
    assert export_dialect("excel", ".") == CsvDialect(",", bom=True, line_end="\r\n")
    assert export_dialect("plain") == CsvDialect() and export_dialect("input") is None
