"""What the window asks the inference thread, and how a reply ended: plain frozen values.

Qt-free, so the chat page's session (:mod:`app.ui.chat.session`) reads them too.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.cancel import CancelToken
from app.core.chat.sampling import SamplingParams
from app.core.runtime.results import GenerationStats
from app.core.runtime.template import ChatMessage


@dataclass(frozen=True)
class LoadRequest:
    request_id: int
    model_id: str
    n_ctx: int | None
    cancel: CancelToken


@dataclass(frozen=True)
class ReplyRequest:
    request_id: int
    conversation_id: int
    messages: tuple[ChatMessage, ...]
    params: SamplingParams
    cancel: CancelToken
    drop_oldest: bool = False
    """Leave the oldest turns out of the prompt if it would not fit (the user chose so)."""
    docs: tuple[str, ...] = ()
    """Collections to answer from ("Answer from"): their best passages join the prompt."""
    prefix: str = ""
    """The reply's start, already written: a reply cut at its token limit, continued."""


@dataclass(frozen=True)
class ReplyOutcome:
    """How a reply ended: the saved message's id, its status and the engine's figures."""

    request_id: int
    conversation_id: int
    message_id: int
    status: str
    stats: GenerationStats | None
    error: str | None = None
    template_problem: str | None = None
    """Why the prompt was made in the generic chat format, not the model's template."""
    docs_summary: str | None = None
    """How many of the passages found went into the prompt, when answering from documents."""
