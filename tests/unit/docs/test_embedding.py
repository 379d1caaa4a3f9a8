"""The pinned embedder on the real starter model (slow: it loads the model)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from app.core.docs.embedding import EmbedSettings, ModelEmbedder, settings_of
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
        # A chat model pools an early layer of its 16-bit copy, standardised at search.
        assert (info.layer, info.weights, info.scaling) == (6, "f16", "standardized")
        vectors = embedder.embed(["Refunds are paid within 14 days.", "x " * 2000])
        assert vectors.shape == (2, 576) and vectors.dtype == np.float32
        assert np.all(np.isfinite(vectors)) and not np.array_equal(vectors[0], vectors[1])
        again = embedder.embed(["Refunds are paid within 14 days."])
        assert np.array_equal(again[0], vectors[0])  # the same text, the same vector
        two = ModelEmbedder(module_store, None, n_threads=2)
        try:  # the thread count is not part of the pinned settings: it changes no bit
            assert np.array_equal(two.embed(["Refunds are paid within 14 days."]), again)
        finally:
            two.close()

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


@pytest.mark.slow
def test_the_last_layer_pooled_as_before_is_unit_length_and_adopted(
    module_store: ModelStore,
) -> None:
    """Part 1's way (the Q4_1 file, llama.cpp's mean of the last layer) still embeds,
    and an embedder opened with the defaults adopts it for a collection that records it."""
    old = ModelEmbedder(
        module_store, None, settings=EmbedSettings(layer=None, weights="file", scaling="unit")
    )
    fresh = ModelEmbedder(module_store, None)
    try:
        text = ["Refunds are paid within 14 days."]
        vector = old.embed(text)
        assert (old.info.layer, old.info.weights, old.info.scaling) == (None, "file", "unit")
        assert np.allclose(np.linalg.norm(vector, axis=1), 1.0, atol=1e-4)
        assert not fresh.info.same_vectors(old.info)
        fresh.adopt(old.info)
        assert fresh.info.same_vectors(old.info)
        assert np.array_equal(fresh.embed(text), vector)
    finally:
        old.close()
        fresh.close()


@pytest.mark.slow
def test_echo_pools_the_second_copy_and_cuts_a_text_too_long_to_say_twice(
    module_store: ModelStore,
) -> None:
    plain = ModelEmbedder(module_store, None)
    plain_settings = settings_of(plain.info)
    echoed = ModelEmbedder(
        module_store, None, settings=dataclasses.replace(plain_settings, echo=True)
    )
    try:
        assert echoed.info.echo and not plain_settings.echo and not plain.info.echo
        assert not echoed.info.same_vectors(plain.info)
        text = "Refunds are paid within 14 days."
        vector = echoed.embed([text])[0]
        assert np.all(np.isfinite(vector)) and vector.shape == (576,)
        assert not np.allclose(vector, plain.embed([text])[0], atol=1e-3)
        # Not the text said twice and pooled whole: only the second copy's positions.
        assert not np.allclose(vector, plain.embed([f"{text}\n{text}"])[0], atol=1e-3)
        assert np.array_equal(echoed.embed([text])[0], vector), "the same bits again"

        # 400 tokens would not fit twice in 512; the echo context is twice as long.
        leased = echoed._open_embedder()
        medium = "x " * 400
        _rows, cut = leased.embed([medium])
        assert cut == [False] and 400 <= len(leased.tokenize(medium)) <= 512
        # Longer than a context: cut to the same tokens as without echo, said twice.
        rows, cut = leased.embed(["x " * 2000, "x " * 1500])
        assert cut == [True, True] and np.all(np.isfinite(rows))
        assert np.array_equal(rows[0], rows[1]), "both cut to the same first tokens"
        assert not np.array_equal(rows[0], echoed.embed([medium])[0])
    finally:
        echoed.close()
        plain.close()


@pytest.mark.slow
def test_an_embedding_setting_without_a_layer_never_echoes_and_asked_echo_is_kept(
    module_store: ModelStore,
) -> None:
    last = EmbedSettings(layer=None, weights="file", scaling="unit", echo=True)
    embedder = ModelEmbedder(module_store, None, settings=last)
    asked = ModelEmbedder(module_store, None, echo=True)
    try:
        assert embedder.info.echo is False and embedder.info.layer is None
        # Echo asked for is not given up to adopt a collection recorded without it.
        assert asked.info.echo and asked.info.layer == 6
        asked.adopt(dataclasses.replace(asked.info, echo=False))
        assert asked.info.echo
    finally:
        asked.close()
        embedder.close()
