"""Classifiers over a :class:`ModelRunner`: prompted scoring, and the shared result types.

Prompted scoring gives each label the log-probability the model assigns to it after
the instruction and the text (teacher-forced, never by parsing generated text),
turns those into a distribution over the labels, and calibrates it against
content-free inputs (Zhao et al. 2021, "Calibrate Before Use"): the distribution the
model gives to ``N/A``, an empty text and ``[MASK]`` is the prior it would favour
anyway, so each label's probability is divided by it and the result renormalised.

Every prediction carries the full distribution; below the threshold its answer is
"needs review" rather than a guess.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from app.core.cancel import CancelToken
from app.core.classify.errors import ClassifyError
from app.core.classify.labels import LabelSet
from app.core.classify.prompt import PromptParts, PromptStyle, build_prompt, needs_end_marker
from app.core.classify.runner import ModelRunner, QueryOutput, RunnerInfo
from app.core.classify.scoring import Query
from app.core.runtime.template import ChatTemplate

Method = Literal["prompt", "examples"]
NEEDS_REVIEW = "needs review"
DEFAULT_THRESHOLD = 0.5
CONTENT_FREE = ("N/A", "", "[MASK]")
CHUNK = 32
"""Texts handed to the model at once by ``classify_many`` (progress is reported per chunk)."""


@dataclass(frozen=True)
class Prediction:
    """One text's result: the best label, its probability, and the whole distribution."""

    label: str
    confidence: float
    probabilities: tuple[float, ...]
    """One per label, in the label set's order; they sum to 1."""
    needs_review: bool
    truncated: bool = False
    """The text was longer than the model reads at once; its beginning was classified."""

    @property
    def answer(self) -> str:
        return NEEDS_REVIEW if self.needs_review else self.label


@dataclass(frozen=True)
class ClassifierInfo:
    """What produced a result: recorded with every prediction a run saves."""

    method: Method
    label_set: str
    """The label set's version id (``sentiment@v2``, or ``name#hash`` when unsaved)."""
    labels: tuple[str, ...]
    model_id: str
    lock_id: str
    threshold: float
    detail: str = ""
    """Method settings (prompt style, calibration, head id) that change results."""
    weights: str = ""
    """The weights evaluated (``F16 from Q4_1``, or the file's own type): see
    :mod:`app.core.models.unpacked`."""

    @classmethod
    def made_by(
        cls,
        method: Method,
        label_set: LabelSet,
        model: RunnerInfo,
        *,
        threshold: float,
        detail: str,
    ) -> ClassifierInfo:
        """The record for ``method`` with ``label_set`` on the loaded ``model``."""
        return cls(
            method=method,
            label_set=label_set.version_id,
            labels=label_set.label_names,
            model_id=model.model_id,
            lock_id=model.lock_id,
            threshold=threshold,
            detail=detail,
            weights=model.weights,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "label_set": self.label_set,
            "labels": list(self.labels),
            "model": self.model_id,
            "lock_id": self.lock_id,
            "threshold": self.threshold,
            "detail": self.detail,
            "weights": self.weights,
        }


@dataclass(frozen=True)
class ClassifyProgress:
    done: int
    total: int | None
    seconds: float

    @property
    def texts_per_second(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        if self.total is None or not self.done:
            return None
        return (self.total - self.done) / max(self.texts_per_second, 1e-9)


ProgressCallback = Callable[[ClassifyProgress], None]


def make_prediction(
    labels: Sequence[str], probs: npt.NDArray[np.floating], threshold: float, truncated: bool
) -> Prediction:
    best = int(np.argmax(probs))
    confidence = float(probs[best])
    return Prediction(
        label=labels[best],
        confidence=confidence,
        probabilities=tuple(float(p) for p in probs),
        needs_review=confidence < threshold,
        truncated=truncated,
    )


def normalise_logprobs(scores: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """Label log-probabilities (rows) to distributions over the labels."""
    values = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    values = values - values.max(axis=1, keepdims=True)
    exp = np.exp(values)
    result: npt.NDArray[np.float64] = exp / exp.sum(axis=1, keepdims=True)
    return result


def calibrate(
    probs: npt.NDArray[np.floating], prior: npt.NDArray[np.floating]
) -> npt.NDArray[np.float64]:
    """Divide out the content-free prior and renormalise (diagonal W = 1/prior, b = 0)."""
    adjusted = np.atleast_2d(np.asarray(probs, dtype=np.float64)) / np.maximum(prior, 1e-12)
    result: npt.NDArray[np.float64] = adjusted / adjusted.sum(axis=1, keepdims=True)
    return result


class Classifier:
    """Base of both methods: ``predict`` a list, or stream ``classify_many``. One thread."""

    info: ClassifierInfo
    label_set: LabelSet

    def taught(self) -> dict[str, Any] | None:
        """What a taught head learned from (its examples' coverage, its held-out estimate);
        None for a method that was not taught."""
        return None

    def predict(self, texts: Sequence[str], cancel: CancelToken | None = None) -> list[Prediction]:
        raise NotImplementedError

    def classify_many(
        self,
        texts: Iterable[str],
        on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
        *,
        total: int | None = None,
    ) -> Iterator[Prediction]:
        """Predictions in input order, computed a chunk at a time; cancellable between chunks."""
        started = time.perf_counter()
        done = 0
        chunk: list[str] = []
        if total is None and isinstance(texts, Sequence):
            total = len(texts)

        def flush() -> Iterator[Prediction]:
            nonlocal done
            results = self.predict(chunk, cancel)
            done += len(chunk)
            chunk.clear()
            if on_progress is not None:
                on_progress(ClassifyProgress(done, total, time.perf_counter() - started))
            yield from results

        for text in texts:
            chunk.append(text)
            if len(chunk) >= CHUNK:
                yield from flush()
        if chunk:
            yield from flush()


class PromptSession:
    """The model prepared for one label set and prompt: prefix, label paths, suffix tokens."""

    def __init__(
        self,
        runner: ModelRunner,
        label_set: LabelSet,
        *,
        style: PromptStyle = "plain",
        few_shot: bool = False,
        template: ChatTemplate | None = None,
    ) -> None:
        self.runner = runner
        self.label_set = label_set
        self.style = style
        self.few_shot = few_shot
        self.parts: PromptParts = build_prompt(label_set, template, style=style, few_shot=few_shot)
        self.prefix = runner.bos + runner.tokenize(self.parts.prefix, special=True)
        self.suffix = runner.tokenize(self.parts.suffix, special=True)
        self.paths = [self._label_tokens(t) for t in self.parts.label_texts]
        if needs_end_marker(self.paths):
            end = runner.tokenize(self.parts.end_marker, special=True)
            self.paths = [p + end for p in self.paths]
        self.max_text_tokens = 0

    def _label_tokens(self, text: str) -> list[int]:
        # Tokenized after the suffix, as the model would write it there; then cut off.
        joined = self.runner.tokenize(self.parts.suffix + text, special=True)
        if joined[: len(self.suffix)] == self.suffix and len(joined) > len(self.suffix):
            return joined[len(self.suffix) :]
        return self.runner.tokenize(text, special=False)

    def prepare(self) -> None:
        """Make this prompt current (cheap when it already is)."""
        self.runner.prepare(self.prefix, self.paths)
        self.max_text_tokens = self.runner.max_text_tokens(len(self.suffix))

    def query(self, text: str) -> tuple[Query, bool]:
        tokens = self.runner.tokenize(text, special=False)
        truncated = len(tokens) > self.max_text_tokens
        tokens = tokens[: self.max_text_tokens]
        return Query(tuple(tokens + self.suffix), (0, len(tokens))), truncated

    def run(
        self,
        texts: Sequence[str],
        *,
        scores: bool = True,
        layers: Sequence[int] = (),
        cancel: CancelToken | None = None,
    ) -> tuple[list[QueryOutput], list[bool]]:
        self.prepare()
        built = [self.query(t) for t in texts]
        outputs = self.runner.run(
            [q for q, _ in built], scores=scores, layers=layers, cancel=cancel
        )
        return outputs, [t for _, t in built]

    def content_free_prior(self) -> npt.NDArray[np.float64]:
        outputs, _ = self.run(list(CONTENT_FREE))
        probs = normalise_logprobs(np.array([o.label_logprobs for o in outputs]))
        prior: npt.NDArray[np.float64] = probs.mean(axis=0)
        return prior


class PromptClassifier(Classifier):
    """Zero- or few-shot classification by label log-probability, calibrated."""

    def __init__(
        self,
        runner: ModelRunner,
        label_set: LabelSet,
        *,
        style: PromptStyle = "plain",
        few_shot: bool = False,
        calibrated: bool = True,
        threshold: float = DEFAULT_THRESHOLD,
        template: ChatTemplate | None = None,
    ) -> None:
        if few_shot and not label_set.has_examples:
            raise ClassifyError(
                f"The label set '{label_set.name}' has no example texts for few-shot prompting. "
                "Add examples to its labels, or turn few-shot off."
            )
        self.label_set = label_set
        self.session = PromptSession(
            runner, label_set, style=style, few_shot=few_shot, template=template
        )
        self.prior = self.session.content_free_prior() if calibrated else None
        self.info = ClassifierInfo.made_by(
            "prompt",
            label_set,
            runner.info,
            threshold=threshold,
            detail=f"style={style} few_shot={few_shot} calibrated={calibrated}",
        )

    @property
    def model(self) -> RunnerInfo:
        return self.session.runner.info

    def distributions(
        self, texts: Sequence[str], cancel: CancelToken | None = None
    ) -> tuple[npt.NDArray[np.float64], list[bool]]:
        outputs, truncated = self.session.run(texts, cancel=cancel)
        probs = normalise_logprobs(np.array([o.label_logprobs for o in outputs]))
        if self.prior is not None:
            probs = calibrate(probs, self.prior)
        return probs, truncated

    def predict(self, texts: Sequence[str], cancel: CancelToken | None = None) -> list[Prediction]:
        if not texts:
            return []
        probs, truncated = self.distributions(texts, cancel)
        labels = self.label_set.label_names
        return [
            make_prediction(labels, row, self.info.threshold, cut)
            for row, cut in zip(probs, truncated, strict=True)
        ]
