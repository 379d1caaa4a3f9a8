"""The last result of each check set on each model, kept beside the check sets.

``checks/results/NAME@KEY.json`` holds what a check of the check set NAME said about
one model version (KEY names its lock id): when, whether every answer was identical,
the one-sentence summary and the whole Markdown report. The Models page shows them
("Behaviour: identical to <date> (40 of 40)") without answering anything again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from app.core.drift.checkset import CheckSetError
from app.core.drift.compare import DriftReport, to_markdown
from app.core.fsutil import atomic_write_bytes, make_dirs
from app.core.models.store import InstalledModel
from app.core.paths import PRIVATE_FILE, Paths


@dataclass(frozen=True)
class CheckResult:
    """One check of one check set on one model version."""

    name: str
    model_id: str
    lock_id: str
    recorded_at: str
    checked_at: str
    identical: bool
    checked: int
    changed: int
    summary: str
    markdown: str
    runtime: dict[str, str] = field(default_factory=dict)
    """The runtime the check ran on (empty in results kept by an older Driftless)."""

    @classmethod
    def of(cls, report: DriftReport, model: InstalledModel) -> CheckResult:
        changed = len(report.prompt_changes) + len(report.label_changes) + len(report.missing)
        return cls(
            name=report.name,
            model_id=model.id,
            lock_id=model.lock_id,
            recorded_at=report.recorded_at,
            checked_at=report.checked_at,
            identical=report.identical,
            checked=report.prompts_checked + report.texts_checked,
            changed=changed,
            summary=report.summary(),
            markdown=to_markdown(report),
            runtime=dict(report.runtime),
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> CheckResult:
        return cls(
            name=str(data["name"]),
            model_id=str(data["model_id"]),
            lock_id=str(data["lock_id"]),
            recorded_at=str(data["recorded_at"]),
            checked_at=str(data["checked_at"]),
            identical=bool(data["identical"]),
            checked=int(data["checked"]),
            changed=int(data["changed"]),
            summary=str(data["summary"]),
            markdown=str(data["markdown"]),
            runtime={str(k): str(v) for k, v in dict(data.get("runtime") or {}).items()},
        )


class CheckResults:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @classmethod
    def for_paths(cls, paths: Paths) -> CheckResults:
        return cls(paths.checks_dir / "results")

    def _path(self, name: str, lock_id: str) -> Path:
        key = hashlib.sha256(lock_id.encode("utf-8")).hexdigest()[:16]
        return self.folder / f"{name}@{key}.json"

    def save(self, report: DriftReport, model: InstalledModel) -> CheckResult:
        result = CheckResult.of(report, model)
        make_dirs(self.folder)
        text = json.dumps(result.to_json(), indent=1, sort_keys=True, ensure_ascii=False)
        atomic_write_bytes(
            self._path(result.name, model.lock_id), (text + "\n").encode(), PRIVATE_FILE
        )
        return result

    def get(self, name: str, model: InstalledModel) -> CheckResult | None:
        path = self._path(name, model.lock_id)
        try:
            result = CheckResult.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # none yet, or damaged: the next check writes it again
        return result if result.lock_id == model.lock_id else None

    def for_model(self, model: InstalledModel) -> list[CheckResult]:
        """The last result of every check set checked on ``model``, by name."""
        if not self.folder.is_dir():
            return []
        names = sorted({p.name.rsplit("@", 1)[0] for p in self.folder.glob("*@*.json")})
        return [r for name in names if (r := self.get(name, model)) is not None]


@dataclass(frozen=True)
class Behaviour:
    """What the Models page says about one model's behaviour."""

    line: str
    """Behaviour: identical to <date> (40 of 40), what drifted, or when it was recorded."""
    results: tuple[CheckResult, ...]
    recorded: tuple[str, ...]
    """Check sets recorded on this model and not checked since (nothing to compare yet)."""

    @property
    def drifted(self) -> bool:
        return any(not r.identical for r in self.results)

    @property
    def short(self) -> str:
        """The line for a table cell: ``Identical (40/40)``, ``Drifted (3/40)``, ``Recorded``."""
        if not self.results:
            return "Recorded"
        checked = sum(r.checked for r in self.results)
        if not self.drifted:
            return f"Identical ({checked}/{checked})"
        return f"Drifted ({sum(r.changed for r in self.results if not r.identical)}/{checked})"

    @property
    def details(self) -> str:
        lines = [r.summary for r in self.results]
        lines += [f"Check set '{name}' was recorded on this model." for name in self.recorded]
        return "\n".join(lines)

    def markdown(self) -> str:
        return report_markdown(self.results)


def behaviours(paths: Paths, models: Sequence[InstalledModel]) -> dict[str, Behaviour]:
    """Each model's behaviour line, from the last checks kept and the check sets recorded."""
    from app.core.drift.library import CheckSetLibrary

    library = CheckSetLibrary.for_paths(paths)
    recorded: dict[str, list[tuple[str, str, int]]] = {}
    recorded_at: dict[str, str] = {}
    for name in library.names():
        try:
            check_set = library.load(name)
        except CheckSetError:
            continue
        if check_set.recording is None:
            continue
        key = check_set.recording.environment.get("lock_id") or ""
        recorded.setdefault(key, []).append((name, check_set.recording.recorded_at, check_set.size))
        recorded_at[name] = check_set.recording.recorded_at
    kept = CheckResults.for_paths(paths)
    found = {}
    for model in models:
        # A result of an older recording (the check set was recorded again since) is moot.
        results = tuple(
            r
            for r in kept.for_model(model)
            if recorded_at.get(r.name, r.recorded_at) == r.recorded_at
        )
        checked = {r.name for r in results}
        unchecked = [row for row in recorded.get(model.lock_id, []) if row[0] not in checked]
        if results:
            line = behaviour_line(results)
        elif unchecked:
            since = min(at for _name, at, _size in unchecked)[:10]
            answers = sum(size for _name, _at, size in unchecked)
            line = f"Behaviour: recorded {since} ({answers} answers), not checked since"
        else:
            continue
        found[model.id] = Behaviour(line, results, tuple(row[0] for row in unchecked))
    return found


def behaviour_line(results: Sequence[CheckResult]) -> str:
    """ "Behaviour: identical to <date> (40 of 40)", or what drifted; "" without results."""
    if not results:
        return ""
    checked = sum(r.checked for r in results)
    drifted = [r for r in results if not r.identical]
    if not drifted:
        since = min(r.recorded_at for r in results)[:10]
        return f"Behaviour: identical to {since} ({checked} of {checked})"
    changed = sum(r.changed for r in drifted)
    names = ", ".join(r.name for r in drifted)
    return f"Behaviour: {changed} of {checked} answers drifted ({names})"


def report_markdown(results: Sequence[CheckResult]) -> str:
    return "\n\n".join(r.markdown for r in results)
