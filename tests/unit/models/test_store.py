"""The model store: registration, ids, pinning, removal, verification."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.core import fsutil
from app.core.cancel import CancelToken
from app.core.errors import (
    AmbiguousModelId,
    Cancelled,
    ChecksumMismatch,
    InsufficientDiskSpace,
    InvalidModelFile,
    ModelNotFound,
    ModelPinned,
    StoreError,
)
from app.core.models import staging as staging_module
from app.core.models import store as store_module
from app.core.models.registration import Provenance, slugify
from app.core.models.starter import STARTER, ensure_starter
from app.core.models.store import ModelStore
from app.core.paths import get_paths
from tests.model_files import tiny_model

COMMIT_A = "a" * 40
COMMIT_B = "b" * 40


def test_slugify_makes_typeable_ids() -> None:
    assert slugify("SmolLM2-135M-Instruct.Q4_1.gguf") == "smollm2-135m-instruct-q4_1"
    assert slugify("sub/Qwen2.5 0.5B (chat).GGUF") == "qwen2-5-0-5b-chat"
    assert slugify("....gguf") == "model"


def test_starter_is_registered_pinned_active_with_provenance(store: ModelStore) -> None:
    model = ensure_starter(store)
    assert model is not None
    assert model.id == "smollm2-135m-instruct-q4_1"
    assert model.source == "bundled"
    assert model.pinned
    assert (model.repo, model.commit) == (STARTER.repo, STARTER.commit)
    assert model.sha256 == STARTER.sha256
    assert model.size == STARTER.size
    assert model.license == "apache-2.0"
    assert model.architecture == "llama"
    assert model.context_length == 8192
    assert model.quantization == "Q4_1"
    assert model.chat_template_sha256 and len(model.chat_template_sha256) == 64
    assert not model.managed, "the bundled file is used in place, never copied"
    active = store.active()
    assert active is not None and active.id == model.id


def test_starter_registration_is_idempotent(
    store: ModelStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = ensure_starter(store)
    monkeypatch.setattr(
        "app.core.models.starter.sha256_file", lambda *a, **k: pytest.fail("re-hashed on restart")
    )
    second = ensure_starter(store)
    assert first == second
    assert len(store.list_models()) == 1


def test_starter_record_follows_a_moved_file(
    store: ModelStore, starter_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "app.core.models.starter.find_starter_file", lambda spec=STARTER: starter_copy
    )
    model = ensure_starter(store)
    assert model is not None
    moved = starter_copy.parent / "venv2" / starter_copy.name
    moved.parent.mkdir()
    starter_copy.rename(moved)
    monkeypatch.setattr("app.core.models.starter.find_starter_file", lambda spec=STARTER: moved)
    relocated = ensure_starter(store)
    assert relocated is not None and relocated.id == model.id
    assert relocated.path == moved.resolve()
    assert relocated.pinned


def test_damaged_starter_is_refused(
    store: ModelStore, starter_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with starter_copy.open("r+b") as handle:
        handle.seek(50_000_000)
        handle.write(b"\xff" * 16)
    monkeypatch.setattr(
        "app.core.models.starter.find_starter_file", lambda spec=STARTER: starter_copy
    )
    with pytest.raises(ChecksumMismatch, match="damaged"):
        ensure_starter(store)
    assert store.list_models() == []


def test_import_copies_into_store_and_records_gguf_facts(store: ModelStore, tmp_path: Path) -> None:
    source = tiny_model(tmp_path / "Tiny-Model.Q8_0.gguf")
    model = store.import_file(source)
    assert model.id == "tiny-model-q8_0"
    assert model.source == "local-file"
    assert model.managed
    assert model.path.is_file() and store.paths.models_dir in model.path.parents
    assert model.sha256 == fsutil.sha256_file(source)
    assert model.size == source.stat().st_size
    assert model.architecture == "llama"
    assert model.context_length == 256
    assert not model.pinned
    # nothing half-copied is left behind
    assert not list(store.paths.models_dir.rglob("*.incomplete"))


def test_import_of_same_bytes_twice_registers_once(store: ModelStore, tmp_path: Path) -> None:
    source = tiny_model(tmp_path / "m.gguf")
    first = store.import_file(source)
    second = store.import_file(source, link=True)
    assert first.id == second.id
    assert len(store.list_models()) == 1


def test_link_mode_uses_file_in_place_and_remove_keeps_it(
    store: ModelStore, tmp_path: Path
) -> None:
    source = tiny_model(tmp_path / "linked.gguf")
    model = store.import_file(source, link=True)
    assert model.path == source.resolve()
    assert not model.managed
    store.remove(model.id)
    assert source.is_file()
    assert store.list_models() == []


def test_remove_deletes_managed_file(store: ModelStore, tmp_path: Path) -> None:
    model = store.import_file(tiny_model(tmp_path / "m.gguf"))
    store.remove(model.id)
    assert not model.path.exists()
    assert not model.path.parent.exists(), "the empty version folder is tidied away"
    with pytest.raises(ModelNotFound):
        store.get(model.id)


def test_invalid_file_is_refused_and_nothing_registered(store: ModelStore, tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a model at all" * 100)
    with pytest.raises(InvalidModelFile):
        store.import_file(bad)
    assert store.list_models() == []
    assert not [p for p in store.paths.models_dir.rglob("*") if p.is_file()]


def test_cancelled_import_leaves_nothing(store: ModelStore, tmp_path: Path) -> None:
    source = tiny_model(tmp_path / "m.gguf", pad_bytes=3 * fsutil.CHUNK)
    token = CancelToken()
    seen: list[int] = []

    def on_progress(done: int, total: int) -> None:
        seen.append(done)
        token.cancel()

    with pytest.raises(Cancelled):
        store.import_file(source, on_progress=on_progress, cancel=token)
    assert seen
    assert store.list_models() == []
    assert not [p for p in store.paths.models_dir.rglob("*") if p.is_file()]


def test_full_disk_is_refused_before_copying(
    store: ModelStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tiny_model(tmp_path / "m.gguf")
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(
        store_module.shutil,
        "disk_usage",
        lambda _p: type(usage)(usage.total, usage.total - 1000, 1000),
    )
    with pytest.raises(InsufficientDiskSpace, match="free"):
        store.import_file(source)
    assert store.list_models() == []


def test_disk_full_during_copy_cleans_up(
    store: ModelStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tiny_model(tmp_path / "m.gguf")

    def boom(*_args: object) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(staging_module, "copy_hashing", boom)
    with pytest.raises(StoreError, match="No space left"):
        store.import_file(source)
    assert store.list_models() == []


def test_two_versions_live_side_by_side(store: ModelStore, tmp_path: Path) -> None:
    a = tiny_model(tmp_path / "a" / "Same.Q4_0.gguf", seed=1)
    b = tiny_model(tmp_path / "b" / "Same.Q4_0.gguf", seed=2)
    hub = Provenance(source="hub", repo="org/same", revision="main")
    first = store.register(
        a,
        Provenance(**{**hub.__dict__, "commit": COMMIT_A}),
        sha256=fsutil.sha256_file(a),
        managed=False,
    )
    second = store.register(
        b,
        Provenance(**{**hub.__dict__, "commit": COMMIT_B}),
        sha256=fsutil.sha256_file(b),
        managed=False,
    )
    assert first.id == "same-q4_0"
    assert second.id == "same-q4_0@bbbbbbb"
    assert store.get("same-q4_0@aaaa").id == first.id
    assert store.get("SAME-Q4_0@bbbbbbb").id == second.id
    assert store.find_version("org/same", COMMIT_B, "Same.Q4_0.gguf") == second
    with pytest.raises(ModelNotFound, match="Installed: same-q4_0, same-q4_0@bbbbbbb"):
        store.get("nothing-like-it")


def test_ambiguous_reference_names_the_candidates(store: ModelStore, tmp_path: Path) -> None:
    a = tiny_model(tmp_path / "a" / "x.gguf", seed=1)
    b = tiny_model(tmp_path / "b" / "x.gguf", seed=2)
    store.register(
        a, Provenance("hub", "o/x", COMMIT_A), sha256=fsutil.sha256_file(a), managed=False
    )
    store.register(
        b, Provenance("hub", "o/x", "a" * 39 + "b"), sha256=fsutil.sha256_file(b), managed=False
    )
    with pytest.raises(AmbiguousModelId, match="several"):
        store.get("x@aaaa")


def test_pinned_model_refuses_removal_with_a_way_out(store: ModelStore, tmp_path: Path) -> None:
    model = store.import_file(tiny_model(tmp_path / "m.gguf"), pinned=True)
    with pytest.raises(ModelPinned, match=f"driftless models unpin {model.id}"):
        store.remove(model.id)
    assert model.path.is_file()
    store.unpin(model.id)
    store.remove(model.id)
    assert store.list_models() == []


def test_active_model_follows_use_and_removal(store: ModelStore, tmp_path: Path) -> None:
    one = store.import_file(tiny_model(tmp_path / "one.gguf", seed=1))
    two = store.import_file(tiny_model(tmp_path / "two.gguf", seed=2))
    assert store.active() == one, "the first model installed becomes active"
    store.set_active(two.id)
    assert store.active() == two
    store.remove(two.id)
    assert store.active() == one, "removing the active model hands over to another one"
    store.remove(one.id)
    assert store.active() is None, "none is installed"


def test_removal_hands_over_to_a_pinned_model_whose_file_is_there(
    store: ModelStore, tmp_path: Path
) -> None:
    gone = store.import_file(tiny_model(tmp_path / "gone.gguf", seed=1), link=True, pinned=True)
    kept = store.import_file(tiny_model(tmp_path / "kept.gguf", seed=2), pinned=True)
    newest = store.import_file(tiny_model(tmp_path / "newest.gguf", seed=3))
    used = store.import_file(tiny_model(tmp_path / "used.gguf", seed=4))
    store.set_active(used.id)
    gone.path.unlink()
    store.remove(used.id)
    assert store.active() == kept, "pinned before newest, and never a missing file"
    assert newest.id in {m.id for m in store.list_models()}


def test_use_refuses_a_missing_or_resized_file_with_advice(
    store: ModelStore, tmp_path: Path
) -> None:
    one = store.import_file(tiny_model(tmp_path / "one.gguf", seed=1))
    two = store.import_file(tiny_model(tmp_path / "two.gguf", seed=2), pinned=True)
    with two.path.open("ab") as handle:
        handle.write(b"x")
    with pytest.raises(ChecksumMismatch) as refused:
        store.set_active(two.id)
    message = str(refused.value)
    assert "cannot be used until it is fixed" in message and "Restore it" in message
    assert "remove" not in message.lower(), "a pinned model cannot be removed"
    assert store.active() == one


def test_verify_detects_same_size_corruption(store: ModelStore, tmp_path: Path) -> None:
    model = store.import_file(tiny_model(tmp_path / "m.gguf", pad_bytes=4096))
    assert store.verify(model.id).ok
    with model.path.open("r+b") as handle:
        handle.seek(-10, os.SEEK_END)
        handle.write(b"\x00\xff" * 5)
    result = store.verify(model.id)
    assert not result.ok
    assert "has changed since it was installed" in result.message
    assert model.sha256 in result.message


def test_verify_reports_truncation_and_missing_files(store: ModelStore, tmp_path: Path) -> None:
    model = store.import_file(tiny_model(tmp_path / "m.gguf"))
    with model.path.open("r+b") as handle:
        handle.truncate(100)
    result = store.verify(model.id)
    assert not result.ok and "truncated" in result.message
    model.path.unlink()
    result = store.verify(model.id)
    assert not result.ok and "missing" in result.message


def test_load_check_is_cheap_when_nothing_moved(
    store: ModelStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = store.import_file(tiny_model(tmp_path / "m.gguf"))
    monkeypatch.setattr(store_module, "sha256_file", lambda *a, **k: pytest.fail("re-hashed"))
    assert store.check_before_load(model.id).id == model.id


def test_load_check_rehashes_when_mtime_moved(store: ModelStore, tmp_path: Path) -> None:
    model = store.import_file(tiny_model(tmp_path / "m.gguf"))
    os.utime(model.path, ns=(model.mtime_ns + 5_000_000_000, model.mtime_ns + 5_000_000_000))
    checked = store.check_before_load(model.id)  # same bytes: accepted, mtime recorded
    assert checked.mtime_ns == model.mtime_ns + 5_000_000_000
    data = bytearray(model.path.read_bytes())
    data[-1] ^= 0xFF
    model.path.write_bytes(bytes(data))
    with pytest.raises(ChecksumMismatch) as caught:
        store.check_before_load(model.id)
    assert caught.value.expected == model.sha256
    assert caught.value.actual and caught.value.actual != model.sha256


def test_registry_from_a_newer_version_is_refused(store: ModelStore) -> None:
    store.list_models()
    with sqlite3.connect(store.paths.registry_db) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="newer Driftless"):
        store.list_models()


def test_corrupt_registry_gives_a_readable_error(paths: object, home: Path) -> None:
    registry = get_paths(home).ensure().registry_db
    registry.write_bytes(b"this is not sqlite" * 200)
    with pytest.raises(StoreError, match=r"is damaged.*move the file aside"):
        ModelStore(get_paths(home)).list_models()


def test_home_override_from_environment(home: Path) -> None:
    assert get_paths().home == home.resolve()


def test_registry_survives_sigkill_mid_write(store: ModelStore, tmp_path: Path) -> None:
    """A process killed while registering leaves the old or new state, never a broken one."""
    models = [tiny_model(tmp_path / f"m{i}.gguf", seed=i) for i in range(40)]
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from app.core.paths import get_paths
        from app.core.models.store import ModelStore
        store = ModelStore(get_paths({str(store.paths.home)!r}))
        for name in sys.argv[1:]:
            store.import_file(Path(name))
            print("done", name, flush=True)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *map(str, models)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert proc.stdout is not None
    for _ in range(5):
        assert proc.stdout.readline().startswith("done")
    proc.kill()
    proc.wait()
    registered = store.list_models()
    assert len(registered) >= 5
    for model in registered:
        assert model.path.is_file()
        assert store.verify(model.id).ok
