"""The budget a chat template renders under: time, steps, string and list sizes, cancel.

A chat template is untrusted code (see :mod:`app.core.runtime.template`), and a short
one can run for ever (``{% for a in s %}{% for b in s %}`` over a long string) or fill
memory (a string doubled a dozen times). Checking the clock between output pieces is
not enough: a template can loop for hours without writing anything. So the budget is
enforced **from inside the render**:

- The sandbox compiles a call to :func:`tick` at the top of every block of the template
  (each loop iteration, each macro call, each branch taken), and :func:`tick` counts a
  step and, every few hundred steps, checks the deadline and the request's cancel token.
  Jinja has no other way to loop (no ``while``, no comprehensions), so a template cannot
  escape the count; what it can do in one call (join, replace, format, repeat, a filter
  over a list...) is bounded by the size checks below before the work is done.
  (A ``sys.settrace`` hook would catch the same loops, but it switches the interpreter
  to its slow tracing mode: it made rendering the starter's template about 4x slower,
  against a few percent for compiled ticks.)
- Every operation that makes a bigger string or list (``~``, ``+``, ``*``, ``%``,
  ``str.format``/``replace``/``join``/``expandtabs``, the growing filters, printing a
  container) estimates its result first and refuses one over :data:`MAX_STRING_CHARS`
  or :data:`MAX_LIST_ITEMS`; all growth in one render also counts against
  :data:`MAX_GROWTH_CHARS`, so memory stays bounded even when a template keeps many
  medium strings alive.

Going over raises :class:`TemplateOverBudget`, whose message names the limit ("the chat
template ran for more than 2 s"); a set cancel token raises ``Cancelled``. Real
templates use a tiny fraction of every limit.
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from app.core.cancel import CancelToken
from app.core.errors import Cancelled

MAX_TEMPLATE_SECONDS = 2.0
MAX_TEMPLATE_STEPS = 500_000
"""Lines run and calls made by one render. A real template renders a long conversation
in a few thousand."""
MAX_STRING_CHARS = 16 << 20
MAX_LIST_ITEMS = 1_000_000
MAX_GROWTH_CHARS = 64 << 20
"""Characters (or list items) made by all growing operations of one render together."""
MAX_FORMAT_WIDTH = 10_000

SLOW_FILTER_CHARS = {
    "urlize": 64 << 10,  # about 0.2 MB/s: 0.3 s at most
    "wordwrap": 1 << 20,  # about 2 MB/s
    "title": 1 << 20,  # about 4 MB/s
    "striptags": 4 << 20,  # about 10 MB/s
    "wordcount": 4 << 20,
}
"""Filters whose cost per character is high, with the most text each may be given: one
call must end well within the render's time, since the clock is only read between calls
(16 MB through ``urlize`` took 80 s)."""

_CHECK_EVERY = 256  # steps between two looks at the clock and the cancel token
_MAX_WALK = 200_000  # items looked at when estimating how long a printed value is
_current = threading.local()


class TemplateOverBudget(Exception):
    """A render went over one of its limits; the message names it, as a clause."""


class RenderBudget:
    """The limits of one render, checked by a trace hook and by the sandbox's operations."""

    def __init__(
        self,
        cancel: CancelToken | None = None,
        *,
        seconds: float | None = None,
        steps: int | None = None,
    ) -> None:
        self.cancel = cancel
        self.seconds = MAX_TEMPLATE_SECONDS if seconds is None else seconds
        self.deadline = time.monotonic() + self.seconds
        self.steps_left = MAX_TEMPLATE_STEPS if steps is None else steps
        self.growth_left = MAX_GROWTH_CHARS
        self._until_check = _CHECK_EVERY

    # -- steps, time, cancel --------------------------------------------------------

    def step(self) -> None:
        self.steps_left -= 1
        self._until_check -= 1
        if self._until_check <= 0:
            self._until_check = _CHECK_EVERY
            self.check()

    def check(self) -> None:
        if self.cancel is not None and self.cancel.cancelled:
            raise Cancelled()
        if self.steps_left < 0:
            raise TemplateOverBudget(
                f"ran more than {MAX_TEMPLATE_STEPS:,} steps (it loops far more than "
                "any chat needs)"
            )
        if time.monotonic() > self.deadline:
            raise TemplateOverBudget(f"ran for more than {self.seconds:g} s")

    @contextlib.contextmanager
    def active(self) -> Iterator[RenderBudget]:
        """Enforce this budget on templates rendered by the current thread in the block."""
        outer = getattr(_current, "budget", None)
        _current.budget = self
        try:
            self.check()
            yield self
        finally:
            _current.budget = outer

    # -- sizes ----------------------------------------------------------------------

    def grow(self, size: int, what: str = "string") -> None:
        """Refuse a value of ``size`` characters (or items) before it is made."""
        if what == "list" and size > MAX_LIST_ITEMS:
            raise TemplateOverBudget(f"built a list of more than {MAX_LIST_ITEMS:,} items")
        if what != "list" and size > MAX_STRING_CHARS:
            raise TemplateOverBudget(f"built a string over {MAX_STRING_CHARS >> 20} MB")
        self.growth_left -= size
        if self.growth_left < 0:
            raise TemplateOverBudget(
                f"built more than {MAX_GROWTH_CHARS >> 20} MB of strings and lists in all"
            )


def tick() -> None:
    """One step of a template (compiled in at the top of every block)."""
    budget: RenderBudget | None = getattr(_current, "budget", None)
    if budget is not None:
        budget.step()


def current() -> RenderBudget | None:
    """The budget of the render running on this thread, if any."""
    budget: RenderBudget | None = getattr(_current, "budget", None)
    return budget


def grow(size: int, what: str = "string") -> None:
    budget = current()
    if budget is not None:
        budget.grow(size, what)
    elif size > (MAX_LIST_ITEMS if what == "list" else MAX_STRING_CHARS):
        # Outside a render (the sandbox folds no constants while compiling, but a
        # filter may still be called directly): the size caps hold there too.
        RenderBudget().grow(size, what)


def check_result(value: Any) -> Any:
    """Count a value just made (by a filter or a method) against the budget."""
    if isinstance(value, str):
        grow(len(value))
    elif isinstance(value, list | tuple):
        grow(len(value), "list")
    return value


def text_size(value: Any, limit: int = MAX_STRING_CHARS) -> int:
    """About how long ``str(value)`` is, without making it; stops past ``limit``.

    Printing a list prints every item: ``[s] * 1000`` is small, its text is not.
    """
    if isinstance(value, str):
        return len(value)
    total = 0
    walked = 0
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        walked += 1
        if isinstance(item, str):
            total += len(item) + 4
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + 2 * len(item)
            walked += len(item)
            if walked > _MAX_WALK:
                return limit + 1
            stack.extend(item)
        elif isinstance(item, Mapping):
            total += 2 + 4 * len(item)
            walked += 2 * len(item)
            if walked > _MAX_WALK:
                return limit + 1
            stack.extend(item.keys())
            stack.extend(item.values())
        else:
            total += 32
        if total > limit:
            return total
    return total


def check_text(value: Any) -> Any:
    """Refuse to print ``value`` if its text would be over budget (the output hook)."""
    if not isinstance(value, str):
        grow(text_size(value))
    return value


def concat(parts: tuple[Any, ...]) -> str:
    """The template's ``~`` operator, sized before it is joined."""
    texts = [p if isinstance(p, str) else str(check_text(p)) for p in parts]
    grow(sum(map(len, texts)))
    return "".join(texts)


_WIDTHS = re.compile(r"\d+")


def format_size(fmt: str, args: Any, *, fields: int) -> int:
    """An upper bound on the length of ``fmt % args`` or ``fmt.format(*args)``."""
    values = list(args.values()) if isinstance(args, Mapping) else args
    if not isinstance(values, list | tuple):
        values = [values]
    widest = max((int(w) for w in _WIDTHS.findall(fmt) if len(w) <= 9), default=0)
    if any(len(w) > 9 for w in _WIDTHS.findall(fmt)) or widest > MAX_FORMAT_WIDTH:
        raise TemplateOverBudget(f"formats text wider than {MAX_FORMAT_WIDTH:,} characters")
    largest = max((text_size(v) for v in values), default=0)
    return len(fmt) + fields * (largest + widest)


def check_binop(operator: str, left: Any, right: Any) -> None:
    """Size ``left <operator> right`` before Python computes it."""
    if operator == "+":
        if isinstance(left, str) and isinstance(right, str):
            grow(len(left) + len(right))
        elif isinstance(left, list | tuple) and isinstance(right, list | tuple):
            grow(len(left) + len(right), "list")
    elif operator == "*":
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and _is_int(count):
                grow(len(seq) * max(count, 0), "string" if isinstance(seq, str) else "list")
        if _is_int(left) and _is_int(right) and left.bit_length() + right.bit_length() > 4096:
            raise TemplateOverBudget("multiplied numbers beyond 4,096 bits")
    elif operator == "%" and isinstance(left, str):
        grow(format_size(left, right, fields=left.count("%")))


def check_method(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Size a call of a string method that can multiply its input (``s.replace(s, s)``)."""
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    if not isinstance(owner, str):
        return
    if name == "replace" and len(args) >= 2 and isinstance(args[0], str):
        old, new = args[0], args[1]
        if isinstance(new, str) and len(new) > len(old):
            hits = owner.count(old) if old else len(owner) + 1
            grow(len(owner) + hits * (len(new) - len(old)))
    elif name == "join" and args:
        items = args[0]
        if isinstance(items, list | tuple):
            grow(text_size(items) + len(owner) * len(items))
    elif name == "expandtabs":
        width = args[0] if args else kwargs.get("tabsize", 8)
        if _is_int(width):
            grow(len(owner) + owner.count("\t") * max(width, 0))
    elif name in ("format", "format_map"):
        grow(format_size(owner, [*args, *kwargs.values()], fields=owner.count("{")))


# Filters that can make their result much bigger than their input, sized before they run.
def _size_filter(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if name in ("list", "batch", "slice", "sort", "unique", "map", "select", "reject"):
        if hasattr(value, "__len__") and len(value) > MAX_LIST_ITEMS:
            raise TemplateOverBudget(f"built a list of more than {MAX_LIST_ITEMS:,} items")
    elif name == "join" and isinstance(value, list | tuple):
        sep = args[0] if args else kwargs.get("d", "")
        grow(text_size(value) + text_size(sep) * len(value))
    elif name == "replace" and isinstance(value, str) and len(args) >= 2:
        check_method(value.replace, args, {})
    elif name == "center" and isinstance(value, str):
        width = args[0] if args else kwargs.get("width", 80)
        grow(max(len(value), width if _is_int(width) else 0))
    elif name == "indent" and isinstance(value, str):
        width = args[0] if args else kwargs.get("width", 4)
        pad = len(width) if isinstance(width, str) else width if _is_int(width) else 0
        grow(len(value) + (value.count("\n") + 1) * max(pad, 0))
    elif name == "wordwrap" and isinstance(value, str):
        width = args[0] if args else kwargs.get("width", 79)
        wrap = args[2] if len(args) > 2 else kwargs.get("wrapstring", "\n")
        lines = len(value) // max(width, 1) + 1 if _is_int(width) else len(value) + 1
        grow(len(value) + lines * (len(wrap) if isinstance(wrap, str) else 1))
    elif name == "format" and isinstance(value, str):
        grow(format_size(value, [*args, *kwargs.values()], fields=value.count("%")))
    elif name in ("tojson", "pprint", "string", "e", "escape", "forceescape", "urlencode"):
        grow(text_size(value) * (6 if name in ("e", "escape", "forceescape") else 1))
    elif name == "sum" and isinstance(value, list | tuple):
        grow(sum(len(v) for v in value if isinstance(v, list | tuple)), "list")


def budgeted_filters(filters: dict[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """Every filter, wrapped to size its input first and count its result after."""
    return {name: _budgeted_filter(name, fn) for name, fn in filters.items()}


def _budgeted_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    # functools.wraps keeps Jinja's pass_context/pass_environment marker, so the
    # wrapper receives the same leading argument the filter does.
    passes_first = hasattr(fn, "jinja_pass_arg")

    slow_limit = SLOW_FILTER_CHARS.get(name)

    @functools.wraps(fn)
    def budgeted(*args: Any, **kwargs: Any) -> Any:
        rest = args[1:] if passes_first else args
        if rest:
            if slow_limit is not None and text_size(rest[0], slow_limit) > slow_limit:
                raise TemplateOverBudget(
                    f"passed more than {slow_limit >> 10} KB to the slow filter '{name}'"
                )
            _size_filter(name, rest[0], tuple(rest[1:]), kwargs)
        result = check_result(fn(*args, **kwargs))
        budget = current()
        if budget is not None:
            budget.check()  # a filter is one step, but it may be a long one
        return result

    return budgeted


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
