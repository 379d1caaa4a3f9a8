"""``driftless chat``: one reply to a prompt, or an interactive session.

The reply text alone goes to stdout, flushed as it is generated; everything else
(loading, notes, statistics, the ``> `` prompt) goes to stderr. Ctrl-C stops the
current reply (a second Ctrl-C interrupts outright); in a session, Ctrl-D or ``/exit``
leaves. A conversation that outgrows the context is never cut silently: the session
says so and waits for ``/drop`` (drop the oldest turns and send) or ``/new``.

Chats are saved like the window's, in the same conversation store: each session (and each
``/new``) is a conversation with its system prompt, sampling settings and the model's
provenance, and a reply is saved as it grows, so a kill keeps it as ``incomplete`` and
Ctrl-C keeps it as ``cancelled``. ``--no-save`` saves nothing; ``--continue ID`` (or
``/open ID`` in a session) goes on with a saved conversation.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from app.cli.common import add_gpu_layers_option, error, open_store, status
from app.core.cancel import CancelToken
from app.core.chat.context import drop_oldest_turns
from app.core.chat.conversations import ConversationError, ConversationStore
from app.core.chat.engine import Engine
from app.core.chat.protocols import ChatEngine
from app.core.chat.records import Conversation, FinalStatus
from app.core.chat.sampling import DEFAULT_PRESET, PRESETS, SamplingParams, preset
from app.core.chat.saved import (
    CUSTOM,
    ConversationRecorder,
    conversation_params,
    reply_stats,
    thread_messages,
)
from app.core.chat.states import disk_states
from app.core.docs.answer import sources_list
from app.core.docs.answering import answer_from
from app.core.docs.records import DocsError, Hit
from app.core.errors import Cancelled, ContextOverflow, DriftlessError
from app.core.models.store import ModelStore
from app.core.paths import get_paths
from app.core.runtime.template import ChatMessage, assistant, split_turns, system, user

HELP = """Commands:
  /new      start a new conversation (the system prompt stays)
  /drop     drop the oldest turn; with a message waiting, drop as many as it needs and send it
  /stats    show how the last reply went
  /list     list the saved conversations, newest first
  /open ID  go on with saved conversation ID
  /exit     leave (Ctrl-D does the same)
Ctrl-C stops a reply; the conversation goes on."""

LIST_LENGTH = 20
"""How many conversations /list shows."""


def make_engine(store: ModelStore) -> ChatEngine:
    """The engine the command uses; tests replace this with a scripted one."""
    return Engine(store)


def add_parser(commands: Any) -> None:
    p = commands.add_parser(
        "chat",
        help="chat with a model: one reply to PROMPT, or a session without it",
        description="Reply to PROMPT on stdout, or, without PROMPT, chat line by line.",
    )
    p.add_argument("--model", metavar="ID", help="installed model to use (default: the active one)")
    p.add_argument("--system", metavar="TEXT", help="system prompt")
    p.add_argument(
        "--preset",
        metavar="NAME",
        help=f"sampling preset: {', '.join(PRESETS)} (default: {DEFAULT_PRESET}, "
        "or the continued conversation's)",
    )
    p.add_argument("--seed", type=int, metavar="N", help="random seed, for reproducible replies")
    p.add_argument("--temperature", type=float, metavar="T", help="0 = always the likeliest token")
    p.add_argument("--max-tokens", type=int, metavar="N", help="longest reply, in tokens")
    p.add_argument("--context", type=int, metavar="N", help="context size in tokens")
    add_gpu_layers_option(p)
    p.add_argument(
        "--continue",
        dest="continue_id",
        type=int,
        metavar="ID",
        help="go on with saved conversation ID (its system prompt, settings and model)",
    )
    p.add_argument(
        "--no-save",
        action="store_true",
        help="save nothing: the chat is not kept with the other conversations",
    )
    p.add_argument(
        "--docs",
        action="append",
        default=[],
        metavar="NAME",
        help="answer PROMPT from this document collection, citing its passages (repeatable)",
    )
    p.add_argument(
        "--stats",
        action="store_true",
        help="after each reply, one JSON line on stderr: time to first token, prompt tokens, "
        "reused tokens, tokens/s, the conversation's id",
    )
    p.add_argument("prompt", nargs="*", metavar="PROMPT", help="the message to reply to")
    p.set_defaults(handler=cmd_chat)


def sampling_from_args(
    args: argparse.Namespace, base: Conversation | None = None
) -> tuple[str, SamplingParams]:
    """The preset name (or ``Custom``) and parameters: the options over ``base``'s settings."""
    if args.preset is not None:
        params = preset(args.preset)
        name = next(key for key, value in PRESETS.items() if value == params)
    else:
        name, params = conversation_params(base)
    changes: dict[str, Any] = {}
    if args.seed is not None:
        changes["seed"] = args.seed
    if args.temperature is not None:
        changes["temperature"] = args.temperature
    if args.max_tokens is not None:
        changes["max_tokens"] = args.max_tokens
    if changes:
        return CUSTOM, params.replace(**changes)
    return name, params


def cmd_chat(args: argparse.Namespace) -> int:
    prompt = " ".join(args.prompt).strip()
    if args.docs and not prompt:
        raise DocsError("--docs answers one PROMPT: give the question after the options.")
    saving = not args.no_save
    with contextlib.ExitStack() as leaving:  # undone in reverse order on the way out
        conversations = None
        if saving or args.continue_id is not None:
            conversations = ConversationStore(get_paths())
            leaving.callback(conversations.close)
        earlier = None
        if conversations is not None and args.continue_id is not None:
            earlier = saved_conversation(conversations, args.continue_id)
        name, params = sampling_from_args(args, earlier)
        system_prompt = args.system if args.system is not None else ""
        if earlier is not None and args.system is None:
            system_prompt = earlier.system_prompt
        store = open_store()
        engine = make_engine(store)
        if isinstance(engine, Engine):
            engine.gpu_layers = args.gpu_layers
            if saving:  # --no-save keeps no KV state either
                engine.states = (disk_states(get_paths()),)
        leaving.callback(engine.unload)
        model = args.model or (earlier.model_id if earlier else None)
        loaded = engine.load(model, n_ctx=args.context)
        status(f"Model {loaded.model_id}, context {loaded.n_ctx:,} tokens.")
        if loaded.offload.on_gpu:
            status(f"Running on {loaded.offload.label()}.")
        if loaded.offload.note:
            status(f"Note: {loaded.offload.note}")
        if loaded.template_problem:
            status(f"Note: {loaded.template_problem}")
        recorder = None
        if saving and conversations is not None:
            recorder = ConversationRecorder(
                conversations, loaded, system_prompt=system_prompt, preset=name, params=params
            )
            leaving.callback(tell_where_saved, recorder.saved)
        history = [system(system_prompt)] if system_prompt else []
        if earlier is not None and conversations is not None:
            earlier = continued(conversations, earlier, system_prompt, name, params, recorder)
            history = thread_messages(earlier, conversations.get_thread(earlier.id))
        if prompt:
            messages: list[ChatMessage] = [*history, user(prompt)]
            used: list[Hit] = []
            if args.docs:
                messages, used = answer_from_docs(engine, store, args.docs, messages, params)
            reply(engine, messages, params, recorder=recorder)
            if used:
                print(sources_list(used), flush=True)
            if args.stats:
                print_stats(engine, recorder)
            return 0
        session = Session(engine, params, history, recorder, conversations)
        session.stats = args.stats
        return session.run()


def answer_from_docs(
    engine: ChatEngine,
    store: ModelStore,
    names: list[str],
    messages: list[ChatMessage],
    params: SamplingParams,
) -> tuple[list[ChatMessage], list[Hit]]:
    """``messages`` with the best passages that fit put in the system prompt, and them."""
    from app.cli.docs import embedder_factory, open_library

    library = open_library()
    try:
        answering = answer_from(
            library,
            names,
            messages,
            embedder_factory(store),
            lambda prompt: engine.check_fits(prompt, params).fits,
        )
    finally:
        library.close()
    status(answering.summary)
    return answering.messages, answering.used


def saved_conversation(conversations: ConversationStore, conversation_id: int) -> Conversation:
    """A conversation to go on with; one in the bin has to be restored first."""
    conversation = conversations.get_conversation(conversation_id)
    if conversation.deleted:
        raise ConversationError(
            f"Conversation {conversation_id} was deleted. Restore it in the window first."
        )
    return conversation


def continued(
    conversations: ConversationStore,
    conversation: Conversation,
    system_prompt: str,
    preset_name: str,
    params: SamplingParams,
    recorder: ConversationRecorder | None,
) -> Conversation:
    """Go on with ``conversation``; settings given as options are saved with it."""
    changed = (system_prompt, preset_name, params) != (
        conversation.system_prompt,
        *conversation_params(conversation),
    )
    if changed and recorder is None:  # not saving: the options apply to this chat only
        conversation = dataclasses.replace(conversation, system_prompt=system_prompt)
    elif changed:
        conversation = conversations.update_settings(
            conversation.id,
            system_prompt=system_prompt,
            preset=preset_name,
            params=params.to_json(),
        )
    if recorder is not None:
        recorder.open(conversation)
    return conversation


def tell_where_saved(saved: list[Conversation]) -> None:
    """On a terminal, say where the chat went (scripts get a quiet stderr)."""
    if not saved or not sys.stderr.isatty():
        return
    names = ", ".join(f"“{c.title}” (conversation {c.id})" for c in saved)
    status(f"Saved as {names}; go on with driftless chat --continue {saved[-1].id}.")


@contextlib.contextmanager
def ctrl_c_cancels(cancel: CancelToken) -> Iterator[None]:
    """While a reply streams, Ctrl-C sets ``cancel``; a second Ctrl-C interrupts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(signum: int, frame: object) -> None:
        if cancel.cancelled:
            raise KeyboardInterrupt
        cancel.cancel()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def reply(
    engine: ChatEngine,
    messages: list[ChatMessage],
    params: SamplingParams,
    pieces: list[str] | None = None,
    announced: set[str] | None = None,
    *,
    recorder: ConversationRecorder | None = None,
) -> str:
    """Stream one reply to stdout and return its text; ``Cancelled`` if stopped.

    ``pieces`` collects the text as it comes, so a stopped reply's text is not lost.
    With a ``recorder``, the last message (the user's) is saved once the engine has
    accepted the request, then the reply as it grows, and how it ended.
    """
    cancel = CancelToken()
    pieces = [] if pieces is None else pieces
    with ctrl_c_cancels(cancel):
        # The engine checks the request here: one that does not fit saves nothing. The
        # chat template renders inside this call and checks ``cancel``, so Ctrl-C stops a
        # template that would run for long, not only the reply.
        stream = engine.stream_chat(messages, params, cancel)
        announce_fallback(engine, set() if announced is None else announced)
        writer = None
        if recorder is not None:
            recorder.add_user_message(messages[-1].content)
            writer = recorder.begin_reply()
        ending: FinalStatus = "complete"
        error: str | None = None
        try:
            for piece in stream:
                pieces.append(piece)
                if writer is not None:
                    # Saved before it is shown: a kill never loses text already on screen.
                    writer.append(piece)
                    writer.flush()
                sys.stdout.write(piece)
                sys.stdout.flush()
        except (Cancelled, KeyboardInterrupt):
            ending = "cancelled"  # stopped by the user, with Ctrl-C once or twice
            raise
        except Exception as exc:
            ending, error = "error", str(exc) or type(exc).__name__
            raise
        finally:
            try:
                if pieces and not pieces[-1].endswith("\n"):
                    sys.stdout.write("\n")
                sys.stdout.flush()
            finally:  # a second Ctrl-C may land on the line above
                if writer is not None:
                    writer.finish(ending, stats=reply_stats(engine.last_stats), error=error)
    if engine.last_stats is not None and engine.last_stats.finish_reason == "length":
        status(LENGTH_NOTE.format(limit=params.max_tokens))
    return "".join(pieces)


# A reply cut at the limit ends mid-sentence and would otherwise look complete.
LENGTH_NOTE = "The reply stopped at the {limit:,}-token limit; --max-tokens N allows longer ones."


def print_stats(engine: ChatEngine, recorder: ConversationRecorder | None) -> None:
    """The last reply's figures as one JSON line on stderr (``--stats``)."""
    stats = engine.last_stats
    if stats is None:
        return
    current = recorder.current if recorder is not None else None
    loaded = engine.loaded
    line = {
        "ttft_s": round(stats.first_token_seconds, 4),
        "prompt_tokens": stats.prompt_tokens,
        "reused_tokens": stats.cached_tokens,
        "restored_tokens": stats.restored_tokens,
        "completion_tokens": stats.completion_tokens,
        "tokens_per_s": round(stats.tokens_per_second, 2),
        "finish_reason": stats.finish_reason,
        "backend": loaded.offload.label() if loaded is not None else None,
        "conversation": current.id if current is not None else None,
    }
    print(json.dumps(line), file=sys.stderr, flush=True)


def announce_fallback(engine: ChatEngine, announced: set[str]) -> None:
    """Say on stderr when this prompt is in the generic format, not the model's own.

    Said once per reason: the same note before every reply of a session is noise.
    """
    problem = engine.prompt_problem
    loaded = engine.loaded
    already = {loaded.template_problem} if loaded is not None else set()
    if problem is not None and problem not in already | announced:
        announced.add(problem)
        status(f"Note: {problem}")


class Session:
    """An interactive conversation on stdin/stdout."""

    def __init__(
        self,
        engine: ChatEngine,
        params: SamplingParams,
        history: list[ChatMessage],
        recorder: ConversationRecorder | None = None,
        conversations: ConversationStore | None = None,
    ) -> None:
        self.engine = engine
        self.params = params
        self.system = split_turns(history)[0]
        self.history = list(history)
        self.recorder = recorder
        self.conversations = conversations if recorder is not None else None
        self.waiting: str | None = None  # a message that did not fit
        self.tty = sys.stdin.isatty()
        self.announced: set[str] = set()  # template notes already said
        self.stats = False  # --stats: a JSON line after each reply

    def run(self) -> int:
        if self.tty:
            status("Type a message; /help lists commands. Ctrl-C stops a reply, Ctrl-D leaves.")
        while True:
            try:
                line = self._read()
            except KeyboardInterrupt:
                sys.stderr.write("\n")
                continue
            if line is None:
                return 0
            text = line.strip()
            if not text:
                continue
            if text.startswith("/") and self._command(text):
                return 0
            elif not text.startswith("/"):
                self._send(text)

    def _read(self) -> str | None:
        if self.tty:
            sys.stderr.write("> ")
            sys.stderr.flush()
        line = sys.stdin.readline()
        return line if line else None

    def _command(self, text: str) -> bool:
        """Run a /command; True means leave."""
        name = text.split()[0].lower()
        if name in ("/exit", "/quit"):
            return True
        if name == "/help":
            for line in HELP.splitlines():
                status(line)
        elif name == "/new":
            self.history = list(self.system)
            self.waiting = None
            if self.recorder is not None:
                self.recorder.start_new()
            status("New conversation.")
        elif name == "/list":
            self._list()
        elif name == "/open":
            self._open(text.split()[1:])
        elif name == "/drop":
            self._drop()
        elif name == "/stats":
            stats = self.engine.last_stats
            if stats is None:
                status("No reply yet.")
            else:
                status(
                    f"{stats.prompt_tokens:,} prompt tokens ({stats.cached_tokens:,} reused), "
                    f"{stats.completion_tokens:,} reply tokens at "
                    f"{stats.tokens_per_second:.1f} tokens/s; first token after "
                    f"{stats.first_token_seconds:.2f} s; ended by {stats.finish_reason}."
                )
        else:
            status(f"Unknown command {name}. /help lists the commands.")
        return False

    def _saved(self) -> tuple[ConversationStore, ConversationRecorder] | None:
        if self.conversations is None or self.recorder is None:
            status("This session saves nothing (--no-save), so it cannot open saved ones.")
            return None
        return self.conversations, self.recorder

    def _list(self) -> None:
        if (saved := self._saved()) is None:
            return
        conversations, recorder = saved
        items = conversations.list_conversations()
        if not items:
            status("No saved conversations yet.")
            return
        current = recorder.current.id if recorder.current else None
        for item in items[:LIST_LENGTH]:
            when = item.updated_at.astimezone().strftime("%Y-%m-%d %H:%M")
            mark = "*" if item.id == current else " "
            status(f"{mark}{item.id:>5}  {when}  {item.title}")
        if len(items) > LIST_LENGTH:
            status(f"… and {len(items) - LIST_LENGTH} older ones.")
        status("/open ID goes on with one.")

    def _open(self, words: list[str]) -> None:
        if (saved := self._saved()) is None:
            return
        conversations, recorder = saved
        if len(words) != 1 or not words[0].isdigit():
            status("Type /open and the conversation's number; /list shows them.")
            return
        try:
            conversation = saved_conversation(conversations, int(words[0]))
            thread = conversations.get_thread(conversation.id)
        except ConversationError as exc:
            print(f"driftless: {exc}", file=sys.stderr)
            return
        name, self.params = conversation_params(conversation)
        recorder.system_prompt, recorder.preset, recorder.params = (
            conversation.system_prompt,
            name,
            self.params,
        )
        recorder.open(conversation)
        self.history = thread_messages(conversation, thread)
        self.system = split_turns(self.history)[0]
        self.waiting = None
        status(f"Opened “{conversation.title}” ({len(thread)} messages, {name} sampling).")
        loaded = self.engine.loaded
        if loaded is not None and conversation.model_id not in (None, loaded.model_id):
            status(
                f"Note: it was written with {conversation.model_id}; "
                f"replies now come from {loaded.model_id}."
            )

    def _drop(self) -> None:
        if self.waiting is None:
            head, turns = split_turns(self.history)
            if not turns:
                status("Nothing to drop.")
                return
            self.history = head + [m for turn in turns[1:] for m in turn]
            status(f"Dropped the oldest turn ({len(turns[0])} message(s)).")
            return
        text, self.waiting = self.waiting, None
        pending = [*self.history, user(text)]
        limit = self.engine.check_fits(pending, self.params).prompt_limit
        try:
            kept = drop_oldest_turns(pending, self.engine.count_tokens, limit)
        except ContextOverflow as exc:
            error(str(exc))
            return
        dropped = len(pending) - len(kept)
        status(f"Dropped the {dropped} oldest message(s) to make room.")
        self.history = kept[:-1]
        self._send(text)

    def _send(self, text: str) -> None:
        messages = [*self.history, user(text)]
        budget = self.engine.check_fits(messages, self.params)
        if not budget.fits:
            self.waiting = text
            error(str(budget.overflow()))
            status("Type /drop to drop the oldest turns and send it, or /new to start over.")
            return
        pieces: list[str] = []
        try:
            reply(
                self.engine, messages, self.params, pieces, self.announced, recorder=self.recorder
            )
        except Cancelled:
            status("[stopped]")
        except DriftlessError as exc:
            error(str(exc))
            return
        if self.stats:
            print_stats(self.engine, self.recorder)
        # The reply is kept exactly as generated (even a stopped one), so the next
        # prompt extends this one and the engine reuses its cache.
        self.history = [*messages, assistant("".join(pieces))]
