"""Grammars for constrained decoding: JSON Schema to llama.cpp's GBNF.

A reply sampled under a grammar can only be text the grammar accepts, so a JSON answer
always parses. The conversion is llama-cpp-python's (a copy of llama.cpp's
``json_schema_to_grammar.py``), with one repair: its strings accept raw control
characters (a newline, a tab), which strict JSON parsers (Python's ``json.loads``
among them) refuse, so here they must be escaped as JSON says.

**A schema is untrusted input.** The converter writes every count out: ``maxLength: n``
becomes ``n`` nested optional rules, ``minItems: n`` a sequence of ``n`` items, a
pattern's ``a{n}`` ``n`` characters, so ``minItems: 50000000`` (a 170-byte request)
took 19 s and 3.7 GB before any size check could run, and a grammar nested a few
thousand deep makes llama.cpp print it whole to stderr (or, past about 20,000, overflow
its stack). So every count is bounded *before* the conversion (:func:`check_schema`):
each at most :data:`MAX_SCHEMA_COUNT`, a pattern's nested repetitions multiplied out at
most :data:`MAX_PATTERN_REPEAT`, and all of a schema's counts together at most
:data:`MAX_SCHEMA_TOTAL`; the grammar made is then capped at :data:`MAX_GRAMMAR_CHARS`.
Within these bounds, llama.cpp parses every grammar the converter writes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from app.core.errors import DriftlessError
from app.core.runtime.llama import clear_native_errors, import_llama_cpp, last_native_error
from app.core.runtime.results import GenerationError

JSON_OBJECT_SCHEMA: Mapping[str, Any] = {"type": "object"}
"""Any JSON object: what ``response_format: {"type": "json_object"}`` asks for."""

MAX_SCHEMA_CHARS = 100_000
MAX_GRAMMAR_CHARS = 200_000
MAX_SCHEMA_COUNT = 1000
"""The largest ``minItems``, ``maxItems``, ``minLength``, ``maxLength``, ``minProperties``,
``maxProperties`` or pattern ``{n,m}``. llama.cpp refuses ``maxLength`` from about 1,100
(the converter nests one rule per character)."""
MAX_PATTERN_REPEAT = 10_000
"""A pattern's repetitions multiplied through its groups: ``(a{100}){100}`` is 10,000."""
MAX_SCHEMA_TOTAL = 20_000
"""All the counts of one schema added up."""
MAX_SCHEMA_NODES = 10_000
MAX_SCHEMA_DEPTH = 64
_COUNT_KEYS = (
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "minProperties",
    "maxProperties",
    "minContains",
    "maxContains",
)
_QUANTIFIER = re.compile(r"\{(\d*)(?:,(\d*))?\}")

_LOOSE_CHAR = 'char ::= [^"\\\\]'
_STRICT_CHAR = 'char ::= [^"\\\\\\x7F\\x00-\\x1F]'


class InvalidSchema(DriftlessError):
    """A JSON Schema that cannot be turned into a grammar."""


def json_schema_grammar(schema: Mapping[str, Any]) -> str:
    """The GBNF grammar (root rule ``root``) of the JSON texts ``schema`` accepts."""
    if not isinstance(schema, Mapping):
        raise InvalidSchema("The JSON schema must be a JSON object.")
    check_schema(schema)
    text = json.dumps(schema)
    if len(text) > MAX_SCHEMA_CHARS:
        raise InvalidSchema(f"The JSON schema is longer than {MAX_SCHEMA_CHARS:,} characters.")
    lib = import_llama_cpp()
    try:
        grammar: str = lib.llama_grammar.json_schema_to_gbnf(text)
    except RecursionError:
        raise InvalidSchema("The JSON schema nests too deeply.") from None
    except Exception as exc:  # the converter asserts, raises KeyError, ValueError...
        detail = str(exc) or type(exc).__name__
        raise InvalidSchema(f"The JSON schema cannot be used for decoding: {detail}.") from None
    grammar = _strict_strings(grammar)
    if len(grammar) > MAX_GRAMMAR_CHARS:
        raise InvalidSchema(
            f"The JSON schema makes a grammar of {len(grammar):,} characters, more than the "
            f"{MAX_GRAMMAR_CHARS:,} this server decodes with: ask for fewer or shorter items."
        )
    return grammar


def check_schema(schema: Mapping[str, Any]) -> None:
    """Refuse a schema whose counts would make the converter build a huge grammar.

    Walks the schema without recursion (it may nest deeply) and sizes every count and
    pattern before anything is converted.
    """
    total = 0
    seen = 0
    stack: list[tuple[Any, str, int]] = [(schema, "schema", 0)]
    while stack:
        node, where, depth = stack.pop()
        seen += 1
        if seen > MAX_SCHEMA_NODES:
            raise InvalidSchema(f"The JSON schema has more than {MAX_SCHEMA_NODES:,} parts.")
        if depth > MAX_SCHEMA_DEPTH:
            raise InvalidSchema(f"The JSON schema nests more than {MAX_SCHEMA_DEPTH} deep.")
        if isinstance(node, list):
            stack.extend((item, f"{where}[{i}]", depth + 1) for i, item in enumerate(node))
            continue
        if not isinstance(node, Mapping):
            continue
        for key in _COUNT_KEYS:
            value = node.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                total += _count(value, f"{where}.{key}")
        pattern = node.get("pattern")
        if isinstance(pattern, str):
            total += pattern_repeat(pattern, f"{where}.pattern")
        if total > MAX_SCHEMA_TOTAL:
            raise InvalidSchema(
                f"The JSON schema's counts (lengths, items, repetitions) add up to more than "
                f"{MAX_SCHEMA_TOTAL:,}: ask for fewer or shorter items."
            )
        for key, value in node.items():
            if isinstance(value, Mapping | list) and key not in ("enum", "const", "examples"):
                stack.append((value, f"{where}.{key}", depth + 1))


def _count(value: float, where: str) -> int:
    if value > MAX_SCHEMA_COUNT:
        shown = f"{value:,}" if isinstance(value, int) else f"{value:g}"
        raise InvalidSchema(
            f"{where} is {shown}; this server decodes counts up to {MAX_SCHEMA_COUNT:,} "
            "(the grammar spells each one out)."
        )
    return max(0, int(value))


def pattern_repeat(pattern: str, where: str = "pattern") -> int:
    """About how many units a pattern's repetitions spell out, groups multiplied through.

    ``a{3}b{4}`` is 7, ``(a{10}){20}`` 200; ``*``, ``+`` and ``?`` cost nothing (the
    converter makes them one rule). Each count is bounded like a schema's.
    """
    totals = [0]  # the units of each open group
    last = 0  # the units of the atom a quantifier would apply to
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            totals[-1] += 1
            last = 1
            continue
        if char == "[":
            end = i + 1
            while end < len(pattern) and pattern[end] != "]":
                end += 2 if pattern[end] == "\\" else 1
            i = end + 1
            totals[-1] += 1
            last = 1
            continue
        if char == "(":
            totals.append(0)
            i += 1
            continue
        if char == ")" and len(totals) > 1:
            last = totals.pop()
            totals[-1] += last
            i += 1
            continue
        match = _QUANTIFIER.match(pattern, i) if char == "{" else None
        if match is not None:
            low, high = match.group(1), match.group(2)
            counts = [int(c) for c in (low, high) if c and len(c) <= 9]
            if any(len(c) > 9 for c in (low, high) if c):
                counts.append(MAX_SCHEMA_COUNT + 1)
            times = max(counts, default=1)
            _count(times, where)
            totals[-1] += last * (times - 1)
            last *= times
            if totals[-1] > MAX_PATTERN_REPEAT:
                raise InvalidSchema(
                    f"{where} repeats its parts more than {MAX_PATTERN_REPEAT:,} times in all."
                )
            i = match.end()
            continue
        if char not in "*+?|^$":
            totals[-1] += 1
            last = 1
        i += 1
    return sum(totals)


def _strict_strings(grammar: str) -> str:
    lines = []
    for line in grammar.splitlines():
        if line.startswith(_LOOSE_CHAR + " "):
            line = _STRICT_CHAR + line[len(_LOOSE_CHAR) :]
        lines.append(line)
    return "\n".join(lines) + "\n"


def check_grammar(lib: Any, vocab: Any, grammar: str) -> None:
    """``GenerationError`` now, rather than a crash later, for a grammar llama.cpp cannot
    parse (``lib``: the imported llama_cpp, ``vocab``: the model's vocabulary)."""
    clear_native_errors()
    sampler = lib.llama_sampler_init_grammar(vocab, grammar.encode("utf-8"), b"root")
    if not sampler:
        raise GenerationError(
            f"The grammar cannot be used: {last_native_error('llama.cpp could not parse it')}."
        )
    lib.llama_sampler_free(sampler)
