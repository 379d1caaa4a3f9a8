"""Text vectors from a leased model: an embeddings context of one sequence.

llama-cpp-python's ``Llama(embedding=True)`` reserves room for 256 sequences, and with
them llama.cpp's output buffer for 256 rows of logits: 268 MB for a model with a 262k
vocabulary (gemma-3), cleared and so resident, for texts embedded one at a time. This
context holds one sequence, so it costs its KV cache and compute buffer only.

Two ways to pool, both one ``llama_decode`` per text:

- ``layer=None``: the mean of the last layer's (normed) hidden states over the text's
  tokens, scaled to length 1 (so a dot product is the cosine similarity): llama.cpp's
  mean pooling, the same numbers ``Llama.embed(normalize=True)`` gives; or, for a
  sentence encoder that names its own ``pooling``, its first ("cls") or last token's state.
- ``layer=N``: the mean of layer N's outputs (``l_out-N``, read by an eval callback)
  over the text's tokens after the begin-of-text token, not scaled. llama.cpp stops the
  graph after layer N, so the layers above it, which a chat model spends on predicting
  the next word, cost nothing. The begin-of-text token is left out because a decoder's
  hidden state there is huge and the same for every text (an attention sink): with it
  in, every mean points the same way. Such vectors are compared after standardising
  each coordinate over the collection (:mod:`app.core.docs.search`). ``pool_from``
  pools only the positions from there on: echo embeddings say a text twice and pool
  the second copy, whose every token has read the whole text
  (:class:`app.core.models.embedder.LeasedEmbedder`).

A text embedded twice with the same weights and settings gives the same bits: llama.cpp
evaluates one sequence the same way each time (also on 1 or 2 threads, measured), and
the mean is numpy's over a float32 array of a fixed shape. One owner thread, like a
chat context.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from app.core.errors import ModelLoadError
from app.core.runtime.ggml import tensor_functions
from app.core.runtime.llama import clear_native_errors, last_native_error
from app.core.runtime.results import GenerationError

Vector = npt.NDArray[Any]
"""float64 (pooled by llama.cpp, unit length) or float32 (a layer's mean)."""


class _LayerReader:
    """An eval callback that copies one layer's output and then stops the graph."""

    def __init__(self, lib: ModuleType, layer: int, n_embd: int) -> None:
        self._ggml = tensor_functions(lib)
        self._name = f"l_out-{layer}".encode("ascii")
        self._n_embd = n_embd
        self.rows: npt.NDArray[np.float32] | None = None
        self.callback = lib.ggml_backend_sched_eval_callback(self._on_tensor)
        """Give to the context's ``cb_eval``; it must live as long as the context."""

    def _on_tensor(self, tensor: int, ask: bool, _data: object) -> bool:
        # Runs inside llama_decode on the caller's thread, once per graph node.
        if self._ggml.get_name(tensor) != self._name:
            return not ask  # not wanted; keep computing
        if ask:
            return True
        values = np.empty(self._ggml.nelements(tensor), dtype=np.float32)
        self._ggml.tensor_get(tensor, values.ctypes.data, 0, self._ggml.nbytes(tensor))
        self.rows = values.reshape(-1, self._n_embd)
        return False  # the rest of the graph is not needed: skip it


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
        layer: int | None = None,
    ) -> None:
        self._lib = lib
        self.n_embd = int(lib.llama_model_n_embd(model))
        self.n_layer = int(lib.llama_model_n_layer(model))
        if layer is not None and not 0 <= layer < self.n_layer - 1:
            raise ModelLoadError(
                f"{model_id} has layers 0 to {self.n_layer - 1}; layer {layer} cannot be "
                "pooled for embeddings (the last is pooled without naming it)."
            )
        self.layer = layer
        self._reader = _LayerReader(lib, layer, self.n_embd) if layer is not None else None
        params = lib.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = n_ctx
        params.n_ubatch = n_ctx
        params.n_seq_max = 1
        if self._reader is None:
            params.embeddings = True
            params.pooling_type = {
                "cls": lib.LLAMA_POOLING_TYPE_CLS,
                "last": lib.LLAMA_POOLING_TYPE_LAST,
            }.get(pooling, lib.LLAMA_POOLING_TYPE_MEAN)
        else:
            params.cb_eval = self._reader.callback
        # A chat model pooled at a layer is a mean; a sentence encoder pools its own way.
        self.pooling = pooling if pooling in ("cls", "last") and layer is None else "mean"
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
        vocab = lib.llama_model_get_vocab(model)
        self._bos = int(lib.llama_vocab_bos(vocab)) if lib.llama_vocab_get_add_bos(vocab) else None
        self.bos = self._bos
        """The begin-of-text token the model's texts start with, if it adds one."""
        self.n_ctx = n_ctx
        self._closed = False

    def set_threads(self, n_threads: int) -> None:
        """Evaluate on ``n_threads`` from the next text on (the vectors stay the same)."""
        self._lib.llama_set_n_threads(self._ctx, n_threads, n_threads)

    def embed(self, tokens: Sequence[int], pool_from: int | None = None) -> Vector:
        """The vector of ``tokens`` (1 to ``n_ctx`` of them): see the module's docstring.
        ``pool_from`` (a layer's mean only) pools the positions from that one on."""
        lib = self._lib
        if not 0 < len(tokens) <= self.n_ctx:
            raise GenerationError(
                f"A text to embed must have 1 to {self.n_ctx:,} tokens, not {len(tokens):,}."
            )
        if pool_from is not None and (self._reader is None or not 0 <= pool_from < len(tokens)):
            raise GenerationError(
                f"Only a layer's mean pools a range of positions, from 0 to {len(tokens) - 1}; "
                f"not from {pool_from} (layer {self.layer})."
            )
        lib.llama_memory_clear(self._memory, True)
        batch = self._batch
        batch.n_tokens = len(tokens)
        last = len(tokens) - 1
        every = self._reader is None  # llama.cpp's pooling wants every token's output
        for i, token in enumerate(tokens):
            batch.token[i] = token
            batch.pos[i] = i
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = 0
            batch.logits[i] = every or i == last
        clear_native_errors()
        if self._reader is not None:
            self._reader.rows = None
        code = lib.llama_decode(self._ctx, batch)
        if code != 0:
            raise GenerationError(
                f"llama.cpp could not embed the text: {last_native_error(f'code {code}')}."
            )
        if self._reader is not None:
            return self._layer_mean(tokens, pool_from)
        pointer = lib.llama_get_embeddings_seq(self._ctx, 0)
        if not pointer:
            raise GenerationError("llama.cpp returned no vector for the text.")
        # In float64, as the API's /v1/embeddings has always answered.
        vector = np.array(pointer[: self.n_embd], dtype=np.float64)
        norm = float(np.linalg.norm(vector))
        return vector if norm == 0.0 else vector / norm

    def _layer_mean(self, tokens: Sequence[int], pool_from: int | None) -> Vector:
        assert self._reader is not None
        rows = self._reader.rows
        if rows is None or rows.shape[0] != len(tokens):
            raise GenerationError(
                f"llama.cpp gave no hidden states of layer {self.layer} for the text: "
                f"{last_native_error('the model may not name its layers as llama.cpp does')}."
            )
        skip = 1 if self._bos is not None and tokens[0] == self._bos and len(tokens) > 1 else 0
        if pool_from is not None:
            skip = pool_from
        return np.asarray(rows[skip:].mean(axis=0, dtype=np.float32), dtype=np.float32)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._lib.llama_batch_free(self._batch)
            self._lib.llama_free(self._ctx)
