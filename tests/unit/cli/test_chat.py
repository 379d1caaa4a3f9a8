"""``driftless chat``: one-shot replies, interactive sessions, Ctrl-C, context overflow.

Sessions run on the scripted engine; the real starter model answers the one-shot tests
(in-process, and once in a subprocess to see exactly what reaches stdout and stderr).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.cli import chat as chat_cmd
from app.cli import main
from app.core.runtime.template import system, user
from tests.fake_engine import FakeEngine
from tests.unit.cli.person import PressesCtrlC, type_lines

# --- one reply ----------------------------------------------------------------------------


@pytest.mark.slow
def test_one_shot_prints_only_the_reply_on_stdout(
    starter_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["chat", "--temperature", "0", "--max-tokens", "8", "Name", "three", "colours."])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.strip() and out.endswith("\n")
    assert err.startswith("Model smollm2-135m-instruct-q4_1, context 4,096 tokens.\n")


@pytest.mark.slow
def test_one_shot_in_a_subprocess_keeps_stderr_clean(starter_file: Path, tmp_path: Path) -> None:
    options = ["--temperature", "0", "--max-tokens", "6", "--system", "Be brief.", "Say hello."]
    result = subprocess.run(
        [sys.executable, "-m", "app", "--home", str(tmp_path / "home"), "chat", *options],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    # Nothing from llama.cpp: no loader lines, no system info, no timings; and six tokens
    # are not enough for a hello from this model, which stderr says.
    assert result.stderr == (
        "Model smollm2-135m-instruct-q4_1, context 4,096 tokens.\n"
        "The reply stopped at the 6-token limit; --max-tokens N allows longer ones.\n"
    )


def test_one_shot_uses_the_options(fake: FakeEngine, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["chat", "--model", "m1", "--system", "Be kind.", "--preset", "precise"]
    args += ["--seed", "5", "--temperature", "0.5", "--max-tokens", "2", "--context", "512", "Hi"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert out == "Hello! How\n"
    assert err == (
        "Model m1, context 512 tokens.\n"
        "The reply stopped at the 2-token limit; --max-tokens N allows longer ones.\n"
    )
    request = fake.requests[0]
    assert request.messages == (system("Be kind."), user("Hi"))
    assert (request.params.seed, request.params.temperature, request.params.max_tokens) == (
        5,
        0.5,
        2,
    )
    assert request.params.top_k == 20  # from the Precise preset
    assert fake.loaded is None  # unloaded on the way out


def test_a_reply_that_ends_by_itself_gets_no_limit_note(
    fake: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chat", "--max-tokens", "50", "Hi"]) == 0
    out, err = capsys.readouterr()
    assert out == "Hello! How can I help?\n"
    assert "limit" not in err


@pytest.mark.slow
def test_a_real_reply_cut_at_max_tokens_says_so_on_stderr(
    starter_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["chat", "--temperature", "0", "--max-tokens", "5", "Tell", "me", "a", "story."])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.strip()
    assert err.endswith(
        "The reply stopped at the 5-token limit; --max-tokens N allows longer ones.\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--preset", "wild"], "driftless: There is no preset called 'wild'. Presets: Precise"),
        (["--temperature", "9"], "driftless: temperature must be between 0 and 5: 9.0."),
        (["--model", "nope"], "driftless: No installed model is called 'nope'."),
        (["--context", "100000"], "driftless: This model was trained with a context of 8,192"),
    ],
)
def test_bad_options_are_one_line_and_exit_1(
    starter_file: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["chat", *args, "Hi"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(message) and err.count("\n") == 1


@pytest.mark.slow
def test_a_prompt_too_long_for_the_context_is_refused(
    starter_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chat", "--context", "256", "--max-tokens", "8", "word " * 300]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "but the model's context holds 256. Start a new conversation" in err


def test_a_model_that_fails_to_load_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], starter_file: Path
) -> None:
    from app.core.errors import ModelLoadError

    failing = FakeEngine(fail_on_load=ModelLoadError("There is not enough memory to load m."))
    monkeypatch.setattr(chat_cmd, "make_engine", lambda store: failing)
    assert main(["chat", "Hi"]) == 1
    assert capsys.readouterr().err == "driftless: There is not enough memory to load m.\n"


def test_ctrl_c_stops_a_one_shot_reply(
    fake: FakeEngine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stdout = PressesCtrlC(at_write=1)
    monkeypatch.setattr(sys, "stdout", stdout)
    assert main(["chat", "Hi"]) == 130
    assert stdout.getvalue() == "Hello!\n"  # what was shown stays shown
    assert capsys.readouterr().err.endswith("driftless: cancelled.\n")
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# --- sessions -----------------------------------------------------------------------------


def test_a_session_keeps_the_conversation(
    fake: FakeEngine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    type_lines(monkeypatch, "Hi", "", "What colour is the sky?")
    assert main(["chat", "--system", "Be kind."]) == 0
    out, err = capsys.readouterr()
    assert out == "Hello! How can I help?\nBlue is calm.\n"
    assert "> " not in err  # not a terminal: no prompt
    assert fake.requests[1].messages == (
        system("Be kind."),
        user("Hi"),
        chat_cmd.assistant("Hello! How can I help?"),
        user("What colour is the sky?"),
    )


def test_a_terminal_session_prompts_on_stderr_and_leaves_on_exit(
    fake: FakeEngine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    type_lines(monkeypatch, "/help", "Hi", "/stats", "/bogus", "/exit", "Never sent", tty=True)
    assert main(["chat"]) == 0
    out, err = capsys.readouterr()
    assert out == "Hello! How can I help?\n"
    assert err.count("> ") == 5
    assert "/drop" in err and "Ctrl-D leaves" in err
    assert "prompt tokens (0 reused), 5 reply tokens" in err
    assert "Unknown command /bogus" in err
    assert len(fake.requests) == 1


def test_ctrl_c_stops_the_reply_and_the_session_goes_on(
    fake: FakeEngine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    type_lines(monkeypatch, "Hi", "Next")
    stdout = PressesCtrlC(at_write=2)
    monkeypatch.setattr(sys, "stdout", stdout)
    assert main(["chat"]) == 0
    assert stdout.getvalue() == "Hello! How\nBlue is calm.\n"
    assert "[stopped]" in capsys.readouterr().err
    # The stopped reply stays in the conversation, as it was shown.
    assert fake.requests[1].messages[1] == chat_cmd.assistant("Hello! How")
    assert fake.last_stats is not None and fake.last_stats.finish_reason == "stop"


def test_a_second_ctrl_c_interrupts_outright(
    fake: FakeEngine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    type_lines(monkeypatch, "Hi", "Next")
    monkeypatch.setattr(sys, "stdout", PressesCtrlC(at_write=1, times=2))
    assert main(["chat"]) == 130
    assert capsys.readouterr().err.endswith("driftless: interrupted.\n")


def test_overflow_in_a_session_waits_for_drop(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakeEngine(["Hello! How can I help?", "Sure."], n_ctx=64)
    monkeypatch.setattr(chat_cmd, "make_engine", lambda store: fake)
    long_message = "word " * 40
    type_lines(monkeypatch, "Hi", long_message, "/drop")
    assert main(["chat", "--max-tokens", "8"]) == 0
    out, err = capsys.readouterr()
    assert out == "Hello! How can I help?\nSure.\n"
    assert "This conversation needs 70 tokens" in err
    assert "Type /drop to drop the oldest turns and send it, or /new to start over." in err
    assert "Dropped the 2 oldest message(s) to make room." in err
    assert fake.requests[1].messages == (user(long_message.strip()),)


def test_new_starts_over_and_drop_removes_the_oldest_turn(
    fake: FakeEngine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    type_lines(monkeypatch, "One", "Two", "/drop", "Three", "/new", "Four", "/drop")
    assert main(["chat", "--system", "S"]) == 0
    err = capsys.readouterr().err
    assert "Dropped the oldest turn (2 message(s))." in err
    assert "New conversation." in err
    assert "Nothing to drop." not in err
    assert [len(r.messages) for r in fake.requests] == [2, 4, 4, 2]
    assert fake.requests[2].messages[1] == user("Two")
    assert fake.requests[3].messages == (system("S"), user("Four"))


@pytest.mark.slow
def test_a_real_session_reuses_the_cache_between_turns(
    starter_file: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    type_lines(monkeypatch, "Name three colours.", "And three animals?", "/stats")
    assert main(["chat", "--temperature", "0", "--max-tokens", "10", "--system", "Be terse."]) == 0
    out, err = capsys.readouterr()
    assert out.count("\n") >= 2
    reused = err.split("prompt tokens (")[1].split(" reused")[0]
    assert int(reused) >= 20


# --- a chat template that misbehaves (issue 12) ---------------------------------------------

NESTED_LOOP = "{% set s = 'x' * 100000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}"


def test_the_fallback_format_is_announced_on_stderr(
    fake: FakeEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.core.runtime.template import ChatTemplate

    fake.prompt_template = ChatTemplate(
        "{% for m in messages %}{% set s = m.content * 1000000 %}"
        "{{ s ~ s ~ s ~ s ~ s ~ s ~ s ~ s ~ s }}{% endfor %}"
    )
    assert main(["chat", "Hi"]) == 0
    out, err = capsys.readouterr()
    assert out == "Hello! How can I help?\n"  # the reply alone on stdout
    assert "Note: The model's chat template was stopped: it built a string over 16 MB; " in err
    assert "a generic chat format is used instead." in err


def test_ctrl_c_stops_a_hanging_template_at_once(
    fake: FakeEngine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import threading
    import time

    from app.core.runtime import template_budget
    from app.core.runtime.template import ChatTemplate, RenderedPrompt

    # Only Ctrl-C can end this render within the test's time.
    monkeypatch.setattr(template_budget, "MAX_TEMPLATE_SECONDS", 60.0)
    monkeypatch.setattr(template_budget, "MAX_TEMPLATE_STEPS", 10**12)
    main_thread = threading.get_ident()
    rendering_since: list[float] = []

    class PressedWhileRendering(ChatTemplate):
        def render(self, *args: Any, **kwargs: Any) -> RenderedPrompt:
            rendering_since.append(time.monotonic())
            threading.Timer(0.3, signal.pthread_kill, (main_thread, signal.SIGINT)).start()
            return super().render(*args, **kwargs)

    fake.prompt_template = PressedWhileRendering(NESTED_LOOP)
    assert main(["chat", "Hi"]) == 130
    assert time.monotonic() - rendering_since[0] < 1.3
    assert capsys.readouterr().err.endswith("driftless: cancelled.\n")
