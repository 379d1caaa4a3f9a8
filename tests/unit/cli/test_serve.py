"""``driftless serve``: unsafe settings are refused before anything listens."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

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


class _Captured:
    """Stands in for the server: keeps its config, serves nothing."""

    configs: ClassVar[list[object]] = []

    def __init__(self, store: object, config: object) -> None:
        config.check()  # type: ignore[attr-defined]
        self.configs.append(config)
        self.url = "http://127.0.0.1:0/v1"

    def serve_forever(self) -> None:
        pass


def test_the_api_key_is_read_from_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    monkeypatch.setattr("app.cli.serve.ApiServer", _Captured)
    key_file = tmp_path / "key"
    key_file.write_text("k" * 24 + "\n")
    assert main(["serve", "--host", "0.0.0.0", "--api-key-file", str(key_file)]) == 0
    assert _Captured.configs[-1].api_key == "k" * 24  # type: ignore[attr-defined]


@pytest.mark.parametrize("key", [" " * 16, "\t" * 20, "sixteen chars ok ", "x" * 15 + "\x07"])
def test_a_key_of_whitespace_or_control_characters_is_refused(
    key: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(API_KEY_ENV, key)
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 1
    assert "may not contain spaces or control characters" in capsys.readouterr().err
    key_file = tmp_path / "key"
    key_file.write_text(key + "\n")
    assert main(["serve", "--port", "0", "--api-key-file", str(key_file)]) == 1
    assert "may not contain spaces" in capsys.readouterr().err
