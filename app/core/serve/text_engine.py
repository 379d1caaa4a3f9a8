"""What the local API needs beyond chat: plain completion and embeddings.

:class:`ApiEngine` is the chat :class:`~app.core.chat.engine.Engine` with two more
abilities; its embeddings context is made over the same leased weights as its chat
context (the model host loads the file once).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

from app.core.cancel import CancelToken
from app.core.chat.context import ContextBudget
from app.core.chat.engine import Engine
from app.core.chat.sampling import SamplingParams
from app.core.chat.states import MemoryStates
from app.core.errors import ContextOverflow
from app.core.models.loading import context_bytes
from app.core.models.store import ModelStore
from app.core.runtime.embedder import Embedder
from app.core.runtime.results import (
    EMBEDDING_CONTEXT,
    Embeddings,
    GenerationError,
    LoadedModel,
    embedding_pooling,
)
from app.core.runtime.template import RenderedPrompt


@runtime_checkable
class TextEngine(Protocol):
    """What the local API needs beyond chat: plain completion and embeddings.

    Same threading rule as :class:`ChatEngine` (one owner thread).
    """

    def stream_completion(
        self,
        prompt: str,
        params: SamplingParams,
        cancel: CancelToken | None = None,
    ) -> Iterator[str]:
        """Continue ``prompt`` as it is (no chat template); checks as ``stream_chat``."""
        ...

    def embed(self, texts: Sequence[str], cancel: CancelToken | None = None) -> Embeddings:
        """A vector per text (see :data:`EMBEDDING_POOLING`); ``ContextOverflow`` for a
        text longer than :data:`EMBEDDING_CONTEXT` tokens, never a silent cut."""
        ...


API_STATE_SLOTS = 4
"""Prompt states an API engine keeps in memory (its prefix cache): a request that begins
with an earlier request's prompt, or its prompt up to the last message, evaluates only the
rest (app.core.chat.prefix)."""


class ApiEngine(Engine):
    """A chat engine that also completes plain prompts and embeds texts. One owner thread.

    It keeps each prompt's KV state in memory (a few, least recently used dropped first),
    not each reply's: API clients send the whole conversation every time."""

    def __init__(self, store: ModelStore, **kwargs: Any) -> None:
        kwargs.setdefault("states", (MemoryStates(API_STATE_SLOTS),))
        kwargs.setdefault("save_prompts", True)
        super().__init__(store, **kwargs)

    def stream_completion(
        self,
        prompt: str,
        params: SamplingParams,
        cancel: CancelToken | None = None,
    ) -> Iterator[str]:
        """Stream the continuation of ``prompt``, taken as it is: no chat template.

        Same checks, stop strings, stats and cancelling as :meth:`stream_chat`.
        """
        with self._owned():
            loaded = self._require_loaded()
            if not prompt:
                raise GenerationError("There is nothing to complete: the prompt is empty.")
            self._last_stats = None
            self._prompt_problem = None
            tokens = self.tokenize_prompt(prompt)
            budget = ContextBudget(len(tokens), params.max_tokens, loaded.n_ctx)
            if not budget.fits:
                raise ContextOverflow(
                    f"This prompt needs {budget.needed:,} tokens ({budget.prompt_tokens:,} "
                    f"for the prompt, {budget.reply_tokens:,} kept for the completion) but "
                    f"the model's context holds {budget.n_ctx:,}. Shorten the prompt, lower "
                    "max_tokens, or raise the context size."
                )
            if params.grammar is not None:
                self._check_grammar(params.grammar)
        return self._stream(tokens, params, RenderedPrompt(prompt), cancel)

    def embed(self, texts: Sequence[str], cancel: CancelToken | None = None) -> Embeddings:
        """A vector per text: see :data:`EMBEDDING_POOLING`. The first call makes an
        embeddings context over the chat's leased weights (no second load)."""
        with self._owned():
            loaded = self._require_loaded()
            embedder = self._embedder or self._open_embedder(loaded)
            llama = self._require_llama()
            limit = embedder.n_ctx
            tokenized: list[list[int]] = []
            for index, text in enumerate(texts):
                tokens = llama.tokenize(text.encode("utf-8"), add_bos=True)
                if len(tokens) > limit:
                    raise ContextOverflow(
                        f"Text {index} has {len(tokens):,} tokens; at most {limit:,} can be "
                        "embedded at once. Split it, and embed the parts."
                    )
                tokenized.append(tokens)
            vectors: list[list[float]] = []
            for tokens in tokenized:
                if cancel is not None:
                    cancel.raise_if_cancelled()
                vectors.append([float(x) for x in embedder.embed(tokens)])
            return Embeddings(vectors, sum(len(t) for t in tokenized))

    def _open_embedder(self, loaded: LoadedModel) -> Embedder:
        """An embeddings context over the same leased weights, counted in the budget."""
        held = self._weights
        assert held is not None
        size = min(EMBEDDING_CONTEXT, loaded.n_ctx_train or EMBEDDING_CONTEXT)
        self._contexts.append(held.lease.add_context(context_bytes(held.info, size, size)))
        embedder = Embedder(
            held.lease.lib,
            held.lease.handle,
            n_ctx=size,
            n_threads=self.n_threads,
            model_id=held.model.id,
            pooling=embedding_pooling(held.info.pooling),
        )
        self._embedder = embedder
        return embedder
