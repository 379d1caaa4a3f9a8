"""Classification taught by examples: the model's hidden states, and a head trained on them.

Each text runs once through the model after the label set's prompt. From a few of
the model's layers the text's tokens are averaged and the last token (where the
answer would start, having read the instruction) is kept; optionally the prompt's
calibrated label probabilities are added. A logistic-regression head
(:mod:`app.core.classify.head`) learns labels from those features in seconds.

On a sentence encoder (:mod:`app.core.classify.encoder`) there is no prompt: the
features are the text's pooled sentence vector (:data:`POOLED`), and the same head is
fitted on them.

A taught head is saved beside its label set, tied to the model's lock id and the
label set's version: used with another model or other labels it is refused.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from app.core.cancel import CancelToken
from app.core.classify.classifier import (
    DEFAULT_THRESHOLD,
    Classifier,
    ClassifierInfo,
    ClassifyProgress,
    Prediction,
    PromptSession,
    calibrate,
    make_prediction,
    normalise_logprobs,
)
from app.core.classify.coverage import Coverage
from app.core.classify.encoder import EncoderReader
from app.core.classify.errors import HeadError
from app.core.classify.features import (
    DEFAULT_LAST_DEPTHS,
    DEFAULT_MEAN_DEPTHS,
    POOLED,
    FeatureSpec,
    block_columns,
    candidate_specs,
    default_spec,
)
from app.core.classify.head import HeadChoice, HeadFit, choose_head, finish_head
from app.core.classify.labels import LabelSet
from app.core.classify.runner import ModelRunner
from app.core.fsutil import atomic_write_bytes

HEAD_SCHEMA = 1
FEATURE_CHUNK = 64


Reader = ModelRunner | EncoderReader
"""What teaching reads texts through: a chat model's runner, or a sentence encoder."""


def spec_for(reader: Reader, spec: FeatureSpec | None = None) -> FeatureSpec:
    """The features a head on ``reader`` is saved and looked for under."""
    if isinstance(reader, EncoderReader):
        return POOLED
    return spec or default_spec(reader.info.n_layer)


CHOICE_MARGIN = 0.005
"""A wider feature set must beat the default's validation accuracy by this much."""


@dataclass(frozen=True)
class TeachProgress:
    """Where teaching is: ``reading`` the examples through the model, then ``fitting``."""

    stage: str
    done: int
    total: int
    seconds: float

    @property
    def texts_per_second(self) -> float:
        return self.done / self.seconds if self.stage == "reading" and self.seconds > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        rate = self.texts_per_second
        if self.stage != "reading" or not rate:
            return None
        return (self.total - self.done) / rate


TeachCallback = Callable[[TeachProgress], None]


@dataclass(frozen=True)
class TaughtHead:
    """A trained head and everything it is tied to."""

    fit: HeadFit
    labels: tuple[str, ...]
    spec: FeatureSpec
    lock_id: str
    model_id: str
    label_set: str
    label_set_key: str
    examples_per_label: tuple[int, ...]
    prior: tuple[float, ...] | None
    created_at: str
    read_seconds: float
    source_sha256: str = ""
    """The sha256 of the labelled file it was taught from, when it came from one."""
    weights: str = ""
    """The weights its features were read with (``F16 from Q4_1``); see app.core.models.unpacked."""
    gold_map: str = ""
    """How the file's label values were matched to labels (``0=negative,1=positive``)."""
    model_sha256: str = ""
    """The sha256 of the model file its features were read with."""
    reader: str = "decoder"
    """``decoder`` (a chat model's hidden states) or ``encoder`` (a pooled sentence vector)."""

    @property
    def id(self) -> str:
        return f"{self.label_set}/{self.spec.id}/{self.created_at}"

    @property
    def coverage(self) -> Coverage:
        return Coverage(self.labels, self.examples_per_label)

    @property
    def held_out_over_set(self) -> float | None:
        """The held-out balanced accuracy over every label of the set (a label without
        examples counts as unlearned); None when nothing was held out."""
        accuracy = self.fit.validation_accuracy
        return None if accuracy is None else self.coverage.over_all_labels(accuracy)

    def held_out_sentence(self) -> str:
        """The held-out estimate as a person should read it."""
        accuracy = self.fit.validation_accuracy
        if accuracy is None:
            return "Nothing could be held out to estimate its accuracy."
        coverage = self.coverage
        over_set = coverage.over_all_labels(accuracy)
        if coverage.without:
            return (
                f"Held-out balanced accuracy {over_set:.1%} over all {len(self.labels)} labels "
                f"(by {self.fit.validation}): {accuracy:.1%} on the {coverage.covered} labels "
                f"with examples, and the {len(coverage.without)} without count as unlearned."
            )
        return f"Held-out balanced accuracy {accuracy:.1%} (by {self.fit.validation})."

    def summary(self) -> dict[str, Any]:
        """Coverage and held-out estimate, for a report's JSON."""
        over_set = self.held_out_over_set
        return {
            **self.coverage.to_json(),
            "held_out_balanced_accuracy": (None if over_set is None else round(over_set, 4)),
            "held_out_on_covered_labels": (
                None
                if self.fit.validation_accuracy is None
                else round(self.fit.validation_accuracy, 4)
            ),
            "held_out_by": self.fit.validation,
            "reader": self.reader,
            "features": self.spec.id,
        }

    def meta(self) -> dict[str, Any]:
        return {
            "schema": HEAD_SCHEMA,
            "labels": list(self.labels),
            "spec": asdict(self.spec),
            "lock_id": self.lock_id,
            "model_id": self.model_id,
            "label_set": self.label_set,
            "label_set_key": self.label_set_key,
            "examples_per_label": list(self.examples_per_label),
            "prior": None if self.prior is None else list(self.prior),
            "created_at": self.created_at,
            "read_seconds": self.read_seconds,
            "source_sha256": self.source_sha256,
            "weights": self.weights,
            "gold_map": self.gold_map,
            "model_sha256": self.model_sha256,
            "reader": self.reader,
            "l2": self.fit.l2,
            "validation_accuracy": self.fit.validation_accuracy,
            "validation": self.fit.validation,
            "temperature": self.fit.temperature,
            "n_train": self.fit.n_train,
            "fit_seconds": self.fit.seconds,
        }

    def save(self, path: Path) -> None:
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            mean=self.fit.mean,
            scale=self.fit.scale,
            weights=self.fit.weights,
            bias=self.fit.bias,
            meta=np.array(json.dumps(self.meta())),
        )
        atomic_write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> TaughtHead:
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                arrays = {
                    k: np.array(data[k], dtype=np.float64)
                    for k in ("mean", "scale", "weights", "bias")
                }
        except (OSError, ValueError, KeyError) as exc:
            raise HeadError(
                f"The taught head {path} cannot be read ({exc}). Teach it again."
            ) from exc
        if meta.get("schema") != HEAD_SCHEMA:
            raise HeadError(
                f"The taught head {path} is from another Driftless version. Teach it again."
            )
        spec = meta["spec"]
        fit = HeadFit(
            mean=arrays["mean"],
            scale=arrays["scale"],
            weights=arrays["weights"],
            bias=arrays["bias"],
            l2=float(meta["l2"]),
            validation_accuracy=meta.get("validation_accuracy"),
            n_train=int(meta["n_train"]),
            seconds=float(meta["fit_seconds"]),
            validation=str(meta.get("validation", "")),
            temperature=float(meta.get("temperature", 1.0)),
        )
        prior = meta.get("prior")
        return cls(
            fit=fit,
            labels=tuple(meta["labels"]),
            spec=FeatureSpec(
                mean_layers=tuple(spec["mean_layers"]),
                last_layers=tuple(spec["last_layers"]),
                style=spec["style"],
                with_scores=bool(spec["with_scores"]),
                pooled=bool(spec.get("pooled", False)),
            ),
            lock_id=meta["lock_id"],
            model_id=meta["model_id"],
            label_set=meta["label_set"],
            label_set_key=meta["label_set_key"],
            examples_per_label=tuple(meta["examples_per_label"]),
            prior=None if prior is None else tuple(prior),
            created_at=meta["created_at"],
            read_seconds=float(meta["read_seconds"]),
            source_sha256=str(meta.get("source_sha256", "")),
            gold_map=str(meta.get("gold_map", "")),
            weights=str(meta.get("weights", "")),
            model_sha256=str(meta.get("model_sha256", "")),
            reader=str(meta.get("reader", "decoder")),
        )

    def check_usable(
        self, label_set: LabelSet, lock_id: str, reader: str = "decoder", sha256: str = ""
    ) -> None:
        """Refuse another model, another way of reading texts, or changed labels."""
        if reader != self.reader or self.spec.pooled != (reader == "encoder"):
            taught = "a sentence encoder's vectors" if self.reader == "encoder" else "a chat model"
            raise HeadError(
                f"This head was taught on {taught} ({self.model_id}); it cannot read texts "
                f"through {'a sentence encoder' if reader == 'encoder' else 'a chat model'}. "
                "Teach it again with this model."
            )
        if lock_id != self.lock_id or (sha256 and self.model_sha256 not in ("", sha256)):
            raise HeadError(
                f"This head was taught on {self.model_id} ({self.lock_id}); it cannot be used "
                f"with another model ({lock_id}). Teach it again with this model."
            )
        if label_set.label_names != self.labels or label_set.key != self.label_set_key:
            raise HeadError(
                f"This head was taught for {self.label_set}; the label set has changed since. "
                "Teach it again."
            )


def read_features(
    session: PromptSession,
    spec: FeatureSpec,
    texts: Sequence[str],
    prior: npt.NDArray[np.float64] | None,
    *,
    on_chunk: Callable[[int], None] | None = None,
    cancel: CancelToken | None = None,
) -> tuple[npt.NDArray[np.float32], list[bool]]:
    """The head's input for each text (rows), and which texts were cut to fit."""
    rows: list[npt.NDArray[np.float32]] = []
    truncated: list[bool] = []
    for start in range(0, len(texts), FEATURE_CHUNK):
        chunk = texts[start : start + FEATURE_CHUNK]
        outputs, cut = session.run(
            chunk, scores=spec.with_scores, layers=spec.layers, cancel=cancel
        )
        for out in outputs:
            assert out.features is not None
            feats = spec.select(out.features, session.runner.info.n_embd)
            if spec.with_scores and out.label_logprobs is not None:
                probs = normalise_logprobs(out.label_logprobs)
                if prior is not None:
                    probs = calibrate(probs, prior)
                feats = np.concatenate([feats, np.log(probs[0] + 1e-6).astype(np.float32)])
            rows.append(feats)
        truncated.extend(cut)
        if on_chunk is not None:
            on_chunk(start + len(chunk))
    width = rows[0].shape[0] if rows else 0
    return np.array(rows, dtype=np.float32).reshape(len(rows), width), truncated


def fit_features(
    features: npt.NDArray[np.float32],
    targets: Sequence[int],
    n_classes: int,
    *,
    read: FeatureSpec,
    candidates: Sequence[FeatureSpec],
    n_embd: int,
    l2: float | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
    cancel: CancelToken | None = None,
) -> tuple[FeatureSpec, HeadFit]:
    """The head for features read with ``read``: each candidate's penalty is chosen on
    held-out rows, the candidate with the best held-out accuracy wins (a later one must
    beat the first by :data:`CHOICE_MARGIN`), and only the winner is fitted to
    convergence and calibrated. bench/bench_teach.py calls this on cached features."""
    best: tuple[FeatureSpec, HeadChoice] | None = None
    for candidate in candidates:
        columns = block_columns(read, candidate, n_embd) if candidate != read else None
        choice = choose_head(
            features if columns is None else features[:, columns],
            targets,
            n_classes,
            l2=l2,
            on_progress=on_progress,
            cancel=cancel,
        )
        if (
            best is None
            or (choice.validation_accuracy or 0.0)
            > (best[1].validation_accuracy or 0.0) + CHOICE_MARGIN
        ):
            best = (candidate, choice)
    assert best is not None
    spec, choice = best
    return spec, finish_head(choice, on_progress=on_progress, cancel=cancel)


def teach(
    runner: Reader,
    label_set: LabelSet,
    examples: Sequence[tuple[str, int]],
    *,
    spec: FeatureSpec | None = None,
    l2: float | None = None,
    on_progress: TeachCallback | None = None,
    cancel: CancelToken | None = None,
) -> TaughtHead:
    """Teach a head from (text, label position) examples, read through ``runner``."""
    counts = np.bincount([y for _, y in examples], minlength=len(label_set.labels))
    if len(examples) < 2 or (counts > 0).sum() < 2:
        raise HeadError(
            "Teaching needs labelled examples of at least two labels; "
            f"got {len(examples)} example(s)."
        )
    started = time.perf_counter()
    total = len(examples)

    def on_chunk(done: int) -> None:
        if on_progress is not None:
            on_progress(TeachProgress("reading", done, total, time.perf_counter() - started))

    texts = [t for t, _ in examples]
    prior: npt.NDArray[np.float64] | None = None
    if isinstance(runner, EncoderReader):
        if spec is not None and not spec.pooled:
            raise HeadError(
                f"{runner.info.model_id} is a sentence encoder: a head on it reads the "
                "pooled sentence vector, not chosen layers."
            )
        spec = POOLED
        candidates = [POOLED]
        features, _ = runner.read(texts, on_chunk=on_chunk, cancel=cancel)
    else:
        candidates = [spec] if spec is not None else candidate_specs(runner.info.n_layer)
        spec = candidates[0]
        if len(candidates) > 1:  # read once what every candidate needs
            spec = FeatureSpec(
                mean_layers=tuple(sorted({n for c in candidates for n in c.mean_layers})),
                last_layers=tuple(sorted({n for c in candidates for n in c.last_layers})),
            )
        session = PromptSession(runner, label_set, style=spec.style)
        prior = session.content_free_prior() if spec.with_scores else None
        features, _ = read_features(session, spec, texts, prior, on_chunk=on_chunk, cancel=cancel)
    read_seconds = time.perf_counter() - started
    fit_started = time.perf_counter()

    def on_fit(stage: str, step: int, steps: int) -> None:
        if on_progress is not None:
            on_progress(TeachProgress("fitting", step, steps, time.perf_counter() - fit_started))

    spec, fit = fit_features(
        features,
        [y for _, y in examples],
        len(label_set.labels),
        read=spec,
        candidates=candidates,
        n_embd=runner.info.n_embd,
        l2=l2,
        on_progress=on_fit,
        cancel=cancel,
    )
    return TaughtHead(
        fit=fit,
        labels=label_set.label_names,
        spec=spec,
        lock_id=runner.info.lock_id,
        model_id=runner.info.model_id,
        label_set=label_set.version_id,
        label_set_key=label_set.key,
        examples_per_label=tuple(int(c) for c in counts),
        prior=None if prior is None else tuple(float(p) for p in prior),
        created_at=datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
        read_seconds=read_seconds,
        weights=runner.info.weights,
        model_sha256=runner.info.sha256,
        reader=runner.info.reader,
    )


class ExampleClassifier(Classifier):
    """Classification by a taught head over the model's features."""

    def __init__(
        self,
        runner: Reader,
        label_set: LabelSet,
        head: TaughtHead,
        *,
        threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        info = runner.info
        head.check_usable(label_set, info.lock_id, info.reader, info.sha256)
        self.label_set = label_set
        self.head = head
        self.encoder = runner if isinstance(runner, EncoderReader) else None
        self.session = (
            None
            if isinstance(runner, EncoderReader)
            else PromptSession(runner, label_set, style=head.spec.style)
        )
        self.prior = None if head.prior is None else np.array(head.prior, dtype=np.float64)
        self.info = ClassifierInfo.made_by(
            "examples",
            label_set,
            runner.info,
            threshold=threshold,
            detail=f"head={head.spec.id}@{head.created_at} n={head.fit.n_train}",
        )

    def taught(self) -> dict[str, Any] | None:
        return self.head.summary()

    def predict(self, texts: Sequence[str], cancel: CancelToken | None = None) -> list[Prediction]:
        if not texts:
            return []
        if self.session is None:
            assert self.encoder is not None
            features, truncated = self.encoder.read(texts, cancel=cancel)
        else:
            features, truncated = read_features(
                self.session, self.head.spec, texts, self.prior, cancel=cancel
            )
        probs = self.head.fit.predict_proba(features)
        labels = self.label_set.label_names
        return [
            make_prediction(labels, row, self.info.threshold, cut)
            for row, cut in zip(probs, truncated, strict=True)
        ]


__all__ = [
    "DEFAULT_LAST_DEPTHS",
    "DEFAULT_MEAN_DEPTHS",
    "POOLED",
    "ClassifyProgress",
    "Coverage",
    "ExampleClassifier",
    "FeatureSpec",
    "Reader",
    "TaughtHead",
    "TeachProgress",
    "block_columns",
    "candidate_specs",
    "default_spec",
    "fit_features",
    "read_features",
    "spec_for",
    "teach",
]
