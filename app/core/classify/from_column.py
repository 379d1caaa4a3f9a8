"""A label set made from a file's column: its distinct values, with how often each occurs.

Banking77's 77 intents are in its ``category`` column; typing them as ``--labels`` or
adding them one by one in the editor is 77 steps. ``--labels-from-column category``
(and the window's "Make a label set from this column's values") read them instead.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.core.cancel import CancelToken
from app.core.classify.errors import ClassifyError
from app.core.classify.labels import DEFAULT_INSTRUCTION, Label, LabelSet
from app.core.classify.table import choose_columns, gold_values, sniff

MAX_LABELS = 500
"""More distinct values than this is not a label column (free text, ids)."""


@dataclass(frozen=True)
class ColumnLabels:
    """The label set made from a column, and each value's count (label order)."""

    label_set: LabelSet
    counts: tuple[int, ...]

    def described(self) -> str:
        pairs = [
            f"{n} ({c:,})" for n, c in zip(self.label_set.label_names, self.counts, strict=True)
        ]
        shown = ", ".join(pairs[:10])
        more = f" and {len(pairs) - 10} more" if len(pairs) > 10 else ""
        return f"{len(pairs)} labels: {shown}{more}"


def labels_from_counts(
    counts: Mapping[str, int], name: str, *, instruction: str = DEFAULT_INSTRUCTION
) -> ColumnLabels:
    """A label set of the distinct values (sorted by name; blank values left out)."""
    values = sorted((v.strip(), n) for v, n in counts.items() if v.strip())
    merged: dict[str, int] = {}
    spelled: dict[str, str] = {}  # one label for values that match as label names do
    for value, n in values:
        key = " ".join(value.replace("_", " ").split()).casefold()
        first = spelled.setdefault(key, value)
        merged[first] = merged.get(first, 0) + n
    if len(merged) < 2:
        raise ClassifyError(
            f"A label set needs at least two different values; the column holds {len(merged)}."
        )
    if len(merged) > MAX_LABELS:
        raise ClassifyError(
            f"The column holds {len(merged):,} different values: that looks like text or ids, "
            f"not labels (at most {MAX_LABELS})."
        )
    label_set = LabelSet(
        name=_slug(name), instruction=instruction, labels=tuple(Label(v) for v in merged)
    )
    return ColumnLabels(label_set, tuple(merged.values()))


def labels_from_column(
    path: Path,
    column: str,
    *,
    encoding: str | None = None,
    instruction: str = DEFAULT_INSTRUCTION,
    cancel: CancelToken | None = None,
) -> ColumnLabels:
    """The distinct values of ``column`` (a name or a 1-based number) of a CSV/TSV file."""
    table = sniff(path, encoding)
    columns = choose_columns(table, None, column, need_gold=True)
    if columns.gold == columns.text:  # the column is also the guessed text column
        others = [i for i in range(len(table.columns)) if i != columns.gold]
        columns = choose_columns(
            table, table.columns[others[0]] if others else None, column, need_gold=True
        )
    values: Sequence[str] = gold_values(columns, cancel)
    return labels_from_counts(
        Counter(values), f"{Path(path).stem}-{column}", instruction=instruction
    )


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")[:60] or "labels"


__all__ = ["MAX_LABELS", "ColumnLabels", "labels_from_column", "labels_from_counts"]
