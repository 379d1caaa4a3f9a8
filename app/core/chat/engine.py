"""The inference engine: one loaded model, chat replies streamed as text.

**One thread owns an engine.** ``llama_cpp.Llama`` is not thread-safe, so an
:class:`Engine` is only ever used from one thread at a time: the command line uses it
from its main thread, the window from one dedicated worker thread (GPT4All-style). The
only call another thread may make is ``CancelToken.cancel()``; the engine checks the
token between tokens, between prompt batches and, through llama.cpp's abort callback,
inside a long prompt batch. Using the engine from two threads at once raises
``RuntimeError`` instead of corrupting native memory.

**Cancelling** ends a reply's iterator with ``Cancelled`` (after the text generated so
far has been yielded); callers treat it as a normal ending. ``last_stats`` is set however
the iterator ends: ``finish_reason`` is "stop" (the model or a stop string ended it),
"length" (``max_tokens`` reached), "cancelled", or "error" (``GenerationError`` raised).

**Nothing is truncated silently.** A conversation that does not fit the context, with
room kept for ``max_tokens`` of reply, raises ``ContextOverflow`` when ``stream_chat`` is
called; :func:`app.core.chat.context.drop_oldest_turns` is the explicit remedy.

**Follow-up turns are cheap, and exact** (:mod:`app.core.chat.prefix`): a prompt is
evaluated in canonical chunks, and only what is bitwise what a cold evaluation gives is
reused, from the live cache or a saved state (:mod:`app.core.chat.states`). After a reply,
the conversation up to it is settled into such a state and saved, so the next turn, a
switch back or a new process evaluates only what is new (``cached_tokens`` in the stats,
``restored_tokens`` of them from a saved state).

**The weights are shared.** The engine leases them from the model host through the one
loading pipeline (:mod:`app.core.models.loading`) and makes only its own context over
them; ``unload`` frees the context and gives the weights back. Another engine, the API
or classification on the same file use the same weights.

``llama_cpp`` is imported lazily, the first time a model is loaded, so starting the app
and most tests never load the native library (:mod:`app.core.runtime.llama`). What a
reply produces (stats, log-probabilities) is plain data in :mod:`app.core.runtime.results`;
plain completion and embeddings, which only the API needs, are in
:mod:`app.core.serve.text_engine`.
"""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import logging
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any

from app.core.cancel import CancelToken
from app.core.chat.context import ContextBudget, resolve_context_size
from app.core.chat.prefix import MessageCuts, PromptCache, state_key
from app.core.chat.sampling import SamplingParams, split_at_stop
from app.core.chat.states import StateSource
from app.core.errors import Cancelled, ModelLoadError, ModelNotFound
from app.core.fsutil import ProgressCallback
from app.core.models.gguf import GGUFInfo
from app.core.models.loading import LoadedWeights, acquire, context_bytes
from app.core.models.store import InstalledModel, ModelStore
from app.core.runtime import gpu
from app.core.runtime.gpu import Offload
from app.core.runtime.grammar import check_grammar
from app.core.runtime.host import MemoryBudgetExceeded
from app.core.runtime.llama import (
    default_threads,
    import_llama_cpp,
    last_native_error,
    open_llama,
)
from app.core.runtime.logprobs import token_logprob
from app.core.runtime.results import (
    FinishReason,
    GenerationError,
    GenerationStats,
    LoadedModel,
    TokenLogprob,
)
from app.core.runtime.template import (
    ChatMessage,
    ChatTemplate,
    RenderedPrompt,
    assistant,
    user,
)
from app.core.runtime.threads import ThreadTuner, thread_candidates

log = logging.getLogger(__name__)

DEFAULT_BATCH = 512
"""The batch unit: prompts are read in chunks of this many tokens, and only whole chunks
are reused (app.core.chat.prefix)."""


# --- the engine ----------------------------------------------------------------------


class Engine:
    """A llama.cpp model and the chat replies it streams. One owner thread (see module)."""

    def __init__(
        self,
        store: ModelStore,
        *,
        n_threads: int | None = None,
        n_batch: int = DEFAULT_BATCH,
        n_threads_batch: int | None = None,
        user: str = "chat",
        states: Sequence[StateSource] = (),
        save_prompts: bool = False,
        gpu_layers: str | None = None,
    ) -> None:
        self.store = store
        self.user = user
        self.gpu_layers = gpu_layers
        """The "GPU layers" choice (auto, all, 0 or a count); None: the settings'."""
        """Who holds the model, as the memory budget's sentence names it."""
        self.n_threads = n_threads or default_threads()
        self.n_batch = n_batch
        self.states = tuple(states)
        """Where KV states are found and saved (none: only the live cache is reused)."""
        self.save_prompts = save_prompts
        """Save each prompt's state (the API's prefix cache) rather than each reply's."""
        batch_threads = (n_threads_batch,) if n_threads_batch else thread_candidates()
        self._tuner = ThreadTuner(batch_threads, trial=1, explore_every=64, widest_first=True)
        self._cache: PromptCache | None = None
        self._cuts = MessageCuts(lambda ms: self.render(ms).text, self.tokenize_prompt)
        self._llama: Any = None
        self._lib: ModuleType | None = None
        self._vocab: Any = None
        self._template = ChatTemplate(None)
        self._add_bos = False
        self._bos_text = ""
        self._loaded: LoadedModel | None = None
        self._last_stats: GenerationStats | None = None
        self._last_token_ids: tuple[int, ...] = ()
        self._last_logprobs: list[TokenLogprob] = []
        self._prompt_problem: str | None = None
        self._owner: int | None = None
        self._owner_lock = threading.Lock()
        self._abort: Any = None  # the ctypes abort callback while one is installed
        self._embedder: Any = None  # a Llama made with embedding=True, on demand
        self._weights: LoadedWeights | None = None  # the lease on the shared weights
        self._contexts: list[int] = []  # what this engine's contexts count in the budget

    # -- what the protocol exposes --

    @property
    def loaded(self) -> LoadedModel | None:
        return self._loaded

    @property
    def last_stats(self) -> GenerationStats | None:
        return self._last_stats

    @property
    def prompt_problem(self) -> str | None:
        return self._prompt_problem

    @property
    def last_token_ids(self) -> tuple[int, ...]:
        """The token ids of the last reply as sampled (an end-of-generation token is not
        included), for behaviour checks that compare replies token by token."""
        return self._last_token_ids

    @property
    def last_logprobs(self) -> list[TokenLogprob]:
        """The last reply's tokens with their log-probabilities, when its params asked
        for them (``SamplingParams.logprobs``); empty otherwise. Owner thread only."""
        return self._last_logprobs

    @property
    def template_source(self) -> str | None:
        """The loaded model's chat template as its file holds it (None: it has none)."""
        return self._template.source

    @property
    def llama(self) -> Any:
        """The ``llama_cpp.Llama`` itself, for benchmarks and tests. Owner thread only."""
        return self._require_llama()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.unload()

    # -- loading --

    def load(
        self,
        ref: str | None = None,
        *,
        n_ctx: int | None = None,
        on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> LoadedModel:
        """Check and load a model (the active one when ``ref`` is None).

        The store's check (size, mtime, re-hash if moved), Driftless' GGUF reader and,
        for a file new to this llama.cpp, a load in a child process
        (:mod:`app.core.models.probe`) run before llama.cpp sees the file here.
        ``n_ctx`` defaults to min(trained context, 4096).
        """
        with self._owned():
            self.unload()
            started = time.perf_counter()
            sizes: dict[str, int] = {}

            def first_context(info: GGUFInfo) -> int:
                sizes["n_ctx"] = size = resolve_context_size(n_ctx, info.context_length)
                return context_bytes(info, size, min(self.n_batch, size))

            held = acquire(
                self.store,
                ref,
                user=self.user,
                context=first_context,
                on_progress=on_progress,
                cancel=cancel,
                gpu_layers=self.gpu_layers,
            )
            self._weights = held
            try:
                return self._open_chat(held, sizes["n_ctx"], first_context(held.info), started)
            except ModelLoadError as exc:
                if not held.offload.on_gpu or isinstance(exc, MemoryBudgetExceeded):
                    self.unload()
                    raise
                # The weights went to the GPU but the context did not fit there (or the
                # device failed): the same model on the CPU, with a sentence.
                note = gpu_context_note(held.offload, str(exc))
                log.warning("%s", note)
                self.unload()
            except BaseException:
                self.unload()
                raise
            held = acquire(
                self.store,
                ref,
                user=self.user,
                context=first_context,
                cancel=cancel,
                gpu_layers="0",
            )
            held = dataclasses.replace(held, offload=dataclasses.replace(held.offload, note=note))
            self._weights = held
            try:
                return self._open_chat(held, sizes["n_ctx"], first_context(held.info), started)
            except BaseException:
                self.unload()
                raise

    def _open_chat(
        self, held: LoadedWeights, size: int, estimate: int, started: float
    ) -> LoadedModel:
        model, info = held.model, held.info
        # The first touch of llama_cpp's Python side, after every check; looked up here so
        # that patching app.core.chat.engine.import_llama_cpp catches it.
        lib = import_llama_cpp()
        self._contexts.append(held.lease.add_context(estimate))
        llama = self._open(held, info, size)
        vocab = lib.llama_model_get_vocab(llama.model)
        bos = lib.llama_vocab_bos(vocab)
        eos = lib.llama_vocab_eos(vocab)
        self._template = ChatTemplate(
            info.chat_template,
            bos_token=_token_text(lib, vocab, bos),
            eos_token=_token_text(lib, vocab, eos),
        )
        self._llama, self._lib, self._vocab = llama, lib, vocab
        self._cache = PromptCache(
            lib,
            llama,
            unit=min(self.n_batch, size),
            key=state_key(lib, llama, model.sha256, min(self.n_batch, size)),
            sources=self.states,
            save_prompts=self.save_prompts,
            save_replies=not self.save_prompts,
            tuner=self._tuner,
            threads=self.n_threads,
            abort=self._abort_on,
        )
        self._add_bos = bool(lib.llama_vocab_get_add_bos(vocab))
        self._bos_text = self._template.bos_token
        self._loaded = LoadedModel(
            model_id=model.id,
            lock_id=model.lock_id,
            sha256=model.sha256,
            name=model.model_name or model.filename,
            n_ctx=llama.n_ctx(),
            n_ctx_train=info.context_length,
            template_problem=self._template.problem,
            load_seconds=time.perf_counter() - started,
            offload=held.offload,
        )
        return self._loaded

    def _open(self, held: LoadedWeights, info: GGUFInfo, n_ctx: int) -> Any:
        model = held.model
        try:
            return open_llama(
                model.path,
                model=held.lease.handle,
                n_ctx=n_ctx,
                n_batch=min(self.n_batch, n_ctx),
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads,
            )
        except MemoryError as exc:
            raise ModelLoadError(
                f"There is not enough memory to load {model.id}. Close other programs, "
                "choose a smaller model, or lower the context size."
            ) from exc
        except ModelLoadError:
            raise
        except Exception as exc:
            raise ModelLoadError(_load_failure(model, info, n_ctx, str(exc))) from exc

    def unload(self) -> None:
        """Free this engine's contexts and give the weights back to the host (which keeps
        them warm for a while). Safe to call when nothing is loaded."""
        with self._owned():
            llama, self._llama = self._llama, None
            embedder, self._embedder = self._embedder, None
            held, self._weights = self._weights, None
            self._loaded = None
            self._vocab = None
            self._cache = None
            if llama is not None:
                llama.close()
            if embedder is not None:
                embedder.close()
            if held is not None:
                for context in self._contexts:
                    held.lease.drop_context(context)
                held.release()
            self._contexts = []

    close = unload

    # -- tokens and context --

    def render(
        self, messages: Sequence[ChatMessage], cancel: CancelToken | None = None
    ) -> RenderedPrompt:
        """The prompt text for ``messages``, ending where the assistant's reply begins.

        ``Cancelled`` if ``cancel`` is set while the chat template renders.
        """
        return self._template.render(messages, cancel=cancel)

    def tokenize_prompt(self, text: str) -> list[int]:
        llama = self._require_llama()
        add_bos = self._add_bos and not (self._bos_text and text.startswith(self._bos_text))
        tokens: list[int] = llama.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)
        return tokens

    def detokenize(self, ids: Sequence[int]) -> str:
        """The text of ``ids`` (a character split between tokens shows as U+FFFD)."""
        with self._owned():
            raw: bytes = self._require_llama().detokenize(list(ids))
            return raw.decode("utf-8", "replace")

    def forget_prompt_cache(self) -> None:
        """Make the next reply evaluate its whole prompt (a cold start), reusing nothing."""
        with self._owned():
            self._require_llama()
            assert self._cache is not None
            self._cache.forget()

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """Tokens the prompt for ``messages`` takes, as ``stream_chat`` would send it."""
        with self._owned():
            return len(self.tokenize_prompt(self.render(messages).text))

    def check_fits(self, messages: Sequence[ChatMessage], params: SamplingParams) -> ContextBudget:
        loaded = self._require_loaded()
        return ContextBudget(self.count_tokens(messages), params.max_tokens, loaded.n_ctx)

    # -- replies --

    def stream_chat(
        self,
        messages: Sequence[ChatMessage],
        params: SamplingParams,
        cancel: CancelToken | None = None,
        *,
        on_prompt_progress: ProgressCallback | None = None,
        reply_prefix: str = "",
    ) -> Iterator[str]:
        """Stream the assistant's reply to ``messages`` as text pieces.

        Checks happen now: ``ContextOverflow`` (and a missing model) are raised by this
        call, not by the first ``next()``. The pieces never split a UTF-8 character and
        never include a stop string. See the module docstring for cancelling and stats.

        ``reply_prefix`` continues a reply: the prompt ends with it after the generation
        prompt, as if the model had written it, and the pieces are what follows
        (``max_tokens`` counts the new tokens only).
        """
        with self._owned():
            if self._loaded is not None and self._loaded.offload.on_gpu and gpu.lost():
                self._reload_on_cpu()
            loaded = self._require_loaded()
            if not messages:
                raise GenerationError("There is nothing to reply to: the conversation is empty.")
            self._last_stats = None
            try:
                rendered = self.render(messages, cancel)
            except Cancelled:  # stopped while the chat template rendered: no tokens at all
                self._last_stats = GenerationStats(0, 0, 0, 0.0, 0.0, 0.0, "cancelled", None)
                raise
            self._prompt_problem = rendered.problem
            tokens = self.tokenize_prompt(rendered.text + reply_prefix)
            budget = ContextBudget(len(tokens), params.max_tokens, loaded.n_ctx)
            if not budget.fits:
                raise budget.overflow()
            if params.grammar is not None:
                self._check_grammar(params.grammar)
            self._last_stats = None
        cuts = self._cuts(messages, rendered.text, tokens)
        return self._stream(
            tokens,
            params,
            rendered,
            cancel,
            on_prompt_progress,
            cuts=cuts,
            messages=messages,
            reply_prefix=reply_prefix,
        )

    def _check_grammar(self, grammar: str) -> None:
        check_grammar(self._lib, self._vocab, grammar)

    def _stream(
        self,
        tokens: list[int],
        params: SamplingParams,
        rendered: RenderedPrompt,
        cancel: CancelToken | None,
        on_prompt_progress: ProgressCallback | None = None,
        *,
        cuts: Sequence[int] = (),
        messages: Sequence[ChatMessage] | None = None,
        reply_prefix: str = "",
    ) -> Iterator[str]:
        llama = self._require_llama()
        lib = self._lib
        assert lib is not None
        stops = tuple(dict.fromkeys((*params.stop, *rendered.extra_stops)))
        seed = params.seed if params.seed is not None else secrets.randbelow(2**31)
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        pending = ""
        completion = 0
        cached = restored = 0
        text: list[str] = []
        finish: FinishReason = "cancelled"
        started = time.perf_counter()
        prompt_done = first_token = started
        generator: Any = None
        sampled: list[int] = []
        self._last_logprobs = logprobs = []
        with self._owned():
            try:
                cache = self._cache
                assert cache is not None
                prefilled = cache.prefill(tokens, cancel, on_prompt_progress, cuts=cuts)
                cached, restored = prefilled.reused, prefilled.restored
                prompt_done = first_token = time.perf_counter()
                llama.set_seed(seed)
                grammar = (
                    None
                    if params.grammar is None
                    else lib.LlamaGrammar.from_string(params.grammar, verbose=False)
                )
                generator = llama.generate(
                    tokens,
                    temp=params.temperature,
                    top_k=params.top_k,
                    top_p=params.top_p,
                    min_p=params.min_p,
                    repeat_penalty=params.repeat_penalty,
                    grammar=grammar,
                )
                hit_stop = False
                for token in generator:
                    if lib.llama_vocab_is_eog(self._vocab, token):
                        finish = "stop"
                        break
                    completion += 1
                    sampled.append(int(token))
                    if params.logprobs is not None:
                        logprobs.append(token_logprob(lib, llama, int(token), params.logprobs))
                    if completion == 1:
                        first_token = time.perf_counter()
                    pending += decoder.decode(llama.detokenize([token]))
                    emit, pending, hit_stop = split_at_stop(pending, stops)
                    if emit:
                        text.append(emit)
                        yield emit
                    if hit_stop:
                        finish = "stop"
                        break
                    if completion >= params.max_tokens:
                        finish = "length"
                        break
                    if cancel is not None and cancel.cancelled:
                        break  # finish stays "cancelled"
                else:
                    finish = "stop"  # the generator ended by itself
                if not hit_stop:
                    # What was held back (a possible stop string's start) is reply text.
                    tail, _, _ = split_at_stop(pending + decoder.decode(b"", final=True), stops)
                    if tail:
                        text.append(tail)
                        yield tail
                if finish == "cancelled":
                    raise Cancelled()
            except GenerationError as exc:
                finish = "error"
                if self._on_gpu():
                    raise GenerationError(self._gpu_failed(str(exc))) from exc
                raise
            except RuntimeError as exc:  # llama_decode failed while replying
                finish = "error"
                native = last_native_error(str(exc))
                if self._on_gpu():
                    raise GenerationError(self._gpu_failed(native)) from exc
                raise GenerationError(
                    f"llama.cpp failed while writing the reply: {native}."
                ) from exc
            finally:
                if generator is not None:
                    generator.close()
                ended = time.perf_counter()
                self._last_token_ids = tuple(sampled)
                self._last_stats = GenerationStats(
                    prompt_tokens=len(tokens),
                    cached_tokens=cached,
                    completion_tokens=completion,
                    prompt_seconds=prompt_done - started,
                    generation_seconds=ended - prompt_done,
                    first_token_seconds=first_token - started,
                    finish_reason=finish,
                    seed=None if params.greedy and params.seed is None else seed,
                    used_fallback_template=rendered.used_fallback,
                    restored_tokens=restored,
                )
            # The reply is whole: settle the prompt and reply into an exact state and save
            # it, so the next turn (or another process) evaluates only what is new.
            if messages is not None:
                reply = reply_prefix + "".join(text)
                self._settle([*messages, assistant(reply), user(".")], cancel)

    def _on_gpu(self) -> bool:
        return self._loaded is not None and self._loaded.offload.on_gpu

    def _gpu_failed(self, reason: str) -> str:
        """A reply failed on the GPU (a device reset or lost): no more GPU in this process,
        and the next reply reloads the model on the CPU (the conversation is kept)."""
        assert self._loaded is not None
        sentence = gpu.mark_lost(self._loaded.offload.device, reason)
        return f"{sentence} Send the message again to answer it on the CPU."

    def _reload_on_cpu(self) -> None:
        """The same model and context size, on the CPU, after the GPU failed."""
        loaded = self._loaded
        assert loaded is not None
        note = gpu.lost() or ""
        choice, self.gpu_layers = self.gpu_layers, "0"
        try:
            self.load(loaded.model_id, n_ctx=loaded.n_ctx)
        finally:
            self.gpu_layers = choice
        if self._loaded is not None:
            offload = dataclasses.replace(self._loaded.offload, note=note)
            self._loaded = dataclasses.replace(self._loaded, offload=offload)

    def _settle(self, after: list[ChatMessage], cancel: CancelToken | None) -> None:
        """Settle the conversation up to the reply (the end of ``after``'s second last
        message, as the next prompt will hold it) into an exact, saved state."""
        cache = self._cache
        if cache is None or not cache.save_replies or not cache.sources:
            return
        try:
            text = self.render(after).text
            tokens = self.tokenize_prompt(text)
            cuts = self._cuts(after, text, tokens)
            if cuts:
                cache.settle(tokens[: cuts[-1]], cuts[:-1], cancel)
        except Exception:  # a reply is never failed by keeping its state
            log.exception("Could not keep the reply's KV state")

    @contextlib.contextmanager
    def _abort_on(self, cancel: CancelToken | None) -> Iterator[None]:
        """Let llama.cpp stop inside a long prompt batch when ``cancel`` is set.

        The callback runs on the thread inside ``llama_decode`` once per graph node and
        must take the GIL to read the token, so it is installed only while the prompt is
        evaluated (between reply tokens the token is checked anyway).
        """
        lib = self._lib
        if cancel is None or lib is None:
            yield
            return

        def should_abort(_data: object) -> bool:
            return cancel.cancelled

        self._abort = lib.ggml_abort_callback(should_abort)
        lib.llama_set_abort_callback(self._llama.ctx, self._abort, None)
        try:
            yield
        finally:
            null = lib.ggml_abort_callback()  # a NULL function pointer
            lib.llama_set_abort_callback(self._llama.ctx, null, None)
            self._abort = None

    # -- guards --

    @contextlib.contextmanager
    def _owned(self) -> Iterator[None]:
        me = threading.get_ident()
        with self._owner_lock:
            if self._owner not in (None, me):
                raise RuntimeError(
                    "The engine is in use by another thread. llama.cpp is not thread-safe: "
                    "use each Engine from one thread only (cancel from anywhere)."
                )
            outer = self._owner is None
            self._owner = me
        try:
            yield
        finally:
            if outer:
                with self._owner_lock:
                    self._owner = None

    def _require_llama(self) -> Any:
        if self._llama is None:
            raise ModelNotFound("No model is loaded. Load one first.")
        return self._llama

    def _require_loaded(self) -> LoadedModel:
        self._require_llama()
        assert self._loaded is not None
        return self._loaded


# --- helpers for loading ----------------------------------------------------------------


def gpu_context_note(offload: Offload, reason: str) -> str:
    """The sentence for a model whose weights loaded on the GPU but whose context could not
    be made there (out of device memory, most often)."""
    return (
        f"The context could not be made on the GPU ({offload.device}: "
        f"{reason.rstrip('.')}), so the model runs on the CPU."
    )


def _token_text(lib: ModuleType, vocab: Any, token: int) -> str:
    if token < 0:
        return ""
    raw = lib.llama_vocab_get_text(vocab, token)
    return raw.decode("utf-8", "replace") if raw else ""


def _load_failure(model: InstalledModel, info: GGUFInfo, n_ctx: int, raised: str) -> str:
    native = last_native_error(raised)
    if "unknown model architecture" in native:
        return (
            f"{model.id} uses the model architecture '{info.architecture}', which this "
            "version of llama.cpp cannot run. Update Driftless, or choose another model."
        )
    if "llama_context" in raised:
        return (
            f"llama.cpp could not set up a context of {n_ctx:,} tokens for {model.id} "
            f"({native}). There may not be enough memory: lower the context size or close "
            "other programs."
        )
    return f"llama.cpp could not load {model.id}: {native}."
