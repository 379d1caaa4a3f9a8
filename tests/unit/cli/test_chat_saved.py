"""``driftless chat`` keeps its conversations like the window: in the same store, as they grow.

Sessions run on the scripted engine; one test kills a real ``driftless chat`` process
mid-reply (on the scripted engine, through the ``make_engine`` hook), and a slow one does
the same with the real starter model through ``python -m app``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.cli import chat as chat_cmd
from app.cli import main
from app.core.chat.conversations import ConversationStore
from app.core.chat.records import Message
from app.core.chat.sampling import PRESETS
from app.core.chat.saved import conversation_params
from app.core.models.store import ModelStore
from app.core.paths import Paths, get_paths
from app.core.runtime.template import assistant, system, user
from tests.fake_engine import FakeEngine
from tests.unit.cli.person import PressesCtrlC, Terminal, type_lines

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def saved(paths: Paths) -> Iterator[ConversationStore]:
    """The store the window would read, opened on the test's data folder."""
    store = ConversationStore(paths)
    yield store
    store.close()


def roles_and_statuses(thread: list[Message]) -> list[tuple[str, str, str]]:
    return [(m.role, m.status, m.content) for m in thread]


# --- what is saved -----------------------------------------------------------------------


def test_a_session_is_saved_with_its_settings_and_provenance(
    fake: FakeEngine,
    saved: ConversationStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    type_lines(monkeypatch, "Hi", "What colour is the sky?")
    assert main(["chat", "--system", "Be kind.", "--preset", "precise"]) == 0
    assert capsys.readouterr().out == "Hello! How can I help?\nBlue is calm.\n"

    (conversation,) = saved.list_conversations()
    assert conversation.title == "Hi"
    assert (conversation.model_id, conversation.system_prompt) == ("fake-model", "Be kind.")
    assert conversation_params(conversation) == ("Precise", PRESETS["Precise"])
    thread = saved.get_thread(conversation.id)
    assert roles_and_statuses(thread) == [
        ("user", "complete", "Hi"),
        ("assistant", "complete", "Hello! How can I help?"),
        ("user", "complete", "What colour is the sky?"),
        ("assistant", "complete", "Blue is calm."),
    ]
    reply = thread[1]
    assert (reply.model_lock_id, reply.model_sha256) == ("fake/fake-model", "0" * 64)
    # the sampling settings, and what the weights ran on (the fake engine: the CPU)
    assert reply.params == {**PRESETS["Precise"].to_json(), "backend": {"backend": "CPU"}}
    assert (reply.completion_tokens, reply.prompt_tokens) == (5, 15)
    assert reply.tokens_per_second is not None


def test_new_starts_another_saved_conversation_with_the_same_system_prompt(
    fake: FakeEngine,
    saved: ConversationStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    type_lines(monkeypatch, "One", "/new", "/new", "Two")
    assert main(["chat", "--system", "S"]) == 0
    newest, oldest = saved.list_conversations()
    assert (oldest.title, newest.title) == ("One", "Two")
    assert newest.system_prompt == oldest.system_prompt == "S"
    assert [m.content for m in saved.get_thread(newest.id)] == ["Two", "Blue is calm."]


def test_options_beyond_the_preset_are_saved_as_custom_parameters(
    fake: FakeEngine, saved: ConversationStore, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["chat", "--preset", "creative", "--seed", "7", "--temperature", "0", "Hi"]
    assert main(args) == 0
    assert capsys.readouterr().out == "Hello! How can I help?\n"
    (conversation,) = saved.list_conversations()
    name, params = conversation_params(conversation)
    assert name == "Custom"
    assert params == PRESETS["Creative"].replace(seed=7, temperature=0.0)
    expected = {**params.to_json(), "backend": {"backend": "CPU"}}
    assert saved.get_thread(conversation.id)[1].params == expected


def test_ctrl_c_keeps_the_stopped_reply_as_cancelled(
    fake: FakeEngine,
    saved: ConversationStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    type_lines(monkeypatch, "Hi", "Next")
    monkeypatch.setattr(sys, "stdout", PressesCtrlC(at_write=2))
    assert main(["chat"]) == 0
    assert "[stopped]" in capsys.readouterr().err
    (conversation,) = saved.list_conversations()
    assert roles_and_statuses(saved.get_thread(conversation.id)) == [
        ("user", "complete", "Hi"),
        ("assistant", "cancelled", "Hello! How"),
        ("user", "complete", "Next"),
        ("assistant", "complete", "Blue is calm."),
    ]


def test_ctrl_c_stops_a_one_shot_reply_and_keeps_it_as_cancelled(
    fake: FakeEngine, saved: ConversationStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdout", PressesCtrlC(at_write=1))
    assert main(["chat", "Hi"]) == 130
    (conversation,) = saved.list_conversations()
    assert roles_and_statuses(saved.get_thread(conversation.id))[1] == (
        "assistant",
        "cancelled",
        "Hello!",
    )


def test_a_reply_that_fails_is_saved_as_an_error(
    monkeypatch: pytest.MonkeyPatch, saved: ConversationStore, capsys: pytest.CaptureFixture[str]
) -> None:
    failing = FakeEngine(["One two three four."], fail_after_tokens=2)
    monkeypatch.setattr(chat_cmd, "make_engine", lambda store: failing)
    type_lines(monkeypatch, "Hi")
    assert main(["chat"]) == 0
    assert "driftless: llama.cpp failed (scripted)." in capsys.readouterr().err
    (conversation,) = saved.list_conversations()
    reply = saved.get_thread(conversation.id)[1]
    assert (reply.status, reply.content, reply.error) == (
        "error",
        "One two",
        "llama.cpp failed (scripted).",
    )


def test_a_message_that_does_not_fit_saves_nothing(
    monkeypatch: pytest.MonkeyPatch, saved: ConversationStore
) -> None:
    monkeypatch.setattr(chat_cmd, "make_engine", lambda store: FakeEngine(n_ctx=64))
    assert main(["chat", "--max-tokens", "8", "word " * 60]) == 1
    assert saved.list_conversations() == []


def test_one_shot_saves_and_keeps_stdout_and_stderr_for_scripts(
    fake: FakeEngine, saved: ConversationStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chat", "Say", "hi"]) == 0
    out, err = capsys.readouterr()
    assert out == "Hello! How can I help?\n"
    assert err == "Model fake-model, context 4,096 tokens.\n"
    (conversation,) = saved.list_conversations()
    assert [m.content for m in saved.get_thread(conversation.id)] == [
        "Say hi",
        "Hello! How can I help?",
    ]


def test_on_a_terminal_the_session_says_where_it_was_saved(
    fake: FakeEngine,
    saved: ConversationStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    type_lines(monkeypatch, "One", "/new", "Two")
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert main(["chat"]) == 0
    ids = [c.id for c in reversed(saved.list_conversations())]
    last = sys.stderr.getvalue().splitlines()[-1]
    assert last == (
        f"Saved as “One” (conversation {ids[0]}), “Two” (conversation {ids[1]}); "
        f"go on with driftless chat --continue {ids[1]}."
    )


@pytest.mark.parametrize("prompt", [[], ["Hi"]])
def test_no_save_saves_nothing(
    fake: FakeEngine,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    prompt: list[str],
) -> None:
    type_lines(monkeypatch, "Hi", "/list")
    assert main(["chat", "--no-save", *prompt]) == 0
    out, err = capsys.readouterr()
    assert out == "Hello! How can I help?\n"
    assert len(fake.requests) == 1
    assert not get_paths(home).conversations_db.exists()
    if not prompt:
        assert "This session saves nothing (--no-save)" in err


# --- going on with a saved conversation ----------------------------------------------------


def test_continue_sends_the_saved_thread_and_adds_to_it(
    fake: FakeEngine,
    saved: ConversationStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["chat", "--system", "Be kind.", "--preset", "precise", "Hi"]) == 0
    (conversation,) = saved.list_conversations()
    type_lines(monkeypatch, "And the sky?")
    assert main(["chat", "--continue", str(conversation.id)]) == 0
    assert capsys.readouterr().out == "Hello! How can I help?\nBlue is calm.\n"

    request = fake.requests[1]
    assert request.messages == (
        system("Be kind."),
        user("Hi"),
        assistant("Hello! How can I help?"),
        user("And the sky?"),
    )
    assert request.params == PRESETS["Precise"]
    assert [c.id for c in saved.list_conversations()] == [conversation.id]
    assert [m.content for m in saved.get_thread(conversation.id)][2:] == [
        "And the sky?",
        "Blue is calm.",
    ]


def test_continue_with_new_options_saves_them_with_the_conversation(
    fake: FakeEngine, saved: ConversationStore
) -> None:
    assert main(["chat", "--system", "Old.", "Hi"]) == 0
    (conversation,) = saved.list_conversations()
    options = ["--continue", str(conversation.id), "--system", "New.", "--seed", "3"]
    assert main(["chat", *options, "More"]) == 0
    assert fake.requests[1].messages[0] == system("New.")
    assert fake.requests[1].params.seed == 3
    updated = saved.get_conversation(conversation.id)
    assert updated.system_prompt == "New."
    assert conversation_params(updated)[1].seed == 3


def test_continue_without_saving_leaves_the_conversation_as_it_was(
    fake: FakeEngine, saved: ConversationStore
) -> None:
    assert main(["chat", "Hi"]) == 0
    (conversation,) = saved.list_conversations()
    assert main(["chat", "--no-save", "--continue", str(conversation.id), "More"]) == 0
    assert len(fake.requests[1].messages) == 3
    assert len(saved.get_thread(conversation.id)) == 2


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "driftless: There is no conversation 99.\n"),
        ("deleted", "driftless: Conversation {id} was deleted. Restore it in the window first.\n"),
    ],
)
def test_continue_with_an_unknown_or_deleted_conversation_is_one_line(
    fake: FakeEngine,
    saved: ConversationStore,
    capsys: pytest.CaptureFixture[str],
    setup: str,
    message: str,
) -> None:
    conversation = saved.create_conversation("Old")
    target = 99
    if setup == "deleted":
        saved.delete_conversation(conversation.id)
        target = conversation.id
    assert main(["chat", "--continue", str(target), "Hi"]) == 1
    assert capsys.readouterr().err == message.format(id=conversation.id)
    assert fake.load_calls == 0


def test_list_and_open_in_a_session(
    fake: FakeEngine,
    saved: ConversationStore,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = saved.create_conversation("Bread", system_prompt="Be a baker.", preset="Creative")
    saved.add_user_message(first.id, "How long should dough rise?")
    saved.add_message(first.id, "assistant", "Overnight.")
    saved.create_conversation("Travel", model_id="another-model")
    travel = saved.list_conversations()[0]
    type_lines(
        monkeypatch, "/list", f"/open {first.id}", "And bread?", "/open", f"/open {travel.id}"
    )
    assert main(["chat"]) == 0
    err = capsys.readouterr().err
    assert f"{travel.id:>5}" in err and "  Travel" in err and "  Bread" in err
    assert "Opened “Bread” (2 messages, Creative sampling)." in err
    assert "Type /open and the conversation's number" in err
    assert "Note: it was written with another-model; replies now come from fake-model." in err
    assert fake.requests[0].messages == (
        system("Be a baker."),
        user("How long should dough rise?"),
        assistant("Overnight."),
        user("And bread?"),
    )
    assert fake.requests[0].params == PRESETS["Creative"]
    assert [m.content for m in saved.get_thread(first.id)][2:] == [
        "And bread?",
        "Hello! How can I help?",
    ]
    assert saved.get_conversation(first.id).model_id == "fake-model"
    assert saved.get_conversation(travel.id).model_id == "another-model"  # nothing sent


def test_a_second_ctrl_c_interrupts_and_keeps_the_reply_as_cancelled(
    fake: FakeEngine, saved: ConversationStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    type_lines(monkeypatch, "Hi", "Next")
    monkeypatch.setattr(sys, "stdout", PressesCtrlC(at_write=2, times=2))
    assert main(["chat"]) == 130
    (conversation,) = saved.list_conversations()
    assert roles_and_statuses(saved.get_thread(conversation.id)) == [
        ("user", "complete", "Hi"),
        ("assistant", "cancelled", "Hello! How"),
    ]


# --- a kill mid-reply -------------------------------------------------------------------


CHILD = """
import sys
from app.cli import chat as chat_cmd, main
from tests.fake_engine import FakeEngine

words = " ".join(f"word{i}" for i in range(5000))
engine = FakeEngine(["First answer.", words], token_delay=0.005)
chat_cmd.make_engine = lambda store: engine
sys.exit(main(["chat", "--system", "Be brief."]))
"""


def wait_for_partial_reply(home: Path, child: subprocess.Popen[Any], enough: int) -> str:
    """The saved text of the reply streaming in ``child`` once it has ``enough`` characters."""
    conversations = ConversationStore(get_paths(home))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert child.poll() is None, "driftless chat ended on its own"
            listed = conversations.list_conversations()
            # The conversation is created a moment before its first message is added.
            thread = conversations.get_thread(listed[0].id) if listed else []
            if thread and thread[-1].role == "assistant" and len(thread[-1].content) >= enough:
                assert thread[-1].status == "incomplete"
                return thread[-1].content
            time.sleep(0.02)
        raise AssertionError("the reply was never saved while it streamed")
    finally:
        conversations.close()


def start_child(home: Path, *, text: bool) -> subprocess.Popen[Any]:
    """``driftless chat`` on the scripted engine, in a process of its own."""
    return subprocess.Popen(
        [sys.executable, "-c", CHILD],
        cwd=ROOT,
        env={**os.environ, "DRIFTLESS_HOME": str(home)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=text,
    )


def test_sigkill_mid_reply_keeps_the_partial_reply_as_incomplete(home: Path) -> None:
    child = start_child(home, text=True)
    try:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write("first question\nsecond question\n")
        child.stdin.flush()
        assert child.stdout.readline() == "First answer.\n"
        partial = wait_for_partial_reply(home, child, enough=300)
    finally:
        child.kill()
        child.wait()

    conversations = ConversationStore(get_paths(home))
    (conversation,) = conversations.list_conversations()
    assert conversation.system_prompt == "Be brief."
    thread = conversations.get_thread(conversation.id)
    assert [(m.role, m.status) for m in thread] == [
        ("user", "complete"),
        ("assistant", "complete"),
        ("user", "complete"),
        ("assistant", "incomplete"),
    ]
    assert thread[1].content == "First answer."
    assert thread[3].content.startswith(partial), "nothing saved before the kill was lost"
    assert "word4999" not in thread[3].content
    assert thread[3].model_lock_id == "fake/fake-model"
    conversations.close()


@pytest.mark.slow
def test_sigkill_mid_reply_of_the_real_model_keeps_it_as_incomplete(
    starter_file: Path, home: Path
) -> None:
    command = [sys.executable, "-m", "app", "--home", str(home), "chat"]
    command += ["--temperature", "0", "--max-tokens", "2000"]
    child = subprocess.Popen(
        command,
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert child.stdin is not None
        child.stdin.write("Write a long story about a dragon who learns to bake bread.\n")
        child.stdin.flush()
        partial = wait_for_partial_reply(home, child, enough=40)
    finally:
        child.kill()
        child.wait()

    conversations = ConversationStore(get_paths(home))
    (conversation,) = conversations.list_conversations()
    user_message, reply = conversations.get_thread(conversation.id)
    assert user_message.content.startswith("Write a long story")
    assert reply.status == "incomplete"
    assert reply.content.startswith(partial)
    starter = ModelStore(get_paths(home)).get(conversation.model_id or "")
    assert (reply.model_lock_id, reply.model_sha256) == (starter.lock_id, starter.sha256)
    conversations.close()


def test_sigkill_keeps_every_character_the_terminal_showed(home: Path) -> None:
    """The child is stopped, all it printed is read, then it is killed: the saved reply
    holds all of it (it was saved in batches, and the last ~40 shown characters lost)."""
    child = start_child(home, text=False)
    shown = b""
    try:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(b"first question\nsecond question\n")
        child.stdin.flush()
        wait_for_partial_reply(home, child, enough=300)
        os.kill(child.pid, signal.SIGSTOP)
        os.set_blocking(child.stdout.fileno(), False)
        while True:
            try:
                chunk = os.read(child.stdout.fileno(), 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        child.kill()
        child.wait()
    reply_shown = shown.decode().split("First answer.\n", 1)[1]
    assert len(reply_shown) >= 300
    conversations = ConversationStore(get_paths(home))
    (conversation,) = conversations.list_conversations()
    saved = conversations.get_thread(conversation.id)[3].content
    conversations.close()
    assert saved.startswith(reply_shown), (len(saved), len(reply_shown))
