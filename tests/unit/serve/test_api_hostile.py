"""Hostile requests (issue 26): web pages, deep JSON, schema bombs, echoed values.

Each test builds the hostile input itself and checks that the server answers a 4xx in
OpenAI's shape, quickly, without a traceback or a burst of memory.
"""

from __future__ import annotations

import logging
import resource
import time

import httpx2 as httpx
import pytest

from app.core.runtime.grammar import (
    MAX_SCHEMA_COUNT,
    InvalidSchema,
    check_schema,
    json_schema_grammar,
    pattern_repeat,
)
from app.core.serve.app import MAX_JSON_DEPTH
from tests.unit.serve.conftest import KEY, StartServer

HELLO = [{"role": "user", "content": "Hello"}]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- F2: web pages against a keyless server ------------------------------------------------


@pytest.mark.parametrize("path", ["/chat/completions", "/classify", "/completions"])
def test_a_cross_origin_text_plain_post_is_refused_without_a_key(
    start_server: StartServer, path: str
) -> None:
    server = start_server()
    # What a browser sends for a form-like fetch() from any page: no preflight.
    response = httpx.post(
        server.url + path,
        headers={"Origin": "http://evil.example", "Content-Type": "text/plain"},
        content=b'{"messages": [{"role": "user", "content": "Hello"}], "texts": "x"}',
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "origin_not_allowed"
    assert "evil.example" in response.json()["error"]["message"]


def test_an_origin_is_refused_with_a_key_too_and_named_origins_pass(
    start_server: StartServer,
) -> None:
    server = start_server(api_key=KEY, cors_origins=("http://localhost:3000",))
    auth = {"Authorization": f"Bearer {KEY}"}
    evil = httpx.get(server.url + "/models", headers={**auth, "Origin": "http://evil.example"})
    assert evil.status_code == 403
    named = httpx.post(
        server.url + "/chat/completions",
        headers={**auth, "Origin": "http://localhost:3000"},
        json={"messages": HELLO},
    )
    assert named.status_code == 200
    assert httpx.get(server.url + "/models", headers={"Origin": "null"}).status_code == 403


def test_requests_without_an_origin_work_as_before(start_server: StartServer) -> None:
    server = start_server()
    answer = httpx.post(server.url + "/chat/completions", json={"messages": HELLO})
    assert answer.status_code == 200


# --- F3: JSON nested far too deep ----------------------------------------------------------


@pytest.mark.parametrize("depth", [100_000, MAX_JSON_DEPTH + 1])
def test_deep_json_is_a_400_within_a_second(
    start_server: StartServer, caplog: pytest.LogCaptureFixture, depth: int
) -> None:
    server = start_server()
    body = b'{"messages": ' + b"[" * depth + b"]" * depth + b"}"
    started = time.monotonic()
    with caplog.at_level(logging.ERROR):
        response = httpx.post(server.url + "/chat/completions", content=body)
    assert time.monotonic() - started < 1.0
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert "nests" in response.json()["error"]["message"]
    assert not [r for r in caplog.records if r.exc_info], "no traceback in the log"


# --- F4/F5: JSON schema bombs ----------------------------------------------------------------

BOMBS = [
    {"type": "array", "minItems": 50_000_000},
    {"type": "array", "items": {"type": "integer"}, "maxItems": 100_000},
    {"type": "string", "minLength": 50_000_000},
    {"type": "string", "maxLength": 25_000},
    {"type": "string", "pattern": "^a{1000000}$"},
    {"type": "string", "pattern": "^((a{100}){100}){100}$"},
    {
        "type": "object",
        "properties": {f"p{i}": {"type": "string", "maxLength": 1000} for i in range(30)},
    },
]


@pytest.mark.parametrize("schema", BOMBS, ids=lambda s: str(s)[:40])
def test_a_schema_bomb_is_a_400_within_a_second_with_memory_flat(
    start_server: StartServer, caplog: pytest.LogCaptureFixture, schema: dict[str, object]
) -> None:
    server = start_server()
    body = {
        "messages": HELLO,
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
    }
    before = _peak_rss_mb()
    started = time.monotonic()
    with caplog.at_level(logging.ERROR):
        response = httpx.post(server.url + "/chat/completions", json=body)
    assert time.monotonic() - started < 1.0
    assert _peak_rss_mb() - before < 50
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "response_format.json_schema.schema"
    assert not [r for r in caplog.records if r.exc_info]


def test_schemas_at_the_bounds_convert_and_real_patterns_pass() -> None:
    at_bounds = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": MAX_SCHEMA_COUNT},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": MAX_SCHEMA_COUNT},
            "email": {"type": "string", "pattern": r"^[a-z]{1,64}@[a-z]{1,64}\.[a-z]{2,10}$"},
        },
    }
    assert "root ::=" in json_schema_grammar(at_bounds)
    assert pattern_repeat(r"^\d{3}-\d{4}$") == 8
    assert pattern_repeat("^(a{10}){20}$") == 200
    with pytest.raises(InvalidSchema, match="1,001"):
        check_schema({"type": "string", "maxLength": MAX_SCHEMA_COUNT + 1})


def test_a_deeply_nested_schema_is_refused_without_recursing() -> None:
    schema: dict[str, object] = {"type": "string"}
    for _ in range(5000):
        schema = {"type": "array", "items": schema}
    with pytest.raises(InvalidSchema):
        json_schema_grammar(schema)


# --- echoed values -------------------------------------------------------------------------


def test_a_huge_model_value_is_not_echoed_back(start_server: StartServer) -> None:
    server = start_server()
    response = httpx.post(
        server.url + "/chat/completions", json={"model": "m" * 500_000, "messages": HELLO}
    )
    assert response.status_code == 404
    assert len(response.content) < 2000


def test_a_grammar_over_the_size_cap_is_a_400_not_a_500(
    start_server: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cap is a backstop behind the counts: lowered here so a plain schema reaches it."""
    from app.core.runtime import grammar

    monkeypatch.setattr(grammar, "MAX_GRAMMAR_CHARS", 2000)
    server = start_server()
    schema = {"type": "string", "maxLength": 500}
    body = {
        "messages": HELLO,
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
    }
    response = httpx.post(server.url + "/chat/completions", json=body)
    assert response.status_code == 400
    assert "makes a grammar of" in response.json()["error"]["message"]
