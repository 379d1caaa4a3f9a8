"""The embedder a collection is pinned to: an installed GGUF model, pooled its own way.

:class:`ModelEmbedder` leases the model's weights from the model host (user
"documents"; an embeddings context of one sequence, counted in the memory budget) and
turns texts into unit-length float32 vectors, as ``/v1/embeddings`` does: the model's
own tokenizer with its begin-of-text token, mean pooling (or a sentence encoder's own,
BGE's first token), scaled to length 1. A text
longer than the context is cut to it (passages are far shorter; a long query is too).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from app.core.cancel import CancelToken
from app.core.docs.records import EmbedderInfo, Vectors
from app.core.models.loading import LoadedWeights, acquire, context_bytes
from app.core.models.store import ModelStore
from app.core.runtime.embedder import Embedder
from app.core.runtime.results import embedding_pooling

N_CTX = 512
"""Tokens an embedded text may have: a passage of 900 characters is about 250."""
USER = "documents"


class ModelEmbedder:
    """Vectors from an installed model's weights, leased from the model host. One owner
    thread (llama.cpp contexts are not thread-safe); close when done."""

    def __init__(self, store: ModelStore, ref: str | None, *, n_threads: int | None = None) -> None:
        # One thread unless told: on the 2-core test machine, busy with other work, one
        # thread embedded 2.3x faster than two (15.5 s against 35.3 s for 4 passages).
        threads = n_threads or 1
        held: LoadedWeights = acquire(
            store,
            ref,
            user=USER,
            context=lambda info: context_bytes(info, N_CTX, N_CTX),
        )
        self._held = held
        self._context_id: int | None = None
        try:
            size = min(N_CTX, held.model.context_length or N_CTX)
            self._context_id = held.lease.add_context(context_bytes(held.info, size, size))
            self._embedder = Embedder(
                held.lease.lib,
                held.lease.handle,
                n_ctx=size,
                n_threads=threads,
                model_id=held.model.id,
                pooling=embedding_pooling(held.info.pooling),
            )
        except BaseException:
            self._release()
            raise
        lib = held.lease.lib
        self._lib = lib
        self._vocab = lib.llama_model_get_vocab(held.lease.handle)
        model = held.model
        self.info = EmbedderInfo(
            model_id=model.id,
            lock_id=model.lock_id,
            sha256=model.sha256,
            pooling=self._embedder.pooling,
            n_ctx=size,
            dims=self._embedder.n_embd,
        )

    def tokenize(self, text: str) -> list[int]:
        """The model's tokens for ``text`` with its begin-of-text token (as the API's
        embeddings), special markers read as plain text."""
        data = text.encode("utf-8", "replace")
        room = len(data) + 16
        array = (self._lib.llama_token * room)()
        count = self._lib.llama_tokenize(self._vocab, data, len(data), array, room, True, False)
        if count < 0:
            room = -count
            array = (self._lib.llama_token * room)()
            count = self._lib.llama_tokenize(self._vocab, data, len(data), array, room, True, False)
        return list(array[:count])

    def embed(self, texts: Sequence[str], cancel: CancelToken | None = None) -> Vectors:
        rows = np.zeros((len(texts), self.info.dims), dtype=np.float32)
        for index, text in enumerate(texts):
            if cancel is not None:
                cancel.raise_if_cancelled()
            tokens = self.tokenize(text)[: self.info.n_ctx] or self.tokenize(" ")
            rows[index] = self._embedder.embed(tokens)
        return rows

    def close(self) -> None:
        embedder = getattr(self, "_embedder", None)
        if embedder is not None:
            embedder.close()
            self._embedder = None  # type: ignore[assignment]
        self._release()

    def _release(self) -> None:
        if self._context_id is not None:
            self._held.lease.drop_context(self._context_id)
            self._context_id = None
        self._held.release()
