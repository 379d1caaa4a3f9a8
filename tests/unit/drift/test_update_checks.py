"""`driftless models update` answers the old version's check sets on the new version and
shows the difference before anything is switched (against the local test Hub)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main
from app.core.drift.library import CheckSetLibrary
from app.core.drift.results import CheckResults, behaviour_line
from app.core.models.gguf import read_gguf
from app.core.models.starter import STARTER
from app.core.models.store import ModelStore
from app.core.paths import get_paths
from tests.hub_server import FakeHub, add_starter
from tests.model_files import starter_with_metadata


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_update_checks_the_new_version_before_switching(
    hub_server: FakeHub,
    starter_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    add_starter(hub_server, starter_file)
    code, out, err = run(capsys, "models", "pull", STARTER.repo, STARTER.filename)
    assert code == 0, err
    old_id = out.strip()
    assert run(capsys, "models", "use", old_id)[0] == 0

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(
        json.dumps({"prompt": "What is 2 + 2?"})
        + "\n"
        + json.dumps({"prompt": "What colour is the sky?", "system": "Answer in one word."})
        + "\n"
    )
    code, _, err = run(
        capsys, "drift", "record", "basics", "--prompts", str(prompts), "--max-tokens", "12"
    )
    assert code == 0, err

    # Upstream re-uploads "the same" model with another default system prompt.
    template = read_gguf(starter_file).chat_template
    assert template is not None and "named SmolLM" in template
    variant = starter_with_metadata(
        starter_file,
        tmp_path / "v2" / STARTER.filename,
        {"tokenizer.chat_template": template.replace("named SmolLM", "named Drifty")},
    )
    hub_server.commit(STARTER.repo, {STARTER.filename: variant}, message="New template")

    report = tmp_path / "update.md"
    code, out, err = run(capsys, "models", "update", old_id, "--report", str(report))
    assert code == 0, err
    new_id = out.strip()
    assert new_id != old_id
    store = ModelStore(get_paths())
    active = store.active()
    assert active is not None and active.id == old_id, "nothing switches without --switch"
    assert {old_id, new_id} <= {m.id for m in store.list_models()}
    assert "drifted" in err and "1 of 2 prompts answered differently" in err
    assert "chat template sha256" in err
    assert f"driftless models update {old_id} --switch" in err
    markdown = report.read_text()
    assert "| chat template sha256 |" in markdown and "## Prompts answered differently" in markdown

    (result,) = CheckResults.for_paths(get_paths()).for_model(store.get(new_id))
    assert not result.identical and result.changed == 1 and result.checked == 2
    assert behaviour_line([result]) == "Behaviour: 1 of 2 answers drifted (basics)"
    recorded = CheckSetLibrary.for_paths(get_paths()).load("basics").recording
    assert recorded is not None and recorded.environment.get("model_id") == old_id

    code, out, err = run(capsys, "models", "update", old_id, "--switch")
    assert code == 0, err
    assert out.strip() == new_id
    assert "(as checked before)" in err and "1 of 2 prompts answered differently" in err
    active = ModelStore(get_paths()).active()
    assert active is not None and active.id == new_id


@pytest.mark.slow
def test_record_again_makes_the_new_version_the_one_to_compare_with(
    store: ModelStore, starter_file: Path, tmp_path: Path
) -> None:
    from app.core.drift import CheckSet, PromptItem, answer, check
    from app.core.drift.checkset import item_id
    from app.core.drift.results import behaviours
    from app.core.drift.versions import check_sets_of, compare_versions, record_again

    old = store.import_file(starter_file, link=True)
    template = read_gguf(starter_file).chat_template
    assert template is not None
    variant = starter_with_metadata(
        starter_file,
        tmp_path / "v2" / STARTER.filename,
        {"tokenizer.chat_template": template.replace("named SmolLM", "named Drifty")},
    )
    new = store.import_file(variant)
    prompts = (PromptItem(item_id("prompt", None, "What is 2 + 2?"), "What is 2 + 2?"),)
    check_set = CheckSet(name="basics", prompts=prompts, max_tokens=8)
    library = CheckSetLibrary.for_paths(store.paths)
    library.save(check_set.recorded(answer(store.paths, store, check_set, old.id, threads=1)))
    comparison = compare_versions(store.paths, store, old, new)
    assert not comparison.identical
    assert behaviours(store.paths, [new])[new.id].short == "Drifted (1/1)"

    assert record_again(store.paths, store, old, new) == ["basics"]
    again = library.load("basics")
    assert again.recording is not None
    assert again.recording.environment.get("lock_id") == new.lock_id
    assert again.recording.environment.get("chat_threads") == "1", "the recorded settings"
    assert [c.name for c in check_sets_of(library, new)] == ["basics"]
    assert check_sets_of(library, old) == []
    # The drift kept from the update was against the old answers: it no longer shows.
    assert behaviours(store.paths, [new])[new.id].short == "Recorded"
    assert check(store.paths, store, again, new.id).identical
