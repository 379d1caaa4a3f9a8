"""What goes into the model's context window, and whether it fits.

Pure functions, no llama.cpp: the context size to load with, the token budget of a
request (the prompt plus the room kept for the reply), and dropping whole old turns when
asked. Whether a model fits in memory is the model host's call
(:mod:`app.core.runtime.host`); the messages and their rendering live in
:mod:`app.core.runtime.template`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from app.core.errors import ContextOverflow, DriftlessError
from app.core.runtime.template import ChatMessage, split_turns

DEFAULT_CONTEXT = 4096
"""The context size used unless the user asks for another (or the model holds less)."""
MIN_CONTEXT = 256


class ContextSizeError(DriftlessError):
    """A requested context size is impossible for the model."""


# --- context sizes and budgets ---------------------------------------------------------


def default_context_size(trained: int | None) -> int:
    """min(the model's trained context, 4096)."""
    return min(trained, DEFAULT_CONTEXT) if trained else DEFAULT_CONTEXT


def resolve_context_size(requested: int | None, trained: int | None) -> int:
    """The context size to load with: the default, or ``requested`` if the model allows it."""
    if requested is None:
        return default_context_size(trained)
    if requested < MIN_CONTEXT:
        raise ContextSizeError(
            f"A context of {requested:,} tokens is too small; use at least {MIN_CONTEXT:,}."
        )
    if trained and requested > trained:
        raise ContextSizeError(
            f"This model was trained with a context of {trained:,} tokens, so it cannot "
            f"use {requested:,}. Choose {trained:,} or less."
        )
    return requested


@dataclass(frozen=True)
class ContextBudget:
    """How a request fills the context: the prompt plus the room kept for the reply."""

    prompt_tokens: int
    reply_tokens: int
    n_ctx: int

    @property
    def needed(self) -> int:
        return self.prompt_tokens + self.reply_tokens

    @property
    def fits(self) -> bool:
        return self.needed <= self.n_ctx

    @property
    def prompt_limit(self) -> int:
        """The most prompt tokens that fit alongside the reserved reply."""
        return max(0, self.n_ctx - self.reply_tokens)

    def overflow(self) -> ContextOverflow:
        """The error to raise when the request does not fit, with what to do about it."""
        if self.reply_tokens >= self.n_ctx:
            return ContextOverflow(
                f"A reply of up to {self.reply_tokens:,} tokens cannot fit in the model's "
                f"context of {self.n_ctx:,}. Lower the reply length (max tokens) or raise "
                "the context size."
            )
        return ContextOverflow(
            f"This conversation needs {self.needed:,} tokens "
            f"({self.prompt_tokens:,} for the messages, {self.reply_tokens:,} kept for the "
            f"reply) but the model's context holds {self.n_ctx:,}. Start a new "
            "conversation, drop the oldest turns, or raise the context size."
        )


def drop_oldest_turns(
    messages: Sequence[ChatMessage],
    count_tokens: Callable[[Sequence[ChatMessage]], int],
    budget: int,
) -> list[ChatMessage]:
    """Remove whole oldest turns until the prompt takes at most ``budget`` tokens.

    The leading system prompt and the latest turn are always kept. ``budget`` is the
    prompt's share of the context (:attr:`ContextBudget.prompt_limit`). Raises
    ``ContextOverflow`` when even the system prompt and the latest turn do not fit.
    """
    head, turns = split_turns(messages)

    def flat(kept: Iterable[list[ChatMessage]]) -> list[ChatMessage]:
        return head + [m for turn in kept for m in turn]

    # Binary search on the number of turns dropped: each count costs a tokenization.
    low, high = 0, max(0, len(turns) - 1)
    if count_tokens(flat(turns[high:])) > budget:
        needed = count_tokens(flat(turns[high:]))
        raise ContextOverflow(
            f"The latest message alone needs {needed:,} tokens, but only {budget:,} fit "
            "with the room kept for the reply. Shorten it, lower the reply length, or "
            "raise the context size."
        )
    while low < high:
        middle = (low + high) // 2
        if count_tokens(flat(turns[middle:])) <= budget:
            high = middle
        else:
            low = middle + 1
    return flat(turns[low:])
