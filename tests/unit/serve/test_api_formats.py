"""``response_format`` on chat completions, over a scripted engine (what reaches it)."""

from __future__ import annotations

import httpx2 as httpx
import pytest

from app.core.chat.sampling import SamplingParams
from app.core.runtime.grammar import json_schema_grammar
from tests.fake_engine import FakeEngine
from tests.unit.serve.conftest import StartServer, client

HELLO = [{"role": "user", "content": "Hello"}]
SCHEMA = {
    "type": "object",
    "properties": {"colour": {"type": "string"}, "count": {"type": "integer"}},
    "required": ["colour", "count"],
}


def test_a_json_schema_reaches_the_engine_as_a_grammar(start_server: StartServer) -> None:
    engine = FakeEngine(['{"colour": "red", "count": 3}'])
    server = start_server(engine)
    answer = client(server).chat.completions.create(
        model="default",
        messages=HELLO,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "pick", "schema": SCHEMA, "strict": True},
        },
    )
    assert answer.choices[0].message.content == '{"colour": "red", "count": 3}'
    grammar = engine.requests[0].params.grammar
    assert grammar is not None and grammar == json_schema_grammar(SCHEMA)
    assert '"\\"colour\\""' in grammar


def test_json_object_and_text_formats(start_server: StartServer) -> None:
    engine = FakeEngine(["{}"])
    server = start_server(engine)
    api = client(server)
    api.chat.completions.create(
        model="default", messages=HELLO, response_format={"type": "json_object"}
    )
    api.chat.completions.create(model="default", messages=HELLO, response_format={"type": "text"})
    api.chat.completions.create(model="default", messages=HELLO)
    grammars = [r.params.grammar for r in engine.requests]
    assert grammars[0] is not None and "root ::= object" in grammars[0]
    assert grammars[1:] == [None, None]


@pytest.mark.parametrize(
    ("response_format", "param"),
    [
        ({"type": "yaml"}, "response_format.type"),
        ("json", "response_format"),
        ({"type": "json_schema"}, "response_format.json_schema"),
        (
            {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "nothing"}}},
            "response_format.json_schema.schema",
        ),
    ],
)
def test_a_bad_response_format_is_a_400_naming_the_field(
    start_server: StartServer, response_format: object, param: str
) -> None:
    server = start_server()
    response = httpx.post(
        server.url + "/chat/completions",
        json={"messages": HELLO, "response_format": response_format},
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_a_grammar_is_not_saved_with_a_reply_unless_set() -> None:
    assert "grammar" not in SamplingParams().to_json()
    params = SamplingParams(grammar='root ::= "yes"')
    assert params.to_json()["grammar"] == 'root ::= "yes"'
    assert SamplingParams.from_json(params.to_json()) == params


def test_strings_in_the_grammar_refuse_raw_control_characters() -> None:
    grammar = json_schema_grammar({"type": "string"})
    char = next(line for line in grammar.splitlines() if line.startswith("char ::="))
    assert "\\x00-\\x1F" in char


def test_logprobs_are_answered_per_token(start_server: StartServer) -> None:
    engine = FakeEngine(["Hi there, friend."])
    server = start_server(engine)
    answer = client(server).chat.completions.create(
        model="default", messages=HELLO, logprobs=True, top_logprobs=2
    )
    content = answer.choices[0].logprobs.content  # type: ignore[union-attr]
    assert content is not None
    assert [t.token for t in content] == ["Hi", " there,", " friend."]
    assert all(t.logprob == -0.25 for t in content)
    assert [a.token for a in content[0].top_logprobs] == ["alt0", "alt1"]
    assert content[0].bytes == list(b"Hi")
    assert engine.requests[0].params.logprobs == 2
    plain = client(server).chat.completions.create(model="default", messages=HELLO)
    assert plain.choices[0].logprobs is None


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"top_logprobs": 2}, "top_logprobs"),
        ({"logprobs": True, "top_logprobs": 21}, "top_logprobs"),
        ({"logprobs": "yes"}, "logprobs"),
        ({"logprobs": True, "stream": True}, "logprobs"),
    ],
)
def test_bad_logprobs_requests_are_refused(
    start_server: StartServer, extra: dict[str, object], param: str
) -> None:
    server = start_server()
    response = httpx.post(server.url + "/chat/completions", json={"messages": HELLO, **extra})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
