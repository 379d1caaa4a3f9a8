"""A real API server (uvicorn on 127.0.0.1, a free port) for each test, over a fake engine."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from app.core.chat.protocols import ChatEngine
from app.core.models.store import ModelStore
from app.core.serve.server import ApiServer, ServeConfig
from tests.fake_engine import FakeEngine

KEY = "test-key-0123456789abcdef"

StartServer = Callable[..., ApiServer]


@pytest.fixture
def start_server(module_store: ModelStore) -> Iterator[StartServer]:
    """Start a server: ``start_server(engine, **config)``; every one is stopped after."""
    started: list[ApiServer] = []

    def start(engine: ChatEngine | None = None, **config: Any) -> ApiServer:
        config.setdefault("port", 0)
        fake = engine or FakeEngine()
        server = ApiServer(module_store, ServeConfig(**config), engine_factory=lambda: fake)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def client(server: ApiServer, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url, api_key=key, max_retries=0, timeout=10)
