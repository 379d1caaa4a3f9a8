"""The file a cluster run classifies: CSV/TSV exactly as a local run reads it, or Parquet.

A CSV or TSV file is read by :mod:`app.core.classify.table` (the same sniffing, row
numbers and malformed-row problems as a local run), so a cluster run and a local run of
the same file share one checkpoint key and can resume each other. A Parquet file is read
with pyarrow (part of the cluster extra) a record batch at a time; its rows are numbered
from 0 and its "line" is the row's position from 1. A missing or empty text is a problem
row, as in a CSV file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.cancel import CancelToken
from app.core.classify.errors import DataFileError
from app.core.classify.table import (
    LABEL_COLUMNS,
    TEXT_COLUMNS,
    Columns,
    Row,
    RowProblem,
    choose_columns,
    file_sha256,
    iter_rows,
    sniff,
    survey,
)
from app.core.cluster.errors import ClusterMissing

PARQUET_SUFFIXES = (".parquet", ".pq")
PARQUET_READING = "parquet"


@dataclass(frozen=True)
class InputSource:
    """One input file with its text (and gold) column chosen."""

    path: Path
    text_name: str
    gold_name: str | None
    reading_key: str
    """Part of the run key: empty for the usual CSV/TSV readings, ``parquet`` for Parquet."""
    described: str
    columns: Columns | None = None
    """The CSV/TSV reading; None for Parquet."""

    @property
    def is_parquet(self) -> bool:
        return self.columns is None

    def sha256(self, cancel: CancelToken | None = None) -> str:
        return file_sha256(self.path, cancel)

    def count(self, cancel: CancelToken | None = None) -> int:
        """Data rows, good or bad; a CSV file that was plainly misread is refused here."""
        if self.columns is not None:
            return survey(self.columns, cancel)
        return int(_parquet_file(self.path).metadata.num_rows)

    def rows(self, cancel: CancelToken | None = None) -> Iterator[Row | RowProblem]:
        """Every row in file order, numbered from 0."""
        if self.columns is not None:
            yield from iter_rows(self.columns, cancel=cancel)
            return
        yield from _parquet_rows(self, cancel)


def is_parquet(path: Path) -> bool:
    return Path(path).suffix.lower() in PARQUET_SUFFIXES


def from_columns(columns: Columns) -> InputSource:
    table = columns.table
    return InputSource(
        path=Path(table.path),
        text_name=columns.text_name,
        gold_name=columns.gold_name,
        reading_key=table.reading_key,
        described=table.described,
        columns=columns,
    )


def open_input(
    path: Path,
    text_column: str | None = None,
    label_column: str | None = None,
    *,
    encoding: str | None = None,
) -> InputSource:
    """Read ``path``'s header and choose its columns (CSV, TSV or, by suffix, Parquet)."""
    path = Path(path)
    if not is_parquet(path):
        return from_columns(choose_columns(sniff(path, encoding), text_column, label_column))
    if not path.is_file():
        raise DataFileError(f"There is no file {path}.")
    names = tuple(_parquet_file(path).schema_arrow.names)
    text = _pick(path, names, text_column, TEXT_COLUMNS, "text") or names[0]
    gold = _pick(path, names, label_column, LABEL_COLUMNS, "gold label")
    return InputSource(
        path=path,
        text_name=text,
        gold_name=None if gold == text else gold,
        reading_key=PARQUET_READING,
        described="Parquet",
    )


def _pick(
    path: Path, names: tuple[str, ...], wanted: str | None, defaults: tuple[str, ...], role: str
) -> str | None:
    folded = [n.strip().casefold() for n in names]
    if wanted is not None:
        if wanted.strip().casefold() in folded:
            return names[folded.index(wanted.strip().casefold())]
        raise DataFileError(
            f"{path.name} has no column '{wanted}' for the {role}. Its columns: {', '.join(names)}."
        )
    for name in defaults:
        if name in folded:
            return names[folded.index(name)]
    return None


def import_parquet() -> Any:
    """``pyarrow.parquet``, or :class:`ClusterMissing` saying how to install it."""
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ClusterMissing(
            "Parquet files need the cluster extra: install driftless[cluster]."
        ) from exc
    return pq


def _parquet_file(path: Path) -> Any:
    pq = import_parquet()
    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises its own ArrowInvalid and OSError
        raise DataFileError(f"{path.name} cannot be read as Parquet: {exc}") from exc


def _parquet_rows(source: InputSource, cancel: CancelToken | None) -> Iterator[Row | RowProblem]:
    wanted = [source.text_name] + ([source.gold_name] if source.gold_name else [])
    number = 0
    for batch in _parquet_file(source.path).iter_batches(batch_size=4096, columns=wanted):
        if cancel is not None:
            cancel.raise_if_cancelled()
        texts = batch.column(0).to_pylist()
        golds = batch.column(1).to_pylist() if source.gold_name else [None] * len(texts)
        for text, gold in zip(texts, golds, strict=True):
            line = number + 1
            if text is None or not str(text).strip():
                message = f"has an empty text in column '{source.text_name}'"
                yield RowProblem(number, line, message, "empty")
            else:
                yield Row(number, line, str(text), None if gold is None else str(gold))
            number += 1
