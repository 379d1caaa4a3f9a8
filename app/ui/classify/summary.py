"""Text for the Evaluate and Teach tabs: what was measured, and on what exactly."""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape

from app.core.classify import EvalReport, comparison_table
from app.ui.classify.worker import TeachOutcome

HEX_RUN = re.compile(r"[0-9a-f]{16,}")
SHORT_ID = 12


def short_ids(text: str) -> str:
    """``text`` with each commit id or sha256 cut to its first 12 characters and "…": a
    40-character id does not wrap, and made a narrow window's details scroll sideways
    (the whole id goes in a tooltip)."""
    return HEX_RUN.sub(lambda found: found.group()[:SHORT_ID] + "…", text)


def predicted_apart(counts: Sequence[tuple[str, int]]) -> str:
    """Labels predicted that the gold column never holds (not in macro-F1)."""
    shown = ", ".join(f"{escape(name)} ({n:,})" for name, n in counts)
    return f"Predicted but never in the gold column (not in macro-F1): {shown}"


def eval_summary_html(report: EvalReport) -> str:
    """Accuracy and friends, then the provenance (label set version, model lock id)."""
    scores = report.scores
    info = report.info
    lines = [
        f"Accuracy {scores.accuracy:.1%} on {scores.n:,} texts; "
        f"macro-F1 {scores.macro_f1:.3f} over the {scores.macro_f1_labels} labels in the gold "
        "column",
        f"Needs review: {scores.needs_review:,}"
        + (
            f" (accuracy on the rest {scores.confident_accuracy:.1%})"
            if scores.confident_accuracy is not None and scores.needs_review
            else ""
        ),
        _speed(report),
    ]
    if scores.predicted_not_in_gold:
        lines.append(predicted_apart(scores.predicted_not_in_gold))
    if report.gold_map:
        lines.append(f"Gold values read as {report.gold_map}")
    if report.skipped_rows:
        lines.append(f"Skipped {report.skipped_rows:,} malformed rows")
    if report.unmatched_rows:
        lines.append(
            f"Left out {report.unmatched_rows:,} rows whose gold label matches no label: "
            + ", ".join(report.unknown_gold[:5])
        )
    lines += [
        f"Method: {info.method} ({info.detail})" if info.detail else f"Method: {info.method}",
        f"Label set: {info.label_set}",
        f"Model: {info.model_id}" + (f", weights {info.weights}" if info.weights else ""),
        f"Lock id: {short_ids(info.lock_id)}",
    ]
    return "<br>".join(escape(line) for line in lines)


def _speed(report: EvalReport) -> str:
    """How fast, or that the predictions were stored; which run keeps them."""
    if not report.classified:
        return f"From the stored results of run {report.run_id}: nothing was classified again"
    speed = f"Speed: {report.texts_per_second:.1f} texts/s ({report.seconds:.1f} s)"
    if report.run_id is None:
        return speed
    earlier = report.scores.n - report.classified
    reused = f"; {earlier:,} predictions were stored before" if earlier > 0 else ""
    return f"{speed}; kept as run {report.run_id} (Past runs){reused}"


def comparison_html(reports: Sequence[EvalReport]) -> str:
    """Several evaluations of one file side by side, as an HTML table."""
    rows = comparison_table(reports)
    rows.insert(
        1, ["settings", *[f"{r.info.detail} · {r.info.weights}".strip(" ·") for r in reports]]
    )
    if any(r.gold_map for r in reports):
        rows.insert(2, ["gold map", *[r.gold_map or "by name" for r in reports]])
    cells = []
    for i, row in enumerate(rows):
        tag = "th" if i == 0 else "td"
        cells.append(
            "<tr>"
            + "".join(
                f"<{tag} align='{'left' if j == 0 else 'right'}'>{escape(cell)}</{tag}>"
                for j, cell in enumerate(row)
            )
            + "</tr>"
        )
    return (
        "<b>Side by side on this file</b> (latest on the right)"
        "<table cellspacing='0' cellpadding='3'>" + "".join(cells) + "</table>"
    )


def teach_summary(outcome: TeachOutcome) -> str:
    accuracy = outcome.held_out or (
        f"Held-out balanced accuracy: {outcome.validation_accuracy:.1%}."
        if outcome.validation_accuracy is not None
        else "Nothing could be held out to estimate its accuracy."
    )
    parts = [
        f"Taught {outcome.label_set} from {outcome.examples:,} examples "
        f"(reading {outcome.read_seconds:.1f} s, fitting {outcome.fit_seconds:.1f} s).",
        accuracy,
        *outcome.coverage_notes,
    ]
    if outcome.skipped_rows:
        parts.append(f"Skipped {outcome.skipped_rows:,} malformed rows.")
    if outcome.unknown_labels:
        parts.append(
            "Left out rows labelled " + ", ".join(outcome.unknown_labels[:5]) + " (no such label)."
        )
    if outcome.gold_map:
        parts.append(f"Labels read as {outcome.gold_map}.")
    parts.append("The method is now 'Taught by examples'.")
    return " ".join(parts)
