"""Comparing a recording with a fresh one: what changed, where, and in which environment.

A prompt's answer is the same when its token ids are the same, every one of them. A
text's answer is the same when the winning label is the same and no label's probability
moved by more than the check set's tolerance; a different winner is a flip, the same
winner with a larger move a shift. Both count as drift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.core.drift.checkset import CheckSet, LabelAnswer, PromptAnswer, PromptItem, Recording
from app.core.drift.environment import Difference, runtime_of
from app.core.drift.retrieval import RetrievalChange, retrieval_change

SHOWN_CHARS = 160


@dataclass(frozen=True)
class PromptChange:
    id: str
    prompt: str
    first_difference: int
    """Index of the first token that differs (the shorter answer's length if one is a prefix)."""
    before_token: int | None
    after_token: int | None
    before_continuation: str
    after_continuation: str
    common_prefix: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "prompt": self.prompt,
            "first_difference": self.first_difference,
            "before_token": self.before_token,
            "after_token": self.after_token,
            "common_prefix": self.common_prefix,
            "before_continuation": self.before_continuation,
            "after_continuation": self.after_continuation,
        }


@dataclass(frozen=True)
class LabelChange:
    id: str
    text: str
    before: str
    after: str
    before_probabilities: tuple[float, ...]
    after_probabilities: tuple[float, ...]
    largest_move: float

    @property
    def flipped(self) -> bool:
        return self.before != self.after

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "kind": "flip" if self.flipped else "shift",
            "before": self.before,
            "after": self.after,
            "before_probabilities": list(self.before_probabilities),
            "after_probabilities": list(self.after_probabilities),
            "largest_move": self.largest_move,
        }


@dataclass(frozen=True)
class DriftReport:
    name: str
    check_set_sha256: str
    recorded_at: str
    checked_at: str
    prompts_checked: int
    texts_checked: int
    labels: tuple[str, ...]
    tolerance: float
    prompt_changes: tuple[PromptChange, ...] = ()
    label_changes: tuple[LabelChange, ...] = ()
    accuracy_before: float | None = None
    accuracy_after: float | None = None
    gold_texts: int = 0
    environment: tuple[Difference, ...] = ()
    missing: tuple[str, ...] = field(default=())
    """Items of the check set the recording has no answer for (not compared)."""
    largest_move: float = 0.0
    runtime: Mapping[str, str] = field(default_factory=dict)
    """The runtime the fresh answers were given on (so a start-up check runs once per runtime)."""
    retrievals_checked: int = 0
    retrieval_changes: tuple[RetrievalChange, ...] = ()

    @property
    def identical(self) -> bool:
        return (
            not self.prompt_changes
            and not self.label_changes
            and not self.retrieval_changes
            and not self.missing
        )

    @property
    def flips(self) -> tuple[LabelChange, ...]:
        return tuple(c for c in self.label_changes if c.flipped)

    def summary(self) -> str:
        """One sentence: identical (n of n), or what drifted and the likely cause."""
        total = self.prompts_checked + self.texts_checked + self.retrievals_checked
        if self.identical:
            text = (
                f"Behaviour of '{self.name}': identical to {self.recorded_at} ({total} of {total})."
            )
            if self.environment:
                text += (
                    " The environment differs, without changing an answer: "
                    + "; ".join(d.label for d in self.environment)
                    + "."
                )
            return text
        changed = []
        if self.prompt_changes:
            changed.append(
                f"{len(self.prompt_changes)} of {self.prompts_checked} prompts answered differently"
            )
        if self.flips:
            changed.append(f"{len(self.flips)} of {self.texts_checked} labels flipped")
        shifts = len(self.label_changes) - len(self.flips)
        if shifts:
            changed.append(f"{shifts} label distributions moved by more than {self.tolerance:g}")
        if self.retrieval_changes:
            changed.append(
                f"{len(self.retrieval_changes)} of {self.retrievals_checked} document searches "
                "found other passages or scores (retrieval drift)"
            )
        if self.missing:
            changed.append(f"{len(self.missing)} items have no recorded answer")
        text = (
            f"Behaviour of '{self.name}' drifted since {self.recorded_at}: "
            + ", ".join(changed)
            + "."
        )
        return text + " " + self.cause()

    def cause(self) -> str:
        """Which recorded part of the environment differs, i.e. what to suspect."""
        if not self.environment:
            return (
                "Nothing recorded about the environment differs: the same model, template, "
                "runtime and settings answered differently."
            )
        known = [d for d in self.environment if d.changes_answers]
        named = known or list(self.environment)
        return "Different " + ", ".join(d.label for d in named) + "."

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "check_set_sha256": self.check_set_sha256,
            "identical": self.identical,
            "summary": self.summary(),
            "recorded_at": self.recorded_at,
            "checked_at": self.checked_at,
            "prompts_checked": self.prompts_checked,
            "texts_checked": self.texts_checked,
            "labels": list(self.labels),
            "tolerance": self.tolerance,
            "largest_move": self.largest_move,
            "prompt_changes": [c.to_json() for c in self.prompt_changes],
            "label_changes": [c.to_json() for c in self.label_changes],
            "accuracy_before": self.accuracy_before,
            "accuracy_after": self.accuracy_after,
            "gold_texts": self.gold_texts,
            "environment": [d.to_json() for d in self.environment],
            "missing": list(self.missing),
            "runtime": dict(self.runtime),
            "retrievals_checked": self.retrievals_checked,
            "retrieval_changes": [c.to_json() for c in self.retrieval_changes],
        }


def compare(check_set: CheckSet, before: Recording, after: Recording) -> DriftReport:
    """What differs between the answers ``before`` (recorded) and ``after`` (fresh)."""
    old_prompts = {a.id: a for a in before.prompts}
    new_prompts = {a.id: a for a in after.prompts}
    old_labels = {a.id: a for a in before.labels}
    new_labels = {a.id: a for a in after.labels}
    missing: list[str] = []
    prompt_changes = []
    for item in check_set.prompts:
        old, new = old_prompts.get(item.id), new_prompts.get(item.id)
        if old is None or new is None:
            missing.append(item.id)
            continue
        change = _prompt_change(item, old, new)
        if change is not None:
            prompt_changes.append(change)
    label_changes = []
    largest = 0.0
    spec = check_set.classify
    labels: tuple[str, ...] = spec.label_set.label_names if spec else ()
    gold_old: list[bool] = []
    gold_new: list[bool] = []
    for text in spec.texts if spec else ():
        was, now = old_labels.get(text.id), new_labels.get(text.id)
        if was is None or now is None:
            missing.append(text.id)
            continue
        move = _largest_move(was, now)
        largest = max(largest, move)
        if was.label != now.label or move > check_set.tolerance:
            label_changes.append(
                LabelChange(
                    text.id,
                    text.text,
                    was.label,
                    now.label,
                    was.probabilities,
                    now.probabilities,
                    move,
                )
            )
        if text.gold is not None and spec is not None:
            index = spec.label_set.index_of(text.gold)
            if index is not None:
                gold = labels[index]
                gold_old.append(was.label == gold)
                gold_new.append(now.label == gold)
    old_found = {a.id: a for a in before.retrieval}
    new_found = {a.id: a for a in after.retrieval}
    retrieval_changes = []
    for query in check_set.retrieval:
        had, has = old_found.get(query.id), new_found.get(query.id)
        if had is None or has is None:
            missing.append(query.id)
            continue
        moved = retrieval_change(query, had, has)
        if moved is not None:
            retrieval_changes.append(moved)
    return DriftReport(
        name=check_set.name,
        check_set_sha256=check_set.sha256,
        recorded_at=before.recorded_at,
        checked_at=after.recorded_at,
        prompts_checked=len(check_set.prompts),
        texts_checked=len(spec.texts) if spec else 0,
        labels=labels,
        tolerance=check_set.tolerance,
        prompt_changes=tuple(prompt_changes),
        label_changes=tuple(label_changes),
        accuracy_before=_mean(gold_old),
        accuracy_after=_mean(gold_new),
        gold_texts=len(gold_old),
        environment=tuple(before.environment.differences(after.environment)),
        missing=tuple(missing),
        largest_move=largest,
        runtime=runtime_of(after.environment),
        retrievals_checked=len(check_set.retrieval),
        retrieval_changes=tuple(retrieval_changes),
    )


def _prompt_change(item: PromptItem, old: PromptAnswer, new: PromptAnswer) -> PromptChange | None:
    if old.tokens == new.tokens:
        return None
    k = 0
    while k < min(len(old.tokens), len(new.tokens)) and old.tokens[k] == new.tokens[k]:
        k += 1
    return PromptChange(
        id=item.id,
        prompt=item.prompt,
        first_difference=k,
        before_token=old.tokens[k] if k < len(old.tokens) else None,
        after_token=new.tokens[k] if k < len(new.tokens) else None,
        before_continuation=_continuation(old, k),
        after_continuation=_continuation(new, k),
        common_prefix="".join(old.pieces[:k]),
    )


def _continuation(answer: PromptAnswer, k: int) -> str:
    if k >= len(answer.tokens):
        return "(the answer ends here: " + answer.finish + ")"
    return "".join(answer.pieces[k:])


def _largest_move(was: LabelAnswer, now: LabelAnswer) -> float:
    if len(was.probabilities) != len(now.probabilities):
        return 1.0
    return max(
        (abs(a - b) for a, b in zip(was.probabilities, now.probabilities, strict=True)), default=0.0
    )


def _mean(values: Sequence[bool]) -> float | None:
    return sum(values) / len(values) if values else None


# --- the Markdown report ----------------------------------------------------------------------


def _clip(text: str, limit: int = SHOWN_CHARS) -> str:
    flat = " ".join(text.split()) if text.strip() else repr(text) if text else ""
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _distribution(labels: Sequence[str], probabilities: Sequence[float]) -> str:
    return ", ".join(f"{name} {p:.3f}" for name, p in zip(labels, probabilities, strict=False))


def to_markdown(report: DriftReport) -> str:
    lines = [f"# Behaviour check: {report.name}", "", report.summary(), ""]
    lines += [
        f"- Check set sha256: `{report.check_set_sha256}`",
        f"- Recorded: {report.recorded_at}; checked: {report.checked_at}",
        f"- Prompts: {report.prompts_checked}, texts: {report.texts_checked}"
        + (f", document searches: {report.retrievals_checked}" if report.retrievals_checked else "")
        + (
            f", tolerance {report.tolerance:g}, largest move {report.largest_move:.4f}"
            if report.texts_checked
            else ""
        ),
        "",
    ]
    if report.environment:
        lines += ["## Environment differences", "", "| Part | Recorded | Now |", "|---|---|---|"]
        for d in report.environment:
            lines.append(f"| {d.label} | `{d.before}` | `{d.after}` |")
        lines.append("")
    if report.prompt_changes:
        lines += ["## Prompts answered differently", ""]
        for c in report.prompt_changes:
            after = _clip(c.common_prefix) if c.common_prefix else "(the start)"
            lines += [
                f"### {c.id}: {_clip(c.prompt, 80)}",
                "",
                f"First difference at token {c.first_difference} "
                f"(id {c.before_token} -> {c.after_token}), after: {after}",
                "",
                f"- recorded: {_clip(c.before_continuation)}",
                f"- now: {_clip(c.after_continuation)}",
                "",
            ]
    if report.label_changes:
        lines += ["## Labels", "", "| Text | Recorded | Now | Kind |", "|---|---|---|---|"]
        for lc in report.label_changes:
            kind = "flip" if lc.flipped else f"moved {lc.largest_move:.3f}"
            was = _distribution(report.labels, lc.before_probabilities)
            now = _distribution(report.labels, lc.after_probabilities)
            lines.append(
                f"| {_clip(lc.text, 60)} | {lc.before} ({was}) | {lc.after} ({now}) | {kind} |"
            )
        lines.append("")
    if report.retrieval_changes:
        lines += ["## Document searches that found something else", ""]
        for rc in report.retrieval_changes:
            lines += [
                f"### {rc.id}: {_clip(rc.query, 80)} (collection {rc.collection})",
                "",
                f"First difference at rank {rc.first_difference + 1} ({rc.kind}).",
                "",
                "| Rank | Recorded | Score | Now | Score |",
                "|---|---|---|---|---|",
            ]
            for rank in range(max(len(rc.before), len(rc.after))):
                old = rc.before[rank] if rank < len(rc.before) else None
                new = rc.after[rank] if rank < len(rc.after) else None
                lines.append(
                    f"| {rank + 1} | {old.where if old else '-'} | "
                    f"{f'{old.score:.6f}' if old else '-'} | {new.where if new else '-'} | "
                    f"{f'{new.score:.6f}' if new else '-'} |"
                )
            lines.append("")
    if report.accuracy_before is not None and report.accuracy_after is not None:
        lines += [
            f"Accuracy on {report.gold_texts} texts with gold labels: "
            f"{report.accuracy_before:.3f} recorded, {report.accuracy_after:.3f} now.",
            "",
        ]
    if report.missing:
        lines += ["Items without a recorded answer: " + ", ".join(report.missing), ""]
    return "\n".join(lines)
