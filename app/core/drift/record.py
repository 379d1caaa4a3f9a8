"""Answering a check set on one model: greedy replies token by token, label distributions.

Every prompt is answered from a cold prompt cache (the engine forgets what it evaluated
before), at temperature 0 with the repeat penalty off and a fixed seed, so an answer
depends on the model, its template, the runtime and the settings the environment
records, and on nothing that happened before it. The chat model is loaded, used and
closed before the classification model is opened: one model in memory at a time.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from app.core.cancel import CancelToken
from app.core.chat.engine import DEFAULT_BATCH, Engine
from app.core.chat.sampling import SamplingParams
from app.core.classify.classifier import DEFAULT_THRESHOLD
from app.core.classify.workbench import MethodOptions, Workbench
from app.core.docs.embedding import ModelEmbedder
from app.core.docs.library import EmbedderFactory
from app.core.drift.checkset import (
    CheckSet,
    CheckSetError,
    ClassifySpec,
    LabelAnswer,
    PromptAnswer,
    Recording,
)
from app.core.drift.environment import Environment, runtime_parts
from app.core.drift.retrieval import RetrievalAnswer, answer_retrieval
from app.core.models.gguf import read_gguf
from app.core.models.store import ModelStore
from app.core.models.unpacked import main_type
from app.core.paths import Paths
from app.core.runtime.llama import default_threads
from app.core.runtime.template import ChatMessage, system, user

ProgressCallback = Callable[[int, int], None]
"""Called with (items done, items in all) after each item."""


def replay_settings(environment: Environment) -> tuple[int | None, int, bool]:
    """The recorded (threads, batch size, 16-bit copy for classifying) of a recording."""
    threads = _int(environment.get("chat_threads") or environment.get("classify_threads"))
    batch = _int(environment.get("chat_batch")) or DEFAULT_BATCH
    unpack = "from" in (environment.get("classify_weights") or "from")
    return threads, batch, unpack


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def greedy_params(check_set: CheckSet) -> SamplingParams:
    return SamplingParams(
        temperature=0.0,
        top_k=0,
        top_p=1.0,
        min_p=0.0,
        repeat_penalty=1.0,
        max_tokens=check_set.max_tokens,
        seed=check_set.seed,
    )


def answer(
    paths: Paths,
    store: ModelStore,
    check_set: CheckSet,
    model: str | None = None,
    *,
    threads: int | None = None,
    batch: int = DEFAULT_BATCH,
    unpack: bool = True,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    gpu_layers: str | None = None,
    open_embedder: EmbedderFactory | None = None,
) -> Recording:
    """Answer every item of ``check_set`` on ``model`` (the active one when None); its
    retrieval items with each collection's pinned embedder (``open_embedder`` opens it,
    by default from the installed models).

    ``gpu_layers``: the "GPU layers" choice; None, the settings' for the model (a check
    runs where the app runs now, and records it: the ``backend`` and ``gpu_layers`` parts).
    """
    threads = threads or default_threads()
    target = store.get(model) if model is not None else store.active()
    needs_model = bool(check_set.prompts or check_set.classify)
    if target is None and needs_model:
        raise CheckSetError(
            "No model is active. Name one with --model ID (see driftless models list)."
        )
    parts = runtime_parts()
    if target is not None:
        parts.update(model_id=target.id, lock_id=target.lock_id, model_sha256=target.sha256)
    total = check_set.size
    done = [0]

    def step() -> None:
        done[0] += 1
        if on_progress is not None:
            on_progress(done[0], total)

    retrieval: tuple[RetrievalAnswer, ...] = ()
    if check_set.retrieval:
        retrieval, retrieval_parts = answer_retrieval(
            paths.documents_db,
            check_set.retrieval,
            open_embedder or (lambda ref: ModelEmbedder(store, ref)),
            step,
            cancel,
        )
        parts.update(retrieval_parts)
    prompts: tuple[PromptAnswer, ...] = ()
    if check_set.prompts and target is not None:
        prompts, chat_parts = _answer_prompts(
            store, target.id, check_set, threads, batch, step, cancel, gpu_layers
        )
        parts.update(chat_parts)
    labels: tuple[LabelAnswer, ...] = ()
    if check_set.classify is not None and target is not None:
        labels, classify_parts = _answer_texts(
            paths, store, target.id, check_set.classify, threads, unpack, step, cancel, gpu_layers
        )
        for part, value in classify_parts.items():
            parts.setdefault(part, value)  # the chat model's backend, when both ran
    return Recording(
        recorded_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        environment=Environment(parts),
        prompts=prompts,
        labels=labels,
        retrieval=retrieval,
    )


def _answer_prompts(
    store: ModelStore,
    model_id: str,
    check_set: CheckSet,
    threads: int,
    batch: int,
    step: Callable[[], None],
    cancel: CancelToken | None,
    gpu_layers: str | None = None,
) -> tuple[tuple[PromptAnswer, ...], dict[str, str]]:
    params = greedy_params(check_set)
    answers = []
    with Engine(
        store, n_threads=threads, n_batch=batch, user="behaviour checks", gpu_layers=gpu_layers
    ) as engine:
        loaded = engine.load(model_id, cancel=cancel)
        template = engine.template_source
        for item in check_set.prompts:
            if cancel is not None:
                cancel.raise_if_cancelled()
            messages: list[ChatMessage] = []
            if item.system is not None:
                messages.append(system(item.system))
            messages.append(user(item.prompt))
            engine.forget_prompt_cache()
            text = "".join(engine.stream_chat(messages, params, cancel))
            ids = engine.last_token_ids
            stats = engine.last_stats
            answers.append(
                PromptAnswer(
                    id=item.id,
                    tokens=ids,
                    pieces=tuple(engine.detokenize([t]) for t in ids),
                    text=text,
                    finish=stats.finish_reason if stats else "stop",
                )
            )
            step()
        weights = main_type(read_gguf(store.get(loaded.model_id).path))
    parts = {
        "chat_template_sha256": hashlib.sha256(template.encode("utf-8")).hexdigest()
        if template
        else "none",
        "chat_threads": str(threads),
        "chat_batch": str(min(batch, loaded.n_ctx)),
        "chat_weights": f"{weights} (the file)",
        "prompt_cache": "cold for every prompt",
        "backend": loaded.offload.backend_label(),
        "gpu_layers": loaded.offload.layers_label(),
    }
    return tuple(answers), parts


def _answer_texts(
    paths: Paths,
    store: ModelStore,
    model_id: str,
    spec: ClassifySpec,
    threads: int,
    unpack: bool,
    step: Callable[[], None],
    cancel: CancelToken | None,
    gpu_layers: str | None = None,
) -> tuple[tuple[LabelAnswer, ...], dict[str, str]]:
    if spec.method not in ("prompt", "examples") or spec.style not in ("plain", "chat"):
        raise CheckSetError(
            f"The check set classifies with method '{spec.method}' and style '{spec.style}', "
            "which this Driftless does not know. Update Driftless."
        )
    options = MethodOptions(
        method="prompt" if spec.method == "prompt" else "examples",
        style="plain" if spec.style == "plain" else "chat",
        few_shot=spec.few_shot,
        calibrated=spec.calibrated,
        threshold=DEFAULT_THRESHOLD,
    )
    with Workbench(paths, store) as bench:
        info = bench.open_model(
            model_id, n_threads=threads, unpack=unpack, cancel=cancel, gpu_layers=gpu_layers
        )
        classifier = bench.classifier(spec.label_set, options)
        texts = [t.text for t in spec.texts]
        answers = []
        predictions = classifier.predict(texts, cancel)
        for item, prediction in zip(spec.texts, predictions, strict=True):
            answers.append(LabelAnswer(item.id, prediction.label, prediction.probabilities))
            step()
    parts = {
        "classify_threads": str(threads),
        "classify_weights": info.weights + (f" ({info.weights_note})" if info.weights_note else ""),
        "classifier": f"{classifier.info.method} {classifier.info.label_set} "
        f"{classifier.info.detail}",
        "backend": info.offload.backend_label(),
        "gpu_layers": info.offload.layers_label(),
    }
    return tuple(answers), parts
