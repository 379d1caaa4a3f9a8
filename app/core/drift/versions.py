"""Before switching to a new version of a model: its check sets, answered on the new one.

A model's check sets are those recorded against it (its lock id, or its sha256 for a
local file). :func:`compare_versions` answers each on the new version and compares
with what the old version answered; when the runtime changed since the recording, it
answers on the old version too, so a report tells a new runtime from a new model.
Nothing is switched here: the caller shows the reports and asks (the update in the
Hub's module installs the file; this module never touches the network).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.cancel import CancelToken
from app.core.drift import check
from app.core.drift.checkset import CheckSet, CheckSetError
from app.core.drift.compare import DriftReport, to_markdown
from app.core.drift.environment import runtime_parts
from app.core.drift.library import CheckSetLibrary
from app.core.drift.record import ProgressCallback, answer, replay_settings
from app.core.drift.results import CheckResult, CheckResults
from app.core.drift.startup import runtime_changes
from app.core.models.store import InstalledModel, ModelStore
from app.core.paths import Paths


def check_sets_of(library: CheckSetLibrary, model: InstalledModel) -> list[CheckSet]:
    """The check sets recorded against exactly this version of ``model``."""
    found = []
    for name in library.names():
        try:
            check_set = library.load(name)
        except CheckSetError:
            continue  # a damaged file is reported by driftless drift list
        recording = check_set.recording
        if recording is None:
            continue
        env = recording.environment
        if env.get("lock_id") == model.lock_id or env.get("model_sha256") == model.sha256:
            found.append(check_set)
    return found


@dataclass(frozen=True)
class VersionComparison:
    old: InstalledModel
    new: InstalledModel
    reports: tuple[DriftReport, ...]
    """Each check set recorded on ``old``, answered on ``new``."""
    old_reports: tuple[DriftReport, ...] = ()
    """The same check sets answered again on ``old`` (only when the runtime changed)."""

    @property
    def identical(self) -> bool:
        return all(r.identical for r in self.reports)

    def summary(self) -> str:
        if not self.reports:
            return (
                f"No check set is recorded for {self.old.id}, so there is nothing to compare. "
                f"Record one first: driftless drift record NAME --prompts FILE.jsonl "
                f"--model {self.old.id}."
            )
        lines = [f"{self.new.id} compared with {self.old.id}:"]
        lines += [f"- {r.summary()}" for r in self.reports]
        for r in self.old_reports:
            lines.append(f"- On {self.old.id} itself, with this runtime: {r.summary()}")
        return "\n".join(lines)

    def markdown(self) -> str:
        heading = f"# Update: {self.old.id} -> {self.new.id}\n\n{self.summary()}\n"
        parts = [heading] + [to_markdown(r) for r in self.reports]
        parts += [f"## On {self.old.id} again\n\n" + to_markdown(r) for r in self.old_reports]
        return "\n\n".join(parts)


def runtime_changed(check_set: CheckSet) -> bool:
    if check_set.recording is None:
        return False
    return bool(runtime_changes(check_set.recording.environment.parts, runtime_parts()))


def compare_versions(
    paths: Paths,
    store: ModelStore,
    old: InstalledModel,
    new: InstalledModel,
    *,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> VersionComparison:
    """Answer ``old``'s check sets on ``new`` and keep each result; switches nothing."""
    library = CheckSetLibrary.for_paths(paths)
    results = CheckResults.for_paths(paths)
    check_sets = check_sets_of(library, old)
    again = [c for c in check_sets if runtime_changed(c)]
    total = sum(c.size for c in check_sets) + sum(c.size for c in again)
    done = [0]

    def progress(base: int) -> ProgressCallback:
        def report(count: int, _total: int) -> None:
            if on_progress is not None:
                on_progress(base + count, total)

        return report

    reports = []
    for check_set in check_sets:
        report = check(
            paths, store, check_set, new.id, on_progress=progress(done[0]), cancel=cancel
        )
        done[0] += check_set.size
        results.save(report, new)  # as the new version's, whatever model_id says
        reports.append(report)
    old_reports = []
    for check_set in again:
        report = check(
            paths, store, check_set, old.id, on_progress=progress(done[0]), cancel=cancel
        )
        done[0] += check_set.size
        results.save(report, old)
        old_reports.append(report)
    return VersionComparison(old, new, tuple(reports), tuple(old_reports))


def record_again(
    paths: Paths,
    store: ModelStore,
    old: InstalledModel,
    new: InstalledModel,
    *,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> list[str]:
    """Record ``old``'s check sets again on ``new`` (after switching to it), with the
    recorded settings, so the next check compares with the new version. Every answer is
    in before any file is replaced: a cancelled run changes nothing. Returns the names."""
    library = CheckSetLibrary.for_paths(paths)
    check_sets = check_sets_of(library, old)
    total = sum(c.size for c in check_sets)
    done = 0
    recorded = []
    for check_set in check_sets:
        assert check_set.recording is not None
        threads, batch, unpack = replay_settings(check_set.recording.environment)

        def progress(count: int, _total: int, base: int = done) -> None:
            if on_progress is not None:
                on_progress(base + count, total)

        recording = answer(
            paths,
            store,
            check_set,
            new.id,
            threads=threads,
            batch=batch,
            unpack=unpack,
            on_progress=progress,
            cancel=cancel,
        )
        recorded.append(check_set.recorded(recording))
        done += check_set.size
    for check_set in recorded:
        library.save(check_set)
    return [c.name for c in recorded]


def stored_results(
    paths: Paths, old: InstalledModel, new: InstalledModel
) -> list[CheckResult] | None:
    """The results kept from comparing ``new`` with ``old``; None when one is missing."""
    results = CheckResults.for_paths(paths)
    found = []
    for check_set in check_sets_of(CheckSetLibrary.for_paths(paths), old):
        result = results.get(check_set.name, new)
        if result is None or result.recorded_at != _recorded_at(check_set):
            return None
        found.append(result)
    return found


def _recorded_at(check_set: CheckSet) -> str:
    return check_set.recording.recorded_at if check_set.recording else ""
