"""driftless.lock: export, import on another machine, refusals."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from app.core import fsutil
from app.core.errors import LockfileError
from app.core.models import lockfile
from app.core.models.store import ModelStore, Provenance
from app.core.paths import get_paths
from tests.model_files import tiny_model

COMMIT = "c" * 40


def other_machine(tmp_path: Path) -> ModelStore:
    return ModelStore(get_paths(tmp_path / "other-machine"))


def test_export_records_pinned_models_only(store: ModelStore, tmp_path: Path) -> None:
    pinned = store.import_file(tiny_model(tmp_path / "p.gguf", seed=1), pinned=True)
    store.import_file(tiny_model(tmp_path / "u.gguf", seed=2))
    out = tmp_path / "driftless.lock"
    lockfile.export(store, out)
    data = tomllib.loads(out.read_text())
    assert data["schema"] == lockfile.SCHEMA
    assert [m["id"] for m in data["model"]] == [pinned.id]
    entry = data["model"][0]
    assert entry["sha256"] == pinned.sha256
    assert entry["size"] == pinned.size
    assert entry["filename"] == "p.gguf"
    assert "llama_cpp_python" in data


def test_export_with_nothing_pinned_is_refused(store: ModelStore, tmp_path: Path) -> None:
    store.import_file(tiny_model(tmp_path / "u.gguf"))
    with pytest.raises(LockfileError, match="No model is pinned"):
        lockfile.export(store, tmp_path / "x.lock")
    assert not (tmp_path / "x.lock").exists()


def test_hub_provenance_round_trips(store: ModelStore, tmp_path: Path) -> None:
    path = tiny_model(tmp_path / "h.gguf")
    store.register(
        path,
        Provenance("hub", "org/repo", COMMIT, "main"),
        sha256=fsutil.sha256_file(path),
        managed=False,
        pinned=True,
    )
    out = tmp_path / "driftless.lock"
    lockfile.export(store, out)
    lock = lockfile.load(out)
    (entry,) = lock.models
    assert (entry.repo, entry.commit, entry.filename) == ("org/repo", COMMIT, "h.gguf")


def test_import_pins_models_already_present(store: ModelStore, tmp_path: Path) -> None:
    source = tiny_model(tmp_path / "team.gguf")
    store.import_file(source, pinned=True)
    out = tmp_path / "driftless.lock"
    lockfile.export(store, out)

    colleague = other_machine(tmp_path)
    present = colleague.import_file(source)
    assert not present.pinned
    report = lockfile.import_lock(colleague, out)
    assert report.ok
    assert [m.id for m in report.pinned] == [present.id]
    assert colleague.get(present.id).pinned


def test_import_refuses_a_file_whose_hash_differs(store: ModelStore, tmp_path: Path) -> None:
    ours = tiny_model(tmp_path / "a" / "m.gguf", seed=1)
    theirs = tiny_model(tmp_path / "b" / "m.gguf", seed=2)
    store.register(
        ours,
        Provenance("hub", "org/m", COMMIT),
        sha256=fsutil.sha256_file(ours),
        managed=False,
        pinned=True,
    )
    out = tmp_path / "driftless.lock"
    lockfile.export(store, out)

    colleague = other_machine(tmp_path)
    imposter = colleague.register(
        theirs,
        Provenance("hub", "org/m", COMMIT),
        sha256=fsutil.sha256_file(theirs),
        managed=False,
    )
    report = lockfile.import_lock(colleague, out)
    assert not report.ok
    ((entry, reason),) = report.refused
    assert "Refused" in reason and entry.sha256 in reason
    assert not colleague.get(imposter.id).pinned


def test_import_refuses_a_present_file_that_was_damaged(store: ModelStore, tmp_path: Path) -> None:
    model = store.import_file(tiny_model(tmp_path / "m.gguf", pad_bytes=2048), pinned=True)
    out = tmp_path / "driftless.lock"
    lockfile.export(store, out)
    store.unpin(model.id)
    data = bytearray(model.path.read_bytes())
    data[-1] ^= 1
    model.path.write_bytes(bytes(data))
    report = lockfile.import_lock(store, out)
    assert len(report.refused) == 1
    assert not store.get(model.id).pinned


def test_import_reports_missing_models(store: ModelStore, tmp_path: Path) -> None:
    store.import_file(tiny_model(tmp_path / "m.gguf"), pinned=True)
    out = tmp_path / "driftless.lock"
    lockfile.export(store, out)
    report = lockfile.import_lock(other_machine(tmp_path), out)
    assert not report.ok
    assert [e.filename for e in report.missing] == ["m.gguf"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("schema = [", "not a valid lockfile"),
        ("schema = 7", "schema 7"),
        ("schema = 1\nmodel = 3", "must be a list"),
        (
            'schema = 1\n[[model]]\nid = "x"\nfilename = "m.gguf"\nsha256 = "xyz"\nsize = 1',
            "64 hex",
        ),
        (
            'schema = 1\n[[model]]\nid = "x"\nfilename = "../../etc/passwd"\n'
            f'sha256 = "{"a" * 64}"\nsize = 1',
            "escapes",
        ),
        (
            f'schema = 1\n[[model]]\nid = "x"\nfilename = "m.gguf"\nsha256 = "{"a" * 64}"\n'
            "size = -5",
            "positive",
        ),
        (
            f'schema = 1\n[[model]]\nid = "x"\nfilename = "m.gguf"\nsha256 = "{"a" * 64}"\n'
            'size = 5\ncommit = "main"',
            "40-hex",
        ),
    ],
)
def test_malformed_lockfiles_are_refused_clearly(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.lock"
    path.write_text(text)
    with pytest.raises(LockfileError, match=message):
        lockfile.load(path)


def test_unreadable_lockfile(tmp_path: Path) -> None:
    with pytest.raises(LockfileError, match="Could not read"):
        lockfile.load(tmp_path / "absent.lock")
    (tmp_path / "bin.lock").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(LockfileError, match="not a valid lockfile"):
        lockfile.load(tmp_path / "bin.lock")
