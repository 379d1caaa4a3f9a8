"""Which installed models are offered to embed a collection, best advice first."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from app.core.docs.choices import embedder_choices
from app.core.models.catalog import load_catalog, recommended_embedders
from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
from tests.model_files import tiny_model
from tests.unit.docs.fakes import HashEmbedder


def test_catalog_embedders_come_first_in_the_catalogs_order(
    store: ModelStore, tmp_path: Path
) -> None:
    starter = ensure_starter(store)
    assert starter is not None
    tiny = store.get(store.import_file(tiny_model(tmp_path / "Tiny.gguf")).id)
    bge, nomic = recommended_embedders(load_catalog())[:2]
    as_nomic = dataclasses.replace(
        tiny, id="nomic", repo=nomic.repo, filename=nomic.filename, sha256="1" * 64
    )
    as_bge = dataclasses.replace(
        tiny, id="zz-bge", repo=bge.repo, filename=bge.filename, sha256="2" * 64
    )
    current = HashEmbedder(sha256=starter.sha256).info
    choices = embedder_choices([starter, as_nomic, tiny, as_bge], load_catalog(), current)
    assert [c.model.id for c in choices] == ["zz-bge", "nomic", *sorted([starter.id, tiny.id])]
    assert [c.embedding_model for c in choices] == [True, True, False, False]
    assert [c.model.id for c in choices if c.current] == [starter.id]
    # Without the catalog the advice is lost, not the models.
    bare = embedder_choices([starter, as_nomic, tiny], [], None)
    assert {c.model.id for c in bare} == {starter.id, "nomic", tiny.id}
    assert not any(c.embedding_model or c.current for c in bare)
