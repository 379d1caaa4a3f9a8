"""The built-in check set offered at first run for the starter model."""

from __future__ import annotations

from app.core.drift import CheckSetLibrary
from app.core.drift.starter import NAME, needs_recording, starter_check_set
from app.core.models.starter import ensure_starter
from app.core.models.store import ModelStore
from app.core.paths import Paths


def test_the_starter_check_set_uses_built_in_prompts_and_the_sentiment_set(paths: Paths) -> None:
    check_set = starter_check_set(paths)
    assert check_set.name == NAME and len(check_set.prompts) == 5
    assert check_set.classify is not None and check_set.classify.label_set.name == "sentiment"
    assert {t.gold for t in check_set.classify.texts} == {"positive", "negative", "neutral"}
    assert check_set.recording is None


def test_needs_recording_until_the_starter_has_one(paths: Paths, store: ModelStore) -> None:
    assert not needs_recording(paths, store), "no starter installed yet"
    assert ensure_starter(store) is not None
    assert needs_recording(paths, store)
    CheckSetLibrary.for_paths(paths).save(starter_check_set(paths))
    assert not needs_recording(paths, store)
