"""The curated model catalog: the shipped file is valid, a broken one is refused in a sentence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.core.models.catalog import (
    CatalogError,
    Fit,
    fit_for,
    load_catalog,
)
from app.core.models.starter import STARTER

GB = 1024**3


def test_shipped_catalog_has_the_families_at_laptop_sizes() -> None:
    entries = load_catalog()
    families = {e.family for e in entries}
    assert {"SmolLM2", "Qwen2.5", "Llama 3.2", "Gemma 3", "Phi"} <= families
    assert all(e.size < 6 * GB and e.memory < 8 * GB for e in entries), "a laptop runs them"
    assert all(e.memory > e.size for e in entries), "running needs more than the file"
    starter = [e for e in entries if (e.repo, e.filename) == (STARTER.repo, STARTER.filename)]
    assert len(starter) == 1
    assert starter[0].size == STARTER.size and not starter[0].size_approximate
    assert any("classification" in e.good_for for e in entries)


@pytest.mark.parametrize(
    ("needed", "total", "fit"),
    [
        (1 * GB, 8 * GB, Fit.FITS),
        (4 * GB, 8 * GB, Fit.FITS),
        (5 * GB, 8 * GB, Fit.TIGHT),
        (7 * GB, 8 * GB, Fit.TOO_BIG),
        (1 * GB, None, Fit.UNKNOWN),
        (1 * GB, 0, Fit.UNKNOWN),
    ],
)
def test_fit_for(needed: int, total: int | None, fit: Fit) -> None:
    assert fit_for(needed, total) is fit


def _write(tmp_path: Path, models: list[dict[str, Any]], schema: int = 1) -> Path:
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"schema": schema, "models": models}))
    return path


GOOD = {
    "name": "Tiny",
    "family": "Tiny",
    "repo": "owner/Tiny-GGUF",
    "filename": "tiny.Q8_0.gguf",
    "size": 1000,
    "parameters": "1M",
    "license": "mit",
    "memory_mb": 10,
    "good_for": ["chat"],
}


def test_a_minimal_entry_loads(tmp_path: Path) -> None:
    (entry,) = load_catalog(_write(tmp_path, [GOOD]))
    assert entry.memory == 10_000_000
    assert entry.size_approximate is True
    assert entry.fit(16 * GB) is Fit.FITS


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"repo": "no-slash"}, "owner/name"),
        ({"filename": "../escape.gguf"}, "GGUF file name"),
        ({"filename": "weights.bin"}, "GGUF file name"),
        ({"size": 0}, "'size' must be a positive"),
        ({"memory_mb": True}, "'memory_mb' must be a positive"),
        ({"good_for": ["poetry"]}, "good_for"),
        ({"name": ""}, "'name' must be a non-empty"),
        ({"size_approximate": "yes"}, "true or false"),
    ],
)
def test_bad_entries_are_refused(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        load_catalog(_write(tmp_path, [{**GOOD, **change}]))


def test_bad_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="missing"):
        load_catalog(tmp_path / "absent.json")
    with pytest.raises(CatalogError, match="schema 1"):
        load_catalog(_write(tmp_path, [GOOD], schema=2))
    with pytest.raises(CatalogError, match="listed twice"):
        load_catalog(_write(tmp_path, [GOOD, GOOD]))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(CatalogError, match="cannot be read"):
        load_catalog(broken)
