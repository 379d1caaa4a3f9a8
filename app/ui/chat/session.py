"""What the chat page is doing, without Qt: the open conversation, its thread, the reply
under way, the message being edited, the drafts and the model wanted.

The page's widgets observe a :class:`ChatState` through its callbacks (``status``,
``changed``, ``thread_shown``...) and call its methods for what the person does; the
inference thread is reached through :class:`ChatBackend` (the page's
:class:`~app.ui.chat.controller.ChatController`), whose answers the page hands back
(:meth:`ChatState.model_loaded`, :meth:`ChatState.reply_ended`...). Nothing here
imports ``PySide6``, so it is tested without a window.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from app.core.chat.conversations import ConversationStore
from app.core.chat.drafts import ChatSession
from app.core.chat.export import finish_of
from app.core.chat.records import Conversation, Message
from app.core.chat.sampling import SamplingParams
from app.core.chat.saved import (
    CUSTOM,
    NEW_TITLE,
    conversation_params,
    thread_messages,
    title_from,
)
from app.core.errors import DriftlessError
from app.core.models.probe import ProbeCache
from app.core.models.store import ModelStore
from app.core.runtime.results import LoadedModel
from app.core.runtime.template import ChatMessage
from app.ui.chat.requests import ReplyOutcome

T = TypeVar("T")

ANSWER_FROM = "docs"
"""The key of a conversation's settings naming the collections it answers from."""


class Callbacks(Generic[T]):
    """Who to tell when something happened: ``connect`` a callable, call to tell them all."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[T], None]] = []

    def connect(self, callback: Callable[[T], None]) -> None:
        self._callbacks.append(callback)

    def __call__(self, value: T) -> None:
        for callback in list(self._callbacks):
            callback(value)


class ChatBackend(Protocol):
    """What the inference thread offers: one load and one reply at a time."""

    loaded: LoadedModel | None

    @property
    def loading(self) -> bool: ...

    @property
    def loading_model(self) -> str | None: ...

    @property
    def busy(self) -> bool: ...

    def load_model(self, model_id: str, n_ctx: int | None = None) -> None: ...

    def send(
        self,
        conversation_id: int,
        messages: list[ChatMessage],
        params: SamplingParams,
        *,
        drop_oldest: bool = False,
        docs: Sequence[str] = (),
        prefix: str = "",
    ) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class ShownThread:
    """A thread to show in place of the one shown, with its branch switchers."""

    messages: tuple[Message, ...]
    siblings: Mapping[int, Sequence[int]]
    scroll_to_bottom: bool = True


@dataclass(frozen=True)
class SavedReply:
    """The reply streamed on screen, as it was saved, and the switchers it changed."""

    message: Message
    siblings: Mapping[int, Sequence[int]]


class ChatState:
    """The chat page's state and the rules over it; the widgets only show it."""

    def __init__(
        self,
        conversations: ConversationStore,
        store: ModelStore,
        backend: ChatBackend,
        active_model: Callable[[], str | None],
    ) -> None:
        self.conversations = conversations
        self.store = store
        self.backend = backend
        self._active_model = active_model
        self.drafts = ChatSession(conversations.paths)
        """The open conversation and each unsent draft, kept for the next start."""
        self.current: Conversation | None = None
        self.thread: list[Message] = []
        """The messages shown (the reply streaming now is not one yet)."""
        self.editing_message_id: int | None = None
        self.drop_oldest: set[int] = set()
        """Conversations whose oldest turns are left out when the prompt would not fit."""
        self.resend_after_load = False
        self.deleted_id: int | None = None
        """The conversation Undo would bring back."""

        self.status = Callbacks[str]()  # a sentence for the status line
        self.changed = Callbacks[None]()  # what can be done now may have changed
        self.thread_shown = Callbacks[ShownThread]()
        self.reply_begun = Callbacks[LoadedModel | None]()  # the model that will answer
        self.reply_prefilled = Callbacks[str]()  # a continued reply's start, shown at once
        self.reply_saved = Callbacks[SavedReply]()
        self.editing_changed = Callbacks[int | None]()  # the message being edited, if any
        self.renamed = Callbacks[int]()  # a conversation's title changed
        self.model_wanted = Callbacks[str]()  # the model the open conversation uses

    # --- what is going on --------------------------------------------------------------

    @property
    def loaded(self) -> LoadedModel | None:
        return self.backend.loaded

    @property
    def busy(self) -> bool:
        """A reply is being generated."""
        return self.backend.busy

    @property
    def ready(self) -> bool:
        return self.backend.loaded is not None and not self.backend.loading

    # --- models -----------------------------------------------------------------------

    def wanted_model(self, conversation: Conversation | None) -> str | None:
        if conversation is not None and conversation.model_id:
            return conversation.model_id
        return self._active_model()

    def load_model_for(self, conversation: Conversation | None, n_ctx: int | None = None) -> None:
        wanted = self.wanted_model(conversation)
        if wanted is None:
            self.status("No model installed. Add one in Models.")
            return
        self.model_wanted(wanted)
        loaded = self.backend.loaded
        if loaded is not None and loaded.model_id == wanted and n_ctx is None:
            return
        if self.backend.loading_model == wanted and n_ctx is None:
            return  # already on its way: asking again would cancel and restart it
        refusal = self.crashed_probe(wanted)
        if refusal is not None:
            # Never load on our own a model that killed llama.cpp: the user picks another.
            self.status(refusal)
            self.changed(None)
            return
        self._load(wanted, n_ctx)

    def _load(self, model_id: str, n_ctx: int | None = None) -> None:
        self.backend.load_model(model_id, n_ctx)
        self.status(f"Loading {model_id}…")
        self.changed(None)

    def ensure_model(self) -> None:
        """Load the open conversation's model if none is loaded or on its way."""
        if self.backend.loaded is None and not self.backend.loading:
            self.load_model_for(self.current)  # e.g. the starter, registered after start-up

    def crashed_probe(self, model_id: str) -> str | None:
        """Why ``model_id`` must not be loaded automatically (it crashed its probe), or None."""
        try:
            model = self.store.get(model_id)
        except DriftlessError:
            return None  # gone or ambiguous: the load itself says so
        record = ProbeCache(self.store.paths).crashed(model)
        return None if record is None else record.problem(model.id)

    def choose_model(self, model_id: str) -> None:
        """The person picked ``model_id`` for the open conversation: load it, whatever it is."""
        if self.current is not None:
            self.current = self.conversations.update_settings(self.current.id, model_id=model_id)
        self._load(model_id)

    def active_model_changed(self, model_id: str) -> None:
        """Follow **Use**: a conversation with nothing in it yet switches to the new model."""
        if not model_id:
            return
        if self.current is None or not self.current.model_id:
            self.load_model_for(self.current)
        elif self.current.model_id == model_id:
            return
        elif not self.thread:
            self.current = self.conversations.update_settings(self.current.id, model_id=model_id)
            self.load_model_for(self.current)
        else:
            self.status(
                f"This conversation keeps {self.current.model_id}; "
                f"new conversations use {model_id}."
            )

    def show_ready(self) -> None:
        """The status for a conversation just opened: never the last one's reply figures."""
        loaded = self.backend.loaded
        if loaded is not None and self.ready and not self.busy:
            note = f" ({loaded.template_problem})" if loaded.template_problem else ""
            self.status(f"{loaded.model_id} ready, context {loaded.n_ctx:,} tokens.{note}")

    def model_loaded(self, _loaded: LoadedModel) -> None:
        self.show_ready()
        self.changed(None)
        if self.resend_after_load:
            self.resend_after_load = False
            self.generate()

    def load_failed(self, message: str) -> None:
        self.resend_after_load = False
        self.status(f"The model could not be loaded: {message}")
        self.changed(None)

    # --- conversations ----------------------------------------------------------------

    def open(
        self, conversation_id: int, message_id: int | None = None, *, draft: str = ""
    ) -> str | None:
        """Open a conversation; with ``message_id``, on the branch that holds that message.

        ``draft`` is what the message box holds now (kept for the conversation left).
        Returns the text the box should hold now, or None to leave it as it is.
        """
        if self.busy:
            self.backend.stop()
        leaving = self.current
        if leaving is not None:
            self.drafts.set_draft(leaving.id, draft)
        self.current = self.conversations.get_conversation(conversation_id)
        self.cancel_edit()
        kept = self.drafts.draft(conversation_id)
        self.drafts.open_conversation = conversation_id
        self.drafts.save()
        thread = self.conversations.get_thread(conversation_id)
        if message_id is not None and message_id not in {m.id for m in thread}:
            thread = self.conversations.switch_branch(message_id)
        self.show_thread(thread)
        self.show_ready()
        self.load_model_for(self.current)
        self.changed(None)
        # With none open, what was typed goes along into the conversation opened.
        return kept if leaving is not None or kept else None

    def show_thread(self, thread: list[Message], *, scroll_to_bottom: bool = True) -> None:
        assert self.current is not None
        self.thread = list(thread)
        siblings = self.conversations.branch_siblings(self.current.id)
        self.thread_shown(ShownThread(tuple(thread), siblings, scroll_to_bottom))

    def show_message(self, message_id: int) -> bool:
        """Show the branch that holds ``message_id`` (a search hit); False if not now."""
        if self.current is None or self.busy:
            return False
        if message_id not in {m.id for m in self.thread}:
            self.show_thread(self.conversations.switch_branch(message_id))
        return True

    def switch_branch(self, message_id: int) -> bool:
        """Show the version ``message_id`` of a message, with its newest continuation."""
        if self.current is None or self.busy:
            return False
        self.cancel_edit()
        thread = self.conversations.switch_branch(message_id)
        self.show_thread(thread, scroll_to_bottom=False)
        self.current = self.conversations.get_conversation(self.current.id)
        self.changed(None)
        return True

    def new_conversation(self, preset_name: str, model_id: str | None) -> Conversation:
        """A new conversation with the open one's system prompt (and custom sampling)."""
        custom = preset_name == CUSTOM
        return self.conversations.create_conversation(
            model_id=model_id,
            system_prompt=self.current.system_prompt if self.current else "",
            preset=None if custom else preset_name,
            # Its sampling, not its collections: Answer from is chosen per conversation.
            params=(
                {k: v for k, v in self.current.params.items() if k != ANSWER_FROM}
                if self.current and custom
                else None
            ),
        )

    def rename(self, conversation_id: int, title: str) -> None:
        self.conversations.rename_conversation(conversation_id, title)
        if self.current is not None and self.current.id == conversation_id:
            self.current = self.conversations.get_conversation(conversation_id)
        self.renamed(conversation_id)

    def delete_current(self, draft: str) -> Conversation | None:
        """Delete the open conversation (Undo brings it back, with its ``draft``)."""
        deleted = self.current
        if deleted is None:
            return None
        self.backend.stop()
        self.deleted_id = deleted.id
        self.conversations.delete_conversation(deleted.id)
        self.drafts.set_draft(deleted.id, draft)
        self.status(f"Deleted “{deleted.title}”. Undo brings it back.")
        self.current = None
        self.thread = []
        return deleted

    def undo_delete(self) -> Conversation | None:
        if self.deleted_id is None:
            return None
        restored = self.conversations.restore_conversation(self.deleted_id)
        self.deleted_id = None
        return restored

    def save(self, draft: str) -> None:
        """Keep the unsent ``draft`` and which conversation is open, for the next start."""
        if self.current is not None:
            self.drafts.set_draft(self.current.id, draft)
        self.drafts.open_conversation = self.current.id if self.current else None
        self.drafts.save()

    # --- settings of the open conversation --------------------------------------------

    def set_preset(self, name: str) -> None:
        if self.current is not None and name != CUSTOM:
            self.current = self.conversations.update_settings(self.current.id, preset=name)

    def set_params(self, params: SamplingParams) -> None:
        assert self.current is not None
        kept = {ANSWER_FROM: self.answer_from} if self.answer_from else {}
        self.current = self.conversations.update_settings(
            self.current.id, preset=CUSTOM, params={**params.to_json(), **kept}
        )

    @property
    def answer_from(self) -> list[str]:
        """The collections the open conversation answers from (kept with it)."""
        if self.current is None:
            return []
        names = self.current.params.get(ANSWER_FROM, [])
        return [str(n) for n in names] if isinstance(names, list) else []

    def set_answer_from(self, names: Sequence[str]) -> None:
        """Answer the open conversation from ``names`` (none: from the model alone)."""
        assert self.current is not None
        params = {k: v for k, v in self.current.params.items() if k != ANSWER_FROM}
        if names:
            params[ANSWER_FROM] = list(dict.fromkeys(names))
        self.current = self.conversations.update_settings(self.current.id, params=params)
        self.status(
            f"Answers come from {', '.join(names)} and cite their passages."
            if names
            else "Answers come from the model alone."
        )
        self.changed(None)

    def set_system_prompt(self, text: str) -> None:
        assert self.current is not None
        self.current = self.conversations.update_settings(self.current.id, system_prompt=text)
        self.status("System prompt saved for this conversation.")

    # --- sending ----------------------------------------------------------------------

    def can_send(self, text: str) -> bool:
        """Whether ``text`` can be sent now; says why not when the model is missing."""
        if not text.strip() or self.busy:
            return False
        if self.backend.loaded is None:
            self.status("The model is not loaded yet; your message is kept in the box.")
            return False
        return True

    def send(self, text: str) -> None:
        """Add ``text`` to the open conversation (or make it the edited message) and
        ask for the reply."""
        assert self.current is not None
        if self.editing_message_id is not None:
            self.conversations.edit_message(self.editing_message_id, text)
            self.cancel_edit()
        else:
            self.conversations.add_user_message(self.current.id, text)
        if self.current.title == NEW_TITLE:
            self.rename(self.current.id, title_from(text))
        self.drafts.set_draft(self.current.id, "")
        self.generate()

    def regenerate(self) -> None:
        if self.current is None or self.busy or self.backend.loaded is None:
            return
        self.conversations.regenerate(self.current.id)
        self.generate()

    def can_continue(self) -> bool:
        """Whether the open thread ends with a reply cut at its token limit."""
        if self.current is None or self.busy or self.backend.loaded is None or not self.thread:
            return False
        return finish_of(self.thread[-1]) == "length"

    def continue_reply(self) -> None:
        """Continue the last reply, cut at its token limit: a new version of it holding the
        cut text and what follows (the cut one is kept, as Regenerate keeps the old)."""
        if not self.can_continue():
            return
        assert self.current is not None
        cut = self.thread[-1]
        self.conversations.regenerate(self.current.id)
        self.generate(prefix=cut.content)

    def generate(self, prefix: str = "") -> None:
        """Ask for a reply to the open thread, if it ends with the person's message;
        ``prefix``: the reply continues this text."""
        assert self.current is not None
        self.current = self.conversations.get_conversation(self.current.id)
        thread = self.conversations.get_thread(self.current.id)
        if not thread or thread[-1].role != "user":
            return
        _name, params = conversation_params(self.current)
        self.show_thread(thread)
        self.reply_begun(self.backend.loaded)
        if prefix:
            self.reply_prefilled(prefix)
        self.backend.send(
            self.current.id,
            thread_messages(self.current, thread),
            params,
            drop_oldest=self.current.id in self.drop_oldest,
            docs=self.answer_from,
            prefix=prefix,
        )
        self.changed(None)

    def stop(self) -> None:
        """Stop the reply being generated (a direct call to the inference thread)."""
        self.backend.stop()

    def reply_ended(self, outcome: ReplyOutcome, *, streamed: bool) -> None:
        """A reply ended; ``streamed``: its text is on screen, to be turned into the
        saved message rather than the whole thread shown again."""
        current = self.current
        if current is not None and outcome.conversation_id == current.id:
            if outcome.message_id and streamed:
                message = self.conversations.get_message(outcome.message_id)
                self.thread.append(message)
                self.reply_saved(
                    SavedReply(message, self.conversations.branch_siblings(current.id))
                )
            else:
                self.show_thread(self.conversations.get_thread(current.id))
        ending = self._ending(outcome)
        if ending is not None:
            self.status(ending)
        self.changed(None)

    def _ending(self, outcome: ReplyOutcome) -> str | None:
        loaded = self.backend.loaded
        # The reply was written to a prompt in the generic format: say so, every time.
        note = f" {outcome.template_problem}" if outcome.template_problem else ""
        if outcome.docs_summary:
            note += f" {outcome.docs_summary}"
        if outcome.status == "error":
            return f"The reply failed: {outcome.error}{note}"
        if outcome.stats is not None and loaded is not None:
            used = outcome.stats.prompt_tokens + outcome.stats.completion_tokens
            stopped = " Stopped." if outcome.status == "cancelled" else ""
            if outcome.stats.finish_reason == "length":
                limit = f"{outcome.stats.completion_tokens:,}"
                stopped = f" Stopped at the {limit}-token limit: Continue writes more."
            restored = outcome.stats.restored_tokens
            kept = f" · restored {restored:,} tokens" if restored else ""
            return (
                f"{outcome.stats.tokens_per_second:.1f} tokens/s · context {used:,} / "
                f"{loaded.n_ctx:,} tokens{kept}.{stopped}{note}"
            )
        return "Stopped." if outcome.status == "cancelled" else None

    # --- a conversation too long for the context ----------------------------------------

    def overflowed(self) -> int | None:
        """Show the thread as saved (no reply came); the context the model could be
        loaded with instead, if it was trained for more."""
        if self.current is not None:
            self.show_thread(self.conversations.get_thread(self.current.id))
        loaded = self.backend.loaded
        if loaded is not None and loaded.n_ctx_train and loaded.n_ctx_train > loaded.n_ctx:
            return min(loaded.n_ctx_train, loaded.n_ctx * 2)
        return None

    def retry_dropping_oldest(self) -> None:
        assert self.current is not None
        self.drop_oldest.add(self.current.id)
        self.status("The oldest turns are left out of what the model sees.")
        self.generate()

    def retry_with_context(self, n_ctx: int) -> None:
        self.resend_after_load = True
        self.load_model_for(self.current, n_ctx=n_ctx)

    def last_message(self) -> Message:
        assert self.current is not None
        return self.conversations.get_thread(self.current.id)[-1]

    def send_again(self, text: str) -> None:
        """Ask the open conversation ``text`` (carried over from one that overflowed)."""
        assert self.current is not None
        self.conversations.add_user_message(self.current.id, text)
        self.generate()

    # --- editing ----------------------------------------------------------------------

    def begin_edit(self, message_id: int) -> Message:
        self.editing_message_id = message_id
        self.editing_changed(message_id)
        return self.conversations.get_message(message_id)

    def cancel_edit(self) -> None:
        self.editing_message_id = None
        self.editing_changed(None)
