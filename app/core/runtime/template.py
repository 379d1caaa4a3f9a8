"""Chat messages and the model's chat template, rendered in a sandbox.

**Chat templates are untrusted code.** A GGUF file carries its chat template as Jinja
source, and rendering hostile Jinja in a normal environment runs Python
(CVE-2024-34359, ``{{ cycler.__init__.__globals__.os.popen(...) }}``). Templates are
rendered only in Jinja2's ``ImmutableSandboxedEnvironment``, which blocks underscore
attributes and every mutation of lists and dicts; on top of that, each render runs under
a :class:`~app.core.runtime.template_budget.RenderBudget` (time, steps, string and list
sizes, the request's cancel token), enforced from inside the render, so a template can
neither escape nor hang nor exhaust the engine thread. Compiling runs none of the
template: Jinja's constant folding is off (it ran ``'a'|center(8000000)|urlize`` for 52 s
inside the constructor), so compiling costs milliseconds and constants are computed in
the render, budgeted like the rest. A template that is refused,
broken, over budget or absent gives way to a ChatML-style fallback, and the reason is
reported, never hidden; a template that went over its budget once is not tried again.

**Follow-up turns extend the previous prompt.** For the engine's KV cache to be reused,
the prompt of turn N+1 must start with the prompt of turn N followed by its reply. The
messages are therefore rendered exactly as given (no trimming here), and the engine
checks how many tokens it reused (``GenerationStats.cached_tokens``).

Chat and classification both render prompts through this module.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

import jinja2
import jinja2.ext
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from app.core.cancel import CancelToken
from app.core.errors import Cancelled
from app.core.runtime import template_budget as budget
from app.core.runtime.template_budget import (
    MAX_TEMPLATE_SECONDS as MAX_TEMPLATE_SECONDS,
)
from app.core.runtime.template_budget import RenderBudget, TemplateOverBudget

Role = Literal["system", "user", "assistant"]
ROLES: frozenset[str] = frozenset(get_args(Role))

FALLBACK_STOPS = ("<|im_end|>", "<|im_start|>")
"""Where a reply in the fallback format ends, when the model has no token for it."""

# Limits on what a template may make Jinja do. Real templates stay far below them.
MAX_TEMPLATE_ITERATIONS = 1_000_000  # items over all range() calls in one render
MAX_TEMPLATE_INT = 1_000_000  # any integer passed to a call or repeated with '*'
MAX_PROMPT_CHARS = 16 << 20
MAX_TEMPLATE_SOURCE = 256 << 10
"""Real chat templates are a few KB (the longest, with tool calling, about 20 KB)."""
MAX_TEMPLATE_TOKENS = 20_000
"""Jinja tokens (names, operators, strings, text runs) in a template: the starter's has 60.
Compiling 20,000 takes well under a second; 87,000 (256 KB of ``{{ ... }}``) took 3 s."""


@dataclass(frozen=True)
class ChatMessage:
    """One message of a conversation, as the model sees it."""

    role: Role
    content: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"unknown chat role {self.role!r}")

    def to_json(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


def system(content: str) -> ChatMessage:
    return ChatMessage("system", content)


def user(content: str) -> ChatMessage:
    return ChatMessage("user", content)


def assistant(content: str) -> ChatMessage:
    return ChatMessage("assistant", content)


def split_turns(
    messages: Sequence[ChatMessage],
) -> tuple[list[ChatMessage], list[list[ChatMessage]]]:
    """Leading system messages, then turns: each user message with the replies after it."""
    head: list[ChatMessage] = []
    index = 0
    while index < len(messages) and messages[index].role == "system":
        head.append(messages[index])
        index += 1
    turns: list[list[ChatMessage]] = []
    for message in messages[index:]:
        if message.role == "user" or not turns:
            turns.append([message])
        else:
            turns[-1].append(message)
    return head, turns


# --- rendering the prompt --------------------------------------------------------------


@dataclass(frozen=True)
class RenderedPrompt:
    """A prompt as text, and whether the model's own template made it."""

    text: str
    used_fallback: bool = False
    problem: str | None = None
    """Why the model's template was not used, as a sentence; None when it was."""

    @property
    def extra_stops(self) -> tuple[str, ...]:
        return FALLBACK_STOPS if self.used_fallback else ()


def render_fallback(messages: Sequence[ChatMessage], *, add_generation_prompt: bool = True) -> str:
    """ChatML, the format most small instruct models know: it cannot fail."""
    parts = [f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n" for m in messages]
    if add_generation_prompt:
        parts.append("<|im_start|>assistant\n")
    return "".join(parts)


class TemplateRefused(Exception):
    """The template itself called ``raise_exception`` (e.g. "system role not supported")."""


class _IgnoreGenerationTags(jinja2.ext.Extension):
    """Hugging Face's ``{% generation %}`` tag marks assistant text for training: a no-op."""

    tags = {"generation"}  # noqa: RUF012 (jinja's own class attribute)

    def parse(self, parser: Any) -> Any:
        parser.stream.skip(1)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


class _BudgetedCodeGenerator(CodeGenerator):
    """Counts the template's steps and sizes its ``~`` (see ``template_budget``)."""

    def blockvisit(self, nodes: Iterable[nodes.Node], frame: Frame) -> None:
        # Every block (loop body, macro, branch, the template itself) starts with a
        # step of the budget: this is how loops are counted and cancelled mid-render.
        self.writeline("environment.budget_tick()")
        super().blockvisit(nodes, frame)

    def _output_child_to_const(self, node: nodes.Expr, frame: Frame, finalize: Any) -> str:
        # Jinja evaluates every printed expression it can while compiling, even with the
        # optimizer off: only plain text and literals may be, the rest runs budgeted.
        if not isinstance(node, nodes.TemplateData | nodes.Const):
            raise nodes.Impossible()
        return str(super()._output_child_to_const(node, frame, finalize))

    def visit_EvalContextModifier(self, node: nodes.EvalContextModifier, frame: Frame) -> None:
        # ``{% autoescape EXPR %}`` evaluates EXPR while compiling: only a literal may be.
        for keyword in node.options:
            if not isinstance(keyword.value, nodes.Const):
                raise SecurityError("the template computes an autoescape setting")
        super().visit_EvalContextModifier(node, frame)

    @optimizeconst  # a no-op: the sandbox compiles with optimized=False
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.budgeted_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with caps on the work a template can ask for.

    The sandbox already blocks escapes (here, loudly: touching a private attribute is an
    error, not an empty string); the caps stop a template from hanging the engine thread
    or filling memory: ``'x' * 10**9``, ``10**10**8``, ``' '.ljust(10**9)``, ``s ~ s``
    doubled in a loop, ``s.replace('x', s)``. Sizes are checked before the work is done
    (see :mod:`~app.core.runtime.template_budget`); loops are counted by its trace hook.
    """

    intercepted_binops = frozenset({"*", "**", "+", "%"})
    code_generator_class = _BudgetedCodeGenerator

    def __init__(self) -> None:
        super().__init__(
            loader=jinja2.BaseLoader(),
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=[_IgnoreGenerationTags, jinja2.ext.loopcontrols],
            finalize=budget.check_text,  # printing a container prints all of it
            # No constant folding: Jinja would run a constant filter chain while it
            # compiles, outside any render's budget (``'a'|center(8000000)|...|urlize``
            # took 52 s in ``__init__``). Unfolded, it runs in the render, budgeted.
            optimized=False,
        )
        # As Transformers renders chat templates: JSON keeps non-ASCII text as is.
        self.filters["tojson"] = _tojson
        self.filters = budget.budgeted_filters(self.filters)
        self.globals.pop("lipsum", None)  # paragraphs of lorem ipsum: no chat needs them
        self.budgeted_concat = budget.concat
        self.budget_tick = budget.tick

    def unsafe_undefined(self, obj: Any, attribute: str) -> jinja2.Undefined:
        # The sandbox would return an Undefined that prints as "" and fails only when
        # used further; no real template touches private attributes, so refuse at once.
        raise SecurityError(
            f"access to attribute {attribute!r} of a {type(obj).__name__} object is unsafe"
        )

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if _big(left, 2**64) or _big(right, 256):
                raise SecurityError("the template raises a number to a huge power")
            return left**right
        if operator == "*" and (
            (isinstance(left, str | list | tuple) and _big(right, MAX_TEMPLATE_INT))
            or (isinstance(right, str | list | tuple) and _big(left, MAX_TEMPLATE_INT))
        ):
            raise SecurityError("the template repeats a value too many times")
        budget.check_binop(operator, left, right)
        if operator == "+":
            return left + right
        if operator == "%":
            return budget.check_result(left % right)
        return left * right

    def call(
        __self,
        __context: Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        for value in (*args, *kwargs.values()):
            if _big(value, MAX_TEMPLATE_INT):
                raise SecurityError(f"the template passes the huge number {value} to a call")
        budget.check_method(__obj, args, kwargs)
        return budget.check_result(super().call(__context, __obj, *args, **kwargs))


def _big(value: Any, limit: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) > limit


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent)


def _raise_exception(message: str) -> None:
    raise TemplateRefused(message)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


def _budgeted_range() -> Callable[..., range]:
    left = MAX_TEMPLATE_ITERATIONS

    def budgeted(*args: int) -> range:
        nonlocal left
        values = range(*args)
        left -= len(values)
        if left < 0:
            raise SecurityError("the template loops too many times")
        return values

    return budgeted


class ChatTemplate:
    """A model's chat template, compiled once in the sandbox; renders with a fallback."""

    def __init__(self, source: str | None, *, bos_token: str = "", eos_token: str = "") -> None:
        self.source = source
        self.bos_token = bos_token
        self.eos_token = eos_token
        self._template: jinja2.Template | None = None
        self.problem: str | None = None
        if source is None or not source.strip():
            self.problem = "The model has no chat template, so a generic chat format is used."
            return
        if len(source) > MAX_TEMPLATE_SOURCE:
            self.problem = _fallback_sentence(
                f"is {len(source) >> 10} KB long, far longer than any real chat template"
            )
            return
        try:
            sandbox = _Sandbox()
            # Compiling is linear in the template's tokens, but not interruptible: the
            # count bounds it (256 KB of ``{{ x }}`` took 3 s to compile).
            tokens = sum(1 for _ in itertools.islice(sandbox.lex(source), MAX_TEMPLATE_TOKENS))
            if tokens >= MAX_TEMPLATE_TOKENS:
                self.problem = _fallback_sentence(
                    f"has more than {MAX_TEMPLATE_TOKENS:,} Jinja tokens, far more than any "
                    "real chat template"
                )
                return
            self._template = sandbox.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            self.problem = _fallback_sentence(f"is not valid Jinja (line {exc.lineno}: {exc})")
        except Exception as exc:  # a broken template never stops a chat
            self.problem = _fallback_sentence(f"cannot be compiled ({_describe(exc)})")

    @property
    def usable(self) -> bool:
        return self._template is not None

    def render(
        self,
        messages: Sequence[ChatMessage],
        *,
        add_generation_prompt: bool = True,
        cancel: CancelToken | None = None,
    ) -> RenderedPrompt:
        """The prompt for ``messages``; the fallback (with the reason) if the template fails.

        ``Cancelled`` is raised, at once, when ``cancel`` is set during the render.
        """
        if self._template is None:
            return RenderedPrompt(
                render_fallback(messages, add_generation_prompt=add_generation_prompt),
                used_fallback=True,
                problem=self.problem,
            )
        try:
            return RenderedPrompt(self._render(messages, add_generation_prompt, cancel))
        except TemplateRefused as refused:
            merged = _merge_system(messages)
            if merged is not None:
                # Templates of models without a system role (Gemma, Mistral) refuse one;
                # the usual remedy is to put it at the top of the first user message.
                try:
                    return RenderedPrompt(self._render(merged, add_generation_prompt, cancel))
                except (Cancelled, TemplateOverBudget):
                    raise
                except Exception:
                    pass
            problem = _fallback_sentence(f"refused this conversation ({refused})")
        except Cancelled:
            raise
        except TemplateOverBudget as exc:
            # A template that blew its budget once is hostile or broken: using it again
            # would cost the same seconds on every count and every reply, and switching
            # formats mid-conversation would defeat the KV cache. So it is set aside.
            self._template = None
            self.problem = problem = _fallback_sentence(f"was stopped: it {exc}")
        except RecursionError:
            problem = _fallback_sentence("calls itself without end")
        except SecurityError as exc:
            problem = _fallback_sentence(f"was blocked by the sandbox: {exc}")
        except Exception as exc:  # a failing template never stops a chat
            problem = _fallback_sentence(f"failed ({_describe(exc)})")
        return RenderedPrompt(
            render_fallback(messages, add_generation_prompt=add_generation_prompt),
            used_fallback=True,
            problem=problem,
        )

    def _render(
        self,
        messages: Sequence[ChatMessage],
        add_generation_prompt: bool,
        cancel: CancelToken | None,
    ) -> str:
        assert self._template is not None
        pieces: list[str] = []
        size = 0
        with RenderBudget(cancel).active():
            for piece in self._template.generate(
                messages=[m.to_json() for m in messages],
                add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
                raise_exception=_raise_exception,
                strftime_now=_strftime_now,
                tools=None,
                range=_budgeted_range(),
            ):
                size += len(piece)
                if size > MAX_PROMPT_CHARS:
                    raise TemplateOverBudget(f"wrote a prompt over {MAX_PROMPT_CHARS >> 20} MB")
                pieces.append(piece)
        return "".join(pieces)


def _merge_system(messages: Sequence[ChatMessage]) -> list[ChatMessage] | None:
    head, _ = split_turns(messages)
    rest = list(messages[len(head) :])
    if not head or not rest or rest[0].role != "user":
        return None
    preamble = "\n\n".join(m.content for m in head)
    return [user(f"{preamble}\n\n{rest[0].content}"), *rest[1:]]


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _fallback_sentence(what: str) -> str:
    return f"The model's chat template {what}; a generic chat format is used instead."
