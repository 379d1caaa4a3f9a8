"""The second real model the tests and benchmarks use: found, intact, readable, installable."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.fsutil import sha256_file
from app.core.models.gguf import read_gguf
from app.core.models.store import InstalledModel, ModelStore
from tests import gemma_model


@pytest.mark.slow  # hashes 253 MB
def test_gemma_file_is_the_pinned_base_model(
    gemma_file: Path, gemma: InstalledModel, store: ModelStore
) -> None:
    assert gemma_file.name == "gemma-3-270m-q4_k_m.gguf"
    assert gemma_file.stat().st_size == gemma_model.SIZE
    # Hashed here, not trusted from the stamp that spares later processes the work.
    assert sha256_file(gemma_file) == gemma_model.SHA256

    info = read_gguf(gemma_file)
    assert info.architecture == "gemma3"
    assert info.quantization == "Q4_K_M"
    assert info.chat_template is None  # the base model, unlike the starter
    assert info.license == "gemma"

    assert gemma.sha256 == gemma_model.SHA256
    assert gemma.path == gemma_file.resolve()
    assert [m.id for m in store.list_models()] == [gemma.id]
