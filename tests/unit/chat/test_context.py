"""The context window without llama.cpp: templates, budgets, dropping turns, sizes."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from app.core.chat.context import (
    ContextBudget,
    ContextSizeError,
    default_context_size,
    drop_oldest_turns,
    resolve_context_size,
    split_turns,
)
from app.core.errors import ContextOverflow
from app.core.runtime.template import (
    FALLBACK_STOPS,
    ChatMessage,
    ChatTemplate,
    assistant,
    render_fallback,
    system,
    user,
)

# SmolLM2's template (the starter model's), as its GGUF file carries it.
SMOLLM2 = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# Gemma-style: no system role, and the template says so.
NO_SYSTEM = (
    "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'system' %}"
    "{{ raise_exception('System role not supported') }}{% endif %}"
    "<start_of_turn>{{ m['role'] }}\n{{ m['content'] | trim }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)

CONVERSATION = [
    system("You are terse."),
    user("Name three colours."),
    assistant("Red, green, blue."),
    user("And three animals?"),
]

# Each of these would run code, read secrets or exhaust the machine outside the sandbox.
HOSTILE_TEMPLATES = {
    "subclasses": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "cycler globals": "{{ cycler.__init__.__globals__.os.popen('touch {marker}').read() }}",
    "joiner globals": "{{ joiner.__init__.__globals__['os'].system('touch {marker}') }}",
    "namespace": "{{ namespace.__init__.__globals__.__builtins__.open('{marker}', 'w') }}",
    "lipsum": "{{ lipsum.__globals__['os'].popen('touch {marker}') }}",
    "format escape": "{{ '{0.__class__.__mro__}'.format('') }}",
    "mutate list": "{% set x = messages.append({'role': 'user', 'content': 'pwned'}) %}{{ x }}",
    "attr filter": "{{ messages | attr('__class__') | attr('__mro__') }}",
}
HUNGRY_TEMPLATES = {
    "nested ranges": (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    ),
    "repeat": "{{ 'x' * 1000000000 }}",
    "power": "{{ 10 ** 100000000 }}",
    "ljust": "{{ ''.ljust(1000000000) }}",
    "recursion": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
}


def words(messages: Sequence[ChatMessage]) -> int:
    """A stand-in tokenizer: one token per word, three per message for its markers."""
    return sum(len(m.content.split()) + 3 for m in messages)


# --- rendering ---------------------------------------------------------------------------


def test_the_models_template_renders_the_conversation() -> None:
    rendered = ChatTemplate(SMOLLM2).render(CONVERSATION)
    assert not rendered.used_fallback and rendered.problem is None
    assert rendered.text == (
        "<|im_start|>system\nYou are terse.<|im_end|>\n"
        "<|im_start|>user\nName three colours.<|im_end|>\n"
        "<|im_start|>assistant\nRed, green, blue.<|im_end|>\n"
        "<|im_start|>user\nAnd three animals?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert rendered.extra_stops == ()


@pytest.mark.parametrize("template", [SMOLLM2, None], ids=["model template", "fallback"])
def test_turn_n_plus_1_extends_turn_n_so_the_kv_cache_is_reused(template: str | None) -> None:
    # The engine reuses the KV cache only if the next prompt starts with this prompt
    # followed by the reply, exactly as generated (spaces included).
    chat = ChatTemplate(template)
    first = CONVERSATION[:2]
    reply = "  Red, green\nand blue. "
    before = chat.render(first).text + reply
    after = chat.render([*first, assistant(reply), user("More?")]).text
    assert after.startswith(before)


def test_no_template_uses_chatml_and_says_so() -> None:
    rendered = ChatTemplate(None).render([user("Hi")])
    assert rendered.used_fallback
    assert rendered.text == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert rendered.problem == "The model has no chat template, so a generic chat format is used."
    assert rendered.extra_stops == FALLBACK_STOPS


def test_fallback_without_generation_prompt() -> None:
    assert render_fallback([user("Hi")], add_generation_prompt=False) == (
        "<|im_start|>user\nHi<|im_end|>\n"
    )


def test_a_template_with_a_syntax_error_falls_back_with_the_line() -> None:
    chat = ChatTemplate("{% for m in messages %}\n{{ m.content }\n{% endfor %}")
    assert not chat.usable
    rendered = chat.render([user("Hi")])
    assert rendered.used_fallback
    assert rendered.problem is not None
    assert rendered.problem.startswith("The model's chat template is not valid Jinja (line 2")
    assert rendered.problem.endswith("a generic chat format is used instead.")


def test_a_template_without_a_system_role_gets_the_system_prompt_in_the_first_message() -> None:
    chat = ChatTemplate(NO_SYSTEM, bos_token="<bos>")
    rendered = chat.render([system("Be terse."), user("Hi"), assistant("Hello"), user("Bye")])
    assert not rendered.used_fallback
    assert rendered.text == (
        "<bos><start_of_turn>user\nBe terse.\n\nHi<end_of_turn>\n"
        "<start_of_turn>assistant\nHello<end_of_turn>\n"
        "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n"
    )


def test_a_template_that_refuses_falls_back_and_quotes_its_reason() -> None:
    chat = ChatTemplate("{{ raise_exception('Conversation roles must alternate') }}")
    rendered = chat.render([user("Hi")])
    assert rendered.used_fallback
    assert rendered.problem == (
        "The model's chat template refused this conversation (Conversation roles must "
        "alternate); a generic chat format is used instead."
    )


def test_a_template_that_fails_at_render_time_falls_back() -> None:
    rendered = ChatTemplate("{{ messages[5]['content'] + 1 }}").render([user("Hi")])
    assert rendered.used_fallback
    assert rendered.problem is not None and "failed" in rendered.problem


def test_templates_get_the_helpers_hugging_face_templates_use() -> None:
    template = (
        "{% generation %}{{ messages | tojson }}{% endgeneration %}"
        "{% for m in messages %}{% if loop.index > 1 %}{% break %}{% endif %}"
        "[{{ strftime_now('%Y') | length }}]{% endfor %}"
    )
    rendered = ChatTemplate(template).render([user("héllo"), user("x")])
    assert rendered.problem is None
    assert rendered.text == (
        '[{"role": "user", "content": "héllo"}, {"role": "user", "content": "x"}][4]'
    )


@pytest.mark.parametrize("name", sorted(HOSTILE_TEMPLATES))
def test_hostile_templates_cannot_reach_python(name: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    template = HOSTILE_TEMPLATES[name].replace("{marker}", str(marker))
    messages = [user("Hi")]
    rendered = ChatTemplate(template).render(messages)
    assert rendered.used_fallback, rendered.text
    assert rendered.problem is not None
    assert rendered.text == render_fallback(messages)
    assert not marker.exists()
    assert messages == [user("Hi")]


@pytest.mark.parametrize("name", sorted(HUNGRY_TEMPLATES))
def test_templates_cannot_hang_or_exhaust_the_engine(name: str) -> None:
    started = time.monotonic()
    rendered = ChatTemplate(HUNGRY_TEMPLATES[name]).render([user("Hi")])
    # They would run without end: any bound proves they were stopped; this one is generous
    # for a loaded two-core machine (the budget's deadline is 2 s).
    assert time.monotonic() - started < 20
    assert rendered.used_fallback
    assert rendered.problem is not None


def test_a_sandbox_refusal_is_named_in_the_problem() -> None:
    rendered = ChatTemplate(HOSTILE_TEMPLATES["subclasses"]).render([user("Hi")])
    assert rendered.problem is not None
    assert rendered.problem.startswith("The model's chat template was blocked by the sandbox")
    assert "__class__" in rendered.problem


# --- budgets and sizes -------------------------------------------------------------------


def test_overflow_is_one_sentence_with_the_numbers() -> None:
    budget = ContextBudget(prompt_tokens=3_798, reply_tokens=512, n_ctx=4_096)
    assert not budget.fits
    assert budget.needed == 4_310
    assert budget.prompt_limit == 3_584
    assert str(budget.overflow()) == (
        "This conversation needs 4,310 tokens (3,798 for the messages, 512 kept for the reply) "
        "but the model's context holds 4,096. Start a new conversation, drop the oldest "
        "turns, or raise the context size."
    )


def test_a_budget_that_fits_exactly() -> None:
    assert ContextBudget(prompt_tokens=3_584, reply_tokens=512, n_ctx=4_096).fits


def test_a_reply_longer_than_the_context_asks_for_a_shorter_reply() -> None:
    error = ContextBudget(prompt_tokens=10, reply_tokens=8_192, n_ctx=4_096).overflow()
    assert isinstance(error, ContextOverflow)
    assert "Lower the reply length" in str(error)


@pytest.mark.parametrize(
    ("trained", "expected"), [(8192, 4096), (2048, 2048), (131072, 4096), (None, 4096)]
)
def test_default_context_is_the_trained_one_up_to_4096(trained: int | None, expected: int) -> None:
    assert default_context_size(trained) == expected
    assert resolve_context_size(None, trained) == expected


def test_context_size_can_be_raised_to_the_trained_context_but_not_beyond() -> None:
    assert resolve_context_size(8192, 8192) == 8192
    with pytest.raises(ContextSizeError, match=r"trained with a context of 8,192 tokens"):
        resolve_context_size(8193, 8192)
    with pytest.raises(ContextSizeError, match="too small"):
        resolve_context_size(16, 8192)


# --- dropping old turns --------------------------------------------------------------------


def long_conversation() -> list[ChatMessage]:
    messages = [system("Be brief.")]
    for n in range(1, 6):
        messages += [user(f"question {n} " + "word " * 10), assistant(f"answer {n} " + "w " * 10)]
    return messages


def test_split_turns_keeps_replies_with_their_question() -> None:
    head, turns = split_turns([system("s"), assistant("greeting"), user("q1"), assistant("a1")])
    assert head == [system("s")]
    assert turns == [[assistant("greeting")], [user("q1"), assistant("a1")]]


def test_drop_oldest_turns_removes_whole_turns_and_keeps_the_system_prompt() -> None:
    messages = [*long_conversation(), user("latest question")]
    budget = words(messages) - 1
    kept = drop_oldest_turns(messages, words, budget)
    assert kept[0] == system("Be brief.")
    assert kept[1].content.startswith("question 2")  # exactly one turn went
    assert kept[-1] == user("latest question")
    assert words(kept) <= budget
    assert len(kept) == len(messages) - 2


def test_drop_oldest_turns_drops_as_few_as_possible() -> None:
    messages = [*long_conversation(), user("latest question")]
    head, turns = split_turns(messages)
    checked = 0
    for budget in range(words(messages), 0, -5):
        try:
            kept = drop_oldest_turns(messages, words, budget)
        except ContextOverflow:
            break
        checked += 1
        kept_turns = split_turns(kept)[1]
        assert kept_turns == turns[len(turns) - len(kept_turns) :]
        assert words(kept) <= budget
        if len(kept_turns) < len(turns):
            one_more = turns[len(turns) - len(kept_turns) - 1 :]
            assert words(head + [m for turn in one_more for m in turn]) > budget
    assert checked > 5


def test_drop_oldest_turns_changes_nothing_when_it_fits() -> None:
    messages = long_conversation()
    assert drop_oldest_turns(messages, words, 10_000) == messages


def test_when_even_the_latest_turn_does_not_fit_it_says_so() -> None:
    messages = [system("Be brief."), user("one two three four five six")]
    with pytest.raises(
        ContextOverflow, match=r"The latest message alone needs 14 tokens, but only 5"
    ):
        drop_oldest_turns(messages, words, 5)


def test_context_rendering_needs_no_native_library() -> None:
    code = (
        "import sys, app.core.chat.context, app.core.chat.sampling, app.core.chat.engine;"
        "import app.cli.chat;"
        "assert 'llama_cpp' not in sys.modules, 'llama_cpp imported';"
        "assert 'PySide6' not in sys.modules, 'PySide6 imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# --- the render budget (issue 12) ------------------------------------------------------

# Each is short and, without the budget, hangs the engine thread or fills memory.
OVER_BUDGET_TEMPLATES = {
    "nested loop over a long string": (
        "{% set s = 'x' * 100000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",
        "steps",
    ),
    "doubling": (
        "{% set ns = namespace(s='x' * 10000) %}{% for i in range(12) %}"
        "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
        "string over 16 MB",
    ),
    "plus doubling": (
        "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}"
        "{% endfor %}",
        "string over 16 MB",
    ),
    "macro fork": (
        "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(40) }}",
        "ran",
    ),
    "huge join": ("{% set l = ['x' * 100000] * 1000000 %}{{ l | join(',') }}", "16 MB"),
    "printing a long list": ("{% set l = ['x' * 100000] * 1000000 %}{{ l }}", "16 MB"),
    "replace with itself": ("{% set s = 'x' * 100000 %}{{ s.replace('x', s) }}", "16 MB"),
    "wide format": ("{{ '%999999999s' % 'x' }}", "wider than"),
    "keeping many strings": (
        "{% set ns = namespace(l=[]) %}{% set s = 'x' * 1000000 %}{% for i in range(1000) %}"
        "{% set ns.l = ns.l + [s ~ i] %}{% endfor %}",
        "in all",
    ),
    "squaring a number": (
        "{% set ns = namespace(n=3) %}{% for i in range(40) %}{% set ns.n = ns.n * ns.n %}"
        "{% endfor %}",
        "4,096 bits",
    ),
    "expandtabs": ("{% set s = '\t' * 1000000 %}{{ s.expandtabs(1000000) }}", "16 MB"),
    "indent": ("{% set s = '\n' * 1000000 %}{{ s | indent(1000) }}", "16 MB"),
}


@pytest.mark.parametrize("name", sorted(OVER_BUDGET_TEMPLATES))
def test_a_template_over_budget_is_stopped_from_inside_and_named(name: str) -> None:
    source, limit = OVER_BUDGET_TEMPLATES[name]
    chat = ChatTemplate(source)
    started = time.monotonic()
    rendered = chat.render([user("Hi")])
    # Bounded: the deadline is 2 s; the margin is for a loaded machine, not for the template.
    assert time.monotonic() - started < 10
    assert rendered.used_fallback
    assert rendered.problem is not None
    assert rendered.problem.startswith("The model's chat template was stopped: it ")
    assert limit in rendered.problem
    # Set aside for good: the next render does not run the template again.
    assert not chat.usable
    again = chat.render([user("Hi")])
    assert again.used_fallback and again.problem == rendered.problem


def test_the_nested_loop_is_stopped_by_its_step_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """Steps, not seconds, stop it: the same template stops at the same point on any machine
    (about 1.5 s of work on this one; the time limit is lifted so only the count can act)."""
    from app.core.runtime import template_budget

    monkeypatch.setattr(template_budget, "MAX_TEMPLATE_SECONDS", 600.0)
    source, _ = OVER_BUDGET_TEMPLATES["nested loop over a long string"]
    rendered = ChatTemplate(source).render([user("Hi")])
    assert rendered.problem is not None and "steps" in rendered.problem


def test_the_time_limit_is_named_in_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    from app.core.runtime import template_budget

    monkeypatch.setattr(template_budget, "MAX_TEMPLATE_SECONDS", 0.2)
    monkeypatch.setattr(template_budget, "MAX_TEMPLATE_STEPS", 10**12)
    source, _ = OVER_BUDGET_TEMPLATES["nested loop over a long string"]
    rendered = ChatTemplate(source).render([user("Hi")])
    assert rendered.problem == (
        "The model's chat template was stopped: it ran for more than 0.2 s; "
        "a generic chat format is used instead."
    )


def test_a_cancelled_render_raises_cancelled_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from app.core.cancel import CancelToken
    from app.core.errors import Cancelled
    from app.core.runtime import template_budget

    monkeypatch.setattr(template_budget, "MAX_TEMPLATE_SECONDS", 60.0)
    monkeypatch.setattr(template_budget, "MAX_TEMPLATE_STEPS", 10**12)
    source, _ = OVER_BUDGET_TEMPLATES["nested loop over a long string"]
    chat = ChatTemplate(source)
    cancel = CancelToken()
    threading.Timer(0.2, cancel.cancel).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        chat.render([user("Hi")], cancel=cancel)
    # Far below the 60 s the template would run: the cancel stopped it (generous for load).
    assert time.monotonic() - started < 20
    assert chat.usable  # cancelling is not the template's fault


def test_constant_folding_is_sized_too() -> None:
    chat = ChatTemplate("{{ 'x' | center(1000000000) }}")
    assert chat.render([user("Hi")]).used_fallback


def test_a_huge_template_source_is_refused_unread() -> None:
    chat = ChatTemplate("x" * (1 << 20))
    assert not chat.usable
    assert chat.problem is not None and "1024 KB long" in chat.problem


def test_the_budget_keeps_real_templates_fast() -> None:
    chat = ChatTemplate(SMOLLM2)
    conversation = CONVERSATION * 50
    chat.render(conversation)
    started = time.perf_counter()
    for _ in range(20):
        assert not chat.render(conversation).used_fallback
    # Generous for a loaded machine (about 5 ms here); speed itself is measured in bench/.
    assert (time.perf_counter() - started) / 20 < 0.5


MEMORY_PROBE = """
import resource, sys
from app.core.runtime.template import ChatTemplate, user
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
rendered = ChatTemplate(sys.argv[1]).render([user("Hi")])
assert rendered.used_fallback, rendered.text[:100]
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


@pytest.mark.parametrize("name", ["doubling", "keeping many strings", "huge join"])
def test_hostile_templates_stay_within_bounded_memory(name: str) -> None:
    source, _ = OVER_BUDGET_TEMPLATES[name]
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, source],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    grown_mb = int(result.stdout.strip())
    assert grown_mb < 200, f"peak RSS grew by {grown_mb} MB"
