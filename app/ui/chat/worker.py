"""The inference thread: one worker object owns the chat engine (GPT4All's design).

``llama_cpp.Llama`` is not thread-safe, so the engine lives on the worker's ``QThread``
and is only touched there (the kit in :mod:`app.ui.model_worker`: request ids, stale
answers dropped, direct cancels, ordered shutdown). A load answers with the kit's
``progressed``/``finished``/``failed``; a reply with the signals below.

The worker also saves the reply as it grows (through the conversation store's reply
writer), so a crash keeps what was already on screen, and the GUI thread never
waits on the disk.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import Signal

from app.core.chat.context import ContextBudget, drop_oldest_turns
from app.core.chat.conversations import ConversationStore
from app.core.chat.protocols import ChatEngine
from app.core.chat.records import FinalStatus, ModelProvenance
from app.core.chat.saved import reply_params, reply_stats
from app.core.docs.answering import PROVENANCE_KEY
from app.core.errors import Cancelled, ContextOverflow, DriftlessError, describe_failure
from app.core.runtime.template import ChatMessage
from app.core.throttle import Throttle, throttled_counts
from app.ui.chat.requests import LoadRequest, ReplyOutcome, ReplyRequest
from app.ui.doc_access import DocsAccess
from app.ui.model_worker import ModelWorker

log = logging.getLogger(__name__)

EMIT_INTERVAL = 0.03
"""Seconds between batches of text sent to the window: tokens come faster than people read."""


class EngineWorker(ModelWorker):
    """Lives on the inference thread; every request method runs there.

    A load answers ``finished`` (the LoadedModel), ``failed`` or ``progressed`` (the
    fraction of a moved file re-hashed)."""

    reading_started = Signal(int)  # the prompt is being evaluated
    prompt_progressed = Signal(int, int, int)  # request id, prompt tokens read, to read
    text_received = Signal(int, str)
    reply_ended = Signal(object)  # ReplyOutcome
    context_overflowed = Signal(int, object)  # request id, ContextOverflow

    def __init__(
        self,
        engine_factory: Callable[[], ChatEngine],
        conversations: ConversationStore,
        docs: DocsAccess | None = None,
    ) -> None:
        super().__init__()
        self._engine_factory = engine_factory
        self._engine: ChatEngine | None = None
        self._conversations = conversations
        self._docs = docs

    def _get_engine(self) -> ChatEngine:
        if self._engine is None:
            self._engine = self._engine_factory()
        return self._engine

    def load(self, request: LoadRequest) -> None:
        try:
            loaded = self._get_engine().load(
                request.model_id,
                n_ctx=request.n_ctx,
                on_progress=throttled_counts(
                    lambda done, total: self.progressed.emit(
                        request.request_id, done / total if total else 0.0
                    )
                ),
                cancel=request.cancel,
            )
        except Cancelled:
            self.failed.emit(request.request_id, "Loading was cancelled.")
        except Exception as exc:  # a native or unexpected failure must still reach the user
            self.failed.emit(request.request_id, describe_failure(exc, log))
        else:
            self.finished.emit(request.request_id, loaded)

    def generate(self, request: ReplyRequest) -> None:
        engine = self._get_engine()
        loaded = engine.loaded
        if request.cancel.cancelled:  # stopped before it began: still say it ended
            self.reply_ended.emit(
                ReplyOutcome(request.request_id, request.conversation_id, 0, "cancelled", None)
            )
            return
        try:
            if loaded is None:
                raise DriftlessError("No model is loaded. Pick one in the model picker.")
            self.reading_started.emit(request.request_id)
            messages: list[ChatMessage] = list(request.messages)
            docs_record: dict[str, object] | None = None
            docs_summary: str | None = None
            if request.docs:
                if self._docs is None:
                    raise DriftlessError("Answering from documents is not available here.")
                answering = self._docs.answer(
                    request.docs,
                    messages,
                    lambda prompt: engine.check_fits(prompt, request.params).fits,
                )
                messages = answering.messages
                docs_record = answering.provenance()
                docs_summary = answering.summary
            if request.drop_oldest:
                limit = ContextBudget(0, request.params.max_tokens, loaded.n_ctx).prompt_limit
                messages = drop_oldest_turns(messages, engine.count_tokens, limit)
            pieces = engine.stream_chat(
                messages,
                request.params,
                request.cancel,
                on_prompt_progress=throttled_counts(
                    lambda done, total: self.prompt_progressed.emit(request.request_id, done, total)
                ),
                reply_prefix=request.prefix,
            )
        except ContextOverflow as exc:
            self.context_overflowed.emit(request.request_id, exc)
            return
        except Cancelled:  # stopped while the prompt was being made: nothing to save
            self.reply_ended.emit(
                ReplyOutcome(request.request_id, request.conversation_id, 0, "cancelled", None)
            )
            return
        except DriftlessError as exc:
            self.reply_ended.emit(
                ReplyOutcome(
                    request.request_id, request.conversation_id, 0, "error", None, str(exc)
                )
            )
            return
        provenance = ModelProvenance(loaded.lock_id, loaded.sha256)
        params = reply_params(request.params, loaded)
        problem = engine.prompt_problem
        if problem is not None:
            # Part of the reply's provenance: this prompt was not the model's own format.
            params["template_fallback"] = problem
        if docs_record is not None:
            # Part of the reply's provenance: the collections' versions and the passages cited.
            params[PROVENANCE_KEY] = docs_record
        writer = self._conversations.begin_reply(request.conversation_id, provenance, params)
        if request.prefix:  # a continued reply holds its start (already on screen)
            writer.append(request.prefix)
        status: FinalStatus = "complete"
        error: str | None = None
        buffer: list[str] = []
        flush = Throttle(EMIT_INTERVAL)
        try:
            for piece in pieces:
                writer.append(piece)
                buffer.append(piece)
                if flush.due():
                    self.text_received.emit(request.request_id, "".join(buffer))
                    buffer.clear()
        except Cancelled:
            status = "cancelled"
        except Exception as exc:  # reported in the conversation, never lost
            log.exception("A reply failed")
            status = "error"
            error = str(exc) or type(exc).__name__
        if buffer:
            self.text_received.emit(request.request_id, "".join(buffer))
        stats = engine.last_stats
        message = writer.finish(status, stats=reply_stats(stats), error=error)
        self.reply_ended.emit(
            ReplyOutcome(
                request.request_id,
                request.conversation_id,
                message.id,
                status,
                stats,
                error,
                template_problem=problem,
                docs_summary=docs_summary,
            )
        )

    def release(self) -> None:
        if self._engine is not None:
            self._engine.unload()
