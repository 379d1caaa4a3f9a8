"""Saved KV states (app/core/chat/states.py): keys, headers, bad files, the size cap under
concurrent writers, a full disk, and the API's states in memory. No model is loaded."""

from __future__ import annotations

import dataclasses
import errno
import logging
import multiprocessing
import os
import stat
import time
from pathlib import Path

import pytest

from app.core.chat import states as states_module
from app.core.chat.prefix import exact_points
from app.core.chat.states import (
    MemoryStates,
    StateKey,
    StateStore,
    chunk_names,
    decode_state,
    disk_states,
    encode_state,
)
from app.core.paths import get_paths
from app.core.settings import Settings

KEY = StateKey(
    model_sha256="a" * 64,
    runtime="0.3.36",
    kernels="built in",
    n_ctx=4096,
    unit=4,
    n_ubatch=512,
    type_k=1,
    type_v=1,
    flash_attn=0,
    swa_full=True,
)
TOKENS = list(range(100, 120))
POINTS = exact_points(len(TOKENS), KEY.unit, (6,))  # 4, 6, 8, ... 20


def save(store: StateStore | MemoryStates, n: int, payload: bytes = b"kv" * 50) -> bool:
    points = [p for p in POINTS if p <= n]
    assert points[-1] == n
    return store.save(KEY, TOKENS[:n], points, payload)


def test_the_longest_saved_prefix_is_found_and_only_a_prefix(tmp_path: Path) -> None:
    store = StateStore(tmp_path, 1 << 20)
    assert save(store, 8, b"eight")
    assert save(store, 12, b"twelve")
    found = store.find(KEY, TOKENS, POINTS)
    assert found is not None and (found.n_tokens, bytes(found.payload)) == (12, b"twelve")
    assert store.find(KEY, TOKENS, POINTS, above=12) is None
    # Another token after the 8th: only the 8-token state matches.
    other = [*TOKENS[:9], 7, *TOKENS[10:]]
    found = store.find(KEY, other, POINTS)
    assert found is not None and found.n_tokens == 8
    # The same tokens cut into other chunks (no message ends at 6): nothing matches.
    assert store.find(KEY, TOKENS, exact_points(len(TOKENS), KEY.unit)) is None


@pytest.mark.parametrize(
    "change",
    [
        {"model_sha256": "b" * 64},
        {"runtime": "0.3.37"},
        {"kernels": "haswell"},
        {"n_ctx": 2048},
        {"unit": 8},
        {"type_k": 8},
        {"flash_attn": 1},
    ],
)
def test_a_state_made_under_another_key_is_never_used(
    tmp_path: Path, change: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    store = StateStore(tmp_path, 1 << 20)
    assert save(store, 8)
    other = dataclasses.replace(KEY, **change)  # type: ignore[arg-type]
    assert store.find(other, TOKENS, POINTS) is None
    # Even a file renamed to the other key's name is refused by its header.
    (path,) = tmp_path.glob("*.kvstate")
    names = chunk_names(other, TOKENS, [p for p in POINTS if p <= 8])
    path.rename(tmp_path / f"{names[8]}.kvstate")
    with caplog.at_level(logging.WARNING):
        assert store.find(other, TOKENS, POINTS) is None
    assert "another model, runtime or context settings" in caplog.text
    assert not list(tmp_path.glob("*.kvstate")), "a foreign state is removed"


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
def test_a_truncated_or_corrupt_state_is_ignored_with_a_log_line(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = StateStore(tmp_path, 1 << 20)
    assert save(store, 4, b"four")
    assert save(store, 8, b"x" * 1000)
    path = max(tmp_path.glob("*.kvstate"), key=lambda p: p.stat().st_size)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[:-10])
    elif damage == "flip":
        path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    elif damage == "garbage":
        path.write_bytes(os.urandom(len(data)))
    else:
        path.write_bytes(b"")
    with caplog.at_level(logging.WARNING):
        found = store.find(KEY, TOKENS, POINTS)
    assert found is not None and found.n_tokens == 4, "the next shorter state is used"
    assert "Ignoring the KV state" in caplog.text
    assert not path.exists()


def test_decoding_checks_tokens_and_cuts() -> None:
    points = [p for p in POINTS if p <= 8]
    data = encode_state(KEY, TOKENS[:8], points, b"payload")
    assert bytes(decode_state(data, KEY, TOKENS[:8], points)) == b"payload"
    with pytest.raises(states_module.BadState, match="other tokens"):
        decode_state(data, KEY, [*TOKENS[:7], 1], points)
    with pytest.raises(states_module.BadState, match="other tokens"):
        decode_state(data, KEY, TOKENS[:8], [4, 8])


def test_states_are_private_files(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "states", 1 << 20)
    assert save(store, 8)
    (path,) = (tmp_path / "states").glob("*.kvstate")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "states").stat().st_mode) == 0o700


def test_the_cap_removes_the_least_recently_used(tmp_path: Path) -> None:
    one = len(encode_state(KEY, TOKENS[:4], [4], b"x" * 1000))
    store = StateStore(tmp_path, 3 * one + 200)
    now = time.time()
    for age, n in ((30, 4), (20, 8), (10, 12)):
        assert save(store, n, b"x" * 1000)
        (newest,) = set(tmp_path.glob("*.kvstate")) - {
            p for p in tmp_path.glob("*.kvstate") if p.stat().st_mtime < now - 5
        }
        os.utime(newest, (now - age, now - age))
    # Using the oldest (4 tokens) makes it the most recent: the 8-token one goes next.
    found = store.find(KEY, TOKENS[:5], [4])
    assert found is not None and found.n_tokens == 4
    assert save(store, 16, b"x" * 1000)
    assert store.total_bytes() <= store.cap_bytes
    assert store.has(KEY, TOKENS[:4], [4])
    assert not store.has(KEY, TOKENS[:8], [4, 6, 8])
    assert store.has(KEY, TOKENS[:12], [4, 6, 8, 12])


def test_a_state_bigger_than_the_cap_or_a_cap_of_zero_saves_nothing(tmp_path: Path) -> None:
    assert not save(StateStore(tmp_path, 100), 8, b"x" * 1000)
    assert not save(StateStore(tmp_path, 0), 8)
    assert not list(tmp_path.glob("*.kvstate"))


def test_a_full_disk_skips_the_save_with_a_log_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def full(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(states_module, "atomic_write_bytes", full)
    with caplog.at_level(logging.WARNING):
        assert not save(StateStore(tmp_path, 1 << 20), 8)
    assert "the disk is full" in caplog.text


def _writer(folder: str, cap: int, worker: int) -> None:
    store = StateStore(Path(folder), cap)
    for n in range(20):
        key = dataclasses.replace(KEY, model_sha256=f"{worker:02d}{n:02d}".ljust(64, "0"))
        store.save(key, TOKENS[:4], [4], os.urandom(3000))


def test_concurrent_writers_keep_the_cap(tmp_path: Path) -> None:
    one = len(encode_state(KEY, TOKENS[:4], [4], b"x" * 3000))
    cap = 5 * one
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(str(tmp_path), cap, w)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert StateStore(tmp_path, cap).total_bytes() <= cap
    assert not list(tmp_path.glob("*.tmp"))
    assert len(list(tmp_path.glob("*.kvstate"))) == 5


def test_the_data_folder_store_follows_the_setting(tmp_path: Path) -> None:
    paths = get_paths(tmp_path)
    store = disk_states(paths, Settings(state_cache_mb=3))
    assert store.folder == tmp_path / "cache" / "states"
    assert store.cap_bytes == 3 * 1024 * 1024


def test_memory_states_keep_the_most_recently_used() -> None:
    slots = MemoryStates(2)
    assert save(slots, 4, b"four")
    assert save(slots, 8, b"eight")
    assert slots.find(KEY, TOKENS[:5], [4]) is not None  # 4 is now the most recent
    assert save(slots, 12, b"twelve")
    assert len(slots) == 2
    found = slots.find(KEY, TOKENS, POINTS)
    assert found is not None and found.n_tokens == 12
    assert slots.find(KEY, TOKENS[:9], [4, 6, 8]) is not None
    assert not slots.has(KEY, TOKENS[:8], [4, 6, 8]), "the least recently used went"
