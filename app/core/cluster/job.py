"""What a cluster run sends to every worker, and how a worker turns it into a classifier.

The lockfile is the contract. The job carries the model's lock entry (its id, lock id,
sha256 and size) and a path to the file that every node can read; the label set as
JSON with the version id it must have; the taught head (for the examples method) with
its id; and the :class:`~app.core.classify.classifier.ClassifierInfo` the driver's own
classifier recorded. A worker hashes the file and refuses before it scores a row if the
sha256 is not the lock's; it then rebuilds the classifier exactly as a local run does
and refuses again if what it built would record anything different (another label set
version, lock id, method setting or weights). Nothing here imports Ray.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from app.core.cancel import CancelToken
from app.core.classify.classifier import Classifier, ClassifierInfo, PromptClassifier
from app.core.classify.errors import ClassifyError
from app.core.classify.labels import LabelSet
from app.core.classify.runner import ModelRunner
from app.core.classify.teach import ExampleClassifier, TaughtHead
from app.core.cluster.errors import WorkerRefused
from app.core.fsutil import sha256_file
from app.core.models.store import InstalledModel


@dataclass(frozen=True)
class ClassifierJob:
    """Everything a worker needs to build the driver's classifier, and to check it did."""

    model: InstalledModel
    """The lock entry; ``model.path`` is where the workers read the file."""
    label_set: dict[str, Any]
    label_set_version: str
    info: ClassifierInfo
    """What the driver's classifier records with every result: the worker's must match."""
    unpack: bool
    unpacked_dir: str
    """Where a worker keeps a 16-bit copy of the weights (the driver's folder when a node
    can make it, else the node's temporary folder)."""
    style: str = "plain"
    few_shot: bool = False
    calibrated: bool = True
    head: TaughtHead | None = None
    n_threads: int | None = None

    @classmethod
    def of(
        cls,
        classifier: Classifier,
        model: InstalledModel,
        *,
        unpacked_dir: Path,
        model_path: Path | None = None,
        n_threads: int | None = None,
    ) -> ClassifierJob:
        """The job that rebuilds ``classifier`` (loaded from ``model``) on every worker.

        ``model_path``: the model file as the workers see it (default: where it is here).
        """
        if model.lock_id != classifier.info.lock_id:
            raise ClassifyError(
                f"The classifier was built on {classifier.info.lock_id}, not on {model.lock_id}."
            )
        head = None
        style, few_shot, calibrated = "plain", False, True
        if isinstance(classifier, ExampleClassifier):
            if classifier.encoder is not None:
                raise ClassifyError(
                    "A head taught on a sentence encoder cannot run on a cluster yet (its "
                    "workers read through chat models). Classify the file on this machine."
                )
            head = classifier.head
        elif isinstance(classifier, PromptClassifier):
            session = classifier.session
            style, few_shot = session.style, session.few_shot
            calibrated = classifier.prior is not None
        else:
            raise ClassifyError(f"A {type(classifier).__name__} cannot run on a cluster.")
        unpack = classifier.info.weights != _file_weights(classifier.info.weights)
        return cls(
            model=replace(model, path=Path(model_path or model.path)),
            label_set=classifier.label_set.to_json(),
            label_set_version=classifier.label_set.version_id,
            info=classifier.info,
            unpack=unpack,
            unpacked_dir=str(unpacked_dir),
            style=style,
            few_shot=few_shot,
            calibrated=calibrated,
            head=head,
            n_threads=n_threads,
        )


def _file_weights(weights: str) -> str:
    """``F16 from Q4_1`` → ``Q4_1``: the file's own type (the weights label says which ran)."""
    return weights.split(" from ", 1)[1] if " from " in weights else weights


def worker_name() -> str:
    """How errors and progress name this worker: its host, node address and process."""
    node = "local"
    # Only a process already in Ray asks it: any other call into Ray would start one.
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        node = ray.get_runtime_context().get_node_id()[:8]
    return f"{socket.gethostname()} node {node} pid {os.getpid()}"


def verify_model(job: ClassifierJob, cancel: CancelToken | None = None) -> None:
    """Refuse unless the file at the job's path is the lock entry's, byte for byte."""
    model = job.model
    where = worker_name()
    if not model.path.is_file():
        raise WorkerRefused(
            f"Worker {where} refused: the model file {model.path} of {model.lock_id} is not "
            "there. Put it on a path every node can read."
        )
    size = model.path.stat().st_size
    if size != model.size:
        raise WorkerRefused(
            f"Worker {where} refused: {model.path} has {size:,} bytes, but the lock entry "
            f"{model.lock_id} has {model.size:,}."
        )
    actual = sha256_file(model.path, cancel=cancel)
    if actual != model.sha256:
        raise WorkerRefused(
            f"Worker {where} refused: the sha256 of {model.path} is {actual[:12]}…, but the "
            f"lock entry {model.lock_id} pins {model.sha256[:12]}…. The file differs from "
            "the lock; copy the pinned file to this node again."
        )


def build_classifier(
    job: ClassifierJob, cancel: CancelToken | None = None
) -> tuple[ModelRunner, Classifier]:
    """Verify the model, load it and rebuild the job's classifier (call from one thread).

    Raises :class:`WorkerRefused` naming this worker when anything differs from the job.
    """
    verify_model(job, cancel)
    where = worker_name()
    label_set = LabelSet.from_json(job.label_set, source="the job's label set")
    if label_set.version_id != job.label_set_version:
        raise WorkerRefused(
            f"Worker {where} refused: the label set it received is {label_set.version_id}, "
            f"not {job.label_set_version}."
        )
    runner = ModelRunner.open_checked(
        job.model,
        _unpacked_dir(job),
        n_threads=job.n_threads,
        unpack=job.unpack,
        cancel=cancel,
    )
    try:
        classifier: Classifier
        if job.info.method == "examples":
            if job.head is None:
                raise WorkerRefused(f"Worker {where} refused: the job has no taught head.")
            classifier = ExampleClassifier(
                runner, label_set, job.head, threshold=job.info.threshold
            )
        else:
            classifier = PromptClassifier(
                runner,
                label_set,
                style="chat" if job.style == "chat" else "plain",
                few_shot=job.few_shot,
                calibrated=job.calibrated,
                threshold=job.info.threshold,
            )
        if classifier.info != job.info:
            raise WorkerRefused(
                f"Worker {where} refused: its classifier would record "
                f"{_differences(classifier.info, job.info)}."
            )
    except BaseException:
        runner.close()
        raise
    return runner, classifier


def _unpacked_dir(job: ClassifierJob) -> Path:
    """The job's folder for the 16-bit copy, or this node's temporary folder if it cannot
    be made here (another user's home on another node)."""
    folder = Path(job.unpacked_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    except OSError:
        pass
    return Path(tempfile.gettempdir()) / "driftless-unpacked"


def _differences(got: ClassifierInfo, want: ClassifierInfo) -> str:
    mine, theirs = got.to_json(), want.to_json()
    parts = [
        f"{key} {mine[key]!r} where the job has {theirs[key]!r}"
        for key in mine
        if mine[key] != theirs[key]
    ]
    return "; ".join(parts) or "something else"
