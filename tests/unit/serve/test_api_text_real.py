"""``/v1/completions`` and ``/v1/embeddings`` through the real engine and the starter."""

from __future__ import annotations

import math

import openai
import pytest

from app.core.models.store import ModelStore
from app.core.runtime.results import EMBEDDING_CONTEXT
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


@pytest.mark.slow
def test_the_real_engine_refuses_an_over_long_completion_and_embedding(
    module_store: ModelStore,
) -> None:
    """The engine's own checks, with the starter's real tokenizer: a prompt over the
    4,096-token context, and a text over the 2,048 tokens an embedding takes at once."""
    starter = module_store.list_models()[0]
    server = ApiServer(module_store, ServeConfig(port=0, model=starter.id))
    server.start()
    try:
        api = client(server).with_options(timeout=300)  # long prompts on a loaded machine
        with pytest.raises(openai.BadRequestError) as caught:
            api.completions.create(model=starter.id, prompt="word " * 5000, max_tokens=10)
        assert caught.value.code == "context_length_exceeded"
        message = caught.value.message
        assert "for the prompt, 10 kept for the completion" in message, message
        assert "the model's context holds 4,096" in message, message
        assert EMBEDDING_CONTEXT == 2048
        under = api.embeddings.create(model=starter.id, input="word " * 1000)
        assert 1000 < under.usage.prompt_tokens <= 2048 and len(under.data) == 1
        with pytest.raises(openai.BadRequestError) as caught:
            api.embeddings.create(model=starter.id, input=["Short.", "word " * 2100])
        message = caught.value.message
        assert "Text 1 has 2," in message and "at most 2,048 can be embedded" in message, message
    finally:
        server.stop()
