"""Behaviour checks: prove that a model, its template or the runtime changed nothing, or what.

- :mod:`.checkset`: the check set file (prompts, labelled texts, the recorded answers).
- :mod:`.environment`: what an answer depended on, and which parts of two differ.
- :mod:`.record`: answering a check set on a model (greedy, cold, token by token).
- :mod:`.compare`: a fresh answer against the recorded one, as JSON or Markdown.
- :mod:`.library`: check sets in the data folder, exported and imported as files.

A feature over chat and classification; it never touches the network, and nothing else
in the core imports it (import contracts in pyproject.toml).
"""

from __future__ import annotations

from app.core.cancel import CancelToken
from app.core.docs.library import EmbedderFactory
from app.core.drift.checkset import (
    CheckSet,
    CheckSetError,
    ClassifySpec,
    PromptItem,
    Recording,
    TextItem,
    read_prompts,
    read_texts,
)
from app.core.drift.compare import DriftReport, compare, to_markdown
from app.core.drift.environment import Difference, Environment
from app.core.drift.library import CheckSetLibrary
from app.core.drift.record import ProgressCallback, answer, replay_settings
from app.core.models.store import ModelStore
from app.core.paths import Paths


def check(
    paths: Paths,
    store: ModelStore,
    check_set: CheckSet,
    model: str | None = None,
    *,
    threads: int | None = None,
    batch: int | None = None,
    unpack: bool | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    keep: bool = False,
    open_embedder: EmbedderFactory | None = None,
    gpu_layers: str | None = None,
) -> DriftReport:
    """Answer ``check_set`` again and compare with its recording.

    Settings not given are the recorded ones (threads, batch size, the 16-bit copy), so
    a check reproduces the recording unless told otherwise; the report names any setting
    that differs. ``model`` None: the recorded model, which must be installed (checking
    another one is asked for by naming it, never a silent substitute). ``keep``: store
    the result beside the check sets (the Models page shows the last one per model).
    The backend is not replayed: a check runs where the app runs now (``gpu_layers`` None:
    the settings' choice), so a recording made on the CPU checked on a GPU reports that.
    """
    recording = check_set.recording
    if recording is None:
        raise CheckSetError(
            f"The check set '{check_set.name}' has no recorded answers yet. Record them: "
            f"driftless drift record {check_set.name} --model ID."
        )
    env = recording.environment
    recorded_threads, recorded_batch, recorded_unpack = replay_settings(env)
    if model is None and (check_set.prompts or check_set.classify):
        model = recorded_model(store, check_set)
    fresh = answer(
        paths,
        store,
        check_set,
        model,
        threads=threads or recorded_threads,
        batch=batch or recorded_batch,
        unpack=unpack if unpack is not None else recorded_unpack,
        on_progress=on_progress,
        cancel=cancel,
        open_embedder=open_embedder,
        gpu_layers=gpu_layers,
    )
    report = compare(check_set, recording, fresh)
    if keep:
        from app.core.drift.results import CheckResults

        checked = fresh.environment.get("model_id")
        target = store.get(checked) if checked else None
        if target is not None:
            CheckResults.for_paths(paths).save(report, target)
    return report


def recorded_model(store: ModelStore, check_set: CheckSet) -> str:
    """The installed model a check set was recorded on: its id, or its lock id under
    another id; refused with a sentence when neither is installed."""
    env = check_set.recording.environment if check_set.recording else Environment({})
    model_id, lock_id = env.get("model_id"), env.get("lock_id")
    installed = store.list_models()
    for model in installed:
        if model_id is not None and model.id == model_id:
            return model.id
    for model in installed:
        if lock_id is not None and model.lock_id == lock_id:
            return model.id
    named = f"{model_id} ({lock_id})" if lock_id else model_id or "a model it does not name"
    raise CheckSetError(
        f"The check set '{check_set.name}' was recorded on {named}, which is not installed, "
        "so there is nothing to compare it with. Install that model, or check on another "
        f"model on purpose: driftless drift check {check_set.name} --model ID."
    )


__all__ = [
    "CheckSet",
    "CheckSetError",
    "CheckSetLibrary",
    "ClassifySpec",
    "Difference",
    "DriftReport",
    "Environment",
    "PromptItem",
    "Recording",
    "TextItem",
    "answer",
    "check",
    "compare",
    "read_prompts",
    "read_texts",
    "to_markdown",
]
