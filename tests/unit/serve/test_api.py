"""The API through the official ``openai`` client and plain HTTP, over a scripted engine."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import httpx2 as httpx
import openai
import pytest

from app.core.errors import ChecksumMismatch
from app.core.models.store import ModelStore
from app.core.runtime.template import ChatMessage
from app.core.serve.protocol import PROVENANCE_HEADER, SHA256_HEADER
from app.core.serve.server import ServeConfig, ServeConfigError
from tests.fake_engine import FakeEngine
from tests.unit.serve.conftest import KEY, StartServer, client

HELLO = [{"role": "user", "content": "Hello"}]


def test_models_are_listed_with_their_provenance(
    start_server: StartServer, module_store: ModelStore
) -> None:
    server = start_server()
    models = list(client(server).models.list())
    starter = module_store.list_models()[0]
    assert [m.id for m in models] == [starter.id]
    extra = models[0].model_extra or {}
    assert extra["lock_id"] == starter.lock_id
    assert extra["sha256"] == starter.sha256
    assert extra["pinned"] is True
    assert client(server).models.retrieve(starter.id).id == starter.id


def test_a_chat_answer_carries_its_provenance(start_server: StartServer) -> None:
    engine = FakeEngine(["Hi there, friend."])
    server = start_server(engine)
    raw = client(server).chat.completions.with_raw_response.create(
        model="default", messages=HELLO, temperature=0.2, top_p=0.5, seed=7, stop=["friend"]
    )
    answer = raw.parse()
    assert answer.choices[0].message.content == "Hi there, "
    assert answer.choices[0].finish_reason == "stop"
    assert answer.system_fingerprint is not None
    assert answer.system_fingerprint.startswith("fp_")
    assert raw.headers[PROVENANCE_HEADER] == engine.loaded.lock_id  # type: ignore[union-attr]
    assert raw.headers[SHA256_HEADER] == "0" * 64
    params = engine.requests[0].params
    assert (params.temperature, params.top_p, params.seed, params.stop) == (
        0.2,
        0.5,
        7,
        ("friend",),
    )
    assert answer.usage is not None and answer.usage.completion_tokens == 3


def test_a_streamed_answer_arrives_in_pieces_and_ends_with_done(
    start_server: StartServer,
) -> None:
    server = start_server(FakeEngine(["one two three four"]))
    stream = client(server).chat.completions.create(model="default", messages=HELLO, stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.system_fingerprint == chunks[0].system_fingerprint for c in chunks)
    with httpx.stream(
        "POST",
        server.url + "/chat/completions",
        json={"messages": HELLO, "stream": True, "max_tokens": 2},
    ) as response:
        lines = [line for line in response.iter_lines() if line]
    assert response.headers[PROVENANCE_HEADER] == "fake/smollm2-135m-instruct-q4_1"
    assert lines[-1] == "data: [DONE]"
    assert '"finish_reason": "length"' in lines[-2]


def test_bad_json_is_a_400_in_openai_shape(start_server: StartServer) -> None:
    server = start_server()
    response = httpx.post(server.url + "/chat/completions", content=b"{not json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "not valid JSON" in error["message"]


def test_an_unknown_model_is_a_404(start_server: StartServer) -> None:
    server = start_server()
    with pytest.raises(openai.NotFoundError) as caught:
        client(server).chat.completions.create(model="no-such-model", messages=HELLO)
    assert "No installed model is called 'no-such-model'" in str(caught.value)


def test_an_over_long_prompt_is_refused_with_the_token_counts(start_server: StartServer) -> None:
    server = start_server(FakeEngine(n_ctx=300))
    long = [{"role": "user", "content": " ".join(["word"] * 400)}]
    with pytest.raises(openai.BadRequestError) as caught:
        client(server).chat.completions.create(model="default", messages=long, max_tokens=50)
    assert caught.value.code == "context_length_exceeded"
    # 400 words, 4 for the message and 4 for the prompt: the fake's count.
    assert "408 for the messages" in caught.value.message
    assert "holds 300" in caught.value.message


def test_limits_are_refused_with_the_field_named(start_server: StartServer) -> None:
    server = start_server()
    for extra, param in (({"max_tokens": 10**6}, "max_tokens"), ({"n": 2}, "n")):
        response = httpx.post(server.url + "/chat/completions", json={"messages": HELLO, **extra})
        assert response.status_code == 400
        assert response.json()["error"]["param"] == param
    big = httpx.post(server.url + "/chat/completions", content=b" " * (2 << 20))
    assert big.status_code == 413


def test_a_model_failing_verification_is_refused_with_the_reason(
    start_server: StartServer,
) -> None:
    reason = "smollm2: the file is 5 bytes longer than was installed."
    server = start_server(FakeEngine(fail_on_load=ChecksumMismatch(reason)))
    with pytest.raises(openai.APIStatusError) as caught:
        client(server).chat.completions.create(model="default", messages=HELLO)
    assert caught.value.status_code == 409
    assert reason in caught.value.message


def test_the_api_key_is_required_when_set(start_server: StartServer) -> None:
    server = start_server(api_key=KEY)
    with pytest.raises(openai.AuthenticationError):
        client(server, "wrong-key").models.list()
    assert list(client(server, KEY).models.list())


def test_unsafe_settings_are_refused_at_start() -> None:
    with pytest.raises(ServeConfigError, match="API key"):
        ServeConfig(host="0.0.0.0").check()
    with pytest.raises(ServeConfigError, match="too short"):
        ServeConfig(host="0.0.0.0", api_key="short").check()
    with pytest.raises(ServeConfigError, match="origin"):
        ServeConfig(cors_origins=("*",)).check()
    ServeConfig(host="0.0.0.0", api_key=KEY).check()


def test_a_foreign_host_name_is_refused(start_server: StartServer) -> None:
    server = start_server()
    refused = httpx.get(server.url + "/models", headers={"Host": "rebound.example:8765"})
    assert refused.status_code == 421
    allowed = httpx.get(server.url + "/models", headers={"Host": f"localhost:{server.port}"})
    assert allowed.status_code == 200


def test_cors_is_off_unless_origins_are_named(start_server: StartServer) -> None:
    origin = {"Origin": "http://localhost:3000"}
    closed = start_server()
    assert (
        "access-control-allow-origin"
        not in httpx.get(closed.url + "/models", headers=origin).headers
    )
    opened = start_server(cors_origins=("http://localhost:3000",))
    response = httpx.get(opened.url + "/models", headers=origin)
    assert response.headers["access-control-allow-origin"] == "http://localhost:3000"


def test_a_browser_preflight_is_answered_and_refusals_are_readable(
    start_server: StartServer,
) -> None:
    server = start_server(api_key=KEY, cors_origins=("http://localhost:3000",))
    preflight = {
        "Origin": "http://localhost:3000",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    answer = httpx.options(server.url + "/chat/completions", headers=preflight)
    assert answer.status_code == 200, "a preflight carries no key and needs none"
    assert answer.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "authorization" in answer.headers["access-control-allow-headers"].lower()
    other = httpx.options(
        server.url + "/chat/completions", headers={**preflight, "Origin": "http://evil.test"}
    )
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers
    refused = httpx.get(server.url + "/models", headers={"Origin": "http://localhost:3000"})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert refused.json()["error"]["code"] == "invalid_api_key"


# --- the queue and the owner thread ---------------------------------------------------


def _wait_until(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_clients_are_answered_completely_in_order_of_arrival(
    start_server: StartServer,
) -> None:
    """Two wait while a first is answered: first in, first out (a stack would answer the
    third before the second)."""

    def reply(messages: Sequence[ChatMessage]) -> str:
        name = messages[-1].content
        # The first reply is long, so the other two are queued while it streams.
        return f"answer to {name}" + (" and more" * 40 if name == "first" else "")

    engine = FakeEngine(reply, token_delay=0.05)
    server = start_server(engine)
    answers: dict[str, str] = {}

    def ask(name: str) -> None:
        answer = client(server).chat.completions.create(
            model="default", messages=[{"role": "user", "content": name}]
        )
        answers[name] = answer.choices[0].message.content or ""

    threads = [threading.Thread(target=ask, args=(name,)) for name in ("first", "second", "third")]
    threads[0].start()
    _wait_until(lambda: bool(server.pool._owners))
    owner = next(iter(server.pool._owners.values()))
    _wait_until(lambda: owner.busy)
    threads[1].start()
    _wait_until(lambda: owner.waiting == 1)
    threads[2].start()
    _wait_until(lambda: owner.waiting == 2)
    assert owner.busy, "the first reply ended before the others queued"
    for thread in threads:
        thread.join(30)
    assert answers["second"] == "answer to second" and answers["third"] == "answer to third"
    assert answers["first"].startswith("answer to first and more")
    assert [r.messages[-1].content for r in engine.requests] == ["first", "second", "third"]


def test_a_full_queue_is_a_429_with_retry_after(start_server: StartServer) -> None:
    engine = FakeEngine(["slow " * 200], token_delay=0.02)
    server = start_server(engine, max_waiting=1)
    body = {"messages": HELLO, "stream": True}
    with httpx.stream("POST", server.url + "/chat/completions", json=body) as running:
        lines = running.iter_lines()  # kept: a dropped iterator closes the connection
        next(lines)  # the first is being answered
        waiting = threading.Thread(
            target=lambda: httpx.post(server.url + "/chat/completions", json=body, timeout=30)
        )
        waiting.start()
        owner = next(iter(server.pool._owners.values()))
        _wait_until(lambda: owner.waiting == 1)
        with pytest.raises(openai.RateLimitError) as caught:
            client(server).chat.completions.create(model="default", messages=HELLO)
        assert int(caught.value.response.headers["Retry-After"]) >= 1
        assert caught.value.code == "queue_full"
    waiting.join(30)


def test_a_client_leaving_mid_stream_frees_the_engine(
    start_server: StartServer,
) -> None:
    engine = FakeEngine(["word " * 1000], token_delay=0.02)
    server = start_server(engine)
    body = {"messages": HELLO, "stream": True, "max_tokens": 1000}
    with httpx.stream("POST", server.url + "/chat/completions", json=body) as response:
        lines = response.iter_lines()
        for _ in range(5):
            next(lines)
        owner = next(iter(server.pool._owners.values()))
        assert owner.busy
    # The whole reply would take 20 s; the event (a cancelled reply, under 1000 tokens) is
    # the point, and the bound is generous for a loaded machine.
    _wait_until(lambda: not owner.busy, timeout=15.0)
    assert engine.last_stats is not None
    assert engine.last_stats.finish_reason == "cancelled"
    assert engine.last_stats.completion_tokens < 1000
    # The engine answers the next request at once.
    engine.replies = ["Back again."]
    reply = client(server).chat.completions.create(model="default", messages=HELLO)
    assert reply.choices[0].message.content == "Back again."
