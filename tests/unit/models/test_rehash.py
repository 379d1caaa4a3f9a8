"""When a load re-hashes the file: moved size, mtime or ctime, and every 30 days."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.core.errors import ChecksumMismatch
from app.core.models.rehash import REHASH_AFTER
from app.core.models.store import InstalledModel, ModelStore
from tests.model_files import tiny_model


@pytest.fixture
def model(store: ModelStore, tmp_path: Path) -> InstalledModel:
    return store.import_file(tiny_model(tmp_path / "Tiny.gguf", pad_bytes=4096))


def hashed(store: ModelStore, model: InstalledModel) -> bool:
    """Whether a load's check read the whole file (its progress callback is called)."""
    calls: list[int] = []
    store.check_before_load(model.id, on_progress=lambda done, total: calls.append(done))
    return bool(calls)


def test_an_unchanged_file_is_not_hashed_again(store: ModelStore, model: InstalledModel) -> None:
    assert not hashed(store, model)
    assert not hashed(store, model)


def test_a_file_is_hashed_again_once_it_was_last_verified_long_ago(
    store: ModelStore, model: InstalledModel
) -> None:
    old = (datetime.now(UTC) - REHASH_AFTER - timedelta(days=1)).isoformat(timespec="seconds")
    with store.db.write() as conn:
        conn.execute("UPDATE models SET verified_at = ? WHERE id = ?", (old, model.id))
    assert hashed(store, model)
    assert store.get(model.id).verified_at != old  # verified now: not again next time
    assert not hashed(store, model)


def test_a_tampered_file_with_its_mtime_restored_is_caught_by_its_ctime(
    store: ModelStore, model: InstalledModel
) -> None:
    before = os.stat(model.path)
    data = bytearray(model.path.read_bytes())
    data[-100] ^= 0xFF  # same size, a tensor byte changed
    model.path.write_bytes(bytes(data))
    os.utime(model.path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(model.path).st_mtime_ns == model.mtime_ns
    with pytest.raises(ChecksumMismatch, match="has changed since it was installed"):
        store.check_before_load(model.id)


def test_a_ctime_change_alone_rehashes_once_and_passes(
    store: ModelStore, model: InstalledModel
) -> None:
    os.chmod(model.path, 0o644)  # metadata only: the bytes are the same
    os.chmod(model.path, 0o600)
    assert hashed(store, model)
    assert not hashed(store, model)


def test_a_lost_ctime_record_means_one_more_hash(store: ModelStore, model: InstalledModel) -> None:
    for record in (store.paths.home / "cache" / "verified").iterdir():
        record.unlink()
    assert hashed(store, model)
    assert not hashed(store, model)
