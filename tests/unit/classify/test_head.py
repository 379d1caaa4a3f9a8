"""The taught head: logistic regression on synthetic features, saving, and what ties it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.core.cancel import CancelToken
from app.core.classify.errors import HeadError
from app.core.classify.head import DEFAULT_L2_PATH, class_weights, fit_head
from app.core.classify.labels import LabelSet
from app.core.classify.teach import FeatureSpec, TaughtHead
from app.core.errors import Cancelled


def blobs(
    n_per_class: list[int], dims: int = 20, spread: float = 1.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1.5, size=(len(n_per_class), dims))
    x = np.concatenate(
        [rng.normal(c, spread, size=(n, dims)) for c, n in zip(centres, n_per_class, strict=True)]
    )
    y = np.concatenate([np.full(n, i) for i, n in enumerate(n_per_class)])
    return x, y


def test_a_head_learns_separable_classes_and_generalises() -> None:
    x, y = blobs([150, 150, 150], seed=1)
    fit = fit_head(x, y, 3)
    x_test, y_test = blobs([100, 100, 100], seed=1)  # same centres, fresh points
    x_test = x_test + np.random.default_rng(9).normal(0, 0.01, x_test.shape)
    accuracy = (fit.predict_proba(x_test).argmax(axis=1) == y_test).mean()
    assert accuracy > 0.95
    assert fit.l2 in DEFAULT_L2_PATH
    assert fit.validation_accuracy is not None and fit.validation_accuracy > 0.9
    probs = fit.predict_proba(x_test[:5])
    assert probs.shape == (5, 3) and np.allclose(probs.sum(axis=1), 1.0)


def test_class_weights_give_every_class_the_same_total() -> None:
    y = np.array([0] * 90 + [1] * 10)
    weights = class_weights(y, 2)
    assert weights[y == 0].sum() == pytest.approx(weights[y == 1].sum())


def test_balancing_keeps_a_rare_class_from_being_ignored() -> None:
    x, y = blobs([400, 20], dims=5, spread=2.2, seed=3)
    x_test, y_test = blobs([400, 400], dims=5, spread=2.2, seed=3)
    rare = y_test == 1
    balanced = fit_head(x, y, 2, l2=1e-2)
    plain = fit_head(x, y, 2, l2=1e-2, balanced=False)
    recall_balanced = (balanced.predict_proba(x_test[rare]).argmax(axis=1) == 1).mean()
    recall_plain = (plain.predict_proba(x_test[rare]).argmax(axis=1) == 1).mean()
    assert recall_balanced > recall_plain + 0.1


def test_training_reports_progress_and_can_be_cancelled() -> None:
    x, y = blobs([50, 50])
    stages: list[str] = []
    cancel = CancelToken()

    def on_progress(stage: str, step: int, total: int) -> None:
        stages.append(stage)
        if len(stages) == 5:
            cancel.cancel()

    with pytest.raises(Cancelled):
        fit_head(x, y, 2, on_progress=on_progress, cancel=cancel)
    assert stages[0] == "choosing"


def test_bad_training_data_is_refused_with_a_sentence() -> None:
    x, y = blobs([10, 10])
    with pytest.raises(HeadError, match="at least two different labels"):
        fit_head(x[:10], y[:10], 2)
    with pytest.raises(HeadError, match="do not line up"):
        fit_head(x, y[:5], 2)
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(HeadError, match="non-finite"):
        fit_head(bad, y, 2)


def test_a_saved_head_loads_identically_and_refuses_another_model(tmp_path: Path) -> None:
    x, y = blobs([30, 30], dims=6)
    labels = LabelSet.from_names("neg,pos")
    head = TaughtHead(
        fit=fit_head(x, y, 2, l2=1e-2),
        labels=labels.label_names,
        spec=FeatureSpec(mean_layers=(3, 5), last_layers=(5,)),
        lock_id="repo@abc/model.gguf",
        model_id="model",
        label_set=labels.version_id,
        label_set_key=labels.key,
        examples_per_label=(30, 30),
        prior=None,
        created_at="20260101T000000Z",
        read_seconds=1.5,
        source_sha256="f" * 64,
    )
    path = tmp_path / "heads" / "h.npz"
    head.save(path)
    loaded = TaughtHead.load(path)
    assert loaded.spec == head.spec and loaded.source_sha256 == head.source_sha256
    assert np.allclose(loaded.fit.predict_proba(x), head.fit.predict_proba(x))
    loaded.check_usable(labels, "repo@abc/model.gguf")
    with pytest.raises(HeadError, match="taught on model"):
        loaded.check_usable(labels, "repo@def/model.gguf")
    with pytest.raises(HeadError, match="label set has changed"):
        loaded.check_usable(LabelSet.from_names("neg,pos,neutral"), "repo@abc/model.gguf")
    path.write_bytes(b"not a head")
    with pytest.raises(HeadError, match="cannot be read"):
        TaughtHead.load(path)


def test_probabilities_are_calibrated_on_the_held_out_rows() -> None:
    # Overlapping classes in many dimensions: an unpenalised fit is overconfident.
    x_all, y_all = blobs([600, 600], dims=40, spread=4.0, seed=4)
    order = np.random.default_rng(5).permutation(len(y_all))
    x, y = x_all[order[:600]], y_all[order[:600]]
    x_test, y_test = x_all[order[600:]], y_all[order[600:]]
    fit = fit_head(x, y, 2, l2_path=(1e-4,))
    raw = fit_head(x, y, 2, l2_path=(1e-4,), calibrate=False)
    assert raw.temperature == 1.0 and fit.temperature != 1.0

    def nll(head: object) -> float:
        probs = head.predict_proba(x_test)  # type: ignore[attr-defined]
        return float(-np.log(probs[np.arange(len(y_test)), y_test] + 1e-12).mean())

    assert nll(fit) < nll(raw)
    same = fit.predict_proba(x_test).argmax(axis=1) == raw.predict_proba(x_test).argmax(axis=1)
    assert same.all()  # calibration never changes the winner


def test_the_fit_runs_blas_on_one_thread_and_gives_the_count_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two BLAS threads spinning between the fit's small products cost 5-8x on a busy
    2-CPU machine; the fit holds numpy's BLAS to one thread and restores it after."""
    from threadpoolctl import threadpool_info  # type: ignore[import-untyped]

    from app.core.classify import head

    def blas_threads() -> set[int]:
        return {int(i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"}

    before = blas_threads()
    assert before, "numpy has a BLAS threadpoolctl knows"
    inside: list[set[int]] = []
    real = head._loss_grad

    def watched(*args: object, **kwargs: object) -> object:
        inside.append(blas_threads())
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(head, "_loss_grad", watched)
    x, y = blobs([30, 30])
    fit_head(x, y, 2)
    assert inside and all(seen == {1} for seen in inside)
    assert blas_threads() == before
