"""How a reply ended, in exports: cut at the limit ("length"), stopped, or finished."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.core.chat.conversations import ConversationStore
from app.core.chat.records import ModelProvenance, ReplyStats
from app.core.paths import Paths

MODEL = ModelProvenance(lock_id="org/repo@" + "c" * 40 + "/m.gguf", sha256="5" * 64)


@pytest.fixture
def convs(paths: Paths) -> Iterator[ConversationStore]:
    store = ConversationStore(paths)
    yield store
    store.close()


def three_endings(convs: ConversationStore) -> tuple[int, dict[str, int]]:
    """One conversation: a reply cut at 5 tokens, a stopped one, one the model ended."""
    conv = convs.create_conversation("Endings", model_id="m")
    ids: dict[str, int] = {}
    for name, text, tokens, ending in (
        ("cut", "The capital of France is", 5, "complete"),
        ("stopped", "Once upon", 2, "cancelled"),
        ("ended", "Paris.", 2, "complete"),
    ):
        convs.add_user_message(conv.id, f"Ask {name}")
        with convs.begin_reply(conv.id, MODEL, {"max_tokens": 5}) as writer:
            writer.append(text)
            writer.finish(ending, stats=ReplyStats(10, tokens, 30.0))  # type: ignore[arg-type]
        ids[name] = writer.message_id
    return conv.id, ids


def test_the_json_export_says_how_each_reply_ended(
    convs: ConversationStore, tmp_path: Path
) -> None:
    conv_id, ids = three_endings(convs)
    target = tmp_path / "endings.json"
    convs.export_json(conv_id, target)
    messages = {m["id"]: m for m in json.loads(target.read_text(encoding="utf-8"))["messages"]}
    assert messages[ids["cut"]]["finish"] == "length"
    assert messages[ids["stopped"]]["finish"] == "stopped"
    assert messages[ids["ended"]]["finish"] == "stop"
    assert all("finish" not in m for m in messages.values() if m["role"] == "user")
    # The stored status is kept, so Import reads the file back as it was.
    assert messages[ids["stopped"]]["status"] == "cancelled"
    imported = convs.import_json(target)
    assert [m.status for m in convs.get_thread(imported.id) if m.role == "assistant"] == [
        "complete",
        "cancelled",
        "complete",
    ]


def test_the_markdown_export_marks_a_cut_and_a_stopped_reply(
    convs: ConversationStore, tmp_path: Path
) -> None:
    conv_id, _ = three_endings(convs)
    text = convs.render_markdown(conv_id)
    headings = [line for line in text.splitlines() if line.startswith("## Assistant")]
    assert headings == [
        "## Assistant (stopped at the 5-token limit)",
        "## Assistant (stopped)",
        "## Assistant",
    ]
    assert "cancelled" not in text
