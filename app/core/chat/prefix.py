"""The prompt's KV cache kept exact: what may be reused, restored, evaluated and saved.

**Why a unit.** llama.cpp's numbers depend on how a prompt is cut into batches: with some
weight forms (gemma-3-270m's Q4_K, repacked on load) a token evaluated in a batch of 512
and the same token evaluated alone, or in a batch of 2, 3, 5 or 7, get logits that differ
by up to about 1 (measured on this machine; the starter's Q4_1 happens to give the same
bits for every cut). So a KV cache is *exact* (bitwise what a cold evaluation of the same
prompt gives) only for the positions evaluated in the very chunks a cold start evaluates
them in. Tokens generated one at a time (the reply) are never exact.

**The rule.** :class:`PromptCache` evaluates every prompt in *canonical chunks*: they end
at each multiple of the unit U and at each message cut (where a message of the
conversation ends in the prompt's tokens, :class:`MessageCuts`), and at the prompt's end.
It reuses the live cache, or a saved state, only up to a chunk end at which it was cut the
same way (same tokens, same chunk ends before it), and never the last token (its logits
must be fresh). After a reply, :meth:`PromptCache.settle` evaluates the conversation up to
the end of the reply, as the next prompt will hold it, in canonical chunks from the last
chunk end (the end of the prompt is a message cut for the next turn) and saves that state,
so the next turn evaluates only its new message. With that, a reply after reusing or
restoring is identical, token for token, to one after a cold evaluation of the same
messages (tests/unit/chat/test_prefix.py checks it on gemma and the starter).

Message cuts, rather than a small U, keep a follow-up short: gemma reads prompts 17-34%
slower in chunks of 64 or 128 than of 512 (README, "Prompt batches").

The thread count of prompt batches does not change the numbers (measured: 1 and 2 threads
give the same bits), so it is chosen by measurement as the prompt goes
(:class:`~app.core.runtime.threads.ThreadTuner`).
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from app.core.cancel import CancelToken
from app.core.chat.states import FoundState, StateKey, StateSource
from app.core.errors import Cancelled
from app.core.fsutil import ProgressCallback
from app.core.runtime.llama import clear_native_errors, cpu_kernels, last_native_error
from app.core.runtime.results import GenerationError
from app.core.runtime.template import ChatMessage
from app.core.runtime.threads import ThreadTuner

log = logging.getLogger(__name__)

MEASURED_CHUNK = 128
"""Prompt chunks at least this long may try another thread count and tell the thread tuner
how fast they went; shorter ones (a message, a reply) run on the fastest count known. A
trial of the wrong count on a busy machine costs seconds, so they are few."""


@dataclass(frozen=True)
class Prefilled:
    """How a prompt was read: ``reused`` tokens not evaluated, ``restored`` of them from a
    saved state (the rest from the live KV cache)."""

    reused: int
    restored: int


def common_prefix(a: Sequence[Any], b: Sequence[Any]) -> int:
    count = 0
    for mine, theirs in zip(a, b, strict=False):
        if mine != theirs:
            break
        count += 1
    return count


def state_key(lib: ModuleType, llama: Any, model_sha256: str, unit: int) -> StateKey:
    """The key of the states ``llama`` makes (see :class:`StateKey`)."""
    params = llama.context_params
    return StateKey(
        model_sha256=model_sha256,
        runtime=str(getattr(lib, "__version__", "unknown")),
        kernels=cpu_kernels(),
        n_ctx=int(llama.n_ctx()),
        unit=unit,
        n_ubatch=int(params.n_ubatch),
        type_k=int(params.type_k),
        type_v=int(params.type_v),
        flash_attn=int(params.flash_attn_type),
        swa_full=bool(params.swa_full),
    )


def exact_points(length: int, unit: int, cuts: Sequence[int] = ()) -> tuple[int, ...]:
    """Where the canonical chunks of a prompt of ``length`` tokens end, besides its end:
    every multiple of ``unit`` and every message cut, up to ``length``."""
    points = set(range(unit, length + 1, unit))
    points.update(cut for cut in cuts if 0 < cut <= length)
    return tuple(sorted(points))


class PromptCache:
    """The KV cache of one ``Llama``, kept exact (see the module). Owner thread only."""

    def __init__(
        self,
        lib: ModuleType,
        llama: Any,
        *,
        unit: int,
        key: StateKey | None,
        sources: Sequence[StateSource] = (),
        save_prompts: bool = False,
        save_replies: bool = False,
        tuner: ThreadTuner | None = None,
        threads: int = 1,
        abort: Callable[[CancelToken | None], contextlib.AbstractContextManager[None]]
        | None = None,
    ) -> None:
        self.lib = lib
        self.llama = llama
        self.unit = unit
        self.key = key
        self.sources = tuple(sources) if key is not None else ()
        self.save_prompts = save_prompts
        self.save_replies = save_replies
        self.tuner = tuner
        self.threads = threads
        self._batch_threads = threads
        self._abort = abort or (lambda _cancel: contextlib.nullcontext())
        self.points: tuple[int, ...] = ()
        """Where the chunks the KV cache was evaluated in end (the last: how many leading
        positions were evaluated in chunks; reply tokens, one at a time, are not)."""
        self.recurrent = bool(
            lib.llama_model_is_recurrent(llama.model) or lib.llama_model_is_hybrid(llama.model)
        )
        if self.recurrent:  # their state cannot be cut back to a prefix
            self.sources = ()

    @property
    def exact(self) -> int:
        return self.points[-1] if self.points else 0

    def forget(self) -> None:
        self.llama.reset()
        self.points = ()

    def _reusable(self, tokens: Sequence[int], points: Sequence[int], limit: int) -> int:
        """The longest exact prefix of the live cache that ``tokens``, cut at ``points``,
        may reuse: same tokens, same chunks, at most ``limit``."""
        llama = self.llama
        common = common_prefix(llama.input_ids[: min(llama.n_tokens, self.exact)], tokens)
        best = 0
        for index, point in enumerate(points):  # the same chunks, one by one
            if point > min(common, limit) or index >= len(self.points):
                break
            if self.points[index] != point:
                break
            best = point
        return best

    def prefill(
        self,
        tokens: Sequence[int],
        cancel: CancelToken | None = None,
        on_progress: ProgressCallback | None = None,
        *,
        cuts: Sequence[int] = (),
    ) -> Prefilled:
        """Make the KV cache hold ``tokens``, exactly, with fresh logits for the last one.

        ``cuts``: where the prompt's messages end (canonical chunk ends besides the
        multiples of the unit)."""
        clear_native_errors()
        llama = self.llama
        points = exact_points(len(tokens), self.unit, cuts)
        usable = [point for point in points if point < len(tokens)]
        reuse = self._reusable(tokens, usable, len(tokens) - 1)
        if self.recurrent and reuse < llama.n_tokens:
            reuse = 0
        restored = 0
        found = self._find(tokens, usable, above=reuse)
        if found is not None and self._restore(tokens, found, usable):
            reuse = restored = found.n_tokens
        self._truncate(reuse)
        # The API keeps the whole prompt (a conversation goes on from it) and the prompt up
        # to its last message (another last message shares it).
        snapshots = {len(tokens), max(usable, default=0)} if self.save_prompts else set()
        total = len(tokens) - reuse
        if on_progress is not None:
            on_progress(0, total)
        for done in self._evaluate(tokens, points, reuse, len(tokens), cancel):
            if on_progress is not None:
                on_progress(done - reuse, total)
            if done in snapshots and done > reuse:
                self._save(tokens[:done])
        return Prefilled(reuse, restored)

    def settle(
        self, tokens: Sequence[int], cuts: Sequence[int], cancel: CancelToken | None = None
    ) -> int:
        """After a reply: make the KV cache the exact state of ``tokens`` (the prompt and
        the reply as the next prompt will begin, ending at a message cut) and save it.
        Returns how many tokens are exact; never raises for a failed save."""
        if self.recurrent or not self.save_replies or not tokens:
            return self.exact
        points = exact_points(len(tokens), self.unit, (*cuts, len(tokens)))
        start = self._reusable(tokens, points, len(tokens))
        self._truncate(start)
        if start < len(tokens) and self._has(tokens, points):
            return self.exact  # kept already: the next prompt restores it
        try:
            for _ in self._evaluate(tokens, points, start, len(tokens), cancel):
                pass
        except (Cancelled, GenerationError) as exc:
            log.info("The reply's KV state was not settled: %s", exc)
            return self.exact
        self._save(tokens)
        return self.exact

    # -- evaluating --

    def _evaluate(
        self,
        tokens: Sequence[int],
        points: Sequence[int],
        start: int,
        end: int,
        cancel: CancelToken | None,
    ) -> Iterator[int]:
        """Evaluate ``tokens[start:end]`` in the canonical chunks (ending at ``points`` and at
        ``end``), yielding each chunk's end; ``start`` must be one of the points (or 0)."""
        llama, lib = self.llama, self.lib
        ends = sorted({point for point in points if start < point < end} | {end})
        kept = [point for point in self.points if point <= start]
        with self._abort(cancel):
            position = start
            for stop in ends:
                if cancel is not None:
                    cancel.raise_if_cancelled()
                chunk = list(tokens[position:stop])
                threads = self._batch_threads
                if self.tuner is not None:  # short chunks run on the best count known
                    measured = stop - position >= MEASURED_CHUNK
                    threads = self.tuner.next() if measured else self.tuner.best
                if threads != self._batch_threads:
                    lib.llama_set_n_threads(llama.ctx, self.threads, threads)
                    self._batch_threads = threads
                began = time.perf_counter()
                try:
                    llama.eval(chunk)
                except RuntimeError as exc:
                    if cancel is not None and cancel.cancelled:
                        raise Cancelled() from None
                    raise GenerationError(
                        f"llama.cpp could not evaluate the prompt: {last_native_error(str(exc))}."
                    ) from exc
                if self.tuner is not None and len(chunk) >= MEASURED_CHUNK:
                    self.tuner.record(threads, len(chunk), time.perf_counter() - began)
                position = stop
                kept.append(stop)
                self.points = tuple(kept)
                yield position

    def _truncate(self, length: int) -> None:
        """Keep the first ``length`` positions of the KV cache, drop the rest."""
        llama = self.llama
        llama._ctx.kv_cache_seq_rm(-1, length, -1)
        llama.n_tokens = min(llama.n_tokens, length)
        self.points = tuple(point for point in self.points if point <= llama.n_tokens)

    # -- states --

    def _find(
        self, tokens: Sequence[int], points: Sequence[int], *, above: int
    ) -> FoundState | None:
        if self.key is None:
            return None
        best: FoundState | None = None
        for source in self.sources:
            found = source.find(self.key, tokens, points, above=above)
            if found is not None and found.n_tokens > (best.n_tokens if best else above):
                best = found
        return best

    def _has(self, tokens: Sequence[int], points: Sequence[int]) -> bool:
        key = self.key
        return key is not None and any(source.has(key, tokens, points) for source in self.sources)

    def _restore(self, tokens: Sequence[int], found: FoundState, points: Sequence[int]) -> bool:
        lib, llama = self.lib, self.llama
        size = len(found.payload)
        kind = ctypes.c_uint8 * size
        try:
            buffer = kind.from_buffer(found.payload)  # a file's bytes: no copy
        except TypeError:  # read-only (a state kept in memory)
            buffer = kind.from_buffer_copy(found.payload)
        read = lib.llama_state_seq_set_data(llama.ctx, buffer, size, 0)
        if read != size:
            log.warning("llama.cpp refused a saved KV state (%d of %d bytes read)", read, size)
            self.forget()
            return False
        n = found.n_tokens
        llama.input_ids[:n] = tokens[:n]
        llama.n_tokens = n
        self.points = tuple(point for point in points if point <= n)
        return True

    def _save(self, tokens: Sequence[int]) -> None:
        """Keep the KV cache's state (exactly ``tokens``, cut at ``self.points``) in every
        source that lacks it."""
        key, points = self.key, self.points
        if key is None or not self.sources or self.recurrent or self.exact != len(tokens):
            return
        lacking = [source for source in self.sources if not source.has(key, tokens, points)]
        if not lacking:
            return
        lib, llama = self.lib, self.llama
        size = lib.llama_state_seq_get_size(llama.ctx, 0)
        buffer = (ctypes.c_uint8 * size)()
        written = lib.llama_state_seq_get_data(llama.ctx, buffer, size, 0)
        if written != size:
            log.warning("llama.cpp wrote %d of %d bytes of a KV state: not kept", written, size)
            return
        payload = bytes(buffer)
        for source in lacking:
            source.save(key, tokens, points, payload)


class MessageCuts:
    """Where each message of a conversation ends in its prompt's tokens: the canonical
    chunk ends that let a later turn reuse an earlier one's evaluation (see the module).

    A message ends where the prompt for the messages before it (which ends with the
    generation prompt) and the whole prompt part; the cut is the number of whole tokens
    they share. Tokenized prefixes are kept (LRU): earlier turns repeat in every prompt.
    """

    def __init__(
        self,
        render: Callable[[Sequence[ChatMessage]], str],
        tokenize: Callable[[str], list[int]],
        *,
        keep: int = 64,
    ) -> None:
        self._render = render
        self._tokenize = tokenize
        self._keep = keep
        self._tokens: collections.OrderedDict[str, list[int]] = collections.OrderedDict()

    def __call__(
        self, messages: Sequence[ChatMessage], text: str, tokens: Sequence[int]
    ) -> tuple[int, ...]:
        cuts: list[int] = []
        for index in range(1, len(messages)):
            try:
                before = self._render(messages[:index])
            except Exception:  # a template that cannot end there: no cut
                continue
            shared = before[: common_prefix(before, text)]
            cut = common_prefix(self._tokens_of(shared), tokens)
            if 0 < cut < len(tokens) and (not cuts or cut > cuts[-1]):
                cuts.append(cut)
        return tuple(cuts)

    def _tokens_of(self, text: str) -> list[int]:
        found = self._tokens.get(text)
        if found is None:
            found = self._tokens[text] = self._tokenize(text)
            while len(self._tokens) > self._keep:
                self._tokens.popitem(last=False)
        else:
            self._tokens.move_to_end(text)
        return found
