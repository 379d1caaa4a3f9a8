"""Echo embeddings as a recorded embedder setting: never mixed with vectors embedded once."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from app.core.docs import embedding
from app.core.docs.embedding import default_settings, settings_of
from app.core.docs.library import DocsLibrary, query_text
from app.core.docs.records import EmbedderInfo, EmbedderMismatch
from app.core.models.gguf import GGUFInfo
from tests.unit.docs.fakes import HashEmbedder


def chat_embedder(echo: bool) -> HashEmbedder:
    """A fake chat-model embedder (pooled at layer 6) of the same weights either way."""
    fake = HashEmbedder(sha256="c" * 64)
    fake.info = dataclasses.replace(fake.info, layer=6, scaling="standardized", echo=echo)
    return fake


def test_echo_is_part_of_the_pinned_settings_and_read_back() -> None:
    plain, echoed = chat_embedder(False).info, chat_embedder(True).info
    assert not plain.same_vectors(echoed), "the same weights, other vectors"
    assert "echo" in echoed.describe() and "echo" not in plain.describe()
    assert EmbedderInfo.from_json(json.loads(json.dumps(echoed.to_json()))) == echoed
    # A collection recorded before the setting existed was embedded once.
    old = {k: v for k, v in plain.to_json().items() if k != "echo"}
    assert EmbedderInfo.from_json(old).echo is False
    assert settings_of(echoed).echo and not settings_of(plain).echo


def test_a_collection_embedded_once_is_never_searched_with_echo_vectors(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "refunds.md").write_text("# Refunds\n\nMoney is returned within 14 days.")
    (folder / "garden.txt").write_text("Tomatoes like sun, water and warm soil.")
    library = DocsLibrary(tmp_path / "documents.sqlite3")
    try:
        library.add("help", [folder], lambda ref: chat_embedder(False))
        echoed = chat_embedder(True)
        with pytest.raises(EmbedderMismatch, match=r"echo.*--reembed"):
            library.search("help", "money back", echoed)
        (folder / "garden.txt").write_text("Tomatoes like sun and rain.")  # something to embed
        with pytest.raises(EmbedderMismatch):
            library.add("help", [folder], lambda ref: chat_embedder(True))
        assert library.get("help").embedder.echo is False, "nothing was mixed in"

        report = library.add("help", [folder], lambda ref: chat_embedder(True), reembed=True)
        assert report.reembedded == 2
        assert library.get("help").embedder.echo is True
        assert library.search("help", "money back", chat_embedder(True))
        with pytest.raises(EmbedderMismatch):  # and now the other way round
            library.search("help", "money back", chat_embedder(False))
    finally:
        library.close()


def test_an_echoing_embedder_is_given_the_query_once(tmp_path: Path) -> None:
    """It says every text twice itself; the query must not be said four times."""
    assert query_text(chat_embedder(True).info, "refund claims") == "refund claims"
    assert query_text(chat_embedder(False).info, "refund claims") == (
        "refund claims\nrefund claims"
    )


def test_only_a_chat_model_echoes_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    def header(metadata: dict[str, object]) -> GGUFInfo:
        return GGUFInfo(Path("m.gguf"), 0, 3, 32, 1024, metadata, ())

    chat = header({"general.architecture": "llama", "llama.block_count": 30})
    encoder = header(
        {"general.architecture": "bert", "bert.block_count": 12, "bert.pooling_type": 1}
    )
    monkeypatch.setattr(embedding, "ECHO", True)
    assert default_settings(chat).echo and default_settings(chat).layer == 6
    assert default_settings(encoder) == embedding.EmbedSettings(None, "file", "unit", False)
    monkeypatch.setattr(embedding, "ECHO", False)
    assert not default_settings(chat).echo
