"""CSV and TSV input: which column is the text, which the gold label, which rows are bad.

The delimiter comes from the extension (``.tsv``/``.tab`` and ``.csv``) or, for other
names, from the first lines' content. The first row names the columns. A malformed
row (wrong number of columns, empty text, bytes that are not UTF-8) is reported with
its line number and skipped; it never stops the file. Rows are numbered from 0 in
file order, good or bad, so a row's number stays the same from one run to the next
(the batch runner's checkpoint relies on it).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.core.cancel import CancelToken
from app.core.classify.errors import DataFileError, NoGoldColumn
from app.core.fsutil import sha256_file

TEXT_COLUMNS = ("text", "sentence", "message", "content", "body", "query", "review")
LABEL_COLUMNS = ("label", "category", "gold", "intent", "class", "target", "sentiment")
_BAD_BYTE = re.compile("[\udc80-\udcff\x00]")
csv.field_size_limit(16 * 1024 * 1024)


@dataclass(frozen=True)
class TableFormat:
    """How a file is laid out."""

    path: Path
    delimiter: str
    columns: tuple[str, ...]

    @property
    def kind(self) -> str:
        return "TSV" if self.delimiter == "\t" else "CSV"

    def column_index(self, wanted: str | None, defaults: Sequence[str], role: str) -> int | None:
        """The column called (or numbered, from 1) ``wanted``; else the first default found."""
        folded = [c.strip().casefold() for c in self.columns]
        if wanted is not None:
            if wanted.strip().casefold() in folded:
                return folded.index(wanted.strip().casefold())
            if wanted.isdigit() and 1 <= int(wanted) <= len(self.columns):
                return int(wanted) - 1
            raise DataFileError(
                f"{self.path.name} has no column '{wanted}' for the {role}. Its columns: "
                f"{', '.join(self.columns)}."
            )
        for name in defaults:
            if name in folded:
                return folded.index(name)
        return None


@dataclass(frozen=True)
class Row:
    number: int
    """0-based position among the data rows (bad rows count too)."""
    line: int
    """1-based line of the file where the row starts (the header is line 1)."""
    text: str
    gold: str | None = None


@dataclass(frozen=True)
class RowProblem:
    number: int
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class Columns:
    """The chosen columns of a table."""

    table: TableFormat
    text: int
    gold: int | None

    @property
    def text_name(self) -> str:
        return self.table.columns[self.text]

    @property
    def gold_name(self) -> str | None:
        return None if self.gold is None else self.table.columns[self.gold]


def _open_text(path: Path) -> io.TextIOWrapper:
    # surrogateescape keeps undecodable bytes visible (as lone surrogates) so the row
    # holding them is reported, not the whole file refused.
    handle = path.open("rb")
    return io.TextIOWrapper(handle, encoding="utf-8-sig", errors="surrogateescape", newline="")


def sniff(path: Path) -> TableFormat:
    """Read the header of a CSV/TSV file and decide its delimiter."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"There is no file {path}.")
    with _open_text(path) as handle:
        head = handle.read(64 * 1024)
    suffix = path.suffix.casefold()
    if suffix in (".tsv", ".tab"):
        delimiter = "\t"
    elif suffix == ".csv":
        delimiter = ","
    else:
        delimiter = _guess_delimiter(head)
    reader = csv.reader(io.StringIO(head), delimiter=delimiter)
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        header = []
    columns = tuple(c.strip() for c in header)
    if not columns or not any(columns):
        raise DataFileError(f"{path.name} is empty: the first row must name the columns.")
    if any(_BAD_BYTE.search(c) for c in columns):
        raise DataFileError(
            f"The first row of {path.name} is not UTF-8 text. Save the file as UTF-8 "
            "(CSV UTF-8 in spreadsheet programs) and try again."
        )
    return TableFormat(path=path, delimiter=delimiter, columns=columns)


def _guess_delimiter(head: str) -> str:
    lines = [line for line in head.splitlines()[:20] if line.strip()]
    tabs = sum(line.count("\t") for line in lines)
    commas = sum(line.count(",") for line in lines)
    semicolons = sum(line.count(";") for line in lines)
    if tabs and tabs >= len(lines):
        return "\t"
    if semicolons > commas and semicolons >= len(lines):
        return ";"
    return ","


def choose_columns(
    table: TableFormat,
    text_column: str | None = None,
    label_column: str | None = None,
    *,
    need_gold: bool = False,
) -> Columns:
    """Pick the text column (named, or a usual name, or the first) and the gold column."""
    text = table.column_index(text_column, TEXT_COLUMNS, "text")
    if text is None:
        text = 0
    gold = table.column_index(label_column, LABEL_COLUMNS, "gold label")
    if gold == text:
        gold = None if label_column is None else gold
    if gold is None and need_gold:
        raise NoGoldColumn(
            f"{table.path.name} has no gold-label column (looked for "
            f"{', '.join(LABEL_COLUMNS)}). Say which column holds the gold labels."
        )
    return Columns(table, text, gold)


def iter_rows(columns: Columns, *, cancel: CancelToken | None = None) -> Iterator[Row | RowProblem]:
    """Every data row in order: a :class:`Row`, or a :class:`RowProblem` saying why not."""
    table = columns.table
    width = len(table.columns)
    with _open_text(table.path) as handle:
        reader = csv.reader(handle, delimiter=table.delimiter)
        try:
            next(reader)  # the header
        except (StopIteration, csv.Error):
            return
        number = 0
        line_end = reader.line_num
        while True:
            if cancel is not None and number % 256 == 0:
                cancel.raise_if_cancelled()
            start = line_end + 1
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                line_end = reader.line_num
                yield RowProblem(number, start, f"cannot be read as {table.kind} ({exc})")
                number += 1
                continue
            line_end = reader.line_num
            if not record or (len(record) == 1 and not record[0].strip() and width > 1):
                continue  # a blank line is not a row
            problem = _check(record, width, columns)
            if problem:
                yield RowProblem(number, start, problem)
            else:
                text = record[columns.text].strip()
                gold = record[columns.gold].strip() if columns.gold is not None else None
                yield Row(number, start, text, gold)
            number += 1


def _check(record: list[str], width: int, columns: Columns) -> str | None:
    if len(record) != width:
        return f"has {len(record)} columns, the header has {width}"
    if any(_BAD_BYTE.search(field) for field in record):
        return "is not valid UTF-8 text (bad encoding)"
    if not record[columns.text].strip():
        return f"has an empty text in column '{columns.text_name}'"
    if columns.gold is not None and not record[columns.gold].strip():
        return f"has no gold label in column '{columns.gold_name}'"
    return None


@dataclass(frozen=True)
class TableRead:
    columns: Columns
    rows: tuple[Row, ...]
    problems: tuple[RowProblem, ...]


def read_all(
    path: Path,
    text_column: str | None = None,
    label_column: str | None = None,
    *,
    need_gold: bool = False,
    columns: Columns | None = None,
    cancel: CancelToken | None = None,
) -> TableRead:
    """A whole file in memory (for evaluation and teaching files).

    ``columns`` as a person chose them replaces the names (or guesses) of the others.
    """
    if columns is None:
        columns = choose_columns(sniff(path), text_column, label_column, need_gold=need_gold)
    elif need_gold and columns.gold is None:
        raise NoGoldColumn(f"Choose the column of {Path(path).name} that holds the gold labels.")
    rows: list[Row] = []
    problems: list[RowProblem] = []
    for item in iter_rows(columns, cancel=cancel):
        (rows if isinstance(item, Row) else problems).append(item)  # type: ignore[arg-type]
    if not rows:
        raise DataFileError(
            f"{Path(path).name} has no usable rows"
            + (f" ({len(problems)} malformed, e.g. {problems[0]})." if problems else ".")
        )
    return TableRead(columns, tuple(rows), tuple(problems))


def preview(path: Path, limit: int = 20) -> tuple[TableFormat, list[list[str]]]:
    """The header and the first rows as they are, for choosing columns."""
    table = sniff(path)
    rows: list[list[str]] = []
    with _open_text(table.path) as handle:
        reader = csv.reader(handle, delimiter=table.delimiter)
        try:
            next(reader)
            for record in reader:
                rows.append([_BAD_BYTE.sub("\ufffd", f) for f in record])
                if len(rows) >= limit:
                    break
        except (StopIteration, csv.Error):
            pass
    return table, rows


def file_sha256(path: Path, cancel: CancelToken | None = None) -> str:
    return sha256_file(Path(path), cancel=cancel)
