"""Checks at start: a check set is answered again when, and only when, the runtime changed."""

from __future__ import annotations

from pathlib import Path

from app.core.drift import CheckSet, CheckSetLibrary, compare
from app.core.drift.checkset import Recording
from app.core.drift.environment import Environment
from app.core.drift.results import CheckResults
from app.core.drift.startup import describe_changes, due_checks, runtime_changes
from app.core.models.store import InstalledModel, ModelStore
from app.core.paths import Paths
from tests.unit.drift.test_results import PROMPTS, models, recording

RUNTIME = {
    "llama_cpp_python": "0.3.36",
    "llama_cpp": "b1",
    "system_info": "CPU : AVX2 = 1 | OPENMP = 1 |",
}
NEWER = {**RUNTIME, "llama_cpp_python": "0.3.40"}


def test_nothing_changed_means_no_check() -> None:
    recorded = {"model_id": "m", "chat_threads": "1", **RUNTIME}
    assert runtime_changes(recorded, RUNTIME) == []
    # Settings and the model are not the runtime: a different thread count is no reason.
    assert runtime_changes({**recorded, "chat_threads": "4"}, RUNTIME) == []


def test_each_runtime_part_is_a_reason() -> None:
    for part, value in (
        ("llama_cpp_python", "0.3.40"),
        ("llama_cpp", "b2"),
        ("system_info", "CPU : AVX512 = 1 |"),
    ):
        (change,) = runtime_changes(RUNTIME, {**RUNTIME, part: value})
        assert change.part == part and change.before == RUNTIME[part] and change.after == value


def test_a_part_the_recording_lacks_is_no_reason() -> None:
    """An older check set without the llama.cpp build does not re-check at every start."""
    older = {"llama_cpp_python": "0.3.36"}
    assert runtime_changes(older, {**RUNTIME, "llama_cpp": "b2"}) == []
    assert runtime_changes(older, NEWER) != []


def test_checked_once_per_runtime() -> None:
    assert runtime_changes(RUNTIME, NEWER, last_checked=None) != []
    assert runtime_changes(RUNTIME, NEWER, last_checked=NEWER) == [], "already checked on it"
    # Checked on yet another runtime: this one is new again.
    third = {**NEWER, "llama_cpp": "b3"}
    assert [c.part for c in runtime_changes(RUNTIME, third, last_checked=NEWER)] == [
        "llama_cpp_python",
        "llama_cpp",
    ]


def _recorded(
    paths: Paths, store: ModelStore, tmp_path: Path, runtime: dict[str, str]
) -> tuple[CheckSet, InstalledModel]:
    old, _new = models(store, tmp_path)
    base = recording(old, "2026-11-02T10:00:00Z", (1, 2))
    env = base.environment.merged(**runtime)
    check_set = CheckSet(name="basics", prompts=PROMPTS).recorded(
        Recording(base.recorded_at, env, base.prompts)
    )
    CheckSetLibrary.for_paths(paths).save(check_set)
    return check_set, old


def test_due_checks_follow_the_kept_results(
    paths: Paths, store: ModelStore, tmp_path: Path
) -> None:
    assert due_checks(paths, store, NEWER) == [], "no check set, nothing to do"
    check_set, model = _recorded(paths, store, tmp_path, RUNTIME)
    assert due_checks(paths, store, RUNTIME) == []
    (due,) = due_checks(paths, store, NEWER)
    assert due.check_set.name == "basics" and due.model.id == model.id
    assert describe_changes([due]) == (
        "The runtime changed since the behaviour was recorded "
        "(llama-cpp-python version 0.3.36 -> 0.3.40)"
    )
    # A check on the new runtime is kept with it: the next start checks nothing.
    assert check_set.recording is not None
    fresh = check_set.recording
    fresh = Recording(
        "2026-12-01T09:00:00Z", Environment({**fresh.environment.parts, **NEWER}), fresh.prompts
    )
    report = compare(check_set, check_set.recording, fresh)
    assert report.identical and report.runtime == NEWER
    CheckResults.for_paths(paths).save(report, due.model)
    assert due_checks(paths, store, NEWER) == []
    assert len(due_checks(paths, store, {**NEWER, "llama_cpp": "b9"})) == 1


def test_a_result_of_an_older_recording_does_not_count(
    paths: Paths, store: ModelStore, tmp_path: Path
) -> None:
    check_set, model = _recorded(paths, store, tmp_path, RUNTIME)
    assert check_set.recording is not None
    old = check_set.recording
    stale = compare(
        check_set,
        Recording("2026-10-01T00:00:00Z", old.environment, old.prompts),
        Recording("2026-12-01T09:00:00Z", old.environment.merged(**NEWER), old.prompts),
    )
    CheckResults.for_paths(paths).save(stale, model)
    assert len(due_checks(paths, store, NEWER)) == 1
