"""What compiling chat templates without constant folding costs (issue 26, F1).

    .venv/bin/python bench/bench_template.py [--rounds 200]

Jinja folds constant expressions while it compiles, outside any render budget, so the
sandbox now compiles with ``optimized=False`` and folds only plain text and literals.
This times compiling and rendering real templates both ways: the starter's (read from
the bundled model file), and typical ChatML, Llama 3 and Gemma templates written here.
Medians over ``--rounds``; a render is a 7-message conversation. Not part of the tests.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

from app.core.models.gguf import read_gguf
from app.core.models.starter import find_starter_file
from app.core.runtime import template
from app.core.runtime.template import ChatTemplate, assistant, system, user

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] | trim + '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + "
    "message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{% endif %}"
)
GEMMA = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
    "{% set first_user_prefix = messages[0]['content'] + '\\n\\n' %}"
    "{% set loop_messages = messages[1:] %}{% else %}{% set first_user_prefix = '' %}"
    "{% set loop_messages = messages %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant') }}"
    "{% endif %}{% if message['role'] == 'assistant' %}{% set role = 'model' %}"
    "{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else '') }}"
    "{{ message['content'] | trim }}{{ '<end_of_turn>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)
CONVERSATION = [
    system("You are terse."),
    user("Name three colours."),
    assistant("Red, green, blue."),
    user("And three animals?"),
    assistant("Cat, dog, owl."),
    user("Three cities?"),
    assistant("Paris, Lima, Oslo."),
]


def _median_ms(action: Callable[[], Any], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


@contextlib.contextmanager
def _jinja_folding() -> Iterator[None]:
    """Compile as plain Jinja would: the optimizer on, every constant output folded."""
    generator = template._BudgetedCodeGenerator
    ours = generator._output_child_to_const
    original_init = template._Sandbox.__init__

    def init(self: template._Sandbox) -> None:
        original_init(self)
        self.optimized = True

    generator._output_child_to_const = (  # type: ignore[method-assign]
        template.CodeGenerator._output_child_to_const
    )
    template._Sandbox.__init__ = init  # type: ignore[method-assign]
    try:
        yield
    finally:
        generator._output_child_to_const = ours  # type: ignore[method-assign]
        template._Sandbox.__init__ = original_init  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    sources = {"ChatML": CHATML, "Llama 3": LLAMA3, "Gemma": GEMMA}
    starter = find_starter_file()
    if starter is not None:
        sources["starter (SmolLM2)"] = read_gguf(starter).chat_template or ""
    print(
        "| template | chars | compile, folded | compile, not folded | render, folded | "
        "render, not folded |"
    )
    print("|---|---|---|---|---|---|")
    for name, source in sources.items():
        row = [name, f"{len(source):,}"]
        compile_it = functools.partial(ChatTemplate, source)
        with _jinja_folding():
            row.append(f"{_median_ms(compile_it, args.rounds):.2f} ms")
            folded = compile_it()
        row.append(f"{_median_ms(compile_it, args.rounds):.2f} ms")
        for chat in (folded, compile_it()):
            assert not chat.render(CONVERSATION).used_fallback, (name, chat.problem)
            render = functools.partial(chat.render, CONVERSATION)
            row.append(f"{_median_ms(render, args.rounds):.3f} ms")
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
