"""Classification runs kept in SQLite, so a crash or a kill loses nothing.

A run is identified by what decides its results: the input file's sha256, the text
column, the label set version, the model's lock id, the method and its settings.
Results are written one transaction per chunk of rows, keyed by (run, row number),
so a rerun of the same run skips every row already done and no row is stored twice.
The database (through :mod:`app.core.db`) is in WAL mode with full sync: a committed
chunk survives a power cut.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.core.classify.classifier import NEEDS_REVIEW, ClassifierInfo, Prediction
from app.core.classify.dialect import CsvDialect, Figure, dialect_of
from app.core.classify.errors import ClassifyError
from app.core.db import Database
from app.core.fsutil import atomic_write_bytes
from app.core.paths import Paths

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema.
    """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    input_path TEXT NOT NULL,
    input_sha256 TEXT NOT NULL,
    text_column TEXT NOT NULL,
    gold_column TEXT,
    info_json TEXT NOT NULL,
    threshold REAL NOT NULL,
    total_rows INTEGER,
    created_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE TABLE IF NOT EXISTS results (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    row_number INTEGER NOT NULL,
    line INTEGER NOT NULL,
    text TEXT NOT NULL,
    gold TEXT,
    label TEXT,
    confidence REAL,
    probabilities TEXT,
    truncated INTEGER NOT NULL DEFAULT 0,
    problem TEXT,
    PRIMARY KEY (run_id, row_number)
);
""",
    # 2: evaluations of a finished run from its stored results, one per gold map.
    """
CREATE TABLE IF NOT EXISTS evaluations (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    gold_map TEXT NOT NULL,
    accuracy REAL NOT NULL,
    n INTEGER NOT NULL,
    report_json TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (run_id, gold_map)
);
""",
)
SCHEMA_VERSION = len(MIGRATIONS)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def spreadsheet_safe(cell: Any) -> Any:
    """A cell a spreadsheet will show, never run: ``=HYPERLINK(...)`` becomes ``'=HYPERLINK(...)``.

    OWASP's advice against CSV injection: a text cell starting with ``=``, ``+``, ``-``,
    ``@``, a tab or a carriage return gets a leading single quote. A plain number such as
    ``-1`` (a gold label) is left alone: a spreadsheet reads it as a number, not a formula.
    Only what is written changes; the stored text, and what the model read, do not.
    """
    formula = isinstance(cell, str) and cell.startswith(_FORMULA_START)
    if formula and not _PLAIN_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


@dataclass(frozen=True)
class RowResult:
    """One row of a run: a prediction, or the problem that kept it from being classified."""

    number: int
    line: int
    text: str
    gold: str | None
    prediction: Prediction | None
    problem: str | None = None


@dataclass(frozen=True)
class RunEvaluation:
    """A run scored against its gold column, under one gold map (empty: by name)."""

    run_id: int
    gold_map: str
    accuracy: float
    n: int
    created_at: str


@dataclass(frozen=True)
class RunRecord:
    id: int
    key: str
    input_path: str
    input_sha256: str
    text_column: str
    gold_column: str | None
    info: ClassifierInfo
    total_rows: int | None
    created_at: str
    finished_at: str | None


def run_key(input_sha256: str, text_column: str, info: ClassifierInfo, reading: str = "") -> str:
    """What decides a run's results; ``reading`` (encoding and delimiter) when not the usual."""
    parts = [
        input_sha256,
        text_column,
        info.label_set,
        info.lock_id,
        info.method,
        info.detail,
        ",".join(info.labels),
        info.weights,
    ]
    if reading:
        parts.append(reading)
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


class RunStore:
    """Runs and their rows in one SQLite file (usable from several processes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = Database(path, MIGRATIONS, what="The classification runs", error=ClassifyError)
        with self.db.read():
            pass  # created and migrated now, so a newer file is refused at once

    @classmethod
    def for_paths(cls, paths: Paths) -> RunStore:
        return cls(paths.classify_db)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- runs --

    def open_run(
        self,
        *,
        input_path: Path,
        input_sha256: str,
        text_column: str,
        gold_column: str | None,
        info: ClassifierInfo,
        reading: str = "",
    ) -> RunRecord:
        """The run for these settings: the existing one (to resume) or a new one."""
        key = run_key(input_sha256, text_column, info, reading)
        with self.db.write() as conn:
            conn.execute(
                "INSERT INTO runs (key, input_path, input_sha256, text_column, gold_column,"
                " info_json, threshold, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (key) DO UPDATE SET input_path = excluded.input_path,"
                " gold_column = excluded.gold_column, info_json = excluded.info_json,"
                " threshold = excluded.threshold",
                (
                    key,
                    str(input_path),
                    input_sha256,
                    text_column,
                    gold_column,
                    json.dumps(info.to_json()),
                    info.threshold,
                    _now(),
                ),
            )
            row = conn.execute("SELECT * FROM runs WHERE key = ?", (key,)).fetchone()
        return _run_from_row(row)

    def find_run(
        self, input_sha256: str, text_column: str, info: ClassifierInfo, reading: str = ""
    ) -> RunRecord | None:
        """The run for these settings if one was started, else None."""
        key = run_key(input_sha256, text_column, info, reading)
        with self.db.read() as conn:
            row = conn.execute("SELECT * FROM runs WHERE key = ?", (key,)).fetchone()
        return None if row is None else _run_from_row(row)

    def get_run(self, run_id: int) -> RunRecord:
        with self.db.read() as conn:
            row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise ClassifyError(f"There is no classification run {run_id}.")
        return _run_from_row(row)

    def list_runs(self) -> list[RunRecord]:
        with self.db.read() as conn:
            rows = conn.execute("SELECT * FROM runs ORDER BY id").fetchall()
        return [_run_from_row(r) for r in rows]

    def set_total(self, run_id: int, total: int) -> None:
        with self.db.write() as conn:
            conn.execute("UPDATE runs SET total_rows = ? WHERE id = ?", (total, run_id))

    def finish(self, run_id: int) -> None:
        with self.db.write() as conn:
            conn.execute("UPDATE runs SET finished_at = ? WHERE id = ?", (_now(), run_id))

    def delete_run(self, run_id: int) -> None:
        with self.db.write() as conn:
            conn.execute("DELETE FROM evaluations WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM results WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))

    def set_gold(self, run_id: int, gold: Iterable[tuple[int, str | None]]) -> None:
        """Write the gold value of rows already stored (by row number), in one transaction.

        A file classified without its gold column, then evaluated, is the same run: its
        earlier rows get their gold values here, so the run can be scored as a whole.
        """
        with self.db.write() as conn:
            conn.executemany(
                "UPDATE results SET gold = ? WHERE run_id = ? AND row_number = ?",
                [(value, run_id, number) for number, value in gold],
            )

    def gold_counts(self, run_id: int) -> dict[str, int]:
        """Each gold value of a run's classified rows and how many rows hold it."""
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT gold, COUNT(*) FROM results WHERE run_id = ? AND problem IS NULL"
                " AND gold IS NOT NULL GROUP BY gold",
                (run_id,),
            ).fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    # -- evaluations --

    def record_evaluation(self, run_id: int, gold_map: str, report: dict[str, Any]) -> None:
        """Keep a run's evaluation; the same gold map again replaces it, another is another."""
        with self.db.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO evaluations (run_id, gold_map, accuracy, n, report_json,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    gold_map,
                    float(report["accuracy"]),
                    int(report["n"]),
                    json.dumps(report),
                    _now(),
                ),
            )

    def evaluations(self, run_id: int | None = None) -> list[RunEvaluation]:
        """Evaluations of one run (or of all), the latest last."""
        query = "SELECT run_id, gold_map, accuracy, n, created_at FROM evaluations"
        params: tuple[Any, ...] = ()
        if run_id is not None:
            query += " WHERE run_id = ?"
            params = (run_id,)
        with self.db.read() as conn:
            rows = conn.execute(query + " ORDER BY created_at, rowid", params).fetchall()
        return [RunEvaluation(r[0], r[1], float(r[2]), int(r[3]), r[4]) for r in rows]

    def kept_gold_map(self, run_id: int) -> str | None:
        """The gold map of the run's latest evaluation (empty: by name); None if never evaluated."""
        kept = self.evaluations(run_id)
        return kept[-1].gold_map if kept else None

    # -- rows --

    def done_rows(self, run_id: int) -> set[int]:
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT row_number FROM results WHERE run_id = ?", (run_id,)
            ).fetchall()
        return {r[0] for r in rows}

    def record(self, run_id: int, rows: Sequence[RowResult]) -> None:
        """Store a chunk of rows in one transaction (all or none survive a crash)."""
        values = []
        for row in rows:
            p = row.prediction
            values.append(
                (
                    run_id,
                    row.number,
                    row.line,
                    row.text,
                    row.gold,
                    p.label if p else None,
                    p.confidence if p else None,
                    json.dumps(p.probabilities) if p else None,
                    int(p.truncated) if p else 0,
                    row.problem,
                )
            )
        with self.db.write() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO results (run_id, row_number, line, text, gold, label,"
                " confidence, probabilities, truncated, problem)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values,
            )

    def results(self, run_id: int, *, offset: int = 0, limit: int | None = None) -> list[RowResult]:
        """Rows of a run in file order (for a results table), predictions and problems."""
        run = self.get_run(run_id)
        with self.db.read() as conn:
            rows = conn.execute(
                "SELECT * FROM results WHERE run_id = ? ORDER BY row_number LIMIT ? OFFSET ?",
                (run_id, -1 if limit is None else limit, offset),
            ).fetchall()
        return [_result_from_row(r, run.info) for r in rows]

    def count(self, run_id: int) -> tuple[int, int]:
        """(rows classified, rows skipped as malformed) so far."""
        with self.db.read() as conn:
            row = conn.execute(
                "SELECT SUM(problem IS NULL), SUM(problem IS NOT NULL) FROM results"
                " WHERE run_id = ?",
                (run_id,),
            ).fetchone()
        return int(row[0] or 0), int(row[1] or 0)

    # -- export --

    def csv_rows(self, run_id: int, *, include_problems: bool = False) -> Iterator[list[Any]]:
        """A header, then one list of cells per result row (problems only if asked).

        Every cell is :func:`spreadsheet_safe`: the texts come from anyone.
        """
        run = self.get_run(run_id)
        labels = run.info.labels
        header = ["row", "line", "text"]
        if run.gold_column:
            header.append("gold")
        header += ["label", "best_label", "confidence"]
        header += [f"p_{label}" for label in labels]
        header += ["truncated", "label_set", "method", "lock_id", "weights"]
        if include_problems:
            header.append("problem")
        yield [spreadsheet_safe(cell) for cell in header]
        for row in self.results(run_id):
            p = row.prediction
            if p is None and not include_problems:
                continue
            cells: list[Any] = [row.number, row.line, row.text]
            if run.gold_column:
                cells.append(row.gold or "")
            if p is not None:
                cells += [p.answer, p.label, Figure(f"{p.confidence:.4f}")]
                cells += [Figure(f"{v:.4f}") for v in p.probabilities]
                cells.append("yes" if p.truncated else "")
            else:
                cells += ["", "", ""] + [""] * len(labels) + [""]
            cells += [run.info.label_set, run.info.method, run.info.lock_id, run.info.weights]
            if include_problems:
                cells.append(row.problem or "")
            yield [spreadsheet_safe(cell) for cell in cells]

    def export_csv(
        self,
        run_id: int,
        path: Path,
        *,
        include_problems: bool = False,
        dialect: CsvDialect | None = None,
    ) -> int:
        """Write a run's results as CSV (atomically); returns the number of rows written.

        Laid out as ``dialect``, else as the run's input file is (its delimiter, BOM and
        line ends: see :mod:`.dialect`), so a spreadsheet opens them as it saved the input.
        """
        if dialect is None:
            dialect = dialect_of(Path(self.get_run(run_id).input_path))
        data, rows = dialect.render(self.csv_rows(run_id, include_problems=include_problems))
        atomic_write_bytes(Path(path), data)
        return rows - 1


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _info_from_json(data: dict[str, Any]) -> ClassifierInfo:
    return ClassifierInfo(
        method=data["method"],
        label_set=data["label_set"],
        labels=tuple(data["labels"]),
        model_id=data["model"],
        lock_id=data["lock_id"],
        threshold=float(data["threshold"]),
        detail=data.get("detail", ""),
        weights=data.get("weights", ""),
    )


def _run_from_row(row: sqlite3.Row) -> RunRecord:
    info = _info_from_json(json.loads(row["info_json"]))
    return RunRecord(
        id=row["id"],
        key=row["key"],
        input_path=row["input_path"],
        input_sha256=row["input_sha256"],
        text_column=row["text_column"],
        gold_column=row["gold_column"],
        info=info,
        total_rows=row["total_rows"],
        created_at=row["created_at"],
        finished_at=row["finished_at"],
    )


def _result_from_row(row: sqlite3.Row, info: ClassifierInfo) -> RowResult:
    prediction = None
    if row["problem"] is None and row["probabilities"] is not None:
        probs = tuple(float(v) for v in json.loads(row["probabilities"]))
        confidence = float(row["confidence"])
        prediction = Prediction(
            label=row["label"],
            confidence=confidence,
            probabilities=probs,
            needs_review=confidence < info.threshold,
            truncated=bool(row["truncated"]),
        )
    return RowResult(
        number=row["row_number"],
        line=row["line"],
        text=row["text"],
        gold=row["gold"],
        prediction=prediction,
        problem=row["problem"],
    )


__all__ = [
    "NEEDS_REVIEW",
    "RowResult",
    "RunEvaluation",
    "RunRecord",
    "RunStore",
    "run_key",
    "spreadsheet_safe",
]
