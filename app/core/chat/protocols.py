"""What the window, the command line and the API code against: a chat engine, real
(:class:`app.core.chat.engine.Engine`) or scripted (the tests' fake)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from app.core.cancel import CancelToken
from app.core.chat.context import ContextBudget
from app.core.chat.sampling import SamplingParams
from app.core.fsutil import ProgressCallback
from app.core.runtime.results import ModelUser
from app.core.runtime.template import ChatMessage


@runtime_checkable
class ChatEngine(ModelUser, Protocol):
    """What the window and the command line code against (real or scripted engine): a
    :class:`~app.core.runtime.results.ModelUser` that chats.

    Every method must be called from the engine's one owner thread; only
    ``CancelToken.cancel()`` may come from elsewhere.
    """

    @property
    def prompt_problem(self) -> str | None:
        """Why the last prompt was not made with the model's own chat template (a
        sentence), or None when it was. Set by ``stream_chat`` before it returns."""
        ...

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int: ...

    def check_fits(
        self, messages: Sequence[ChatMessage], params: SamplingParams
    ) -> ContextBudget: ...

    def stream_chat(
        self,
        messages: Sequence[ChatMessage],
        params: SamplingParams,
        cancel: CancelToken | None = None,
        *,
        on_prompt_progress: ProgressCallback | None = None,
        reply_prefix: str = "",
    ) -> Iterator[str]:
        """``on_prompt_progress(done, total)``: prompt tokens evaluated so far (those not
        reused from the cache), called between batches while the prompt is read.

        ``reply_prefix``: the start of the assistant's reply, already written (a reply cut
        at its token limit, to be continued); the pieces are what comes after it."""
        ...
