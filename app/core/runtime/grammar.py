"""Grammars for constrained decoding: JSON Schema to llama.cpp's GBNF.

A reply sampled under a grammar can only be text the grammar accepts, so a JSON answer
always parses. The conversion is llama-cpp-python's (a copy of llama.cpp's
``json_schema_to_grammar.py``), with one repair: its strings accept raw control
characters (a newline, a tab), which strict JSON parsers (Python's ``json.loads``
among them) refuse, so here they must be escaped as JSON says.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from app.core.errors import DriftlessError
from app.core.runtime.llama import clear_native_errors, import_llama_cpp, last_native_error
from app.core.runtime.results import GenerationError

JSON_OBJECT_SCHEMA: Mapping[str, Any] = {"type": "object"}
"""Any JSON object: what ``response_format: {"type": "json_object"}`` asks for."""

MAX_SCHEMA_CHARS = 100_000

_LOOSE_CHAR = 'char ::= [^"\\\\]'
_STRICT_CHAR = 'char ::= [^"\\\\\\x7F\\x00-\\x1F]'


class InvalidSchema(DriftlessError):
    """A JSON Schema that cannot be turned into a grammar."""


def json_schema_grammar(schema: Mapping[str, Any]) -> str:
    """The GBNF grammar (root rule ``root``) of the JSON texts ``schema`` accepts."""
    if not isinstance(schema, Mapping):
        raise InvalidSchema("The JSON schema must be a JSON object.")
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
    return _strict_strings(grammar)


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
