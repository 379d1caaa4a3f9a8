"""Check set files and comparisons, without a model: formats, hashes, reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.core.classify.labels import LabelSet
from app.core.drift import (
    CheckSet,
    CheckSetError,
    CheckSetLibrary,
    ClassifySpec,
    Environment,
    PromptItem,
    Recording,
    TextItem,
    compare,
    read_prompts,
    to_markdown,
)
from app.core.drift.checkset import LabelAnswer, PromptAnswer
from app.core.drift.library import read_file
from app.core.paths import Paths

ENV = Environment(
    {
        "model_id": "m",
        "lock_id": "repo@abc/m.gguf",
        "model_sha256": "a" * 64,
        "chat_template_sha256": "t" * 64,
        "chat_threads": "1",
        "llama_cpp_python": "0.3.36",
    }
)
SENTIMENT = LabelSet.from_names("positive,negative")


def check_set(recording: Recording | None = None) -> CheckSet:
    return CheckSet(
        name="basics",
        prompts=(PromptItem("p-1", "Name three colours."), PromptItem("p-2", "Hi", "Be brief.")),
        classify=ClassifySpec(
            SENTIMENT, (TextItem("t-1", "great", "positive"), TextItem("t-2", "awful", "negative"))
        ),
        created_at="2026-01-01T00:00:00Z",
        recording=recording,
    )


def recording(
    *,
    tokens: tuple[int, ...] = (1, 2, 3),
    probs: tuple[float, float] = (0.9, 0.1),
    env: Environment = ENV,
) -> Recording:
    label = "positive" if probs[0] >= probs[1] else "negative"
    return Recording(
        recorded_at="2026-01-01T00:00:00Z",
        environment=env,
        prompts=(
            PromptAnswer("p-1", tokens, tuple(f"<{t}>" for t in tokens), "", "length"),
            PromptAnswer("p-2", (7, 8), ("<7>", "<8>"), "", "stop"),
        ),
        labels=(
            LabelAnswer("t-1", label, probs),
            LabelAnswer("t-2", "negative", (0.2, 0.8)),
        ),
    )


def test_a_check_set_round_trips_through_its_canonical_bytes() -> None:
    original = check_set(recording())
    data = json.loads(original.to_bytes())
    again = CheckSet.from_json(data)
    assert again == original
    assert again.to_bytes() == original.to_bytes()
    assert again.sha256 == original.sha256
    assert data["settings"]["temperature"] == 0.0
    assert check_set(recording(tokens=(1, 2, 4))).sha256 != original.sha256


def test_export_and_import_keep_the_bytes_and_so_the_sha256(paths: Paths, tmp_path: Path) -> None:
    library = CheckSetLibrary.for_paths(paths)
    library.save(check_set(recording()))
    digest = library.sha256("basics")
    exported = library.export("basics", tmp_path)
    other = CheckSetLibrary(tmp_path / "elsewhere")
    imported = other.import_file(exported)
    assert other.sha256("basics") == digest == imported.sha256
    with pytest.raises(CheckSetError, match="exists already"):
        other.import_file(exported)


def test_a_damaged_or_foreign_file_is_refused_with_a_sentence(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"format": "something else"}')
    with pytest.raises(CheckSetError, match="not a Driftless check set"):
        read_file(path)
    data = json.loads(check_set(recording()).to_bytes())
    del data["recording"]["prompts"][0]["tokens"]
    path.write_text(json.dumps(data))
    with pytest.raises(CheckSetError, match="damaged or was edited"):
        read_file(path)


def test_prompts_are_read_one_json_object_a_line(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(
        '{"prompt": "A", "system": "S"}\n\n{"prompt": "B"}\n{"prompt": "A", "system": "S"}\n'
    )
    items = read_prompts(path)
    assert [(i.prompt, i.system) for i in items] == [("A", "S"), ("B", None)]
    path.write_text('{"prompt": "A"}\nnot json\n')
    with pytest.raises(CheckSetError, match=r"Line 2 of p\.jsonl is not JSON"):
        read_prompts(path)
    path.write_text('{"system": "S"}\n')
    with pytest.raises(CheckSetError, match='has no "prompt"'):
        read_prompts(path)


def test_an_empty_check_set_is_refused() -> None:
    with pytest.raises(CheckSetError, match="nothing to check"):
        CheckSet(name="empty")


def test_the_same_answers_are_identical_and_say_so() -> None:
    report = compare(check_set(), recording(), recording())
    assert report.identical
    assert report.summary().startswith("Behaviour of 'basics': identical to")
    assert "(4 of 4)" in report.summary()
    assert report.accuracy_before == report.accuracy_after == 1.0


def test_a_changed_token_is_found_with_both_continuations() -> None:
    report = compare(check_set(), recording(), recording(tokens=(1, 2, 9, 10)))
    assert not report.identical
    (change,) = report.prompt_changes
    assert change.first_difference == 2
    assert (change.before_token, change.after_token) == (3, 9)
    assert change.common_prefix == "<1><2>"
    assert (change.before_continuation, change.after_continuation) == ("<3>", "<9><10>")
    assert "1 of 2 prompts answered differently" in report.summary()
    assert "Nothing recorded about the environment differs" in report.summary()


def test_a_label_flip_and_a_shift_beyond_the_tolerance_are_drift() -> None:
    flipped = compare(check_set(), recording(), recording(probs=(0.3, 0.7)))
    (flip,) = flipped.flips
    assert (flip.before, flip.after) == ("positive", "negative")
    assert flipped.accuracy_before == 1.0 and flipped.accuracy_after == 0.5
    markdown = to_markdown(flipped)
    assert "positive 0.900, negative 0.100" in markdown and "flip" in markdown

    within = compare(check_set(), recording(), recording(probs=(0.89, 0.11)))
    assert within.identical and within.largest_move == pytest.approx(0.01)
    shifted = compare(check_set(), recording(), recording(probs=(0.85, 0.15)))
    assert not shifted.identical and not shifted.flips
    assert "moved by more than 0.02" in shifted.summary()


def test_environment_differences_are_named_and_the_model_id_ignored() -> None:
    after = ENV.merged(model_id="another-name", chat_template_sha256="u" * 64, chat_threads="2")
    report = compare(check_set(), recording(), recording(tokens=(1, 5), env=after))
    assert [d.part for d in report.environment] == ["chat_template_sha256", "chat_threads"]
    assert report.cause() == "Different chat template sha256."
    assert "| chat template sha256 |" in to_markdown(report)
    # A part only one side recorded is not a difference (an older file, no prompts).
    assert ENV.differences(Environment({"lock_id": ENV.parts["lock_id"]})) == []


def test_only_settings_measured_to_change_answers_are_blamed() -> None:
    """README "Determinism": the 16-bit copy changes greedy replies; threads, batch size and
    a warm cache were measured not to, so they are named only when nothing else is."""
    before = recording(env=ENV.merged(chat_batch="512", chat_weights="Q4_1 (the file)"))
    settings = before.environment.merged(chat_threads="2", chat_batch="8")
    both = compare(
        check_set(),
        before,
        recording(tokens=(1, 5), env=settings.merged(chat_weights="F16 (16-bit copy)")),
    )
    assert both.cause() == "Different chat weights."
    alone = compare(check_set(), before, recording(tokens=(1, 5), env=settings))
    assert alone.cause() == "Different chat thread count, chat batch size."
    same = compare(check_set(), before, recording(env=settings))
    assert same.identical and "without changing an answer" in same.summary()
