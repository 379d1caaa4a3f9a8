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
from app.core.errors import ContextOverflow, ModelLoadError
from app.core.models.loading import context_bytes
from app.core.runtime.llama import clear_native_errors, last_native_error, open_llama
from app.core.runtime.results import (
    EMBEDDING_CONTEXT,
    Embeddings,
    GenerationError,
    LoadedModel,
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


class ApiEngine(Engine):
    """A chat engine that also completes plain prompts and embeds texts. One owner thread."""

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
        embeddings context over the chat's weights (llama.cpp wants ``embedding=True``)."""
        with self._owned():
            loaded = self._require_loaded()
            embedder = self._embedder or self._open_embedder(loaded)
            limit = int(embedder.n_batch)
            counted: list[int] = []
            for index, text in enumerate(texts):
                count = len(embedder.tokenize(text.encode("utf-8"), add_bos=True))
                if count > limit:
                    raise ContextOverflow(
                        f"Text {index} has {count:,} tokens; at most {limit:,} can be "
                        "embedded at once. Split it, and embed the parts."
                    )
                counted.append(count)
            vectors: list[list[float]] = []
            clear_native_errors()
            for text in texts:
                if cancel is not None:
                    cancel.raise_if_cancelled()
                try:
                    vector = embedder.embed([text], normalize=True, truncate=False)
                except (RuntimeError, ValueError) as exc:
                    raise GenerationError(
                        f"llama.cpp could not embed the text: {last_native_error(str(exc))}."
                    ) from exc
                vectors.append([float(x) for x in vector[0]])
            return Embeddings(vectors, sum(counted))

    def _open_embedder(self, loaded: LoadedModel) -> Any:
        """An embeddings context over the same leased weights (no second load)."""
        lib = self._lib
        held = self._weights
        assert lib is not None and held is not None
        model = held.model
        size = min(EMBEDDING_CONTEXT, loaded.n_ctx_train or EMBEDDING_CONTEXT)
        self._contexts.append(held.lease.add_context(context_bytes(held.info, size, size)))
        try:
            self._embedder = open_llama(
                model.path,
                model=held.lease.handle,
                embedding=True,
                pooling_type=lib.LLAMA_POOLING_TYPE_MEAN,
                n_ctx=size,
                n_batch=size,
                n_ubatch=size,
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads,
            )
        except MemoryError as exc:
            raise ModelLoadError(
                f"There is not enough memory for an embeddings context of {model.id}."
            ) from exc
        except ModelLoadError:
            raise
        except Exception as exc:
            raise ModelLoadError(
                f"llama.cpp could not set up embeddings for {model.id}: "
                f"{last_native_error(str(exc))}."
            ) from exc
        return self._embedder
