"""Label sets: validation, JSON, versions in the library, built-in templates, prompts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.core.classify.errors import LabelSetError
from app.core.classify.labels import Label, LabelSet, load_builtins
from app.core.classify.library import LabelSetLibrary
from app.core.classify.prompt import build_prompt, needs_end_marker, shots
from app.core.classify.scoring import LabelTrie
from app.core.runtime.template import ChatTemplate

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def routing() -> LabelSet:
    return LabelSet(
        name="routing",
        instruction="Route the ticket.",
        labels=(
            Label("billing", "invoices and charges", ("I was charged twice.",)),
            Label("technical_problem", "errors", ("The app crashes.", "Error 502.")),
            Label("other"),
        ),
    )


def test_labels_need_two_distinct_names_ignoring_case_and_spaces() -> None:
    with pytest.raises(LabelSetError, match="at least two labels"):
        LabelSet.from_names("only")
    with pytest.raises(LabelSetError, match="'Billing' and 'billing '"):
        LabelSet("x", "Route.", (Label("Billing"), Label("billing ")))
    with pytest.raises(LabelSetError, match="'card_arrival' and 'Card Arrival'"):
        LabelSet("x", "Route.", (Label("card_arrival"), Label("Card Arrival")))
    with pytest.raises(LabelSetError, match="needs an instruction"):
        LabelSet("x", "", (Label("a"), Label("b")))


def test_from_names_and_case_insensitive_lookup() -> None:
    labels = LabelSet.from_names(" negative, positive ,")
    assert labels.label_names == ("negative", "positive")
    assert labels.index_of("POSITIVE") == 1
    assert labels.index_of("  Negative ") == 0
    assert labels.index_of("neutral") is None
    assert routing().index_of("technical problem") == 1


def test_json_round_trip_and_the_key_follows_content() -> None:
    original = routing()
    again = LabelSet.from_json(json.loads(json.dumps(original.to_json())))
    assert again == original
    assert again.key == original.key
    changed = original.edited(instruction="Route the support ticket.")
    assert changed.key != original.key
    with pytest.raises(LabelSetError, match="format 9"):
        LabelSet.from_json({**original.to_json(), "schema": 9})
    with pytest.raises(LabelSetError, match="examples of label 'a' must be texts"):
        LabelSet.from_json({"name": "x", "labels": [{"name": "a", "examples": [1]}, "b"]})


def test_library_saves_versions_and_never_rewrites_one(tmp_path: Path) -> None:
    library = LabelSetLibrary(tmp_path / "label_sets")
    first = library.save(routing())
    assert first.version == 1 and first.version_id == "routing@v1"
    assert library.save(routing()).version == 1  # same content: same version
    second = library.save(routing().edited(instruction="Route the support ticket."))
    assert second.version == 2
    assert [s.version for s in library.versions("routing")] == [1, 2]
    assert library.get("routing").instruction == "Route the support ticket."
    assert library.resolve("routing@v1").instruction == "Route the ticket."
    assert library.names() == ["routing"]
    with pytest.raises(LabelSetError, match="no version 7"):
        library.get("routing", 7)


def test_export_and_import_a_label_set_file(tmp_path: Path) -> None:
    library = LabelSetLibrary(tmp_path / "label_sets")
    saved = library.save(routing())
    target = tmp_path / "routing.json"
    library.export(saved, target)
    imported = library.resolve(str(target))
    assert imported.key == saved.key and imported.version == saved.version
    target.write_text("{not json", encoding="utf-8")
    with pytest.raises(LabelSetError, match="not valid JSON"):
        library.resolve(str(target))


def test_builtin_templates_exist_and_can_be_copied(tmp_path: Path) -> None:
    builtins = {s.name: s for s in load_builtins()}
    assert builtins["sentiment"].label_names == ("positive", "negative", "neutral")
    assert builtins["ticket routing"].label_names == (
        "billing",
        "technical problem",
        "account access",
        "sales",
        "other",
    )
    assert {"customer-service intent", "spam"} <= set(builtins)
    assert all(s.has_examples for s in builtins.values())
    library = LabelSetLibrary(tmp_path / "label_sets")
    assert library.get("Sentiment").builtin
    copy = library.save(library.get("sentiment").renamed("my sentiment"))
    assert copy.version == 1 and not copy.builtin
    with pytest.raises(LabelSetError, match="no label set called 'nope'"):
        library.get("nope")


def test_few_shot_examples_take_labels_in_turn() -> None:
    assert [label for _, label in shots(routing())] == [
        "billing",
        "technical_problem",
        "technical_problem",
    ]


def test_chat_prompt_puts_the_text_in_the_user_turn_and_labels_in_the_system() -> None:
    parts = build_prompt(routing(), ChatTemplate(CHATML), style="chat", few_shot=True)
    assert parts.prefix.startswith("<|im_start|>system\nRoute the ticket.")
    assert "- technical problem: errors" in parts.prefix
    assert "<|im_start|>user\nThe app crashes.<|im_end|>" in parts.prefix
    assert parts.prefix.endswith("<|im_start|>user\n")
    assert parts.suffix == "<|im_end|>\n<|im_start|>assistant\n"
    assert parts.label_texts == ("billing", "technical problem", "other")
    plain = build_prompt(routing(), None, style="plain", few_shot=False)
    assert plain.prefix.endswith("Text: ") and plain.suffix == "\nLabel:"
    assert plain.label_texts[0] == " billing"


def test_an_end_marker_is_needed_only_when_one_label_begins_another() -> None:
    assert needs_end_marker([[5], [5, 6]])
    assert not needs_end_marker([[5, 7], [5, 6], [8]])


def test_label_paths_share_their_common_tokens_in_a_trie() -> None:
    trie = LabelTrie([[5], [7, 8, 9], [7, 8, 10], [11, 12]])
    # Evaluated nodes are the proper prefixes of multi-token labels: (7), (7, 8), (11).
    assert [(tok, depth) for tok, depth, _ in trie.nodes] == [(7, 0), (8, 1), (11, 0)]
    assert trie.branch_labels == [1, 2, 3] and trie.n_slots == 3
    assert trie.node_seqs == [[0, 1], [0, 1], [2]]  # (7) and (7, 8) serve two labels
    # Each label is scored by its first token at the text's end, then along its nodes.
    assert trie.steps[0] == [(-1, 5)]
    assert trie.steps[2] == [(-1, 7), (0, 8), (1, 10)]
    assert LabelTrie([[1], [2]]).n_slots == 1 and LabelTrie([[1], [2]]).nodes == []
