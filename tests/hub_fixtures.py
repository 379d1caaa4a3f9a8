"""Pytest fixtures around the fake Hub of ``tests.hub_server``.

Load them for every test with, in ``tests/conftest.py``::

    pytest_plugins = ["tests.hub_fixtures"]

``hub_server`` is a running, empty ``FakeHub``; ``make_hub_server`` starts more, with options.
``hub_env`` aims ``huggingface_hub`` at ``hub_server`` for one test. The client reads
``HF_ENDPOINT`` and friends when it is imported, so setting the environment is not enough
inside a test process that imported it already: ``hub_env`` also patches the values the
client read. Code that passes ``endpoint=`` explicitly needs none of this.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.hub_server import FakeHub


@pytest.fixture
def make_hub_server(tmp_path: Path) -> Iterator[Callable[..., FakeHub]]:
    """Start fake Hubs (``FakeHub`` keyword options), each stopped after the test."""
    started: list[FakeHub] = []

    def make(**options: Any) -> FakeHub:
        hub = FakeHub(tmp_path / f"fake-hub-{len(started)}", **options)
        started.append(hub.start())
        return hub

    yield make
    for hub in started:
        hub.stop()


@pytest.fixture
def hub_server(make_hub_server: Callable[..., FakeHub]) -> FakeHub:
    return make_hub_server()


@pytest.fixture
def hub_env(hub_server: FakeHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    """huggingface_hub, as imported in this process, talks to ``hub_server`` with no token.

    Sets the variables a subprocess would read, and patches what this process read at import
    time: the endpoint, the URL template, Xet, telemetry, the cache and token paths, and the
    endpoint of the module-level ``HfApi`` behind ``huggingface_hub.model_info`` and others.
    """
    from huggingface_hub import constants, hf_api

    cache, token_path = tmp_path / "hf-home" / "hub", tmp_path / "hf-home" / "token"
    environment = {
        "HF_ENDPOINT": hub_server.url,
        "HF_HUB_DISABLE_XET": "1",
        "HF_HOME": str(cache.parent),
        "HF_HUB_CACHE": str(cache),
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    for name, text in environment.items():
        monkeypatch.setenv(name, text)
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    read_at_import: dict[str, object] = {
        "ENDPOINT": hub_server.url,
        "HUGGINGFACE_CO_URL_TEMPLATE": hub_server.url + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_HUB_DISABLE_XET": True,
        # Else the first user-agent built in the process fetches /api/agent-harnesses.
        "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HUB_OFFLINE": False,
        "HF_HUB_CACHE": str(cache),
        "HF_TOKEN_PATH": str(token_path),
        "HF_STORED_TOKENS_PATH": str(token_path.with_name("stored_tokens")),
    }
    for name, value in read_at_import.items():
        monkeypatch.setattr(constants, name, value)
    monkeypatch.setattr(hf_api.api, "endpoint", hub_server.url)
    return hub_server
