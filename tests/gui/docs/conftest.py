"""Fixtures for the Documents page and Chat's "Answer from": a folder of a few files, a
fake embedder (fast tests), and a page on it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from pytestqt.qtbot import QtBot

from app.core.cancel import CancelToken
from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
from app.ui.doc_access import DocsAccess
from app.ui.docs.page import DocsPage
from tests.unit.docs.fakes import HashEmbedder


def make_folder(root: Path) -> Path:
    """Three documents and two files that must be skipped (binary, empty)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "refunds.md").write_text(
        "# Refunds\n\nA refund is paid within 14 days of a claim. Refunds go back to the "
        "card that paid.\n\n## Exceptions\n\nGift cards are never refunded."
    )
    (root / "shipping.txt").write_text("Parcels travel by post and arrive in three days.")
    (root / "warranty.html").write_text("<h1>Warranty</h1><p>Two years on every part.</p>")
    (root / "junk.txt").write_bytes(b"\x00\x01binary\x00" * 50)
    (root / "empty.md").write_text("")
    return root


class GatedEmbedder(HashEmbedder):
    """Embeds the first ``free`` calls at once, then waits for ``gate`` (honouring the
    cancel token), so a test sees indexing under way and can cancel it."""

    def __init__(self, free: int = 1) -> None:
        super().__init__()
        self.free = free
        self.calls = 0
        self.gate = threading.Event()
        self.waiting = threading.Event()

    def embed(self, texts: Sequence[str], cancel: CancelToken | None = None) -> np.ndarray:
        self.calls += 1
        if self.calls > self.free:
            self.waiting.set()
            while not self.gate.wait(0.01):
                if cancel is not None:
                    cancel.raise_if_cancelled()
        return super().embed(texts, cancel)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return make_folder(tmp_path / "help")


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture
def docs(store: ModelStore, embedder: HashEmbedder) -> Iterator[DocsAccess]:
    ensure_starter(store)  # the default embedder named in the dialog
    access = DocsAccess(store, lambda ref: embedder)
    yield access
    access.close()


@pytest.fixture
def make_page(
    qtbot: QtBot, store: ModelStore, docs: DocsAccess
) -> Iterator[Callable[[], DocsPage]]:
    pages: list[DocsPage] = []

    def make() -> DocsPage:
        page = DocsPage(store, docs)
        qtbot.addWidget(page)
        page.resize(640, 520)
        page.show()
        pages.append(page)
        return page

    yield make
    for page in pages:
        page.shutdown()
