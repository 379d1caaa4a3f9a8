"""What running a model produces, whatever feature asked: the loaded model's identity,
a reply's stats and token log-probabilities, and embeddings.

Plain data, shared by chat, the API, behaviour checks and saved conversations; the code
that makes them lives with each feature (chat streaming in :mod:`app.core.chat.engine`,
completion and embeddings in :mod:`app.core.serve.text_engine`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from app.core.cancel import CancelToken
from app.core.errors import DriftlessError
from app.core.fsutil import ProgressCallback
from app.core.runtime.gpu import CPU, Offload

FinishReason = Literal["stop", "length", "cancelled", "error"]


class GenerationError(DriftlessError):
    """llama.cpp failed while evaluating a prompt or a reply."""


@dataclass(frozen=True)
class LoadedModel:
    """The model an engine holds, and what a reply's provenance records about it."""

    model_id: str
    lock_id: str
    sha256: str
    name: str
    n_ctx: int
    n_ctx_train: int | None
    template_problem: str | None = None
    """Why the model's own chat template is not used, or None when it is."""
    load_seconds: float = 0.0
    offload: Offload = CPU
    """What the weights run on: the CPU, or a GPU's backend, device, driver and layers."""


@dataclass(frozen=True)
class GenerationStats:
    """How one reply went. ``cached_tokens`` of the prompt were reused, not evaluated."""

    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    prompt_seconds: float
    generation_seconds: float
    first_token_seconds: float
    finish_reason: FinishReason
    seed: int | None
    used_fallback_template: bool = False
    restored_tokens: int = 0
    """Of ``cached_tokens``, how many came from a saved KV state (not the live cache)."""

    @property
    def tokens_per_second(self) -> float:
        if self.generation_seconds <= 0:
            return 0.0
        return self.completion_tokens / self.generation_seconds

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["tokens_per_second"] = round(self.tokens_per_second, 2)
        return data


@dataclass(frozen=True)
class TokenLogprob:
    """A reply token, its log-probability under the model (before temperature and the
    other filters) and the likeliest alternatives as (text, logprob, bytes)."""

    token: str
    logprob: float
    raw: bytes
    top: tuple[tuple[str, float, bytes], ...] = ()


@dataclass(frozen=True)
class Embeddings:
    """One vector per input text, and how many tokens the inputs took."""

    vectors: list[list[float]]
    prompt_tokens: int


EMBEDDING_POOLING = "mean"
"""How a text's vector is made: the mean of the last layer's hidden states over its
tokens, scaled to length 1 (so a dot product is the cosine similarity)."""

EMBEDDING_CONTEXT = 2048
"""The most tokens one text to embed may have (fewer if the model was trained on less)."""


@runtime_checkable
class ModelUser(Protocol):
    """Anything that holds a model for one owner thread: loads it (leasing the weights from
    the model host), says what it loaded and how its last piece of work went, and unloads
    it. A chat engine is one (:class:`app.core.chat.protocols.ChatEngine` adds chatting);
    the API's classification holder another."""

    @property
    def loaded(self) -> LoadedModel | None: ...

    @property
    def last_stats(self) -> GenerationStats | None: ...

    def load(
        self,
        ref: str | None = None,
        *,
        n_ctx: int | None = None,
        on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> LoadedModel: ...

    def unload(self) -> None: ...
