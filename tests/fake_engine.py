"""A scripted stand-in for :class:`app.core.chat.engine.Engine`, for window and CLI tests.

It satisfies the same ``ChatEngine`` protocol: replies come from a script, one word per
token, with an optional delay per token that a ``CancelToken`` cuts short (so a test that
cancels never waits out the delay). It counts tokens simply (words plus a few per
message), keeps the same context rules (``ContextOverflow`` when a request does not fit),
and can be told to fail on load or part-way through a reply.

    engine = FakeEngine(["Hello there!", "Second reply."], token_delay=0.01)
    engine.load()
    text = "".join(engine.stream_chat([user("Hi")], SamplingParams()))
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from app.core.cancel import CancelToken
from app.core.chat.context import ContextBudget
from app.core.chat.sampling import SamplingParams, split_at_stop
from app.core.errors import Cancelled, ContextOverflow, ModelNotFound
from app.core.fsutil import ProgressCallback
from app.core.runtime.results import (
    Embeddings,
    FinishReason,
    GenerationError,
    GenerationStats,
    LoadedModel,
    TokenLogprob,
)
from app.core.runtime.template import ChatMessage, ChatTemplate

TOKENS_PER_MESSAGE = 4
"""What the fake's "chat template" costs per message, like real role markers."""

EMBEDDING_DIMS = 8

Script = Sequence[str] | Callable[[Sequence[ChatMessage]], str]


@dataclass(frozen=True)
class Request:
    """One ``stream_chat`` call, as the fake received it."""

    messages: tuple[ChatMessage, ...]
    params: SamplingParams
    thread: int
    reply_prefix: str = ""


def fake_tokens(text: str) -> list[str]:
    """Words with their leading whitespace: joined again they give ``text`` back."""
    return re.findall(r"\s*\S+|\s+$", text)


class FakeEngine:
    """A scripted engine. Replies cycle through ``replies`` (or come from a function)."""

    def __init__(
        self,
        replies: Script = ("Hello! How can I help?",),
        *,
        token_delay: float = 0.0,
        n_ctx: int = 4096,
        fail_on_load: Exception | None = None,
        fail_after_tokens: int | None = None,
        fail_with: Exception | None = None,
        model_id: str = "fake-model",
        prompt_batch: int = 32,
        prompt_batch_delay: float = 0.0,
    ) -> None:
        self.replies = replies
        self.token_delay = token_delay
        self.n_ctx = n_ctx
        self.fail_on_load = fail_on_load
        self.fail_after_tokens = fail_after_tokens
        self.fail_with = fail_with or GenerationError("llama.cpp failed (scripted).")
        self.model_id = model_id
        self.prompt_batch = prompt_batch
        self.prompt_batch_delay = prompt_batch_delay
        """Reading the prompt takes this long per ``prompt_batch`` tokens, reported like the
        real engine's batches (``on_prompt_progress``) and cut short by the cancel token."""
        self.requests: list[Request] = []
        self.load_calls = 0
        self._loaded: LoadedModel | None = None
        self._last_stats: GenerationStats | None = None
        self._reply_index = 0
        self.prompt_template: ChatTemplate | None = None
        """When set, every reply first renders its prompt with it (with the cancel token),
        as the real engine does: how tests put a hostile chat template in the way."""
        self._prompt_problem: str | None = None
        self._last_logprobs: list[TokenLogprob] = []

    @property
    def loaded(self) -> LoadedModel | None:
        return self._loaded

    @property
    def last_stats(self) -> GenerationStats | None:
        return self._last_stats

    @property
    def prompt_problem(self) -> str | None:
        return self._prompt_problem

    def load(
        self,
        ref: str | None = None,
        *,
        n_ctx: int | None = None,
        on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> LoadedModel:
        self.load_calls += 1
        if cancel is not None:
            cancel.raise_if_cancelled()
        if self.fail_on_load is not None:
            raise self.fail_on_load
        if on_progress is not None:
            on_progress(1, 1)
        model_id = ref or self.model_id
        self._loaded = LoadedModel(
            model_id=model_id,
            lock_id=f"fake/{model_id}",
            sha256="0" * 64,
            name=f"Fake {model_id}",
            n_ctx=n_ctx or self.n_ctx,
            n_ctx_train=max(n_ctx or 0, self.n_ctx),
        )
        return self._loaded

    def unload(self) -> None:
        self._loaded = None

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        words = sum(len(fake_tokens(m.content)) for m in messages)
        return words + TOKENS_PER_MESSAGE * (len(messages) + 1)

    def check_fits(self, messages: Sequence[ChatMessage], params: SamplingParams) -> ContextBudget:
        loaded = self._require_loaded()
        return ContextBudget(self.count_tokens(messages), params.max_tokens, loaded.n_ctx)

    def stream_chat(
        self,
        messages: Sequence[ChatMessage],
        params: SamplingParams,
        cancel: CancelToken | None = None,
        *,
        on_prompt_progress: ProgressCallback | None = None,
        reply_prefix: str = "",
    ) -> Iterator[str]:
        """``reply_prefix``: the next scripted reply continues it (its words are read as
        prompt tokens)."""
        budget = self.check_fits(messages, params)
        prompt_tokens = budget.prompt_tokens + len(fake_tokens(reply_prefix))
        budget = ContextBudget(prompt_tokens, params.max_tokens, budget.n_ctx)
        if not budget.fits:
            raise budget.overflow()
        if self.prompt_template is not None:
            rendered = self.prompt_template.render(messages, cancel=cancel)
            self._prompt_problem = rendered.problem
        self.requests.append(Request(tuple(messages), params, threading.get_ident(), reply_prefix))
        self._last_stats = None
        return self._stream(
            self._next_reply(messages), prompt_tokens, params, cancel, on_prompt_progress
        )

    def stream_completion(
        self,
        prompt: str,
        params: SamplingParams,
        cancel: CancelToken | None = None,
    ) -> Iterator[str]:
        """A scripted continuation of ``prompt``, recorded as one user message."""
        self._require_loaded()
        prompt_tokens = len(fake_tokens(prompt))
        budget = ContextBudget(prompt_tokens, params.max_tokens, self.n_ctx)
        if not budget.fits:
            raise ContextOverflow(
                f"This prompt needs {budget.needed:,} tokens but the model's context holds "
                f"{budget.n_ctx:,}."
            )
        messages = (ChatMessage("user", prompt),)
        self.requests.append(Request(messages, params, threading.get_ident()))
        self._last_stats = None
        return self._stream(self._next_reply(messages), prompt_tokens, params, cancel)

    def embed(self, texts: Sequence[str], cancel: CancelToken | None = None) -> Embeddings:
        """Vectors of length 1 in EMBEDDING_DIMS dimensions, the same for the same text."""
        self._require_loaded()
        vectors = []
        for text in texts:
            if cancel is not None:
                cancel.raise_if_cancelled()
            digest = hashlib.sha256(text.encode("utf-8")).digest()
            raw = [b - 127.5 for b in digest[:EMBEDDING_DIMS]]
            norm = math.sqrt(sum(x * x for x in raw)) or 1.0
            vectors.append([x / norm for x in raw])
        return Embeddings(vectors, sum(len(fake_tokens(t)) + 1 for t in texts))

    @property
    def last_logprobs(self) -> list[TokenLogprob]:
        """Scripted: each word -0.25, its alternatives ``alt1``... lower, when asked."""
        return self._last_logprobs

    def _next_reply(self, messages: Sequence[ChatMessage]) -> str:
        if callable(self.replies):
            return self.replies(messages)
        reply = self.replies[self._reply_index % len(self.replies)]
        self._reply_index += 1
        return reply

    def _stream(
        self,
        reply: str,
        prompt_tokens: int,
        params: SamplingParams,
        cancel: CancelToken | None,
        on_prompt_progress: ProgressCallback | None = None,
    ) -> Iterator[str]:
        started = time.perf_counter()
        finish: FinishReason = "cancelled"
        count = 0
        self._last_logprobs = []
        try:
            if on_prompt_progress is not None:
                on_prompt_progress(0, prompt_tokens)
            for done in range(
                self.prompt_batch, prompt_tokens + self.prompt_batch, self.prompt_batch
            ):
                if self.prompt_batch_delay:
                    if cancel is not None:
                        cancel.wait(self.prompt_batch_delay)
                    else:
                        time.sleep(self.prompt_batch_delay)
                if cancel is not None:
                    cancel.raise_if_cancelled()
                if on_prompt_progress is not None:
                    on_prompt_progress(min(done, prompt_tokens), prompt_tokens)
            pending = ""
            for piece in fake_tokens(reply):
                if cancel is not None and cancel.cancelled:
                    break
                if self.fail_after_tokens is not None and count >= self.fail_after_tokens:
                    raise self.fail_with
                if self.token_delay:
                    if cancel is not None:
                        cancel.wait(self.token_delay)
                    else:
                        time.sleep(self.token_delay)
                count += 1
                if params.logprobs is not None:
                    alternatives = tuple(
                        (f"alt{i}", -1.0 - i, f"alt{i}".encode()) for i in range(params.logprobs)
                    )
                    self._last_logprobs.append(
                        TokenLogprob(piece, -0.25, piece.encode(), alternatives)
                    )
                emit, pending, hit = split_at_stop(pending + piece, params.stop)
                if emit:
                    yield emit
                if hit:
                    finish = "stop"
                    break
                if count >= params.max_tokens:
                    finish = "length"
                    break
            else:
                finish = "stop"
                if pending:
                    yield pending
            if finish == "cancelled":
                raise Cancelled()
        finally:
            elapsed = time.perf_counter() - started
            self._last_stats = GenerationStats(
                prompt_tokens=prompt_tokens,
                cached_tokens=0,
                completion_tokens=count,
                prompt_seconds=0.0,
                generation_seconds=elapsed,
                first_token_seconds=0.0,
                finish_reason=finish,
                seed=params.seed,
            )

    def _require_loaded(self) -> LoadedModel:
        if self._loaded is None:
            raise ModelNotFound("No model is loaded. Load one first.")
        return self._loaded
