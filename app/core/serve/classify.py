"""``POST /v1/classify`` (Driftless's own): texts, a label set, a label distribution each.

Classification runs on a :class:`~app.core.classify.Workbench` (its own ``ModelRunner``,
not the chat engine's ``Llama``: it scores labels teacher-forced and may evaluate an
unpacked 16-bit copy of a small model). :class:`ClassifyHolder` dresses a workbench as an
engine, so the same :class:`~app.core.serve.pool.ModelPool` and owner thread give it the
bounded, fair queue, the 429 and the cancelling the chat endpoints have. A label set is
named (``sentiment``, ``sentiment@v2``, or ``name`` plus ``version``) from the library
or given inline as labels: a request never names a file.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from app.core.cancel import CancelToken
from app.core.chat.context import ContextBudget
from app.core.chat.sampling import SamplingParams
from app.core.classify import (
    Classifier,
    ClassifierInfo,
    Label,
    LabelSet,
    MethodOptions,
    Prediction,
    Workbench,
)
from app.core.classify.classifier import DEFAULT_THRESHOLD, Method
from app.core.classify.errors import LabelSetError
from app.core.classify.labels import DEFAULT_INSTRUCTION
from app.core.fsutil import ProgressCallback
from app.core.models.store import ModelStore
from app.core.runtime.results import GenerationStats, LoadedModel
from app.core.runtime.template import ChatMessage
from app.core.serve.errors import ApiError, bad_request

MAX_TEXTS = 256
MAX_LABELS = 100
KEPT_CLASSIFIERS = 8
"""Prompt classifiers kept ready per loaded model (label set and method options)."""


@dataclass(frozen=True)
class ClassifyRequest:
    model: str | None
    texts: tuple[str, ...]
    label_set: str | None
    """A library name (``name`` or ``name@vN``); None when ``labels`` are given."""
    version: int | None
    labels: tuple[Label, ...]
    instruction: str
    method: Method
    threshold: float


def parse_classify(body: Any) -> ClassifyRequest:
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise bad_request("'model' must be a string: an installed model's id.", "model")
    raw = body.get("texts", body.get("input"))
    texts = [raw] if isinstance(raw, str) else raw
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise bad_request("'texts' must be a string or a non-empty list of strings.", "texts")
    if len(texts) > MAX_TEXTS:
        raise bad_request(f"At most {MAX_TEXTS} texts are classified per request.", "texts")
    name = body.get("label_set")
    version = body.get("version")
    raw_labels = body.get("labels")
    if (name is None) == (raw_labels is None):
        raise bad_request(
            "Give either 'label_set' (a saved or built-in label set's name) or 'labels' "
            "(a list of label names, or of {name, description} objects).",
            "label_set",
        )
    labels: tuple[Label, ...] = ()
    if name is not None:
        if not isinstance(name, str) or not re.fullmatch(r"[^/\\]{1,80}", name.strip()):
            raise bad_request(
                "'label_set' must be a label set's name (or name@vN), not a path.", "label_set"
            )
        if name.casefold().endswith(".json"):
            raise bad_request("'label_set' names a label set, not a file.", "label_set")
        if version is not None and (
            isinstance(version, bool) or not isinstance(version, int) or version < 1
        ):
            raise bad_request("'version' must be a version number (1, 2...).", "version")
    else:
        labels = _labels(raw_labels)
        if version is not None:
            raise bad_request("'version' goes with 'label_set', not with 'labels'.", "version")
    instruction = body.get("instruction", DEFAULT_INSTRUCTION)
    if not isinstance(instruction, str) or not instruction.strip():
        raise bad_request("'instruction' must be a non-empty string.", "instruction")
    if name is not None and "instruction" in body:
        raise bad_request(
            "'instruction' goes with 'labels'; a label set has its own.", "instruction"
        )
    method = body.get("method", "prompt")
    if method not in ("prompt", "examples"):
        raise bad_request(f"'method' must be prompt or examples, not {method!r}.", "method")
    threshold = body.get("threshold", DEFAULT_THRESHOLD)
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not (math.isfinite(threshold) and 0 <= threshold <= 1)
    ):
        raise bad_request("'threshold' must be a number from 0 to 1.", "threshold")
    return ClassifyRequest(
        model=model,
        texts=tuple(texts),
        label_set=name.strip() if isinstance(name, str) else None,
        version=version,
        labels=labels,
        instruction=instruction.strip(),
        method=method,
        threshold=float(threshold),
    )


def _labels(raw: Any) -> tuple[Label, ...]:
    if not isinstance(raw, list) or not 2 <= len(raw) <= MAX_LABELS:
        raise bad_request(f"'labels' must be a list of 2 to {MAX_LABELS} labels.", "labels")
    labels = []
    for index, item in enumerate(raw):
        if isinstance(item, str):
            labels.append(Label(item.strip()))
            continue
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("name"), str)
            or not isinstance(item.get("description", ""), str)
        ):
            raise bad_request(
                f"labels[{index}] must be a name, or an object with a name (and a description).",
                f"labels[{index}]",
            )
        labels.append(Label(item["name"].strip(), item.get("description", "").strip()))
    return tuple(labels)


@dataclass(frozen=True)
class ClassifyResult:
    predictions: list[Prediction]
    info: ClassifierInfo
    label_set: LabelSet


class ClassifyHolder:
    """A :class:`Workbench` on an owner thread of the classify pool: a
    :class:`~app.core.serve.owner.ModelUser` that classifies (its runner leases the
    weights from the model host, shared with the chat pool's engine on the same file)."""

    def __init__(self, store: ModelStore, *, gpu_layers: str | None = None) -> None:
        self.store = store
        self.gpu_layers = gpu_layers
        self._bench: Workbench | None = None
        self._loaded: LoadedModel | None = None
        self._classifiers: dict[tuple[str, str, MethodOptions], Classifier] = {}

    @property
    def loaded(self) -> LoadedModel | None:
        return self._loaded

    @property
    def last_stats(self) -> GenerationStats | None:
        return None

    def load(
        self,
        ref: str | None = None,
        *,
        n_ctx: int | None = None,
        on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> LoadedModel:
        self.unload()
        bench = Workbench(self.store.paths, self.store)
        try:
            info = bench.open_model(
                ref, on_progress=on_progress, cancel=cancel, gpu_layers=self.gpu_layers
            )
        except BaseException:
            bench.close()
            raise
        model = self.store.get(info.model_id)
        self._bench = bench
        self._loaded = LoadedModel(
            model_id=info.model_id,
            lock_id=info.lock_id,
            sha256=model.sha256,
            name=info.name,
            n_ctx=0,
            n_ctx_train=model.context_length,
            offload=info.offload,
        )
        return self._loaded

    def unload(self) -> None:
        self._classifiers.clear()
        bench, self._bench = self._bench, None
        self._loaded = None
        if bench is not None:
            bench.close()

    def classify(self, ask: ClassifyRequest, cancel: CancelToken) -> ClassifyResult:
        bench = self._bench
        if bench is None:
            raise ApiError(503, "The model for classification is not loaded.", type="server_error")
        try:
            if ask.label_set is not None:
                name, _, tail = ask.label_set.partition("@")
                version = ask.version
                if tail:
                    if not re.fullmatch(r"v?\d+", tail) or version is not None:
                        raise bad_request(
                            f"'{ask.label_set}' names no version: use NAME@v2, or NAME and "
                            "'version'.",
                            "label_set",
                        )
                    version = int(tail.lstrip("v"))
                label_set = bench.library.get(name.strip(), version)
            else:
                label_set = LabelSet(name="labels", instruction=ask.instruction, labels=ask.labels)
        except LabelSetError as exc:
            raise bad_request(str(exc), "label_set" if ask.label_set else "labels") from None
        options = MethodOptions(method=ask.method, threshold=ask.threshold)
        classifier = self._classifier(bench, label_set, options)
        predictions = list(classifier.classify_many(list(ask.texts), cancel=cancel))
        return ClassifyResult(predictions, classifier.info, label_set)

    def _classifier(
        self, bench: Workbench, label_set: LabelSet, options: MethodOptions
    ) -> Classifier:
        """A prompt classifier is kept for the next request with the same label set.

        Making one costs forward passes (the content-free prior it calibrates against);
        that cost used to fall on every request, so one text per request ran at a fifth
        of the CLI's rate. A taught head is read afresh each time: it can be re-taught.
        """
        if options.method != "prompt":
            return bench.classifier(label_set, options)
        key = (label_set.version_id, label_set.key, options)
        classifier = self._classifiers.pop(key, None) or bench.classifier(label_set, options)
        self._classifiers[key] = classifier  # most recently used last
        while len(self._classifiers) > KEPT_CLASSIFIERS:
            self._classifiers.pop(next(iter(self._classifiers)))
        return classifier

    # -- not a chat engine --

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        raise ApiError(400, "This engine classifies; it does not chat.")

    def check_fits(self, messages: Sequence[ChatMessage], params: SamplingParams) -> ContextBudget:
        raise ApiError(400, "This engine classifies; it does not chat.")

    def stream_chat(
        self,
        messages: Sequence[ChatMessage],
        params: SamplingParams,
        cancel: CancelToken | None = None,
        *,
        on_prompt_progress: ProgressCallback | None = None,
        reply_prefix: str = "",
    ) -> Iterator[str]:
        raise ApiError(400, "This engine classifies; it does not chat.")


def classify_answer(result: ClassifyResult, loaded: LoadedModel) -> dict[str, Any]:
    label_set = result.label_set
    names = label_set.label_names
    return {
        "object": "classification",
        "model": loaded.model_id,
        "method": result.info.method,
        "threshold": result.info.threshold,
        "label_set": {
            "name": label_set.name,
            "version": label_set.version or None,
            "version_id": label_set.version_id,
            "labels": list(names),
        },
        "data": [
            {
                "index": index,
                "label": p.label,
                "answer": p.answer,
                "confidence": p.confidence,
                "needs_review": p.needs_review,
                "probabilities": dict(zip(names, p.probabilities, strict=True)),
                "truncated": p.truncated,
            }
            for index, p in enumerate(result.predictions)
        ],
        "detail": result.info.detail,
        "weights": result.info.weights,
    }
