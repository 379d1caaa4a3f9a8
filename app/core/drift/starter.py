"""The check set every install gets: a few built-in prompts and the built-in sentiment set,
recorded on the starter model at first run (the window offers it in the welcome).

It is small on purpose (5 prompts of at most 32 tokens, 6 labelled texts on the packed
file, no 16-bit copy), so it records in the background in well under a minute on two
cores, and a later update, a new llama-cpp-python or another CPU has something to be
compared with.
"""

from __future__ import annotations

import time

from app.core.cancel import CancelToken
from app.core.classify.library import LabelSetLibrary
from app.core.drift.checkset import CheckSet, ClassifySpec, PromptItem, TextItem, item_id
from app.core.drift.library import CheckSetLibrary
from app.core.drift.record import ProgressCallback, answer
from app.core.models.starter import STARTER, StarterSpec
from app.core.models.store import InstalledModel, ModelStore
from app.core.paths import Paths

NAME = "starter-basics"
MAX_TOKENS = 32

PROMPTS: tuple[tuple[str | None, str], ...] = (
    (None, "What is the capital of France?"),
    (None, "Write one sentence about the sea."),
    ("Answer in one word.", "What colour is the sky on a clear day?"),
    (None, "List three fruits."),
    ("You are a helpful assistant.", "What is 7 times 8?"),
)

TEXTS: tuple[tuple[str, str], ...] = (
    ("I loved every minute of it, wonderful!", "positive"),
    ("Absolutely terrible, a waste of money.", "negative"),
    ("The staff were kind and the food was great.", "positive"),
    ("Broken on arrival and support never answered.", "negative"),
    ("The parcel arrived on Tuesday.", "neutral"),
    ("The meeting is scheduled for three o'clock.", "neutral"),
)


def starter_check_set(paths: Paths) -> CheckSet:
    """The built-in check set (not yet recorded), with the built-in sentiment label set."""
    sentiment = next(
        s for s in LabelSetLibrary.for_paths(paths).builtins() if s.name == "sentiment"
    )
    return CheckSet(
        name=NAME,
        prompts=tuple(
            PromptItem(item_id("prompt", system, prompt), prompt, system)
            for system, prompt in PROMPTS
        ),
        classify=ClassifySpec(
            sentiment, tuple(TextItem(item_id("text", t), t, gold) for t, gold in TEXTS)
        ),
        max_tokens=MAX_TOKENS,
        created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    )


def starter_model(store: ModelStore, spec: StarterSpec = STARTER) -> InstalledModel | None:
    return store.find_version(spec.repo, spec.commit, spec.filename)


def needs_recording(paths: Paths, store: ModelStore) -> bool:
    """True when the starter is installed and has no check set of its own yet."""
    return starter_model(store) is not None and not CheckSetLibrary.for_paths(paths).exists(NAME)


def record_starter_check(
    paths: Paths,
    store: ModelStore,
    *,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> CheckSet | None:
    """Record the built-in check set on the starter; None when there is nothing to do."""
    model = starter_model(store)
    library = CheckSetLibrary.for_paths(paths)
    if model is None or library.exists(NAME):
        return None
    check_set = starter_check_set(paths)
    recording = answer(
        paths,
        store,
        check_set,
        model.id,
        threads=None,
        unpack=False,
        on_progress=on_progress,
        cancel=cancel,
    )
    recorded = check_set.recorded(recording)
    library.save(recorded)
    return recorded
