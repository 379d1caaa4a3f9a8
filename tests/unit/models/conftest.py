"""The second real model, Gemma 3 270M Q4_K_M, for the tests of this folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.models.store import InstalledModel, ModelStore
from tests import gemma_model


@pytest.fixture(scope="session")
def gemma_file() -> Path:
    """The joined, checked GGUF file (tests/gemma_model.py). Absence fails, as the starter's."""
    try:
        return gemma_model.gemma_file()
    except gemma_model.GemmaUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def gemma(store: ModelStore, gemma_file: Path) -> InstalledModel:
    """Gemma 3 270M registered in this test's data folder, linked where it lies."""
    return gemma_model.install_gemma(store)
