"""Templates that would explode while they are compiled (issue 26, F1).

Jinja evaluates constant expressions when it compiles a template; the sandbox does not,
so a constant bomb runs in the render, under its budget, and the chat falls back with
the usual note.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import jinja2
import pytest

from app.core.models.store import ModelStore
from app.core.runtime.template import (
    MAX_TEMPLATE_SOURCE,
    MAX_TEMPLATE_TOKENS,
    ChatTemplate,
    user,
)
from app.core.runtime.template_budget import SLOW_FILTER_CHARS
from tests.model_files import import_variant

ROOT = Path(__file__).resolve().parents[3]

CHAIN = "'a'|center(8000000)|replace(' ','a ')|urlize|length"
"""The issue's bomb: 52 s and 1.2 GB in ``ChatTemplate.__init__`` before this fix."""

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

COMPILE_TIME_BOMBS = {
    "printed": "{{ @ }}".replace("@", CHAIN),
    "in an if": "{% if @ %}x{% endif %}".replace("@", CHAIN),
    "in a set": "{% set x = @ %}{{ x }}".replace("@", CHAIN),
    "in a range": "{% for i in range(@) %}{% endfor %}".replace("@", CHAIN),
    "a macro default": "{% macro m(a=@) %}{% endmacro %}{{ m() }}".replace("@", CHAIN),
    "in a list": "{{ [@] }}".replace("@", CHAIN),
    "in a filter block": "{% filter upper %}{{ @ }}{% endfilter %}".replace("@", CHAIN),
    "two copies and a ChatML loop": "{{ @ }}".replace("@", CHAIN) * 2 + CHATML,
}


@pytest.mark.parametrize("name", sorted(COMPILE_TIME_BOMBS))
def test_a_compile_time_bomb_compiles_at_once_and_is_stopped_in_the_render(name: str) -> None:
    started = time.monotonic()
    chat = ChatTemplate(COMPILE_TIME_BOMBS[name])
    assert time.monotonic() - started < 1.0
    started = time.monotonic()
    rendered = chat.render([user("Hi")])
    assert time.monotonic() - started < 3.0  # the budget is 2 s
    assert rendered.used_fallback
    assert rendered.problem == (
        "The model's chat template was stopped: it passed more than 64 KB to the slow "
        "filter 'urlize'; a generic chat format is used instead."
    )
    assert rendered.text.startswith("<|im_start|>user\nHi")


def test_a_template_source_full_of_bombs_is_refused_within_the_budget() -> None:
    """The largest source accepted (256 KB) holds about 4,500 copies of the bomb: far
    too many tokens to compile (3 s here), so it is refused after counting them."""
    bomb = "{{ @ }}".replace("@", CHAIN)
    source = bomb * ((MAX_TEMPLATE_SOURCE - len(CHATML)) // len(bomb)) + CHATML
    assert len(source) <= MAX_TEMPLATE_SOURCE
    started = time.monotonic()
    chat = ChatTemplate(source)
    assert time.monotonic() - started < 1.0
    assert chat.problem is not None and "Jinja tokens" in chat.problem
    assert chat.render([user("Hi")]).used_fallback


def test_a_template_just_under_the_token_count_compiles_within_the_budget() -> None:
    bomb = "{{ @ }}".replace("@", CHAIN)
    per_copy = len(list(jinja2.Environment().lex(bomb)))
    source = bomb * (MAX_TEMPLATE_TOKENS // per_copy - 20) + CHATML
    started = time.monotonic()
    chat = ChatTemplate(source)
    assert time.monotonic() - started < 2.0  # the render budget
    assert chat.usable
    assert chat.render([user("Hi")]).used_fallback  # the first urlize call is refused


def test_a_computed_autoescape_setting_is_refused_at_compile_time() -> None:
    started = time.monotonic()
    chat = ChatTemplate("{% autoescape @ %}x{% endautoescape %}".replace("@", CHAIN))
    assert time.monotonic() - started < 1.0
    assert not chat.usable
    assert chat.problem is not None and "autoescape" in chat.problem


def test_many_slow_filter_calls_are_stopped_by_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each urlize call stays under its cap; the deadline is read after every filter."""
    from app.core.runtime import template_budget

    monkeypatch.setattr(template_budget, "MAX_TEMPLATE_SECONDS", 0.3)
    size = SLOW_FILTER_CHARS["urlize"] - 10
    source = (
        f"{{% set s = 'a ' * {size // 2} %}}{{% for i in range(1000) %}}"
        "{{ s|urlize|length }}{% endfor %}"
    )
    started = time.monotonic()
    rendered = ChatTemplate(source).render([user("Hi")])
    assert time.monotonic() - started < 2.0
    assert rendered.problem is not None and "ran for more than 0.3 s" in rendered.problem


def test_real_templates_still_render_the_same() -> None:
    chat = ChatTemplate(CHATML + "{{ 'x' ~ 'y' }}{{ 2 * 3 }}")
    assert chat.render([user("Hi")]).text == (
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nxy6"
    )


@pytest.mark.slow
def test_driftless_chat_on_a_model_with_the_bomb_answers_with_the_fallback_note(
    store: ModelStore, starter_file: Path, tmp_path: Path
) -> None:
    """The issue's case end to end: two copies of the bomb and a ChatML loop in a real
    model's ``tokenizer.chat_template``; ``driftless chat`` hung for over 60 s."""
    template = "{{ @ }}".replace("@", CHAIN) * 2 + CHATML
    model_id = import_variant(
        store, starter_file, tmp_path, **{"tokenizer.chat_template": template}
    )
    started = time.monotonic()
    chat = ["chat", "--model", model_id, "--max-tokens", "4", "--temperature", "0", "hi"]
    result = subprocess.run(
        [sys.executable, "-m", "app", "--home", str(store.paths.home), *chat],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 30  # process start and model load included
    assert "slow filter 'urlize'" in result.stderr
    assert "a generic chat format is used instead" in result.stderr
