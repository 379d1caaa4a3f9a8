"""The window's way to the document collections, shared by the Documents and Chat pages.

One :class:`DocsAccess` per window: the library (its SQLite opens a connection per
thread, so the workers of both pages may use it) and how an embedder is opened (an
installed model leased from the model host; tests hand a fake). Every call that reads
files or embeds runs on a worker thread, never on the GUI thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from app.core.docs.answering import Answering, answer_from
from app.core.docs.library import DocsLibrary, EmbedderFactory
from app.core.docs.records import CollectionInfo, TextEmbedder
from app.core.models.store import ModelStore
from app.core.runtime.template import ChatMessage


def model_embedders(store: ModelStore) -> EmbedderFactory:
    """Embedders over installed models (None: the active model)."""

    def open_embedder(ref: str | None) -> TextEmbedder:
        from app.core.docs.embedding import ModelEmbedder  # the runtime, only when used

        return ModelEmbedder(store, ref)

    return open_embedder


class DocsAccess:
    """The collections of one data folder and the embedders that serve them."""

    def __init__(self, store: ModelStore, open_embedder: EmbedderFactory | None = None) -> None:
        self.store = store
        self.open_embedder = open_embedder or model_embedders(store)
        self._library: DocsLibrary | None = None
        self._lock = threading.Lock()  # the first use may be on any page's thread

    @property
    def library(self) -> DocsLibrary:
        with self._lock:
            if self._library is None:
                self._library = DocsLibrary(self.store.paths.ensure().documents_db)
            return self._library

    def collections(self) -> list[CollectionInfo]:
        return self.library.collections()

    def answer(
        self,
        names: Sequence[str],
        messages: Sequence[ChatMessage],
        fits: Callable[[Sequence[ChatMessage]], bool],
    ) -> Answering:
        """The chat turn with the passages that fit (on the inference thread)."""
        return answer_from(self.library, names, messages, self.open_embedder, fits)

    def close(self) -> None:
        """Close the index (after the pages' workers have ended)."""
        with self._lock:
            if self._library is not None:
                self._library.close()
                self._library = None
