"""Check results kept beside the check sets, and the behaviour line the Models page shows."""

from __future__ import annotations

from pathlib import Path

from app.core.drift import CheckSet, CheckSetLibrary, PromptItem, compare
from app.core.drift.checkset import PromptAnswer, Recording
from app.core.drift.environment import Environment
from app.core.drift.results import CheckResults, behaviour_line, behaviours
from app.core.drift.versions import check_sets_of
from app.core.models.store import InstalledModel, ModelStore
from app.core.paths import Paths
from tests.model_files import tiny_model

PROMPTS = tuple(PromptItem(f"p-{i}", f"Prompt {i}") for i in range(3))


def recording(model: InstalledModel, when: str, tokens: tuple[int, ...]) -> Recording:
    env = Environment(
        {"model_id": model.id, "lock_id": model.lock_id, "model_sha256": model.sha256}
    )
    answers = tuple(
        PromptAnswer(p.id, (*tokens, i), tuple(str(t) for t in (*tokens, i)), "x", "stop")
        for i, p in enumerate(PROMPTS)
    )
    return Recording(recorded_at=when, environment=env, prompts=answers)


def recorded_set(paths: Paths, model: InstalledModel) -> CheckSet:
    check_set = CheckSet(name="basics", prompts=PROMPTS).recorded(
        recording(model, "2026-11-02T10:00:00Z", (1, 2))
    )
    CheckSetLibrary.for_paths(paths).save(check_set)
    return check_set


def models(store: ModelStore, tmp_path: Path) -> tuple[InstalledModel, InstalledModel]:
    one = store.import_file(tiny_model(tmp_path / "One.gguf", seed=1))
    two = store.import_file(tiny_model(tmp_path / "Two.gguf", seed=2))
    return one, two


def test_results_are_kept_per_model_and_make_the_behaviour_line(
    paths: Paths, store: ModelStore, tmp_path: Path
) -> None:
    old, new = models(store, tmp_path)
    check_set = recorded_set(paths, old)
    assert [c.name for c in check_sets_of(CheckSetLibrary.for_paths(paths), old)] == ["basics"]
    assert check_sets_of(CheckSetLibrary.for_paths(paths), new) == []
    assert behaviours(paths, [old, new])[old.id].line == (
        "Behaviour: recorded 2026-11-02 (3 answers), not checked since"
    )
    assert behaviours(paths, [old, new])[old.id].short == "Recorded"
    assert new.id not in behaviours(paths, [old, new])

    assert check_set.recording is not None
    when = "2026-12-01T09:00:00Z"
    same = compare(check_set, check_set.recording, recording(old, when, (1, 2)))
    changed = compare(check_set, check_set.recording, recording(new, when, (1, 3)))
    results = CheckResults.for_paths(paths)
    results.save(same, old)
    results.save(changed, new)
    assert CheckSetLibrary.for_paths(paths).names() == ["basics"], "results are not check sets"

    found = behaviours(paths, [old, new])
    assert found[old.id].line == "Behaviour: identical to 2026-11-02 (3 of 3)"
    assert found[old.id].short == "Identical (3/3)"
    assert found[new.id].short == "Drifted (3/3)"
    assert not found[old.id].drifted and found[old.id].recorded == ()
    assert found[new.id].line == "Behaviour: 3 of 3 answers drifted (basics)"
    assert found[new.id].drifted
    assert "# Behaviour check: basics" in found[new.id].markdown()
    assert "3 of 3 prompts answered differently" in found[new.id].details
    assert behaviour_line([]) == ""

    # A damaged result is as good as none: the next check writes it again.
    (next(results.folder.glob("*.json"))).write_text("{")
    assert len([b for b in behaviours(paths, [old, new]).values() if b.results]) == 1
