"""The chat page's Qt-free state, without a window: a scripted backend stands in for the
inference thread, and the callbacks are recorded as the widgets would observe them."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from app.core.chat.conversations import ConversationStore
from app.core.chat.records import Conversation, ModelProvenance
from app.core.chat.sampling import DEFAULT_PRESET, SamplingParams
from app.core.chat.saved import NEW_TITLE
from app.core.models.store import ModelStore
from app.core.runtime.results import GenerationStats, LoadedModel
from app.core.runtime.template import ChatMessage
from app.ui.chat.requests import ReplyOutcome
from app.ui.chat.session import ChatState, SavedReply, ShownThread

LOADED = LoadedModel("tiny", "lock-1", "0" * 64, "Tiny", n_ctx=2048, n_ctx_train=8192)


@dataclass
class ScriptedBackend:
    """What ChatController offers the state, recorded instead of sent to a thread."""

    loaded: LoadedModel | None = None
    loads: list[tuple[str, int | None]] = field(default_factory=list)
    sent: list[tuple[int, list[ChatMessage], bool]] = field(default_factory=list)
    docs: list[tuple[str, ...]] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    stops: int = 0
    replying: bool = False

    @property
    def loading(self) -> bool:
        return False

    @property
    def loading_model(self) -> str | None:
        return None

    @property
    def busy(self) -> bool:
        return self.replying

    def load_model(self, model_id: str, n_ctx: int | None = None) -> None:
        self.loads.append((model_id, n_ctx))

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
        self.sent.append((conversation_id, messages, drop_oldest))
        self.docs.append(tuple(docs))
        self.prefixes.append(prefix)
        self.replying = True

    def stop(self) -> None:
        self.stops += 1


@dataclass
class Seen:
    statuses: list[str] = field(default_factory=list)
    threads: list[ShownThread] = field(default_factory=list)
    saved: list[SavedReply] = field(default_factory=list)
    editing: list[int | None] = field(default_factory=list)
    wanted: list[str] = field(default_factory=list)


def make_state(
    conversations: ConversationStore, store: ModelStore, backend: ScriptedBackend
) -> tuple[ChatState, Seen]:
    state = ChatState(conversations, store, backend, lambda: "tiny")
    seen = Seen()
    state.status.connect(seen.statuses.append)
    state.thread_shown.connect(seen.threads.append)
    state.reply_saved.connect(seen.saved.append)
    state.editing_changed.connect(seen.editing.append)
    state.model_wanted.connect(seen.wanted.append)
    return state, seen


def opened(
    conversations: ConversationStore, store: ModelStore
) -> tuple[ChatState, Seen, ScriptedBackend, Conversation]:
    """A state with the model loaded and a new conversation open."""
    backend = ScriptedBackend(loaded=LOADED)
    state, seen = make_state(conversations, store, backend)
    conversation = state.new_conversation(DEFAULT_PRESET, "tiny")
    assert state.open(conversation.id) is None  # nothing typed, nothing to put back
    return state, seen, backend, conversation


def reply(
    conversations: ConversationStore, conversation_id: int, request_id: int, text: str
) -> ReplyOutcome:
    """Save a reply as the worker would, and the outcome it would send."""
    writer = conversations.begin_reply(conversation_id, ModelProvenance("lock-1", "0" * 64), {})
    writer.append(text)
    message = writer.finish("complete")
    stats = GenerationStats(10, 0, 5, 0.1, 0.5, 0.05, "stop", None)
    return ReplyOutcome(request_id, conversation_id, message.id, "complete", stats)


def test_the_state_imports_no_qt() -> None:
    code = "import sys, app.ui.chat.session; print('PySide6' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "False"


def test_a_message_is_sent_answered_and_saved(
    conversations: ConversationStore, store: ModelStore
) -> None:
    state, seen, backend, conversation = opened(conversations, store)
    assert seen.wanted == ["tiny"] and not backend.loads  # the loaded model is the one wanted

    assert state.can_send("Which bird sings at dawn?")
    state.send("Which bird sings at dawn?")
    assert state.current is not None and state.current.title == "Which bird sings at dawn?"
    ((conversation_id, messages, drop_oldest),) = backend.sent
    assert conversation_id == conversation.id and not drop_oldest
    assert [m.content for m in messages] == ["Which bird sings at dawn?"]
    assert [m.role for m in seen.threads[-1].messages] == ["user"]
    assert state.busy and not state.can_send("again")  # one reply at a time

    backend.replying = False
    state.reply_ended(reply(conversations, conversation.id, 1, "The robin."), streamed=True)
    assert seen.saved[-1].message.content == "The robin."
    assert [m.role for m in state.thread] == ["user", "assistant"]
    assert seen.statuses[-1].startswith("10.0 tokens/s · context 15 / 2,048 tokens.")


def test_the_status_line_says_how_many_tokens_a_saved_state_restored(
    conversations: ConversationStore, store: ModelStore
) -> None:
    state, seen, backend, conversation = opened(conversations, store)
    state.send("Which bird sings at dawn?")
    backend.replying = False
    outcome = reply(conversations, conversation.id, 1, "The robin.")
    assert outcome.stats is not None
    stats = dataclasses.replace(outcome.stats, prompt_tokens=2500, restored_tokens=2412)
    state.reply_ended(dataclasses.replace(outcome, stats=stats), streamed=True)
    assert "restored 2,412 tokens." in seen.statuses[-1]


def test_nothing_is_sent_before_the_model_is_loaded(
    conversations: ConversationStore, store: ModelStore
) -> None:
    backend = ScriptedBackend()
    state, seen = make_state(conversations, store, backend)
    assert not state.can_send("Hello")
    assert "not loaded yet" in seen.statuses[-1]
    assert not state.can_send("   ")  # nothing to send, and nothing said about it


def test_use_switches_an_empty_conversation_and_keeps_one_with_messages(
    conversations: ConversationStore, store: ModelStore
) -> None:
    state, seen, backend, _conversation = opened(conversations, store)
    state.active_model_changed("other")
    assert state.current is not None and state.current.model_id == "other"
    assert backend.loads == [("other", None)]

    state.send("Hi")
    state.active_model_changed("third")
    assert state.current.model_id == "other"
    assert seen.statuses[-1] == "This conversation keeps other; new conversations use third."


def test_a_deleted_conversation_comes_back_with_its_draft(
    conversations: ConversationStore, store: ModelStore
) -> None:
    state, seen, backend, first = opened(conversations, store)
    deleted = state.delete_current("half a thought")
    assert deleted is not None and deleted.id == first.id
    assert state.current is None and state.thread == [] and backend.stops == 1
    assert "Undo brings it back" in seen.statuses[-1]
    restored = state.undo_delete()
    assert restored is not None and restored.id == first.id
    assert state.open(restored.id) == "half a thought"
    assert state.undo_delete() is None  # once


def test_editing_is_observed_and_ends_when_another_conversation_opens(
    conversations: ConversationStore, store: ModelStore
) -> None:
    state, seen, backend, conversation = opened(conversations, store)
    state.send("First try")
    backend.replying = False
    message = state.begin_edit(state.thread[0].id)
    assert message.content == "First try" and seen.editing[-1] == message.id
    other = state.new_conversation(DEFAULT_PRESET, "tiny")
    state.open(other.id, draft="Second try")
    assert seen.editing[-1] is None and state.editing_message_id is None
    assert state.current is not None and state.current.title == NEW_TITLE
    assert state.open(conversation.id, draft="") == "Second try"  # its draft came back


def test_a_larger_context_is_loaded_and_the_message_sent_again(
    conversations: ConversationStore, store: ModelStore
) -> None:
    state, seen, backend, _conversation = opened(conversations, store)
    state.send("A very long question")
    backend.replying = False  # it overflowed: no reply
    assert state.overflowed() == 4096  # twice the context, within what it was trained for
    state.retry_with_context(4096)
    assert backend.loads == [("tiny", 4096)]
    state.model_loaded(LOADED)
    assert len(backend.sent) == 2 and not state.resend_after_load

    backend.replying = False
    state.retry_dropping_oldest()
    assert backend.sent[-1][2] is True  # drop_oldest, from now on in this conversation
    assert seen.statuses[-1] == "The oldest turns are left out of what the model sees."


def test_answer_from_is_kept_with_the_conversation_and_sent_with_each_message(
    conversations: ConversationStore, store: ModelStore
) -> None:
    state, seen, backend, conversation = opened(conversations, store)
    assert state.answer_from == []
    state.set_answer_from(["policies", "faq"])
    assert seen.statuses[-1] == "Answers come from policies, faq and cite their passages."
    state.set_params(SamplingParams(temperature=0.3))  # custom sampling keeps the choice
    assert conversations.get_conversation(conversation.id).params["docs"] == ["policies", "faq"]
    state.send("What is the refund window?")
    assert backend.docs == [("policies", "faq")]
    backend.replying = False
    state.set_answer_from([])
    assert "docs" not in conversations.get_conversation(conversation.id).params
    assert seen.statuses[-1] == "Answers come from the model alone."
    assert conversations.get_conversation(conversation.id).params["temperature"] == 0.3
