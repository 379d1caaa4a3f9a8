"""``driftless chat --continue ID --stats`` in fresh processes: each turn restores the KV
state the last one saved and evaluates only its new message (the real starter)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
QUESTIONS = (
    "Name a river in Europe.",
    "How long is it?",
    "Which cities does it pass?",
    "Name a river in Asia.",
)


def chat(home: Path, *args: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "app", "--home", str(home), "chat", "--stats"]
    command += ["--temperature", "0", "--max-tokens", "40", *args]
    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=True
    )
    stats: dict[str, Any] = json.loads(done.stderr.strip().splitlines()[-1])
    return stats


@pytest.mark.slow
def test_each_continued_turn_restores_the_last_one_in_a_new_process(
    starter_file: Path, home: Path
) -> None:
    first = chat(home, "--system", "You are terse. " * 20, QUESTIONS[0])
    assert set(first) >= {"ttft_s", "prompt_tokens", "reused_tokens", "tokens_per_s"}
    assert first["reused_tokens"] == 0 and isinstance(first["conversation"], int)
    conversation = str(first["conversation"])
    for question in QUESTIONS[1:]:
        turn = chat(home, "--continue", conversation, question)
        assert turn["conversation"] == first["conversation"]
        assert turn["restored_tokens"] == turn["reused_tokens"] > 0
        assert turn["prompt_tokens"] - turn["reused_tokens"] <= 25, turn
    assert turn["reused_tokens"] / turn["prompt_tokens"] >= 0.9
    states = list((home / "cache" / "states").glob("*.kvstate"))
    assert len(states) == len(QUESTIONS)


@pytest.mark.slow
def test_no_save_keeps_no_state(starter_file: Path, home: Path) -> None:
    stats = chat(home, "--no-save", QUESTIONS[0])
    assert stats["conversation"] is None
    assert not list((home / "cache" / "states").glob("*.kvstate"))
