"""``/v1/completions`` and ``/v1/embeddings`` through the real engine and the starter."""

from __future__ import annotations

import math

import pytest

from app.core.models.store import ModelStore
from app.core.serve.server import ApiServer, ServeConfig
from tests.unit.serve.conftest import client


def _cosine(a: list[float], b: list[float]) -> float:
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


@pytest.mark.slow
def test_the_starter_completes_and_embeds(module_store: ModelStore) -> None:
    starter = module_store.list_models()[0]
    server = ApiServer(module_store, ServeConfig(port=0, model=starter.id))
    server.start()
    try:
        api = client(server)
        answer = api.completions.create(
            model=starter.id, prompt="One, two, three,", temperature=0, max_tokens=8
        )
        text = answer.choices[0].text
        assert text
        assert answer.usage is not None and 0 < answer.usage.completion_tokens <= 8
        streamed = api.completions.create(
            model=starter.id,
            prompt="One, two, three,",
            temperature=0,
            max_tokens=8,
            stream=True,
        )
        assert "".join(c.choices[0].text for c in streamed if c.choices) == text

        embedded = api.embeddings.create(
            model=starter.id,
            input=["The cat sat on the mat.", "A cat was sitting on a rug.", "Tax law, 1997."],
        )
        cat, kitten, tax = (d.embedding for d in embedded.data)
        assert len(cat) == len(tax) > 100
        assert math.fsum(x * x for x in cat) == pytest.approx(1.0, abs=1e-3)
        assert _cosine(cat, kitten) > _cosine(cat, tax)
        again = api.embeddings.create(
            model=starter.id, input="The cat sat on the mat.", encoding_format="float"
        )
        assert again.data[0].embedding == pytest.approx(cat, abs=1e-4)
        # Chat still works on the same engine after the embedding model was loaded.
        reply = api.chat.completions.create(
            model=starter.id,
            messages=[{"role": "user", "content": "Hi"}],
            temperature=0,
            max_tokens=4,
        )
        assert reply.choices[0].message.content
    finally:
        server.stop()
