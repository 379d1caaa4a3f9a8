"""``/v1/completions`` and ``/v1/embeddings`` through the ``openai`` client, over a fake."""

from __future__ import annotations

import math

import httpx2 as httpx
import openai
import pytest

from app.core.serve.protocol import PROVENANCE_HEADER
from tests.fake_engine import EMBEDDING_DIMS, FakeEngine
from tests.unit.serve.conftest import StartServer, client


def test_a_completion_continues_the_prompt_as_it_is(start_server: StartServer) -> None:
    engine = FakeEngine([" blue, and the grass is green."])
    server = start_server(engine)
    raw = client(server).completions.with_raw_response.create(
        model="default", prompt="The sky is", max_tokens=20, temperature=0, stop=["green"]
    )
    answer = raw.parse()
    assert answer.object == "text_completion"
    assert answer.choices[0].text == " blue, and the grass is "
    assert answer.choices[0].finish_reason == "stop"
    assert answer.system_fingerprint is not None and answer.system_fingerprint.startswith("fp_")
    assert raw.headers[PROVENANCE_HEADER] == "fake/smollm2-135m-instruct-q4_1"
    assert answer.usage is not None and answer.usage.prompt_tokens == 3
    request = engine.requests[0]
    assert request.messages[0].content == "The sky is"  # no chat template around it
    assert (request.params.temperature, request.params.max_tokens) == (0, 20)


def test_a_streamed_completion_ends_with_done(start_server: StartServer) -> None:
    server = start_server(FakeEngine(["one two three four"]))
    stream = client(server).completions.create(
        model="default",
        prompt="Count:",
        stream=True,
        max_tokens=3,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == "one two three"
    finished = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [c.choices[0].finish_reason for c in finished] == ["length"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
    with httpx.stream(
        "POST", server.url + "/completions", json={"prompt": "Hi", "stream": True}
    ) as response:
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"


def test_completion_fields_it_cannot_honour_are_refused(start_server: StartServer) -> None:
    server = start_server()
    for extra, param in (
        ({"prompt": [1, 2, 3]}, "prompt"),
        ({"prompt": ["a", "b"]}, "prompt"),
        ({"echo": True}, "echo"),
        ({"suffix": "end"}, "suffix"),
        ({"best_of": 2}, "best_of"),
        ({"max_tokens": 10**6}, "max_tokens"),
    ):
        body = {"prompt": "Hi", **extra}
        response = httpx.post(server.url + "/completions", json=body)
        assert response.status_code == 400, extra
        assert response.json()["error"]["param"] == param


def test_an_over_long_prompt_is_a_context_length_error(start_server: StartServer) -> None:
    """How the API answers an overflow; the real engine's own check and sentence are in
    test_api_text_real.py."""
    server = start_server(FakeEngine(n_ctx=100))
    with pytest.raises(openai.BadRequestError) as caught:
        client(server).completions.create(model="default", prompt="word " * 200, max_tokens=10)
    assert caught.value.code == "context_length_exceeded"
    assert caught.value.param == "prompt"


def test_embeddings_come_as_floats_and_as_base64(start_server: StartServer) -> None:
    server = start_server()
    api = client(server)
    # The openai client asks for base64 unless told otherwise, and decodes it.
    packed = api.embeddings.create(model="default", input=["a cat", "a dog", "a cat"])
    plain = api.embeddings.create(model="default", input="a cat", encoding_format="float")
    vectors = [d.embedding for d in packed.data]
    assert [d.index for d in packed.data] == [0, 1, 2]
    assert all(len(v) == EMBEDDING_DIMS for v in vectors)
    assert vectors[0] == pytest.approx(vectors[2])
    assert vectors[0] != pytest.approx(vectors[1])
    assert plain.data[0].embedding == pytest.approx(vectors[0])
    assert math.fsum(x * x for x in vectors[1]) == pytest.approx(1.0)
    assert packed.usage.prompt_tokens == 9
    assert packed.model == "smollm2-135m-instruct-q4_1"


def test_bad_embedding_requests_are_refused(start_server: StartServer) -> None:
    server = start_server()
    for body, param in (
        ({"input": ""}, "input"),
        ({"input": [1, 2]}, "input"),
        ({"input": ["x"] * 1000}, "input"),
        ({"input": "x", "dimensions": 4}, "dimensions"),
        ({"input": "x", "encoding_format": "hex"}, "encoding_format"),
    ):
        response = httpx.post(server.url + "/embeddings", json=body)
        assert response.status_code == 400, body
        assert response.json()["error"]["param"] == param
