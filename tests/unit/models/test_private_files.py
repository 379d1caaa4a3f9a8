"""Model files Driftless writes are its owner's alone from the first byte (issue 26, F10).

Each test writes under umask 000, where a file made with the default mode would be
0666, so only an explicit 0600 at creation passes.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.models.gguf import read_gguf
from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
from app.core.models.unpacked import UnpackedCache
from app.core.runtime.llama import import_llama_cpp
from tests.model_files import tiny_model


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_an_imported_copy_is_0600_while_it_is_written(
    store: ModelStore, tmp_path: Path, open_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.core.models import staging

    seen: list[int] = []
    copy = staging.copy_hashing

    def watching(source: Path, dest: Path, *args: object) -> str:
        digest = copy(source, dest, *args)  # type: ignore[arg-type]
        seen.append(_mode(dest))  # the staging file, before its rename
        return digest

    monkeypatch.setattr(staging, "copy_hashing", watching)
    model = store.import_file(tiny_model(tmp_path / "Tiny.Q8_0.gguf"))
    assert model.managed
    assert seen == [0o600]
    assert _mode(model.path) == 0o600


@pytest.mark.slow
def test_the_16_bit_copy_is_0600_from_the_start(
    store: ModelStore, open_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = ensure_starter(store)
    cache = UnpackedCache(store.paths.unpacked_dir)
    lib = import_llama_cpp()
    modes: list[int] = []
    quantize = lib.llama_model_quantize

    def watching(source: bytes, dest: bytes, params: object) -> int:
        modes.append(_mode(Path(dest.decode())))  # what llama.cpp writes into
        return int(quantize(source, dest, params))

    monkeypatch.setattr(lib, "llama_model_quantize", watching)
    weights = cache.weights_for(model.path, model.sha256, read_gguf(model.path), lib)
    assert weights.unpacked
    assert modes == [0o600]
    assert _mode(weights.path) == 0o600
    assert all(_mode(p) == 0o600 for p in cache.folder.iterdir() if p.is_file())
