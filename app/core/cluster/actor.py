"""The classifier actor: one per worker process, one model, blocks of rows in and out.

Ray Data constructs it once per actor with the job and calls it with one block of
rows at a time. The model is verified, loaded and used on one thread of the actor's
own (``ModelRunner`` belongs to the thread that opened it, and Ray may call an actor
from another thread than the one that built it). A worker that cannot verify the job
keeps the reason and raises it on the first block, before it scores a row, so the
driver's error names the worker and why. Nothing here imports Ray.

A block travels as JSON in one cell: row numbers, lines, texts and gold values in,
and the same with each row's label, confidence and probabilities out. JSON writes a
float with the shortest repr that reads back as the same double, so probabilities
arrive bit for bit as the worker computed them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from app.core.classify.batch import DEFAULT_CHUNK
from app.core.classify.classifier import Classifier, Prediction
from app.core.classify.runner import ModelRunner
from app.core.cluster.errors import WorkerRefused
from app.core.cluster.job import ClassifierJob, build_classifier, worker_name
from app.core.errors import DriftlessError

Batch = dict[str, Any]


class ClassifierActor:
    """A Ray Data callable class: ``__call__`` classifies the blocks in a batch."""

    def __init__(self, job: ClassifierJob) -> None:
        self.name = worker_name()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="driftless-model")
        self._runner: ModelRunner | None = None
        self._classifier: Classifier | None = None
        self._refusal: WorkerRefused | None = None
        started = time.perf_counter()
        try:
            self._runner, self._classifier = self._thread.submit(build_classifier, job).result()
        except WorkerRefused as exc:
            self._refusal = exc
        except DriftlessError as exc:
            self._refusal = WorkerRefused(f"Worker {self.name} refused: {exc}")
        self.setup_seconds = time.perf_counter() - started
        """Verifying, loading and preparing the model: each worker's start-up cost."""

    def __call__(self, batch: Batch) -> Batch:
        if self._refusal is not None:
            raise self._refusal
        blocks: list[int] = []
        payloads: list[str] = []
        for block, payload in zip(batch["block"], batch["payload"], strict=True):
            rows = json.loads(str(payload))
            predictions = self._thread.submit(self._predict, rows["texts"]).result()
            rows["predictions"] = [_encode(p) for p in predictions]
            blocks.append(int(block))
            payloads.append(json.dumps(rows))
        return {
            "block": np.array(blocks, dtype=np.int64),
            "payload": np.array(payloads, dtype=object),
            "worker": np.array([self.name] * len(blocks), dtype=object),
            "setup": np.array([self.setup_seconds] * len(blocks), dtype=np.float64),
        }

    def _predict(self, texts: Sequence[str]) -> list[Prediction]:
        # Chunks of the local run's size, so the model sees the same batches as there.
        assert self._classifier is not None
        out: list[Prediction] = []
        for start in range(0, len(texts), DEFAULT_CHUNK):
            out += self._classifier.predict(texts[start : start + DEFAULT_CHUNK])
        return out

    def __del__(self) -> None:
        runner = self._runner
        if runner is not None:
            self._thread.submit(runner.close)
        self._thread.shutdown(wait=False)


def _encode(p: Prediction) -> list[Any]:
    return [p.label, p.confidence, list(p.probabilities), p.needs_review, p.truncated]


def decode(item: Sequence[Any]) -> Prediction:
    label, confidence, probabilities, needs_review, truncated = item
    return Prediction(
        label=str(label),
        confidence=float(confidence),
        probabilities=tuple(float(v) for v in probabilities),
        needs_review=bool(needs_review),
        truncated=bool(truncated),
    )
