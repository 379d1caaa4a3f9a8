"""The 16-bit copy classification evaluates: when it is made, checked, rebuilt, removed.

The policy tests use GGUF facts only; the rest unpack the real starter (0.5 s, 271 MB).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from app.core.classify.classifier import PromptSession
from app.core.classify.labels import LabelSet
from app.core.classify.runner import ModelRunner
from app.core.fsutil import sha256_file
from app.core.models import unpacked
from app.core.models.gguf import GGUFInfo, TensorInfo, read_gguf
from app.core.models.store import InstalledModel, ModelStore
from app.core.models.unpacked import UnpackedCache, main_type, reason_to_keep_packed, unpacked_size
from app.core.paths import Paths
from app.core.runtime.llama import import_llama_cpp
from tests.model_files import tiny_model


def _info(*tensors: tuple[str, tuple[int, ...], str, int]) -> GGUFInfo:
    infos = tuple(
        TensorInfo(name, shape, 0, kind, 0, nbytes) for name, shape, kind, nbytes in tensors
    )
    return GGUFInfo(Path("m.gguf"), 0, 3, 32, 1024, {}, infos)


# --- which models are unpacked ------------------------------------------------------------


def test_a_q4_1_model_is_unpacked_and_its_size_estimated() -> None:
    info = _info(
        ("blk.0.attn_q.weight", (576, 576), "Q4_1", 576 * 576 // 32 * 20),
        ("blk.0.attn_norm.weight", (576,), "F32", 576 * 4),
    )
    assert main_type(info) == "Q4_1"
    assert reason_to_keep_packed(info) is None
    assert unpacked_size(info) == 1024 + 576 * 576 * 2 + 576 * 4


@pytest.mark.parametrize("kind", ["F16", "Q4_0", "BF16"])
def test_types_with_fast_batched_kernels_stay_packed(kind: str) -> None:
    info = _info(("w", (4096, 4096), kind, 10), ("x", (64, 64), "Q4_1", 1))
    reason = reason_to_keep_packed(info)
    assert reason is not None and kind in reason


def test_a_big_model_stays_packed() -> None:
    info = _info(("w", (4096, 200_000), "Q4_1", 460_800_000))  # 1.6 GB in F16
    reason = reason_to_keep_packed(info)
    assert reason is not None and "allowed" in reason


# --- the copy of the real starter -----------------------------------------------------------


@pytest.fixture(scope="module")
def store(module_store: ModelStore) -> ModelStore:
    return module_store


@pytest.fixture(scope="module")
def module_paths(store: ModelStore) -> Paths:
    return store.paths


@pytest.fixture(scope="module")
def starter(store: ModelStore) -> InstalledModel:
    model = store.active()
    assert model is not None
    return model


@pytest.fixture()
def cache(module_paths: Paths) -> Iterator[UnpackedCache]:
    yield UnpackedCache(module_paths.unpacked_dir)


def _weights(cache: UnpackedCache, model: InstalledModel, lib: Any = None) -> unpacked.Weights:
    return cache.weights_for(
        model.path, model.sha256, read_gguf(model.path), lib or import_llama_cpp()
    )


@pytest.mark.slow
def test_the_starter_is_unpacked_once_and_the_copy_reused(
    cache: UnpackedCache, starter: InstalledModel
) -> None:
    cache.discard(starter.sha256)
    first = _weights(cache, starter)
    assert first.unpacked and first.label == "F16 from Q4_1" and first.note is None
    assert first.path == cache.path_for(starter.sha256)
    assert main_type(read_gguf(first.path)) == "F16"
    made = first.path.stat()
    again = _weights(cache, starter)
    assert again.path == first.path
    assert first.path.stat().st_mtime_ns == made.st_mtime_ns  # reused, not made again
    assert not list(cache.folder.glob("*.partial"))


@pytest.mark.slow
def test_a_damaged_copy_is_noticed_and_made_again(
    cache: UnpackedCache, starter: InstalledModel
) -> None:
    good = _weights(cache, starter).path
    digest = sha256_file(good)
    with good.open("r+b") as handle:  # same size, one byte different, a new mtime
        handle.seek(good.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0xFF]))
    os.utime(good, ns=(good.stat().st_atime_ns, good.stat().st_mtime_ns + 10**9))
    assert sha256_file(good) != digest
    again = _weights(cache, starter)
    assert again.unpacked and sha256_file(again.path) == digest


def test_a_full_disk_leaves_the_model_packed_with_a_reason(
    cache: UnpackedCache, starter: InstalledModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache.discard(starter.sha256)
    monkeypatch.setattr(unpacked.shutil, "disk_usage", lambda _p: SimpleNamespace(free=50 * 2**20))
    weights = _weights(cache, starter)
    assert not weights.unpacked and weights.path == starter.path and weights.label == "Q4_1"
    assert weights.note is not None and "free disk space" in weights.note
    assert list(cache.folder.iterdir()) == []


def test_a_failing_llama_cpp_leaves_nothing_behind(
    cache: UnpackedCache, starter: InstalledModel
) -> None:
    cache.discard(starter.sha256)
    real = import_llama_cpp()

    def failing(src: bytes, dst: bytes, params: object) -> int:
        Path(dst.decode()).write_bytes(b"half a file")  # as if it died while writing
        return 1

    lib = SimpleNamespace(
        llama_model_quantize_default_params=real.llama_model_quantize_default_params,
        LLAMA_FTYPE_MOSTLY_F16=real.LLAMA_FTYPE_MOSTLY_F16,
        llama_model_quantize=failing,
    )
    weights = _weights(cache, starter, lib)
    assert not weights.unpacked and weights.note is not None
    assert "could not unpack" in weights.note
    assert list(cache.folder.iterdir()) == []


def test_prune_keeps_copies_of_installed_models_only(cache: UnpackedCache) -> None:
    cache.folder.mkdir(parents=True, exist_ok=True)
    keep, gone = "a" * 64, "b" * 64
    for sha in (keep, gone):
        cache.path_for(sha).write_bytes(b"x")
    stale = cache.folder / f".{keep}.123.partial"
    stale.write_bytes(b"x")
    os.utime(stale, (0, 0))
    fresh = cache.folder / f".{keep}.456.partial"  # another process may be writing it
    fresh.write_bytes(b"x")
    removed = cache.prune({keep})
    assert sorted(removed) == sorted([cache.path_for(gone).name, stale.name])
    assert cache.path_for(keep).exists() and fresh.exists()
    for item in cache.folder.iterdir():
        item.unlink()


def test_removing_the_last_model_of_a_file_removes_its_copy(
    module_paths: Paths, store: ModelStore, tmp_path: Path
) -> None:
    model = store.import_file(tiny_model(tmp_path / "tiny.gguf"))
    cache = UnpackedCache(module_paths.unpacked_dir)
    cache.folder.mkdir(parents=True, exist_ok=True)
    cache.path_for(model.sha256).write_bytes(b"copy")
    store.remove(model.id)
    assert not cache.path_for(model.sha256).exists()


# --- what classification sees -----------------------------------------------------------------


@pytest.mark.slow
def test_the_unpacked_runner_scores_like_the_packed_one(store: ModelStore) -> None:
    labels = LabelSet.from_names("positive,negative", instruction="Positive or negative review?")
    texts = ["an absolute triumph, I loved it", "a boring, stupid and ugly film"]
    results = {}
    for unpack in (False, True):
        with ModelRunner.open(store, n_threads=1, unpack=unpack) as runner:
            session = PromptSession(runner, labels)
            outputs, _ = session.run(texts)
            results[runner.info.weights] = np.array([o.label_logprobs for o in outputs])
    assert set(results) == {"Q4_1", "F16 from Q4_1"}
    packed, copy = results["Q4_1"], results["F16 from Q4_1"]
    assert (packed.argmax(axis=1) == [0, 1]).all() and (copy.argmax(axis=1) == [0, 1]).all()
    assert np.allclose(np.exp(packed), np.exp(copy), atol=0.1)
