"""``driftless chat``: one reply to a prompt, or an interactive session.

The reply text alone goes to stdout, flushed as it is generated; everything else
(loading, notes, statistics, the ``> `` prompt) goes to stderr. Ctrl-C stops the
current reply (a second Ctrl-C interrupts outright); in a session, Ctrl-D or ``/exit``
leaves. A conversation that outgrows the context is never cut silently: the session
says so and waits for ``/drop`` (drop the oldest turns and send) or ``/new``.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

from app.cli.common import error, open_store, status
from app.core.cancel import CancelToken
from app.core.chat.context import drop_oldest_turns
from app.core.chat.engine import ChatEngine, Engine
from app.core.chat.sampling import DEFAULT_PRESET, PRESETS, SamplingParams, preset
from app.core.errors import Cancelled, ContextOverflow, DriftlessError
from app.core.models.store import ModelStore
from app.core.runtime.template import ChatMessage, assistant, split_turns, system, user

HELP = """Commands:
  /new      start a new conversation (the system prompt stays)
  /drop     drop the oldest turn; with a message waiting, drop as many as it needs and send it
  /stats    show how the last reply went
  /exit     leave (Ctrl-D does the same)
Ctrl-C stops a reply; the conversation goes on."""


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
        default=DEFAULT_PRESET,
        help=f"sampling preset: {', '.join(PRESETS)} (default: {DEFAULT_PRESET})",
    )
    p.add_argument("--seed", type=int, metavar="N", help="random seed, for reproducible replies")
    p.add_argument("--temperature", type=float, metavar="T", help="0 = always the likeliest token")
    p.add_argument("--max-tokens", type=int, metavar="N", help="longest reply, in tokens")
    p.add_argument("--context", type=int, metavar="N", help="context size in tokens")
    p.add_argument("prompt", nargs="*", metavar="PROMPT", help="the message to reply to")
    p.set_defaults(handler=cmd_chat)


def sampling_from_args(args: argparse.Namespace) -> SamplingParams:
    params = preset(args.preset)
    changes: dict[str, Any] = {}
    if args.seed is not None:
        changes["seed"] = args.seed
    if args.temperature is not None:
        changes["temperature"] = args.temperature
    if args.max_tokens is not None:
        changes["max_tokens"] = args.max_tokens
    return params.replace(**changes) if changes else params


def cmd_chat(args: argparse.Namespace) -> int:
    params = sampling_from_args(args)
    prompt = " ".join(args.prompt).strip()
    engine = make_engine(open_store())
    try:
        loaded = engine.load(args.model, n_ctx=args.context)
        status(f"Model {loaded.model_id}, context {loaded.n_ctx:,} tokens.")
        if loaded.template_problem:
            status(f"Note: {loaded.template_problem}")
        history = [system(args.system)] if args.system else []
        if prompt:
            reply(engine, [*history, user(prompt)], params)
            return 0
        return Session(engine, params, history).run()
    finally:
        engine.unload()


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
) -> str:
    """Stream one reply to stdout and return its text; ``Cancelled`` if stopped.

    ``pieces`` collects the text as it comes, so a stopped reply's text is not lost.
    """
    cancel = CancelToken()
    pieces = [] if pieces is None else pieces
    with ctrl_c_cancels(cancel):
        try:
            # The chat template renders inside this call and checks ``cancel``, so
            # Ctrl-C stops a template that would run for long, not only the reply.
            stream = engine.stream_chat(messages, params, cancel)
            announce_fallback(engine, set() if announced is None else announced)
            for piece in stream:
                pieces.append(piece)
                sys.stdout.write(piece)
                sys.stdout.flush()
        finally:
            if pieces and not pieces[-1].endswith("\n"):
                sys.stdout.write("\n")
            sys.stdout.flush()
    return "".join(pieces)


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
        self, engine: ChatEngine, params: SamplingParams, history: list[ChatMessage]
    ) -> None:
        self.engine = engine
        self.params = params
        self.system = split_turns(history)[0]
        self.history = list(history)
        self.waiting: str | None = None  # a message that did not fit
        self.tty = sys.stdin.isatty()
        self.announced: set[str] = set()  # template notes already said

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
            status("New conversation.")
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
            reply(self.engine, messages, self.params, pieces, self.announced)
        except Cancelled:
            status("[stopped]")
        except DriftlessError as exc:
            error(str(exc))
            return
        # The reply is kept exactly as generated (even a stopped one), so the next
        # prompt extends this one and the engine reuses its cache.
        self.history = [*messages, assistant("".join(pieces))]
