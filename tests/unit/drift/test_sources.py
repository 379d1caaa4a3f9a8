"""A new check set's items: messages from kept chats (with their system prompt), a labelled file."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.chat.conversations import ConversationStore
from app.core.drift import CheckSet, CheckSetError, CheckSetLibrary, PromptItem
from app.core.drift.sources import (
    LabelledFile,
    chat_prompts,
    classify_spec,
    file_columns,
    label_set_names,
    prompt_items,
    record_new,
)
from app.core.models.store import ModelStore
from app.core.paths import Paths


def keep_chats(paths: Paths) -> None:
    """Two conversations with messages of the person's, one without, one deleted."""
    store = ConversationStore(paths)
    try:
        first = store.create_conversation("Capitals", system_prompt="Answer in one word.")
        store.add_user_message(first.id, "Capital of France?")
        store.add_message(first.id, "assistant", "Paris.")
        store.add_user_message(first.id, "And of Spain?")
        second = store.create_conversation("Haiku")
        store.add_user_message(second.id, "Write a haiku about rain.")
        store.create_conversation("Empty")
        gone = store.create_conversation("Deleted")
        store.add_user_message(gone.id, "Never mind.")
        store.delete_conversation(gone.id)
    finally:
        store.close()


def write_reviews(path: Path) -> Path:
    path.write_text(
        "review,sentiment\nGreat value!,positive\nBroke in a day.,negative\n", encoding="utf-8"
    )
    return path


def test_chat_prompts_lists_kept_conversations_with_their_system_prompt(paths: Paths) -> None:
    keep_chats(paths)
    chats = {c.title: c for c in chat_prompts(paths)}
    assert set(chats) == {"Capitals", "Haiku"}, "no empty or deleted conversation"
    assert chats["Capitals"].prompts == ("Capital of France?", "And of Spain?")
    assert chats["Capitals"].system == "Answer in one word."
    assert chats["Haiku"].system is None


def test_prompt_items_keep_the_system_prompt_and_drop_repeats() -> None:
    items = prompt_items([("Be brief.", "Hi"), ("Be brief.", "Hi"), (None, "Hi")])
    assert [(i.system, i.prompt) for i in items] == [("Be brief.", "Hi"), (None, "Hi")]
    assert items[0].id != items[1].id, "the system prompt is part of what is asked"


def test_a_labelled_file_gives_texts_gold_labels_and_a_label_set(
    paths: Paths, tmp_path: Path
) -> None:
    path = write_reviews(tmp_path / "reviews.csv")
    columns, text, gold = file_columns(path)
    assert columns == ("review", "sentiment") and text == "review" and gold == "sentiment"
    assert "sentiment" in label_set_names(paths)
    spec = classify_spec(paths, LabelledFile(path, "sentiment", "review", "sentiment"))
    assert [(t.text, t.gold) for t in spec.texts] == [
        ("Great value!", "positive"),
        ("Broke in a day.", "negative"),
    ]
    assert spec.label_set.name == "sentiment"


def test_record_new_never_replaces_a_check_set(paths: Paths, store: ModelStore) -> None:
    CheckSetLibrary.for_paths(paths).save(CheckSet(name="mine", prompts=(PromptItem("p", "Hi"),)))
    with pytest.raises(CheckSetError, match="exists already"):
        record_new(paths, store, "mine", "any", prompts=(PromptItem("p", "Hi"),))
    with pytest.raises(CheckSetError, match="cannot name a check set"):
        record_new(paths, store, "no spaces", "any", prompts=(PromptItem("p", "Hi"),))


@pytest.mark.slow
def test_record_new_answers_chat_messages_and_file_texts_on_the_starter(
    paths: Paths, store: ModelStore, tmp_path: Path
) -> None:
    from app.core.drift import check
    from app.core.models.starter import ensure_starter

    starter = ensure_starter(store)
    assert starter is not None
    keep_chats(paths)
    chats = {c.title: c for c in chat_prompts(paths)}
    capitals = chats["Capitals"]
    prompts = prompt_items([(capitals.system, capitals.prompts[0])])
    labelled = LabelledFile(write_reviews(tmp_path / "reviews.csv"), "sentiment")
    saved = record_new(
        paths, store, "from-chats", starter.id, prompts=prompts, labelled=labelled, max_tokens=8
    )
    assert saved.recording is not None and saved.size == 3
    assert saved.recording.environment.get("model_id") == starter.id
    assert CheckSetLibrary.for_paths(paths).load("from-chats").sha256 == saved.sha256
    assert check(paths, store, saved).identical
