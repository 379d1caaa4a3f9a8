"""Every failure of the command line is one line on stderr; a bug also leaves its traceback
in the same log file the window writes."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pytest

from app import cli
from app.cli import models as models_cmd
from app.core.logs import current_log_file


def test_an_unexpected_error_is_one_line_and_a_traceback_in_the_log(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    def broken_list(_args: argparse.Namespace) -> int:
        raise KeyError("tokenizer.ggml.model")

    monkeypatch.setattr(models_cmd, "cmd_list", broken_list)
    code = cli.main(["models", "list"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1, err
    log_file = home / "logs" / "driftless.log"
    assert err == (
        "driftless: Unexpected error: KeyError: 'tokenizer.ggml.model'. "
        f"The details are in {log_file}.\n"
    )
    logged = log_file.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in logged and "in broken_list" in logged
    assert current_log_file() is None  # the command line lets go of the log when it ends


def test_an_expected_error_is_its_sentence_alone(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["models", "use", "no-such-model"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("driftless: No installed model is called 'no-such-model'")
    assert err.count("\n") == 1
    assert not logging.getLogger().handlers or all(
        type(h).__name__ != "_DriftlessFileHandler" for h in logging.getLogger().handlers
    )
