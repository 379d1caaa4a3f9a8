"""From a saved conversation to a prompt and back: what the window and the command line share.

A saved conversation keeps its system prompt and sampling settings apart from its messages;
:func:`thread_messages` and :func:`conversation_params` turn them into what the engine takes.
:class:`ConversationRecorder` saves a conversation as it happens (each message, each reply
as it grows) for a front that talks to the engine itself, like ``driftless chat``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.core.chat.conversations import ConversationStore
from app.core.chat.records import Conversation, Message, ModelProvenance, ReplyStats
from app.core.chat.reply_writer import ReplyWriter
from app.core.chat.sampling import DEFAULT_PRESET, PRESETS, SamplingParams
from app.core.errors import DriftlessError
from app.core.runtime.results import GenerationStats, LoadedModel
from app.core.runtime.template import ChatMessage

CUSTOM = "Custom"
"""The preset name of a conversation whose sampling parameters were set one by one."""

NEW_TITLE = "New conversation"
"""The title a conversation has until its first message names it."""


def title_from(text: str) -> str:
    """A conversation's title from its first message: one line, at most 48 characters."""
    line = " ".join(text.split())
    return line if len(line) <= 48 else line[:47].rstrip() + "…"


def thread_messages(conversation: Conversation, thread: Sequence[Message]) -> list[ChatMessage]:
    """What the model sees: the system prompt, then every non-empty message of the thread."""
    messages = []
    if conversation.system_prompt.strip():
        messages.append(ChatMessage("system", conversation.system_prompt))
    messages += [
        ChatMessage(m.role, m.content) for m in thread if m.content.strip() and m.role != "system"
    ]
    return messages


def conversation_params(conversation: Conversation | None) -> tuple[str, SamplingParams]:
    """The preset name (or :data:`CUSTOM`) and the sampling parameters a conversation uses."""
    if conversation is None:
        return DEFAULT_PRESET, PRESETS[DEFAULT_PRESET]
    name = conversation.preset or DEFAULT_PRESET
    if name in PRESETS:
        return name, PRESETS[name]
    try:
        return CUSTOM, SamplingParams.from_json(conversation.params)
    except DriftlessError:
        return DEFAULT_PRESET, PRESETS[DEFAULT_PRESET]


def reply_params(params: SamplingParams, model: LoadedModel) -> dict[str, Any]:
    """A reply's parameters as saved with it: the sampling settings and what the weights
    ran on (``backend``: the CPU, or the GPU's backend, device, driver and layers), since
    offloading changes the arithmetic and so, sometimes, the answer."""
    return {**params.to_json(), "backend": model.offload.to_json()}


def reply_stats(stats: GenerationStats | None) -> ReplyStats:
    """The figures a saved reply keeps from the engine's statistics."""
    if stats is None:
        return ReplyStats()
    return ReplyStats(
        prompt_tokens=stats.prompt_tokens,
        completion_tokens=stats.completion_tokens,
        tokens_per_second=round(stats.tokens_per_second, 2),
    )


class ConversationRecorder:
    """Saves one conversation at a time as it happens, with its settings and provenance.

    Nothing is written until the first message (an empty session leaves no empty
    conversation behind); :meth:`start_new` makes the next message open another one.
    """

    def __init__(
        self,
        store: ConversationStore,
        model: LoadedModel,
        *,
        system_prompt: str,
        preset: str,
        params: SamplingParams,
    ) -> None:
        self.store = store
        self.model = model
        self.system_prompt = system_prompt
        self.preset = preset
        self.params = params
        self.current: Conversation | None = None
        self.saved: list[Conversation] = []
        """Every conversation this recorder wrote to, first written first, with its latest title."""

    def open(self, conversation: Conversation) -> None:
        """Go on writing to a conversation saved earlier."""
        self.current = conversation
        self._note(conversation)

    def start_new(self) -> None:
        self.current = None

    def add_user_message(self, text: str) -> Message:
        """Save the user's message, opening a conversation titled after it if none is open."""
        if self.current is None:
            self.current = self.store.create_conversation(
                title_from(text),
                model_id=self.model.model_id,
                system_prompt=self.system_prompt,
                preset=self.preset,
                params=self.params.to_json(),
            )
        else:
            if self.current.title == NEW_TITLE:
                self.current = self.store.rename_conversation(self.current.id, title_from(text))
            if self.current.model_id != self.model.model_id:
                # Like the window's model picker: the conversation remembers its model.
                self.current = self.store.update_settings(
                    self.current.id, model_id=self.model.model_id
                )
        message = self.store.add_user_message(self.current.id, text)
        self._note(self.current)
        return message

    def begin_reply(self) -> ReplyWriter:
        """Start the reply to the last message: saved at once, then as it grows."""
        if self.current is None:
            raise DriftlessError("There is no message to reply to yet.")
        provenance = ModelProvenance(self.model.lock_id, self.model.sha256)
        params = reply_params(self.params, self.model)
        return self.store.begin_reply(self.current.id, provenance, params)

    def _note(self, conversation: Conversation) -> None:
        ids = [c.id for c in self.saved]
        if conversation.id in ids:
            self.saved[ids.index(conversation.id)] = conversation
        else:
            self.saved.append(conversation)
