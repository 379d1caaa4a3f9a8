"""Checks at start: which check sets to answer again because the runtime changed.

A new llama-cpp-python, another llama.cpp build, other CPU kernels or another backend (a
GPU now offloading what ran on the CPU, or the other way round) can change answers with
nothing else touched. When the runtime now differs from what a check set recorded,
its model's answers are checked again, once: the kept result names the runtime it was
checked with, so the next start with the same runtime checks nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from app.core.drift.checkset import CheckSet, CheckSetError
from app.core.drift.environment import Difference, Environment, runtime_of, runtime_parts
from app.core.drift.library import CheckSetLibrary
from app.core.drift.results import CheckResults
from app.core.models.store import InstalledModel, ModelStore
from app.core.paths import Paths
from app.core.settings import gpu_layers_for, load_settings


def runtime_changes(
    recorded: Mapping[str, str],
    now: Mapping[str, str],
    last_checked: Mapping[str, str] | None = None,
) -> list[Difference]:
    """The runtime parts that differ between a recording and now, when a check is due.

    Empty when nothing differs (a part only one side knows does not count), and when
    the last check of that recording already ran on this very runtime
    (``last_checked``: the runtime parts that check recorded).
    """
    changes = Environment(runtime_of(recorded)).differences(Environment(runtime_of(now)))
    if not changes:
        return []
    if last_checked and runtime_of(last_checked) == runtime_of(now):
        return []
    return changes


@dataclass(frozen=True)
class DueCheck:
    """A check set to answer again on ``model``: the runtime changed since its recording."""

    check_set: CheckSet
    model: InstalledModel
    changes: tuple[Difference, ...]


def due_checks(
    paths: Paths, store: ModelStore, now: Mapping[str, str] | None = None
) -> list[DueCheck]:
    """Every recorded check set of an installed model whose runtime changed since.

    ``now`` None: this process's runtime (which imports llama_cpp, but only when some
    installed model has a recorded check set; no model is loaded).
    """
    library = CheckSetLibrary.for_paths(paths)
    recorded = []
    for name in library.names():
        try:
            check_set = library.load(name)
        except CheckSetError:
            continue  # driftless drift list reports a damaged file
        if check_set.recording is not None:
            recorded.append(check_set)
    if not recorded:
        return []
    models = store.list_models()
    results = CheckResults.for_paths(paths)
    due = []
    for check_set in recorded:
        assert check_set.recording is not None
        env = check_set.recording.environment
        model = next(
            (
                m
                for m in models
                if env.get("lock_id") == m.lock_id or env.get("model_sha256") == m.sha256
            ),
            None,
        )
        if model is None:
            continue
        if now is None:
            now = runtime_parts()
        if "backend" in env.parts and "backend" not in now:
            now_here = {**now, "backend": expected_backend_of(paths, model)}
        else:
            now_here = dict(now)
        last = results.get(check_set.name, model)
        last_runtime = (
            last.runtime
            if last is not None and last.recorded_at == check_set.recording.recorded_at
            else None
        )
        changes = runtime_changes(env.parts, now_here, last_runtime)
        if changes:
            due.append(DueCheck(check_set, model, tuple(changes)))
    return due


def expected_backend_of(paths: Paths, model: InstalledModel) -> str:
    """What ``model`` would run on now, by the settings' "GPU layers" for it."""
    from app.core.runtime.gpu import expected_backend

    return expected_backend(gpu_layers_for(load_settings(paths), model.id))


def describe_changes(due: list[DueCheck]) -> str:
    """One sentence for a status line: what changed in the runtime."""
    seen: dict[str, Difference] = {}
    for item in due:
        for change in item.changes:
            seen.setdefault(change.part, change)
    named = []
    for change in seen.values():
        if change.part == "system_info":
            named.append("the CPU kernels")
        elif change.part == "backend":
            named.append(f"the backend {change.before} -> {change.after}")
        else:
            named.append(f"{change.label} {change.before} -> {change.after}")
    return "The runtime changed since the behaviour was recorded (" + "; ".join(named) + ")"
