"""A processor below x86-64-v2 gets a sentence (stderr, the log), never "Illegal instruction".

The packaged app checks the processor first (``app.cpu_floor``, from a PyInstaller runtime
hook and ``app.__main__``), before NumPy, Qt or llama.cpp load (each would die of SIGILL).
The real thing, under an emulated old processor, is in tests/test_package.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import app.__main__ as entry
from app import cpu_floor
from app.core.errors import ModelLoadError
from app.core.runtime import llama

PROBLEM = "Driftless needs a processor with the x86-64-v2 instructions; this one lacks SSE4.2."


def test_below_the_floor_the_app_refuses_in_a_sentence_and_logs_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cpu_floor, "cpu_floor_problem", lambda: PROBLEM)
    dialogs: list[str] = []
    monkeypatch.setattr(cpu_floor, "_system_dialog", dialogs.append)
    monkeypatch.setenv("DISPLAY", ":0")
    home = tmp_path / "data folder"
    assert entry.main(["--home", str(home)]) == 1
    assert capsys.readouterr().err == f"driftless: {PROBLEM}\n"
    log = (home / "logs" / "driftless.log").read_text(encoding="utf-8")
    assert f"Refusing to start: {PROBLEM}" in log
    assert dialogs == [PROBLEM], "the window would have opened: a dialog says it instead"


def test_a_command_or_the_smoke_test_gets_no_dialog(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(cpu_floor, "cpu_floor_problem", lambda: PROBLEM)
    dialogs: list[str] = []
    monkeypatch.setattr(cpu_floor, "_system_dialog", dialogs.append)
    monkeypatch.setenv("DISPLAY", ":0")
    assert entry.main([f"--home={tmp_path}", "models", "list"]) == 1
    assert entry.main(["--home", str(tmp_path), "--smoke-test"]) == 1
    assert dialogs == []


def test_above_the_floor_the_command_line_runs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        entry.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("driftless ")


def test_the_runtime_refuses_to_import_llama_cpp_below_the_floor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whoever reaches llama.cpp another way (the API server) gets the same sentence."""
    monkeypatch.setattr(llama, "cpu_floor_problem", lambda: PROBLEM)
    with pytest.raises(ModelLoadError, match="x86-64-v2"):
        llama.import_llama_cpp()
