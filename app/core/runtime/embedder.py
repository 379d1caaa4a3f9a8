"""Text vectors from a leased model: an embeddings context of one sequence.

llama-cpp-python's ``Llama(embedding=True)`` reserves room for 256 sequences, and with
them llama.cpp's output buffer for 256 rows of logits: 268 MB for a model with a 262k
vocabulary (gemma-3), cleared and so resident, for texts embedded one at a time. This
context holds one sequence, so it costs its KV cache and compute buffer only.

A text's vector is the mean of the last layer's hidden states over its tokens, scaled
to length 1 (so a dot product is the cosine similarity): llama.cpp's mean pooling, the
same numbers ``Llama.embed(normalize=True)`` gives; or, for a sentence encoder that
names its own pooling, its first ("cls") or last token's state. One owner thread, like
a chat context.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

from app.core.errors import ModelLoadError
from app.core.runtime.llama import clear_native_errors, last_native_error
from app.core.runtime.results import GenerationError


class Embedder:
    """An embeddings context over ``model`` (a leased ``llama_model``); close when done."""

    def __init__(
        self,
        lib: ModuleType,
        model: Any,
        *,
        n_ctx: int,
        n_threads: int,
        model_id: str,
        pooling: str = "mean",
    ) -> None:
        self._lib = lib
        params = lib.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = n_ctx
        params.n_ubatch = n_ctx
        params.n_seq_max = 1
        params.embeddings = True
        params.pooling_type = {
            "cls": lib.LLAMA_POOLING_TYPE_CLS,
            "last": lib.LLAMA_POOLING_TYPE_LAST,
        }.get(pooling, lib.LLAMA_POOLING_TYPE_MEAN)
        self.pooling = pooling if pooling in ("cls", "last") else "mean"
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        params.no_perf = True
        clear_native_errors()
        self._ctx = lib.llama_init_from_model(model, params)
        if not self._ctx:
            raise ModelLoadError(
                f"llama.cpp could not set up embeddings for {model_id}: "
                f"{last_native_error('there may not be enough memory')}."
            )
        self._batch = lib.llama_batch_init(n_ctx, 0, 1)
        self._memory = lib.llama_get_memory(self._ctx)
        self.n_ctx = n_ctx
        self.n_embd = int(lib.llama_model_n_embd(model))
        self._closed = False

    def embed(self, tokens: Sequence[int]) -> list[float]:
        """The unit-length mean-pooled vector of ``tokens`` (at most ``n_ctx`` of them)."""
        lib = self._lib
        if not 0 < len(tokens) <= self.n_ctx:
            raise GenerationError(
                f"A text to embed must have 1 to {self.n_ctx:,} tokens, not {len(tokens):,}."
            )
        lib.llama_memory_clear(self._memory, True)
        batch = self._batch
        batch.n_tokens = len(tokens)
        for i, token in enumerate(tokens):
            batch.token[i] = token
            batch.pos[i] = i
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = 0
            batch.logits[i] = True
        clear_native_errors()
        code = lib.llama_decode(self._ctx, batch)
        if code != 0:
            raise GenerationError(
                f"llama.cpp could not embed the text: {last_native_error(f'code {code}')}."
            )
        pointer = lib.llama_get_embeddings_seq(self._ctx, 0)
        if not pointer:
            raise GenerationError("llama.cpp returned no vector for the text.")
        vector: list[float] = pointer[: self.n_embd]
        norm = float(np.linalg.norm(vector))
        return vector if norm == 0.0 else [v / norm for v in vector]

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._lib.llama_batch_free(self._batch)
            self._lib.llama_free(self._ctx)
