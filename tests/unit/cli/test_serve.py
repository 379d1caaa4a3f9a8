"""``driftless serve``: unsafe settings are refused before anything listens."""

from __future__ import annotations

import pytest

from app.cli import main
from app.core.serve.server import API_KEY_ENV


def test_a_public_address_without_a_key_is_refused(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 1
    err = capsys.readouterr().err
    assert "driftless: Serving on 0.0.0.0 would let other machines use your models" in err
    assert "--api-key" in err


def test_an_unknown_default_model_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--port", "0", "--model", "no-such-model"]) == 1
    assert "No installed model is called 'no-such-model'" in capsys.readouterr().err
