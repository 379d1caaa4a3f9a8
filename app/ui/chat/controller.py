"""The GUI-thread side of the inference thread: requests out, fresh answers in.

A user of the model-worker kit (:mod:`app.ui.model_worker`) with two lanes, a load
and a reply: answers to a request the window has since abandoned (a stopped reply, a
model switched away from) are dropped, so the page only hears about the request it
is waiting for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import QObject, Signal, Slot

from app.core.chat.conversations import ConversationStore
from app.core.chat.protocols import ChatEngine
from app.core.chat.sampling import SamplingParams
from app.core.errors import ContextOverflow
from app.core.runtime.results import LoadedModel
from app.core.runtime.template import ChatMessage
from app.ui.chat.requests import LoadRequest, ReplyOutcome, ReplyRequest
from app.ui.chat.worker import EngineWorker
from app.ui.doc_access import DocsAccess
from app.ui.model_worker import WorkerController


class ChatController(WorkerController):
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

    def __init__(
        self,
        engine_factory: Callable[[], ChatEngine],
        conversations: ConversationStore,
        parent: QObject | None = None,
        docs: DocsAccess | None = None,
    ) -> None:
        worker = EngineWorker(engine_factory, conversations, docs)
        super().__init__(worker, "driftless-inference", parent)
        self._engine_worker = worker
        self._load_lane = self.lane("load")
        self._reply_lane = self.lane("reply")
        self._load: LoadRequest | None = None
        self._reply: ReplyRequest | None = None
        self.loaded: LoadedModel | None = None
        self._load_lane.finished.connect(self._on_load_finished)
        self._load_lane.failed.connect(self._on_load_failed)
        self._load_lane.progressed.connect(self._on_load_progressed)
        worker.reading_started.connect(self._on_worker_reading_started)
        worker.prompt_progressed.connect(self._on_worker_prompt_progressed)
        worker.text_received.connect(self._on_worker_text_received)
        worker.reply_ended.connect(self._on_worker_reply_ended)
        worker.context_overflowed.connect(self._on_worker_context_overflowed)
        self.start()

    # --- requests -----------------------------------------------------------

    @property
    def loading(self) -> bool:
        return self._load_lane.busy

    @property
    def loading_model(self) -> str | None:
        """The model being loaded now, if any."""
        return self._load.model_id if self._load is not None and self.loading else None

    @property
    def busy(self) -> bool:
        return self._reply_lane.busy

    def load_model(self, model_id: str, n_ctx: int | None = None) -> None:
        self.stop()
        self.loaded = None
        request_id, token = self._load_lane.begin()
        self._load = LoadRequest(request_id, model_id, n_ctx, token)
        self.load_started.emit(model_id)
        self.post(self._engine_worker.load, self._load)

    def send(
        self,
        conversation_id: int,
        messages: list[ChatMessage],
        params: SamplingParams,
        *,
        drop_oldest: bool = False,
        docs: Sequence[str] = (),
        prefix: str = "",
    ) -> None:
        """Ask for a reply; the worker saves it under the conversation as it streams.
        ``docs``: collections whose best passages join the prompt; ``prefix``: the reply
        continues this text (saved as the reply's start)."""
        request_id, token = self._reply_lane.begin()
        self._reply = ReplyRequest(
            request_id,
            conversation_id,
            tuple(messages),
            params,
            token,
            drop_oldest,
            tuple(docs),
            prefix,
        )
        self.post(self._engine_worker.generate, self._reply)

    def stop(self) -> None:
        """Stop the reply being generated: a direct call, seen between tokens."""
        self._reply_lane.cancel()

    # --- answers ------------------------------------------------------------

    @Slot(object)
    def _on_load_finished(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.model_loaded.emit(loaded)

    @Slot(object)
    def _on_load_progressed(self, fraction: float) -> None:
        self.load_progressed.emit(fraction)

    @Slot(str)
    def _on_load_failed(self, message: str) -> None:
        self.load_failed.emit(message)

    @Slot(int)
    def _on_worker_reading_started(self, request_id: int) -> None:
        if self._reply_lane.is_current(request_id):
            self.reading_started.emit()

    @Slot(int, int, int)
    def _on_worker_prompt_progressed(self, request_id: int, done: int, total: int) -> None:
        if self._reply_lane.is_current(request_id):
            self.prompt_progressed.emit(done, total)

    @Slot(int, str)
    def _on_worker_text_received(self, request_id: int, text: str) -> None:
        if self._reply_lane.is_current(request_id):
            self.text_received.emit(text)

    @Slot(object)
    def _on_worker_reply_ended(self, outcome: ReplyOutcome) -> None:
        if not self._reply_lane.end(outcome.request_id) and self._reply_lane.busy:
            return  # an abandoned request ended while a newer reply streams: not news
        # A stopped reply still ends: the page refreshes the saved conversation.
        self.reply_ended.emit(outcome)

    @Slot(int, object)
    def _on_worker_context_overflowed(self, request_id: int, error: ContextOverflow) -> None:
        if self._reply_lane.end(request_id):
            self.context_overflowed.emit(error)
