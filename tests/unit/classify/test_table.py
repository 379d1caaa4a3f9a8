"""CSV/TSV input: delimiters, columns, and malformed rows reported by line, never fatal."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from app.core.classify.errors import DataFileError
from app.core.classify.sniffing import UnknownEncoding
from app.core.classify.table import (
    Row,
    RowProblem,
    choose_columns,
    iter_rows,
    preview,
    read_all,
    sniff,
)
from tests.unit.classify.sst2 import FALLBACK, SST2


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
    with pytest.raises(DataFileError, match=r"not UTF-8.*Latin-1"):
        sniff(write(tmp_path / "latin.csv", b"t\xe9xt,label\n"))
    only_bad = write(tmp_path / "bad.csv", b"text,label\n,x\n")
    with pytest.raises(DataFileError, match=r"no usable rows \(1 malformed, e.g. line 2"):
        read_all(only_bad)


def test_preview_shows_bad_bytes_as_replacement_characters(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", b"text,label\ncaf\xc3\xa9,a\nbad \xff,b\n")
    table, rows = preview(path)
    assert table.columns == ("text", "label")
    assert rows == [["caf\u00e9", "a"], ["bad \ufffd", "b"]]


# --- hostile and broken inputs (issue 12) ---------------------------------------------------

SENTENCES = [
    ("a gripping, moving film", "1"),
    ("dull; too long, and badly acted", "0"),
    ('the "twist" is obvious', "0"),
    ("warm, funny and wise", "1"),
    ("caf\u00e9 society is charming", "1"),
    ("an \u00e9pisode too far", "0"),
]


def gold_file(path: Path, delimiter: str, encoding: str = "utf-8", newline: str = "\n") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter, lineterminator=newline)
        writer.writerow(["text", "label"])
        writer.writerows(SENTENCES)
    return path


def read_back(path: Path, encoding: str | None = None) -> list[tuple[str, str | None]]:
    return [(r.text, r.gold) for r in read_all(path, need_gold=True, encoding=encoding).rows]


@pytest.mark.parametrize(
    ("delimiter", "name", "described"),
    [
        ("\t", "tsv-named.csv", "tab-separated, UTF-8"),
        (";", "excel-de.csv", "semicolon-separated, UTF-8"),
        ("|", "piped.txt", "pipe-separated, UTF-8"),
        (",", "plain.tsv", "comma-separated, UTF-8"),
    ],
)
def test_the_delimiter_comes_from_the_content_whatever_the_name(
    tmp_path: Path, delimiter: str, name: str, described: str
) -> None:
    path = gold_file(tmp_path / name, delimiter)
    table = sniff(path)
    assert table.delimiter == delimiter and table.described == described
    assert table.columns == ("text", "label")
    # Every row read whole: the gold label never ends up inside the text.
    assert read_back(path) == SENTENCES


def test_the_real_sst2_sample_named_csv_is_read_as_tsv(tmp_path: Path) -> None:
    """The real file's first 200 lines where the data folder has it; else its first ten
    rows (tests/unit/classify/sst2.py), so a fresh clone tests the same thing."""
    if SST2.is_file():
        lines = SST2.read_bytes().splitlines(keepends=True)[:200]
    else:
        rows = [("sentence", "label"), *FALLBACK]
        lines = [f"{text}\t{label}\n".encode() for text, label in rows]
    path = write(tmp_path / "sst2.csv", b"".join(lines))
    table = sniff(path)
    assert table.delimiter == "\t"
    read = read_all(path, need_gold=True)
    assert len(read.rows) == len(lines) - 1 and not read.problems
    assert {r.gold for r in read.rows} == {"0", "1"}


@pytest.mark.parametrize(
    ("encoding", "shown"),
    [("utf-8", "UTF-8"), ("utf-8-sig", "UTF-8"), ("utf-16", "UTF-16")],
)
def test_utf8_with_or_without_bom_and_utf16_with_bom_are_read(
    tmp_path: Path, encoding: str, shown: str
) -> None:
    path = gold_file(tmp_path / "in.csv", ",", encoding=encoding)
    assert sniff(path).described == f"comma-separated, {shown}"
    assert read_back(path) == SENTENCES


def test_a_latin1_file_is_named_and_read_when_its_encoding_is_given(tmp_path: Path) -> None:
    path = gold_file(tmp_path / "latin.csv", ",", encoding="latin-1")
    with pytest.raises(UnknownEncoding, match=r"latin\.csv is not UTF-8.*Latin-1") as caught:
        sniff(path)
    assert caught.value.suggested == "latin-1"
    assert read_back(path, encoding="latin-1") == SENTENCES
    assert sniff(path, "latin-1").described == "comma-separated, latin-1"
    windows = write(
        tmp_path / "win.csv", "text,label\n\u201csmart\u201d quotes,1\n".encode("cp1252")
    )
    with pytest.raises(UnknownEncoding) as caught:
        sniff(windows)
    assert caught.value.suggested == "cp1252"
    with pytest.raises(DataFileError, match="not an encoding Python knows"):
        sniff(path, "klingon-8")


def test_utf16_without_a_bom_is_named(tmp_path: Path) -> None:
    path = gold_file(tmp_path / "u16.csv", ",", encoding="utf-16-le")
    with pytest.raises(UnknownEncoding, match="UTF-16 text without a byte-order mark") as caught:
        sniff(path)
    assert caught.value.suggested == "utf-16-le"
    assert read_back(path, encoding="utf-16-le") == SENTENCES


@pytest.mark.parametrize("newline", ["\r", "\r\n", "\n"])
def test_every_line_ending_is_read(tmp_path: Path, newline: str) -> None:
    path = gold_file(tmp_path / "mac.csv", ",", newline=newline)
    read = read_all(path, need_gold=True)
    assert [(r.text, r.gold) for r in read.rows] == SENTENCES
    assert [r.line for r in read.rows] == [2, 3, 4, 5, 6, 7]


def test_an_unterminated_quote_swallowing_the_rest_is_an_error_naming_its_line(
    tmp_path: Path,
) -> None:
    rows = "".join(f"review number {i},{i % 2}\n" for i in range(10))
    path = write(tmp_path / "q.csv", f'text,label\nfine,1\n"broken start,0\n{rows}'.encode())
    with pytest.raises(
        DataFileError, match=r"the first at line 3: opens a quote that is never closed"
    ):
        read_all(path, need_gold=True)
    # Even where the swallowed record happens to have the header's width.
    shaped = write(tmp_path / "s.csv", f'text,label\nfine,1\n0,"broken start\n{rows}'.encode())
    with pytest.raises(DataFileError, match="line 3: opens a quote that is never closed"):
        read_all(shaped, text_column="label", label_column="text", need_gold=True)


def test_a_quote_closing_rows_later_is_reported_not_silently_merged(tmp_path: Path) -> None:
    rows = "".join(f"review number {i},{i % 2}\n" for i in range(20))
    data = f'text,label\n"he said no,0\nsecond,1\nthird,0\nfourth",1\n{rows}'
    read = read_all(write(tmp_path / "late.csv", data.encode()), need_gold=True)
    assert len(read.rows) == 20
    (problem,) = read.problems
    assert problem.line == 2 and problem.kind == "quote"
    assert "closes only on line 5" in problem.message
    # A text that really spans lines is still one row.
    ok = write(tmp_path / "ok.csv", b'text,label\n"line one\nline two, still the text",1\nb,0\n')
    assert [r.text for r in read_all(ok).rows] == ["line one\nline two, still the text", "b"]


def test_a_file_mostly_malformed_is_refused_a_few_bad_rows_are_skipped(tmp_path: Path) -> None:
    good = "".join(f"ok {i},1\n" for i in range(6))
    bad = "".join(f"bad,{i},extra\n" for i in range(7))
    with pytest.raises(DataFileError, match=r"7 of 13 rows are malformed, the first at line 8"):
        read_all(write(tmp_path / "most.csv", f"text,label\n{good}{bad}".encode()))
    two_bad = "".join(bad.splitlines(keepends=True)[:2])
    few = read_all(write(tmp_path / "few.csv", f"text,label\n{good}{two_bad}".encode()))
    assert len(few.rows) == 6 and len(few.problems) == 2
    # Rows without a gold label are gaps, not a misreading: they never make a file unreadable.
    gaps = "".join(f"unlabelled {i},\n" for i in range(9))
    sparse = read_all(
        write(tmp_path / "sparse.csv", f"text,label\n{good}{gaps}".encode()), need_gold=True
    )
    assert len(sparse.rows) == 6 and len(sparse.problems) == 9
