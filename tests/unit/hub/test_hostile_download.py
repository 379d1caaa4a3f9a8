"""A Hub can serve a hostile model whose sha256 matches: it is refused, not installed."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.errors import InvalidModelFile
from app.core.hub.download import Downloader
from app.core.models.store import ModelStore
from app.core.settings import Settings
from tests.gguf_factory import typical_metadata, typical_tensors, u32, write_gguf
from tests.hub_server import FakeHub

REPO = "driftless-test/Hostile-GGUF"


def test_a_verified_download_with_a_hostile_block_count_is_refused(
    store: ModelStore, hub_server: FakeHub, tmp_path: Path
) -> None:
    hostile = write_gguf(
        tmp_path / "hostile.gguf",
        typical_metadata({"llama.block_count": u32(0)}),
        typical_tensors(),
    ).read_bytes()
    hub_server.add_repo(REPO, tags=["gguf"])
    hub_server.commit(REPO, {"hostile.Q8_0.gguf": hostile})
    downloader = Downloader(store, Settings(hub_endpoint=hub_server.url), backoff_base=0.01)
    with pytest.raises(InvalidModelFile, match=r"llama\.block_count is 0"):
        downloader.pull(REPO, "hostile.Q8_0.gguf")
    assert store.list_models() == []
    assert not list(store.paths.models_dir.rglob("*.gguf"))
