"""The pinned embedder on the real starter model (slow: it loads the model)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.core.docs.embedding import ModelEmbedder
from app.core.docs.library import DocsLibrary
from app.core.models.store import ModelStore
from app.core.runtime.results import EMBEDDING_POOLING


@pytest.mark.slow
def test_starter_embeds_passages_and_is_recorded(module_store: ModelStore, tmp_path: Path) -> None:
    embedder = ModelEmbedder(module_store, None)
    try:
        model = module_store.resolve(None)
        info = embedder.info
        assert (info.model_id, info.lock_id, info.sha256) == (model.id, model.lock_id, model.sha256)
        assert info.pooling == EMBEDDING_POOLING and info.dims == 576 and info.n_ctx == 512
        vectors = embedder.embed(["Refunds are paid within 14 days.", "x " * 2000])
        assert vectors.shape == (2, 576) and vectors.dtype == np.float32
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
        again = embedder.embed(["Refunds are paid within 14 days."])
        assert np.array_equal(again[0], vectors[0])  # the same text, the same vector

        folder = tmp_path / "docs"
        folder.mkdir()
        (folder / "refunds.md").write_text("# Refunds\n\nMoney comes back within 14 days.")
        (folder / "garden.txt").write_text("Tomatoes like sun, water and warm soil.")
        library = DocsLibrary(tmp_path / "documents.sqlite3")
        library.add("help", [folder], lambda ref: ModelEmbedder(module_store, ref))
        recorded = library.get("help").embedder
        assert recorded == info
        hits = library.search("help", "When is my money returned?", embedder, top=2)
        assert Path(hits[0].source).name == "refunds.md"
        library.close()
    finally:
        embedder.close()
