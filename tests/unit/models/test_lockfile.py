"""driftless.lock: export, import on another machine, refusals."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from app.core import fsutil
from app.core.errors import LockfileError
from app.core.models import lockfile
from app.core.models.registration import Provenance
from app.core.models.store import ModelStore
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


# --- hostile lockfiles -----------------------------------------------------------------

SHA_A, SHA_B = "a" * 64, "b" * 64


def model_table(id: str = "x", sha256: str = SHA_A, filename: str = "m.gguf", **more: str) -> str:
    extra = "".join(f'{key} = "{value}"\n' for key, value in more.items())
    return (
        f'\n[[model]]\nid = "{id}"\nfilename = "{filename}"\nsha256 = "{sha256}"\nsize = 5\n{extra}'
    )


def test_deeply_nested_lockfile_is_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "nested.lock"
    path.write_text("schema = 1\nx = " + "[" * 200_000)
    with pytest.raises(LockfileError, match="nested too deeply") as caught:
        lockfile.load(path)
    assert len(str(caught.value)) < 200


def test_oversized_lockfile_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "huge.lock"
    path.write_text("schema = 1\n" + model_table() * (lockfile.MAX_BYTES // 60))
    assert path.stat().st_size > lockfile.MAX_BYTES
    with pytest.raises(LockfileError, match="larger than 1 MB"):
        lockfile.load(path)


def test_too_many_models_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "many.lock"
    tables = (model_table(f"m{n}", f"{n:064x}") for n in range(lockfile.MAX_MODELS + 1))
    path.write_text("schema = 1\n" + "".join(tables))
    with pytest.raises(LockfileError, match="at most 1,000"):
        lockfile.load(path)


def test_a_lock_with_no_models_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.lock"
    path.write_text("schema = 1\n")
    with pytest.raises(LockfileError, match="names no models"):
        lockfile.load(path)


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        (model_table("twin", SHA_A) + model_table("twin", SHA_B), "same id 'twin'"),
        (model_table("one", SHA_A) + model_table("two", SHA_A), "same sha256"),
    ],
)
def test_duplicate_entries_are_refused(tmp_path: Path, tables: str, message: str) -> None:
    path = tmp_path / "twice.lock"
    path.write_text("schema = 1\n" + tables)
    with pytest.raises(LockfileError, match=message):
        lockfile.load(path)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "evil\\u001b]0;pwned\\u0007"),
        ("id", "line\\nverified and pinned everything"),
        ("filename", "model\\u202efgg.exe.gguf"),
        ("repo", "org/\\u001b[31mred"),
    ],
)
def test_control_and_bidi_characters_are_refused(tmp_path: Path, field: str, value: str) -> None:
    fields = {"id": "x", "filename": "m.gguf", "repo": "org/m"}
    fields[field] = value
    path = tmp_path / "hostile.lock"
    path.write_text(
        f'schema = 1\n[[model]]\nid = "{fields["id"]}"\nfilename = "{fields["filename"]}"\n'
        f'repo = "{fields["repo"]}"\nsha256 = "{SHA_A}"\nsize = 5\n'
    )
    with pytest.raises(LockfileError, match="control or bidirectional") as caught:
        lockfile.load(path)
    message = str(caught.value)
    assert not any(ch in message for ch in "\x1b\x07\n\u202e"), message


def test_unknown_source_and_bad_repo_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "src.lock"
    path.write_text("schema = 1\n" + model_table(source="ftp"))
    with pytest.raises(LockfileError, match="source must be one of"):
        lockfile.load(path)
    path.write_text("schema = 1\n" + model_table(repo="no-slash"))
    with pytest.raises(LockfileError, match="owner/name"):
        lockfile.load(path)


def test_import_refuses_a_lock_whose_size_disagrees(store: ModelStore, tmp_path: Path) -> None:
    model = store.import_file(tiny_model(tmp_path / "m.gguf"), pinned=True)
    out = tmp_path / "driftless.lock"
    lockfile.export(store, out)
    store.unpin(model.id)
    out.write_text(out.read_text().replace(f"size = {model.size}", f"size = {model.size + 1}"))
    report = lockfile.import_lock(store, out)
    assert not report.ok and report.pinned == []
    ((_entry, reason),) = report.refused
    assert f"{model.size:,} bytes" in reason and f"{model.size + 1:,}" in reason
    assert not store.get(model.id).pinned
