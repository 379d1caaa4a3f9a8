"""The layout results are written in: the input's own, so a file goes back where it came from.

A spreadsheet reads back what it wrote: Excel in Germany or France saves semicolon-separated
UTF-8 with a byte-order mark and Windows line ends, and opens a comma-separated file without
a BOM as one column of mojibake. So results (and exports) of a run take their delimiter, BOM
and line ends from the input file; the text is always UTF-8 (with a BOM when the input had
one, or was in a legacy encoding that a spreadsheet made). An export may instead be laid out
for Excel where it is opened (:func:`excel_dialect`: semicolons and decimal commas where
the decimal mark is a comma), or plainly (commas, UTF-8, no BOM).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.classify.errors import DataFileError
from app.core.classify.table import sniff

_UNICODE = ("utf-8", "utf-8-sig", "utf-16", "utf-32")


class Figure(str):
    """A number written with a decimal point (``0.8123``); a dialect may write the point
    another way. It is a ``str`` everywhere else: only :meth:`CsvDialect.render` tells."""

    __slots__ = ()


@dataclass(frozen=True)
class CsvDialect:
    """How a CSV file is laid out: delimiter, byte-order mark, line ends, decimal mark."""

    delimiter: str = ","
    bom: bool = False
    line_end: str = "\n"
    decimal: str = "."
    """How :class:`Figure` cells write their decimal point; texts are written as they are."""

    def render(self, rows: Iterable[Sequence[Any]]) -> tuple[bytes, int]:
        """The rows as the file's bytes, and how many rows there were."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=self.delimiter, lineterminator=self.line_end)
        count = 0
        for row in rows:
            if self.decimal != ".":
                row = [c.replace(".", self.decimal) if isinstance(c, Figure) else c for c in row]
            writer.writerow(row)
            count += 1
        text = ("\ufeff" if self.bom else "") + buffer.getvalue()
        return text.encode("utf-8"), count


PLAIN = CsvDialect()

EXPORT_LAYOUTS = ("input", "excel", "plain")
"""How an export can be laid out: like its input file, for Excel, or plain CSV."""


def excel_dialect(decimal_point: str) -> CsvDialect:
    """What Excel opens as columns where the decimal mark is ``decimal_point``.

    Excel splits a CSV at the list separator of the system's region, which is a semicolon
    where the decimal mark is a comma (Germany, France), and reads numbers with that
    decimal mark; it takes UTF-8 only with a BOM, and writes Windows line ends.
    """
    comma = decimal_point == ","
    return CsvDialect(";" if comma else ",", bom=True, line_end="\r\n", decimal=decimal_point)


def export_dialect(layout: str, decimal_point: str = ".") -> CsvDialect | None:
    """The dialect of one of :data:`EXPORT_LAYOUTS`; None for "input" (the input file's own)."""
    if layout == "excel":
        return excel_dialect(decimal_point)
    if layout == "plain":
        return PLAIN
    return None


def dialect_of(path: Path) -> CsvDialect:
    """The dialect of the CSV/TSV file at ``path``; the plain one when it cannot be read
    (moved, deleted, or not a text table, such as Parquet)."""
    path = Path(path)
    if path.suffix.casefold() == ".parquet":
        return PLAIN
    try:
        try:
            table = sniff(path)
        except DataFileError:
            # Not UTF-8 (run with --encoding): the layout is ASCII, which Latin-1 reads.
            table = sniff(path, encoding="latin-1")
        with path.open("rb") as handle:
            head = handle.read(64 * 1024)
    except (DataFileError, OSError):
        return PLAIN
    bom = head.startswith(codecs.BOM_UTF8) or table.encoding not in _UNICODE
    text = head.decode(table.encoding if table.encoding != "utf-8-sig" else "utf-8", "replace")
    return CsvDialect(table.delimiter, bom, _first_line_end(text))


def _first_line_end(text: str) -> str:
    """The first line's ending: the header has no quoted line breaks in practice."""
    for index, char in enumerate(text):
        if char == "\n":
            return "\n"
        if char == "\r":
            return "\r\n" if text[index + 1 : index + 2] == "\n" else "\r"
    return "\n"
