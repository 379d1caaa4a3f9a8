"""The API over the real engine and the starter model: one end-to-end chat, and a refusal."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from app.core.models.store import ModelStore
from app.core.serve.protocol import PROVENANCE_HEADER, SHA256_HEADER
from app.core.serve.server import ApiServer, ServeConfig
from app.core.serve.text_engine import ApiEngine
from tests.unit.serve.conftest import client


@pytest.mark.slow
def test_the_starter_answers_through_the_api(module_store: ModelStore) -> None:
    starter = module_store.list_models()[0]
    server = ApiServer(module_store, ServeConfig(port=0, model=starter.id))
    server.start()
    try:
        api = client(server)
        raw = api.chat.completions.with_raw_response.create(
            model=starter.id,
            messages=[{"role": "user", "content": "Name a colour."}],
            temperature=0,
            max_tokens=12,
        )
        answer = raw.parse()
        assert answer.choices[0].message.content
        assert raw.headers[PROVENANCE_HEADER] == starter.lock_id
        assert raw.headers[SHA256_HEADER] == starter.sha256
        assert answer.usage is not None and 0 < answer.usage.completion_tokens <= 12
        # Greedy decoding: the streamed answer is the same text. Both are asked with the
        # prompt cached (the first answer read it whole): on some CPUs llama.cpp's kernels
        # round a one-token batch differently from a longer one.
        answer = api.chat.completions.create(
            model=starter.id,
            messages=[{"role": "user", "content": "Name a colour."}],
            temperature=0,
            max_tokens=12,
        )
        stream = api.chat.completions.create(
            model=starter.id,
            messages=[{"role": "user", "content": "Name a colour."}],
            temperature=0,
            max_tokens=12,
            stream=True,
        )
        streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert streamed == answer.choices[0].message.content
    finally:
        server.stop()


def test_a_changed_model_file_is_refused_with_the_reason(
    store: ModelStore, starter_copy: Path
) -> None:
    model = store.import_file(starter_copy, link=True)
    with starter_copy.open("ab") as file:
        file.write(b"tampered")
    server = ApiServer(store, ServeConfig(port=0), engine_factory=lambda: ApiEngine(store))
    server.start()
    try:
        with pytest.raises(openai.APIStatusError) as caught:
            client(server).chat.completions.create(
                model=model.id, messages=[{"role": "user", "content": "Hi"}]
            )
        assert caught.value.status_code == 409
        assert "failed verification" in caught.value.message
        assert "changed or truncated" in caught.value.message
    finally:
        server.stop()
