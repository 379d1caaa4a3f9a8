"""The curated model catalog: the shipped file is valid, a broken one is refused in a sentence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.core.hub.download import Downloader
from app.core.models.catalog import (
    CatalogError,
    Fit,
    fit_for,
    load_catalog,
    recommended_embedders,
)
from app.core.models.starter import STARTER
from app.core.models.store import ModelStore
from app.core.settings import Settings
from tests.gguf_factory import Tensor, typical_metadata, u32, write_gguf
from tests.hub_server import FakeHub

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
    assert any(e.is_embedder for e in entries)


def test_the_recommended_embedders_are_bge_small_then_nomic() -> None:
    embedders = recommended_embedders(load_catalog())
    assert [(e.name, e.repo, e.filename, e.license, e.parameters) for e in embedders] == [
        (
            "BGE Small EN v1.5",
            "ChristianAzinn/bge-small-en-v1.5-gguf",
            "bge-small-en-v1.5.Q8_0.gguf",
            "mit",
            "33M",
        ),
        (
            "Nomic Embed Text v1.5",
            "nomic-ai/nomic-embed-text-v1.5-GGUF",
            "nomic-embed-text-v1.5.Q8_0.gguf",
            "apache-2.0",
            "137M",
        ),
    ]
    for entry in embedders:
        assert entry.good_for == ("embeddings",), "an encoder cannot chat or share a prompt"
        assert entry.size_approximate and entry.size < 200_000_000 < 1_000_000_000
        assert "Cannot chat" in entry.note
    assert embedders[0].size < embedders[1].size, "the small one first: the default advice"
    assert not any(e.is_embedder for e in load_catalog() if "chat" in e.good_for)


def test_a_catalog_embedder_downloads_like_any_entry(
    store: ModelStore, hub_server: FakeHub, tmp_path: Path
) -> None:
    """The bge entry's repo and file, served by the fake Hub as a BERT-shaped GGUF, pull,
    pin a commit and register with their architecture, as a chat model's would."""
    (entry,) = [e for e in load_catalog() if e.family == "BGE"]
    metadata = typical_metadata(
        {
            "general.architecture": "bert",
            "general.name": "bge-small-en-v1.5",
            "general.license": "mit",
            "bert.context_length": u32(512),
            "bert.embedding_length": u32(384),
            "bert.pooling_type": u32(2),  # CLS
            "tokenizer.ggml.model": "bert",
            "tokenizer.chat_template": None,
            "llama.context_length": None,
            "llama.embedding_length": None,
        }
    )
    (tmp_path / "src").mkdir()
    data = write_gguf(
        tmp_path / "src" / entry.filename,
        metadata,
        [Tensor("token_embd_norm.weight", (64,), "F32", data=bytes(256))],
    ).read_bytes()
    hub_server.add_repo(entry.repo, tags=["gguf"], license=entry.license)
    hub_server.commit(entry.repo, {entry.filename: data, "README.md": b"# bge\n"})
    settings = Settings(hub_endpoint=hub_server.url, stall_timeout=1.0, download_retries=1)
    model = Downloader(store, settings, backoff_base=0.01).pull(entry.repo, entry.filename)
    assert (model.repo, model.filename, model.commit) == (
        entry.repo,
        entry.filename,
        hub_server.head(entry.repo),
    )
    assert model.architecture == "bert"
    assert model.license == "mit"


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
        ({"good_for": []}, "good_for"),
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
