"""CSV/TSV input: delimiters, columns, and malformed rows reported by line, never fatal."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.classify.errors import DataFileError
from app.core.classify.table import (
    Row,
    RowProblem,
    choose_columns,
    iter_rows,
    preview,
    read_all,
    sniff,
)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_delimiter_from_extension_or_content(tmp_path: Path) -> None:
    assert sniff(write(tmp_path / "a.tsv", b"text\tlabel\nhi, there\tx\n")).delimiter == "\t"
    assert sniff(write(tmp_path / "a.csv", b"text,label\nhi\tthere,x\n")).delimiter == ","
    content = b"sentence\tlabel\ngreat film , really\t1\nawful\t0\n"
    table = sniff(write(tmp_path / "data.txt", content))
    assert table.delimiter == "\t" and table.kind == "TSV"
    assert table.columns == ("sentence", "label")
    semicolons = write(tmp_path / "export", b"text;label\nhello;a\nbye;b\n")
    assert sniff(semicolons).delimiter == ";"


def test_malformed_rows_are_reported_with_line_numbers_and_skipped(tmp_path: Path) -> None:
    data = (
        b"\xef\xbb\xbftext,label\n"  # a BOM, as spreadsheet programs write
        b"good one,pos\n"  # line 2
        b"too,many,columns\n"  # line 3
        b",neg\n"  # line 4: empty text
        b'"spans\ntwo lines",neg\n'  # lines 5-6: one row
        b"caf\xe9 latin-1,pos\n"  # line 7: not UTF-8
        b"\n"  # line 8: blank, not a row
        b"missing label,\n"  # line 9: no gold (only a problem when gold is used)
        b"last,pos\n"  # line 10
    )
    path = write(tmp_path / "in.csv", data)
    items = list(iter_rows(choose_columns(sniff(path))))
    rows = [i for i in items if isinstance(i, Row)]
    problems = {p.line: p.message for p in items if isinstance(p, RowProblem)}
    assert [(r.line, r.text, r.gold) for r in rows] == [
        (2, "good one", "pos"),
        (5, "spans\ntwo lines", "neg"),
        (10, "last", "pos"),
    ]
    assert problems[3] == "has 3 columns, the header has 2"
    assert "empty text" in problems[4]
    assert "bad encoding" in problems[7]
    assert "no gold label" in problems[9]
    # Row numbers count bad rows too, so they stay put from one run to the next.
    assert [r.number for r in rows] == [0, 3, 6]
    without_gold = choose_columns(sniff(path), "text", None)
    assert without_gold.gold == 1  # "label" is found by its usual name


def test_columns_by_name_by_number_and_clear_errors(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", b"id,Body,Category\n1,hello,a\n")
    table = sniff(path)
    columns = choose_columns(table)
    assert (columns.text_name, columns.gold_name) == ("Body", "Category")
    assert choose_columns(table, "3", "1").text_name == "Category"
    with pytest.raises(DataFileError, match=r"no column 'texts'.*id, Body, Category"):
        choose_columns(table, "texts")
    bare = write(tmp_path / "bare.csv", b"id,words\n1,hello\n")
    with pytest.raises(DataFileError, match="no gold-label column"):
        choose_columns(sniff(bare), need_gold=True)
    assert choose_columns(sniff(bare)).text_name == "id"  # no usual name: the first column


def test_files_that_cannot_be_read_at_all(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="There is no file"):
        sniff(tmp_path / "missing.csv")
    with pytest.raises(DataFileError, match="is empty"):
        sniff(write(tmp_path / "empty.csv", b""))
    with pytest.raises(DataFileError, match="not UTF-8"):
        sniff(write(tmp_path / "latin.csv", b"t\xe9xt,label\n"))
    only_bad = write(tmp_path / "bad.csv", b"text,label\n,x\n")
    with pytest.raises(DataFileError, match=r"no usable rows \(1 malformed, e.g. line 2"):
        read_all(only_bad)


def test_preview_shows_bad_bytes_as_replacement_characters(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", b"text,label\nok,a\nbad \xff,b\n")
    table, rows = preview(path)
    assert table.columns == ("text", "label")
    assert rows == [["ok", "a"], ["bad \ufffd", "b"]]
