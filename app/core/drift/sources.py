"""Where a new check set's items come from: chats you keep, or a labelled file.

The window's Models page records check sets from here: it may not reach into the chat
page, so it reads conversations through this module (drift sits above chat in the
core's layers). :func:`record_new` answers a new check set on a model and saves it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from app.core.cancel import CancelToken
from app.core.chat.conversations import ConversationStore
from app.core.classify.library import LabelSetLibrary
from app.core.classify.table import choose_columns, sniff
from app.core.drift.checkset import (
    DEFAULT_MAX_TOKENS,
    CheckSet,
    CheckSetError,
    ClassifySpec,
    PromptItem,
    check_name,
    item_id,
    read_texts,
)
from app.core.drift.library import CheckSetLibrary
from app.core.drift.record import ProgressCallback, answer
from app.core.models.store import ModelStore
from app.core.paths import Paths


@dataclass(frozen=True)
class ChatPrompts:
    """One kept conversation: its system prompt and what the person wrote, in order."""

    conversation_id: int
    title: str
    system: str | None
    prompts: tuple[str, ...]


def chat_prompts(paths: Paths) -> list[ChatPrompts]:
    """Every kept conversation with at least one message of the person's, newest first."""
    store = ConversationStore(paths)
    try:
        found = []
        for conversation in store.list_conversations():
            thread = store.get_thread(conversation.id)
            prompts = tuple(m.content for m in thread if m.role == "user" and m.content.strip())
            if prompts:
                system = conversation.system_prompt.strip() or None
                found.append(ChatPrompts(conversation.id, conversation.title, system, prompts))
        return found
    finally:
        store.close()


def prompt_items(picked: Iterable[tuple[str | None, str]]) -> tuple[PromptItem, ...]:
    """Check-set prompts from ``(system prompt, message)`` pairs; repeats are dropped."""
    items: dict[str, PromptItem] = {}
    for system, prompt in picked:
        item = PromptItem(item_id("prompt", system, prompt), prompt, system)
        items.setdefault(item.id, item)
    return tuple(items.values())


@dataclass(frozen=True)
class LabelledFile:
    """A CSV/TSV file of texts (and gold labels), with the label set to classify them into."""

    path: Path
    label_set: str
    text_column: str | None = None
    label_column: str | None = None


def file_columns(path: Path) -> tuple[tuple[str, ...], str, str | None]:
    """A table's columns, and the text and gold-label columns Driftless would pick."""
    table = sniff(path)
    columns = choose_columns(table)
    return table.columns, columns.text_name, columns.gold_name


def classify_spec(paths: Paths, source: LabelledFile) -> ClassifySpec:
    label_set = LabelSetLibrary.for_paths(paths).resolve(source.label_set)
    texts = read_texts(
        source.path, text_column=source.text_column, label_column=source.label_column
    )
    return ClassifySpec(label_set, texts)


def label_set_names(paths: Paths) -> list[str]:
    """The saved label sets, then the built-in ones not saved under the same name."""
    library = LabelSetLibrary.for_paths(paths)
    saved = library.names()
    folded = {n.casefold() for n in saved}
    return saved + [s.name for s in library.builtins() if s.name.casefold() not in folded]


def record_new(
    paths: Paths,
    store: ModelStore,
    name: str,
    model_id: str,
    *,
    prompts: tuple[PromptItem, ...] = (),
    labelled: LabelledFile | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> CheckSet:
    """Make the check set ``name``, answer it on ``model_id`` and save it (never replaces one)."""
    library = CheckSetLibrary.for_paths(paths)
    if library.exists(check_name(name)):
        raise CheckSetError(
            f"A check set called '{name}' exists already: choose another name, or remove it "
            f"(driftless drift remove {name})."
        )
    check_set = CheckSet(
        name=name,
        prompts=prompts,
        classify=classify_spec(paths, labelled) if labelled is not None else None,
        max_tokens=max_tokens,
        created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )
    recording = answer(
        paths, store, check_set, model_id, unpack=False, on_progress=on_progress, cancel=cancel
    )
    recorded = check_set.recorded(recording)
    library.save(recorded)
    return recorded
