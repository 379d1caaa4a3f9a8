"""The command-line chat tests' scripted engine."""

from __future__ import annotations

import pytest

from app.cli import chat as chat_cmd
from tests.fake_engine import FakeEngine


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeEngine:
    engine = FakeEngine(["Hello! How can I help?", "Blue is calm.", "Third reply."])
    monkeypatch.setattr(chat_cmd, "make_engine", lambda store: engine)
    return engine
