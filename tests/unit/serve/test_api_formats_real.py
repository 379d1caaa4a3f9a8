"""``response_format`` through the real engine and the starter model."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from app.core.models.store import ModelStore
from app.core.serve.server import ApiServer, ServeConfig
from tests.unit.serve.conftest import client

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "colour": {"type": "string", "maxLength": 20},
        "count": {"type": "integer"},
        "bright": {"type": "boolean"},
    },
    "required": ["colour", "count", "bright"],
    "additionalProperties": False,
}


def _matches(value: Any, schema: dict[str, Any]) -> bool:
    """A validator for the little of JSON Schema that SCHEMA uses."""
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return (
            isinstance(value, dict)
            and all(key in value for key in schema.get("required", []))
            and (schema.get("additionalProperties", True) or set(value) <= set(props))
            and all(_matches(value[k], props[k]) for k in value if k in props)
        )
    if kind == "string":
        return isinstance(value, str) and len(value) <= schema.get("maxLength", len(value))
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    raise AssertionError(f"the test's validator does not know {schema}")


@pytest.mark.slow
def test_a_json_schema_answer_parses_and_validates(module_store: ModelStore) -> None:
    starter = module_store.list_models()[0]
    server = ApiServer(module_store, ServeConfig(port=0, model=starter.id))
    server.start()
    try:
        api = client(server)
        for temperature in (0.0, 1.0):
            answer = api.chat.completions.create(
                model=starter.id,
                messages=[{"role": "user", "content": "Describe a colour you like."}],
                temperature=temperature,
                seed=3,
                max_tokens=120,
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "colour", "schema": SCHEMA},
                },
            )
            text = answer.choices[0].message.content or ""
            assert answer.choices[0].finish_reason == "stop", text
            assert _matches(json.loads(text), SCHEMA), text
        loose = api.chat.completions.create(
            model=starter.id,
            messages=[{"role": "user", "content": "Give me a JSON object about cats."}],
            temperature=0,
            max_tokens=200,
            response_format={"type": "json_object"},
        )
        text = loose.choices[0].message.content or ""
        if loose.choices[0].finish_reason == "stop":
            assert isinstance(json.loads(text), dict), text
        else:  # cut short by max_tokens: still the start of an object
            assert text.lstrip().startswith("{"), text
    finally:
        server.stop()


@pytest.mark.slow
def test_logprobs_from_the_starter(module_store: ModelStore) -> None:
    starter = module_store.list_models()[0]
    server = ApiServer(module_store, ServeConfig(port=0, model=starter.id))
    server.start()
    try:
        answer = client(server).chat.completions.create(
            model=starter.id,
            messages=[{"role": "user", "content": "Name a colour."}],
            temperature=0,
            max_tokens=6,
            logprobs=True,
            top_logprobs=3,
            extra_body={"repeat_penalty": 1.0},
        )
        content = answer.choices[0].logprobs.content  # type: ignore[union-attr]
        assert content is not None and len(content) == answer.usage.completion_tokens  # type: ignore[union-attr]
        assert "".join(t.token for t in content).startswith(answer.choices[0].message.content or "")
        for token in content:
            tops = [a.logprob for a in token.top_logprobs]
            assert len(tops) == 3 and tops == sorted(tops, reverse=True)
            assert all(lp <= 0 for lp in tops) and sum(math.exp(lp) for lp in tops) <= 1 + 1e-6
            # Greedy, no penalty: the chosen token is the likeliest.
            assert token.token == token.top_logprobs[0].token
            assert token.logprob == pytest.approx(tops[0])
    finally:
        server.stop()


AT_THE_BOUNDS: list[dict[str, Any]] = [
    {"type": "string", "maxLength": 1000},
    {"type": "array", "items": {"type": "string", "maxLength": 1000}, "maxItems": 1000},
    {"type": "string", "pattern": "^(a{1,1000}){1,10}$"},
    {"type": "array", "items": {"type": "integer"}, "minItems": 1000},
]


@pytest.mark.slow
def test_grammars_at_the_schema_bounds_are_accepted_by_llama_cpp_without_a_dump(
    module_store: ModelStore, capfd: pytest.CaptureFixture[str]
) -> None:
    """llama.cpp refuses a grammar nested much past 1,000 (and prints all of it to
    stderr, or overflows its stack near 20,000): the bounds keep every schema below."""
    starter = module_store.list_models()[0]
    server = ApiServer(module_store, ServeConfig(port=0, model=starter.id))
    server.start()
    try:
        api = client(server)
        for schema in AT_THE_BOUNDS:
            answer = api.chat.completions.create(
                model=starter.id,
                messages=[{"role": "user", "content": "Answer."}],
                temperature=0,
                max_tokens=4,
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "bound", "schema": schema},
                },
            )
            assert answer.choices[0].finish_reason in ("length", "stop"), schema
    finally:
        server.stop()
    assert "parse: error parsing grammar" not in capfd.readouterr().err
