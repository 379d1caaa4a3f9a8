"""The GUI-thread side of the inference thread: requests out, fresh answers in.

Every request gets an id. Answers to a request the window has since abandoned
(a stopped reply, a model switched away from) are dropped here, so the page
only ever hears about the request it is waiting for. Shutdown is in order:
cancel, unload, ``quit()``, ``wait()``.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from app.core.cancel import CancelToken
from app.core.chat.conversations import ConversationStore
from app.core.chat.protocols import ChatEngine
from app.core.chat.sampling import SamplingParams
from app.core.errors import ContextOverflow
from app.core.runtime.results import LoadedModel
from app.core.runtime.template import ChatMessage
from app.ui.chat.worker import EngineWorker, LoadRequest, ReplyOutcome, ReplyRequest
from app.ui.tasks import stop_thread


class ChatController(QObject):
    """Owns the inference thread and its worker; one reply and one load at a time."""

    load_started = Signal(str)  # model id
    load_progressed = Signal(float)  # fraction of the file checked, when it is re-hashed
    model_loaded = Signal(object)  # LoadedModel
    load_failed = Signal(str)
    reading_started = Signal()
    prompt_progressed = Signal(int, int)  # prompt tokens read, to read
    text_received = Signal(str)
    reply_ended = Signal(object)  # ReplyOutcome
    context_overflowed = Signal(object)  # ContextOverflow

    _load_requested = Signal(object)
    _generate_requested = Signal(object)
    _unload_requested = Signal()

    def __init__(
        self,
        engine_factory: Callable[[], ChatEngine],
        conversations: ConversationStore,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._tokens: list[CancelToken] = []  # of the requests under way, for teardown
        self._load: LoadRequest | None = None
        self._reply: ReplyRequest | None = None
        self.loaded: LoadedModel | None = None
        self._thread = QThread()
        self._thread.setObjectName("driftless-inference")
        self._worker = EngineWorker(engine_factory, conversations)
        self._worker.moveToThread(self._thread)
        self._load_requested.connect(self._worker.load)
        self._generate_requested.connect(self._worker.generate)
        self._unload_requested.connect(self._worker.unload)
        self._worker.model_loaded.connect(self._on_worker_model_loaded)
        self._worker.load_failed.connect(self._on_worker_load_failed)
        self._worker.load_progressed.connect(self._on_worker_load_progressed)
        self._worker.reading_started.connect(self._on_worker_reading_started)
        self._worker.prompt_progressed.connect(self._on_worker_prompt_progressed)
        self._worker.text_received.connect(self._on_worker_text_received)
        self._worker.reply_ended.connect(self._on_worker_reply_ended)
        self._worker.context_overflowed.connect(self._on_worker_context_overflowed)
        self._thread.finished.connect(self._worker.deleteLater)
        # A page deleted without being closed (its window garbage-collected) must still
        # end the thread: destroying a running QThread aborts the process.
        self.destroyed.connect(functools.partial(stop_thread, self._thread, self._tokens))
        app = QCoreApplication.instance()
        if app is not None:  # a window closed by quitting still ends its thread in order
            app.aboutToQuit.connect(self.shutdown)
        self._thread.start()

    # --- requests -----------------------------------------------------------

    @property
    def loading(self) -> bool:
        return self._load is not None

    @property
    def loading_model(self) -> str | None:
        """The model being loaded now, if any."""
        return self._load.model_id if self._load is not None else None

    @property
    def busy(self) -> bool:
        return self._reply is not None

    def load_model(self, model_id: str, n_ctx: int | None = None) -> None:
        if self._load is not None:
            self._load.cancel.cancel()
        self.stop()
        self.loaded = None
        self._load = LoadRequest(next(self._ids), model_id, n_ctx, self._token())
        self.load_started.emit(model_id)
        self._load_requested.emit(self._load)

    def send(
        self,
        conversation_id: int,
        messages: list[ChatMessage],
        params: SamplingParams,
        *,
        drop_oldest: bool = False,
    ) -> None:
        """Ask for a reply; the worker saves it under the conversation as it streams."""
        self.stop()
        self._reply = ReplyRequest(
            next(self._ids), conversation_id, tuple(messages), params, self._token(), drop_oldest
        )
        self._generate_requested.emit(self._reply)

    def _token(self) -> CancelToken:
        self._tokens[:] = [t for t in self._tokens if not t.cancelled]
        token = CancelToken()
        self._tokens.append(token)
        return token

    def stop(self) -> None:
        """Stop the reply being generated: a direct call, seen between tokens."""
        if self._reply is not None:
            self._reply.cancel.cancel()

    def shutdown(self) -> None:
        if self._thread.isRunning():
            self._unload_requested.emit()
        stop_thread(self._thread, self._tokens)

    # --- answers ------------------------------------------------------------

    def _is_current_load(self, request_id: int) -> bool:
        return self._load is not None and self._load.request_id == request_id

    def _is_current_reply(self, request_id: int) -> bool:
        return self._reply is not None and self._reply.request_id == request_id

    @Slot(int, object)
    def _on_worker_model_loaded(self, request_id: int, loaded: LoadedModel) -> None:
        if self._is_current_load(request_id):
            self._load = None
            self.loaded = loaded
            self.model_loaded.emit(loaded)

    @Slot(int, float)
    def _on_worker_load_progressed(self, request_id: int, fraction: float) -> None:
        if self._is_current_load(request_id):
            self.load_progressed.emit(fraction)

    @Slot(int, str)
    def _on_worker_load_failed(self, request_id: int, message: str) -> None:
        if self._is_current_load(request_id):
            self._load = None
            self.load_failed.emit(message)

    @Slot(int)
    def _on_worker_reading_started(self, request_id: int) -> None:
        if self._is_current_reply(request_id):
            self.reading_started.emit()

    @Slot(int, int, int)
    def _on_worker_prompt_progressed(self, request_id: int, done: int, total: int) -> None:
        if self._is_current_reply(request_id):
            self.prompt_progressed.emit(done, total)

    @Slot(int, str)
    def _on_worker_text_received(self, request_id: int, text: str) -> None:
        if self._is_current_reply(request_id):
            self.text_received.emit(text)

    @Slot(object)
    def _on_worker_reply_ended(self, outcome: ReplyOutcome) -> None:
        if self._is_current_reply(outcome.request_id):
            self._reply = None
        elif self._reply is not None:
            return  # an abandoned request ended while a newer reply streams: not news
        # A stopped reply still ends: the page refreshes the saved conversation.
        self.reply_ended.emit(outcome)

    @Slot(int, object)
    def _on_worker_context_overflowed(self, request_id: int, error: ContextOverflow) -> None:
        if self._is_current_reply(request_id):
            self._reply = None
            self.context_overflowed.emit(error)
