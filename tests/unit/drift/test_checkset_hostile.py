"""Check sets that could fool a check (issue 26, F6-F9), each built here, without a model.

Imports are capped; a check set's model must be there (or named); a stored file edited
by hand is "changed since it was recorded"; one sha256 names a check set everywhere;
two recordings of one name cannot both win.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.cli import main
from app.core.drift import CheckSetError, CheckSetLibrary, Recording, check
from app.core.drift.checkset import MAX_FILE_BYTES, MAX_ITEMS, MAX_TEXT_CHARS
from app.core.drift.library import CheckSetChanged
from app.core.models.store import ModelStore
from app.core.paths import Paths
from tests.model_files import tiny_model
from tests.unit.drift.test_checkset import check_set, recording

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def library(paths: Paths) -> CheckSetLibrary:
    return CheckSetLibrary.for_paths(paths)


def _write(path: Path, data: dict[str, object]) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


# --- F6: imports are capped ---------------------------------------------------------------


def test_a_50_mb_check_set_import_is_refused_unread(
    library: CheckSetLibrary, tmp_path: Path
) -> None:
    data = check_set(recording()).to_json()
    data["prompts"][0]["prompt"] = "x" * (50 << 20)  # type: ignore[index]
    big = _write(tmp_path / "big.json", data)
    assert big.stat().st_size > MAX_FILE_BYTES
    started = time.monotonic()
    with pytest.raises(CheckSetError, match="larger than 16 MB"):
        library.import_file(big)
    assert time.monotonic() - started < 1.0
    assert library.names() == []


def test_an_import_of_200000_prompts_is_refused(library: CheckSetLibrary, tmp_path: Path) -> None:
    data = check_set().to_json()
    data["prompts"] = [{"id": f"p-{i}", "prompt": "x"} for i in range(200_000)]
    many = _write(tmp_path / "many.json", data)
    assert many.stat().st_size < MAX_FILE_BYTES  # the count refuses it, not the size
    with pytest.raises(CheckSetError, match=f"at most {MAX_ITEMS:,}"):
        library.import_file(many)
    assert library.names() == []


def test_an_import_with_an_overlong_text_is_refused(
    library: CheckSetLibrary, tmp_path: Path
) -> None:
    data = check_set().to_json()
    data["classify"]["texts"][0]["text"] = "y" * (MAX_TEXT_CHARS + 1)  # type: ignore[index]
    with pytest.raises(CheckSetError, match="longer than"):
        library.import_file(_write(tmp_path / "long.json", data))


def test_duplicate_ids_are_refused_at_import(library: CheckSetLibrary, tmp_path: Path) -> None:
    data = check_set(recording()).to_json()
    data["prompts"][1]["id"] = "p-1"  # type: ignore[index]
    data["recording"]["prompts"][1]["id"] = "p-1"  # type: ignore[index]
    with pytest.raises(CheckSetError, match="two prompts with the id 'p-1'"):
        library.import_file(_write(tmp_path / "dup.json", data))
    assert library.names() == []


# --- F7: a check set names its model ----------------------------------------------------


def test_a_check_set_whose_model_is_not_installed_is_refused_without_model(
    store: ModelStore, library: CheckSetLibrary, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    store.import_file(tiny_model(tmp_path / "Other.Q8_0.gguf"))
    store.set_active(store.list_models()[0].id)
    answered: list[str | None] = []

    def fake_answer(
        paths: Paths, store: ModelStore, cs: object, model: str | None, **_: object
    ) -> Recording:
        answered.append(model)
        return recording()

    monkeypatch.setattr("app.core.drift.answer", fake_answer)
    recorded = check_set(recording())  # on model "m", which is not installed
    with pytest.raises(CheckSetError, match=r"recorded on m .* not installed"):
        check(store.paths, store, recorded)
    assert answered == [], "nothing was answered on the active model instead"
    report = check(store.paths, store, recorded, "other-q8_0")  # asked for by name
    assert answered == ["other-q8_0"] and report.identical


def test_drift_check_of_a_set_recorded_on_a_removed_model_fails(
    store: ModelStore, library: CheckSetLibrary, capsys: pytest.CaptureFixture[str]
) -> None:
    library.save(check_set(recording()))
    assert main(["drift", "check", "basics"]) == 1
    assert "not installed" in capsys.readouterr().err


# --- F8: hand edits and one sha256 --------------------------------------------------------

EDITS = {
    "the environment's model sha256": lambda d: d["recording"]["environment"].update(
        model_sha256="b" * 64
    ),
    "a recorded text": lambda d: d["recording"]["prompts"][0].update(text="edited"),
    "a setting": lambda d: d["settings"].update(tolerance=0.5),
    "a prompt removed with its answer": lambda d: (
        d["prompts"].pop(0),
        d["recording"]["prompts"].pop(0),
    ),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_a_hand_edited_check_set_is_reported_as_changed(
    library: CheckSetLibrary, store: ModelStore, capsys: pytest.CaptureFixture[str], edit: str
) -> None:
    library.save(check_set(recording()))
    path = library.path("basics")
    data = json.loads(path.read_text())
    EDITS[edit](data)
    path.write_text(json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    with pytest.raises(CheckSetChanged, match="changed since it was recorded"):
        library.load("basics")
    assert main(["drift", "check", "basics"]) == 1
    err = capsys.readouterr().err
    assert "changed since it was recorded" in err and "identical" not in err.lower()


def test_a_file_dropped_into_the_folder_is_not_trusted(library: CheckSetLibrary) -> None:
    library.save(check_set(recording()))  # the registry exists
    library.path("sneaky").write_bytes(
        check_set(recording()).to_bytes().replace(b"basics", b"sneaky")
    )
    with pytest.raises(CheckSetChanged, match="not written by Driftless"):
        library.load("sneaky")


def test_a_recorded_answer_missing_from_an_imported_file_is_refused(
    library: CheckSetLibrary, tmp_path: Path
) -> None:
    data = check_set(recording()).to_json()
    data["recording"]["prompts"].pop()  # type: ignore[index]
    with pytest.raises(CheckSetError, match="do not match"):
        library.import_file(_write(tmp_path / "short.json", data))


def test_an_import_not_in_canonical_form_has_one_sha256_everywhere(
    library: CheckSetLibrary, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    original = check_set(recording())
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(original.to_json(), indent=4))
    assert main(["drift", "import", str(pretty)]) == 0
    assert "not in canonical form" in capsys.readouterr().err
    assert library.sha256("basics") == original.sha256 == library.load("basics").sha256
    assert main(["drift", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["sha256"] == original.sha256


def test_check_sets_written_before_the_registry_are_adopted_once(
    paths: Paths, tmp_path: Path
) -> None:
    folder = paths.checks_dir
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "basics.json").write_bytes(check_set(recording()).to_bytes())
    assert CheckSetLibrary(folder).load("basics").name == "basics"


# --- F9: concurrent recordings of one name --------------------------------------------------

HOLD = """
import sys
from pathlib import Path
from app.core.drift.library import CheckSetLibrary
with CheckSetLibrary(Path(sys.argv[1])).recording("basics"):
    print("held", flush=True)
    sys.stdin.read()
"""


def test_a_second_recording_of_the_same_name_is_refused(
    library: CheckSetLibrary, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    library.folder.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(library.folder)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        prompts = tmp_path / "p.jsonl"
        prompts.write_text('{"prompt": "Hi"}\n')
        assert main(["drift", "record", "basics", "--prompts", str(prompts)]) == 1
        err = capsys.readouterr().err
        assert f"being recorded by another Driftless (process {holder.pid})" in err
        assert "Recorded" not in err
        with pytest.raises(CheckSetError, match="being recorded"):
            library.save(check_set(recording()))
        assert library.names() == []
        # A recorder killed mid-way leaves a claim nobody holds: it is taken over.
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        with library.recording("basics"):
            library.save(check_set(recording()))
        assert library.load("basics").recording is not None
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=10)
