"""CSV and TSV input: which column is the text, which the gold label, which rows are bad.

The encoding and the delimiter come from the content (:mod:`.sniffing`), whatever the
file is called; CR, LF and CRLF line endings are all read. The first row names the
columns. A malformed row (wrong number of columns, empty text, bytes that are not text
in the file's encoding, a quote that swallows the rows after it) is reported with its
line number and skipped. A file where malformed rows outnumber good ones is not read
at all: it was almost certainly read the wrong way, and classifying the few rows that
happen to parse would hide that. Rows are numbered from 0 in file order, good or bad,
so a row's number stays the same from one run to the next (the batch runner's
checkpoint relies on it).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from app.core.cancel import CancelToken
from app.core.classify.errors import DataFileError, NoGoldColumn
from app.core.classify.goldmap import GoldMap
from app.core.classify.sniffing import (
    DELIMITERS,
    check_codec,
    detect_encoding,
    encoding_name,
    guess_delimiter,
)
from app.core.fsutil import sha256_file

TEXT_COLUMNS = ("text", "sentence", "message", "content", "body", "query", "review")
LABEL_COLUMNS = ("label", "category", "gold", "intent", "class", "target", "sentiment")
_BAD_BYTE = re.compile("[\udc80-\udcff\x00]")
SNIFF_BYTES = 1024 * 1024
csv.field_size_limit(16 * 1024 * 1024)


@dataclass(frozen=True)
class TableFormat:
    """How a file is laid out."""

    path: Path
    delimiter: str
    columns: tuple[str, ...]
    encoding: str = "utf-8-sig"
    """The Python codec the file is read with."""

    @property
    def kind(self) -> str:
        return "TSV" if self.delimiter == "\t" else "CSV"

    @property
    def described(self) -> str:
        """How the file is read, for people: ``semicolon-separated, UTF-8``."""
        name = DELIMITERS.get(self.delimiter, repr(self.delimiter))
        return f"{name}-separated, {encoding_name(self.encoding)}"

    @property
    def reading_key(self) -> str:
        """Empty for the usual readings, so runs made before encodings were sniffed resume."""
        if self.encoding == "utf-8-sig" and self.delimiter in (",", "\t"):
            return ""
        return f"{self.encoding}|{self.delimiter}"

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


ProblemKind = Literal["shape", "encoding", "quote", "empty"]


@dataclass(frozen=True)
class RowProblem:
    number: int
    line: int
    message: str
    kind: ProblemKind = "shape"
    span: int = 1
    """How many rows of the file this problem stands for (a runaway quote swallows several)."""

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class Columns:
    """The chosen columns of a table."""

    table: TableFormat
    text: int
    gold: int | None
    gold_map: GoldMap | None = None
    """Which label each gold value is, as the person confirmed it (see :mod:`.goldmap`)."""

    @property
    def text_name(self) -> str:
        return self.table.columns[self.text]

    @property
    def gold_name(self) -> str | None:
        return None if self.gold is None else self.table.columns[self.gold]


def _open_text(table: TableFormat) -> io.TextIOWrapper:
    # surrogateescape keeps undecodable bytes visible (as lone surrogates) so the row
    # holding them is reported, not the whole file refused. newline="" lets the csv
    # module see CR, LF and CRLF endings alike.
    handle = table.path.open("rb")
    return io.TextIOWrapper(handle, encoding=table.encoding, errors="surrogateescape", newline="")


def sniff(path: Path, encoding: str | None = None) -> TableFormat:
    """Read the start of a CSV/TSV file: its encoding (unless named), delimiter and header."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"There is no file {path}.")
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
        whole = not handle.read(1)
    codec = check_codec(encoding) if encoding else detect_encoding(head, path.name)
    decoder = codecs.getincrementaldecoder(codec)(errors="surrogateescape")
    try:
        sample = decoder.decode(head, final=whole)
    except UnicodeError as exc:
        raise DataFileError(
            f"{path.name} cannot be read as {encoding_name(codec)}: {exc}."
        ) from exc
    if not whole:  # leave out the last line, cut by the end of the sample
        cut = max(sample.rfind("\n"), sample.rfind("\r"))
        sample = sample[: cut + 1] if cut > 0 else sample
    preferred = "\t" if path.suffix.casefold() in (".tsv", ".tab") else ","
    delimiter = guess_delimiter(sample[: 256 * 1024], preferred)
    reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        header = []
    columns = tuple(c.strip() for c in header)
    if not columns or not any(columns):
        raise DataFileError(f"{path.name} is empty: the first row must name the columns.")
    if any(_BAD_BYTE.search(c) for c in columns):
        raise DataFileError(
            f"The first row of {path.name} is not {encoding_name(codec)} text. Save the file "
            "as UTF-8 (CSV UTF-8 in spreadsheet programs) and try again."
        )
    return TableFormat(path=path, delimiter=delimiter, columns=columns, encoding=codec)


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


class _Lines:
    """The lines under a csv reader, kept until the record they make is read."""

    def __init__(self, handle: io.TextIOWrapper) -> None:
        self._handle = handle
        self.taken: list[str] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = next(self._handle)
        self.taken.append(line)
        return line


def iter_rows(columns: Columns, *, cancel: CancelToken | None = None) -> Iterator[Row | RowProblem]:
    """Every data row in order: a :class:`Row`, or a :class:`RowProblem` saying why not."""
    table = columns.table
    width = len(table.columns)
    with _open_text(table) as handle:
        lines = _Lines(handle)
        reader = csv.reader(lines, delimiter=table.delimiter)
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
            lines.taken = []
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
            problem = _runaway_quote(lines.taken, table.delimiter, width, number, start)
            if problem is None:
                problem = _check(record, width, columns, number, start)
            if problem is not None:
                yield problem
            else:
                text = record[columns.text].strip()
                gold = record[columns.gold].strip() if columns.gold is not None else None
                yield Row(number, start, text, gold)
            number += 1


def _runaway_quote(
    raw: list[str], delimiter: str, width: int, number: int, start: int
) -> RowProblem | None:
    """A problem if a quote swallowed the lines after it (never closed, or closed late).

    A text may hold line breaks; what gives a runaway quote away is an odd number of
    quotes (it never closed: the rest of the file was read into it) or lines inside it
    that split into as many cells as the header has (they were rows of their own).
    """
    if len(raw) < 2:
        return None
    end = start + len(raw) - 1
    unclosed = sum(line.count('"') for line in raw) % 2 == 1
    looks_like_rows = 0
    if width > 1:
        for line in raw[1:]:
            cells = next(csv.reader([line.rstrip("\r\n")], delimiter=delimiter), [])
            looks_like_rows += len(cells) == width
    if unclosed:
        message = (
            f"opens a quote that is never closed, so lines {start}-{end} (the rest of the "
            "file) would be one row"
        )
    elif looks_like_rows >= 2 and looks_like_rows * 2 >= len(raw) - 1:
        message = (
            f"has a quote that closes only on line {end}: lines {start}-{end} look like "
            f"{looks_like_rows + 1} rows read as one (a quote inside a text must be doubled)"
        )
    else:
        return None
    swallowed = looks_like_rows if width > 1 else len(raw) - 1
    return RowProblem(number, start, message, "quote", 1 + swallowed)


def _check(
    record: list[str], width: int, columns: Columns, number: int, line: int
) -> RowProblem | None:
    if len(record) != width:
        message = f"has {len(record)} columns, the header has {width}"
        return RowProblem(number, line, message, "shape")
    if any(_BAD_BYTE.search(field) for field in record):
        encoding = encoding_name(columns.table.encoding)
        return RowProblem(number, line, f"is not valid {encoding} text (bad encoding)", "encoding")
    if not record[columns.text].strip():
        message = f"has an empty text in column '{columns.text_name}'"
        return RowProblem(number, line, message, "empty")
    if columns.gold is not None and not record[columns.gold].strip():
        message = f"has no gold label in column '{columns.gold_name}'"
        return RowProblem(number, line, message, "empty")
    return None


class Tally:
    """Counts rows as they are read and refuses a file that was plainly misread."""

    def __init__(self, table: TableFormat) -> None:
        self.table = table
        self.rows = 0
        self.problems = 0
        self.malformed = 0
        self.first: RowProblem | None = None
        self.kinds: Counter[str] = Counter()

    def add(self, item: Row | RowProblem) -> None:
        if isinstance(item, Row):
            self.rows += 1
            return
        self.problems += 1
        if item.kind != "empty":  # empty cells are gaps in good data, not a misreading
            self.malformed += item.span
            self.kinds[item.kind] += item.span
            if self.first is None or self.first.kind == "empty":
                self.first = item
        elif self.first is None:
            self.first = item

    @property
    def total(self) -> int:
        return self.rows + self.problems

    def check(self) -> None:
        """Raise :class:`DataFileError` if no row is usable or most rows are malformed."""
        name = self.table.path.name
        if not self.rows:
            example = f", e.g. {self.first}" if self.first else ""
            raise DataFileError(
                f"{name} has no usable rows"
                + (
                    f" ({self.problems} malformed{example}). {self._hint()}"
                    if self.problems
                    else "."
                )
            )
        if self.malformed > self.rows and self.first is not None:
            raise DataFileError(
                f"{name} does not read as a {self.table.described} table: "
                f"{self.malformed:,} of {self.rows + self.malformed:,} rows are malformed, "
                f"the first at {self.first}. {self._hint()}"
            )

    def _hint(self) -> str:
        kind = self.kinds.most_common(1)[0][0] if self.kinds else "empty"
        if kind == "encoding":
            return (
                f"It is probably not {encoding_name(self.table.encoding)}: save it as UTF-8 "
                "(CSV UTF-8 in spreadsheet programs) or give its encoding."
            )
        if kind == "quote":
            return 'Fix the quote on that line: a quote inside a text is written twice ("").'
        if kind == "shape":
            return f"It was read as {self.table.described}: check its delimiter and quotes."
        return "Check the columns chosen for the texts and the labels."


def survey(columns: Columns, cancel: CancelToken | None = None) -> int:
    """The number of data rows (good or bad); raises if the file is plainly misread."""
    tally = Tally(columns.table)
    for item in iter_rows(columns, cancel=cancel):
        tally.add(item)
    tally.check()
    return tally.total


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
    encoding: str | None = None,
    cancel: CancelToken | None = None,
) -> TableRead:
    """A whole file in memory (for evaluation and teaching files).

    ``columns`` as a person chose them replaces the names (or guesses) of the others.
    Raises :class:`DataFileError` when no row is usable or most rows are malformed.
    """
    if columns is None:
        table = sniff(path, encoding)
        columns = choose_columns(table, text_column, label_column, need_gold=need_gold)
    elif need_gold and columns.gold is None:
        raise NoGoldColumn(f"Choose the column of {Path(path).name} that holds the gold labels.")
    rows: list[Row] = []
    problems: list[RowProblem] = []
    tally = Tally(columns.table)
    for item in iter_rows(columns, cancel=cancel):
        tally.add(item)
        if isinstance(item, Row):
            rows.append(item)
        else:
            problems.append(item)
    tally.check()
    return TableRead(columns, tuple(rows), tuple(problems))


def preview(
    path: Path, limit: int = 20, *, table: TableFormat | None = None
) -> tuple[TableFormat, list[list[str]]]:
    """The header and the first rows as they are, for choosing columns."""
    if table is None:
        table = sniff(path)
    rows: list[list[str]] = []
    with _open_text(table) as handle:
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


def gold_values(columns: Columns, cancel: CancelToken | None = None) -> list[str]:
    """The gold value of every usable row (for counting them before a map is chosen)."""
    if columns.gold is None:
        return []
    return [
        item.gold or ""
        for item in iter_rows(replace(columns, gold_map=None), cancel=cancel)
        if isinstance(item, Row)
    ]
