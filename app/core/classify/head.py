"""A small head taught from examples: multinomial logistic regression in numpy.

Features are standardised (mean and scale from the training rows), classes are
weighted so a rare label counts as much as a common one, and the L2 penalty is
chosen on a stratified held-out tenth of the training rows (with fewer than 50
examples a label, by 5-fold cross-validation, so every row is held out once) from a
short path of strengths (each fit starts from the previous one), then the head is
refit on every row. The held-out balanced accuracy is kept as the head's estimate. The
fit itself is L-BFGS on the convex loss, so it converges in a few hundred steps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.core.cancel import CancelToken
from app.core.classify.errors import HeadError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

TrainProgress = Callable[[str, int, int], None]
"""Called with (stage, step, steps): stage is "choosing" or "fitting"."""

DEFAULT_L2_PATH = (30.0, 10.0, 3.0, 1.0, 3e-1, 1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4)
"""Penalties tried, strongest first (per example, on standardised features); the path
stops once held-out accuracy has fallen twice in a row."""


@dataclass(frozen=True)
class HeadFit:
    """A fitted linear head: standardisation, weights and what chose them."""

    mean: FloatArray
    scale: FloatArray
    weights: FloatArray  # (features, classes)
    bias: FloatArray  # (classes,)
    l2: float
    validation_accuracy: float | None
    n_train: int
    seconds: float
    validation: str = ""
    """How ``validation_accuracy`` was measured: "a held-out tenth" or "5-fold
    cross-validation" (few examples); empty when nothing was held out."""
    temperature: float = 1.0
    """Logits are divided by this before the softmax: fitted on the held-out rows so a
    probability of 0.8 is right about 80 % of the time (temperature scaling, Guo et al.
    2017). It never changes which label wins."""

    @property
    def n_classes(self) -> int:
        return int(self.bias.shape[0])

    def logits(self, features: npt.NDArray[np.floating]) -> FloatArray:
        x = (np.asarray(features, dtype=np.float64) - self.mean) / self.scale
        result: FloatArray = x @ self.weights + self.bias
        return result

    def predict_proba(self, features: npt.NDArray[np.floating]) -> FloatArray:
        return softmax(self.logits(np.atleast_2d(features)) / self.temperature)


def softmax(logits: FloatArray) -> FloatArray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    result: FloatArray = exp / exp.sum(axis=1, keepdims=True)
    return result


def fit_temperature(logits: FloatArray, y: IntArray) -> float:
    """The temperature that minimises the negative log-likelihood of held-out rows
    (a golden-section search on log T, between 1/20 and 20)."""

    def nll(log_t: float) -> float:
        z = logits / np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return -float(log_p[np.arange(len(y)), y].mean())

    lo, hi = -3.0, 3.0
    ratio = (np.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = nll(a), nll(b)
    for _ in range(40):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = nll(b)
    return float(np.exp((lo + hi) / 2))


def standardise(x: FloatArray) -> tuple[FloatArray, FloatArray]:
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    return mean, scale


def class_weights(y: IntArray, n_classes: int) -> FloatArray:
    """Per-row weights so each class carries the same total weight."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    per_class = np.where(counts > 0, len(y) / (n_classes * np.maximum(counts, 1)), 0.0)
    result: FloatArray = per_class[y]
    return result


def _loss_grad(
    params: FloatArray,
    x: npt.NDArray[np.float32],
    onehot: FloatArray,
    row_w: FloatArray,
    l2: float,
) -> tuple[float, FloatArray]:
    d, k = x.shape[1], onehot.shape[1]
    w = params[: d * k].reshape(d, k)
    b = params[d * k :]
    # float32 products (twice as fast, ample for a convex fit); sums in float64.
    z = (x @ w.astype(np.float32)).astype(np.float64) + b
    z -= z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1, keepdims=True))
    logp = z - log_norm
    total_w = row_w.sum()
    loss = -float((row_w[:, None] * onehot * logp).sum()) / total_w + 0.5 * l2 * float(
        (w * w).sum()
    )
    diff = (np.exp(logp) - onehot) * (row_w[:, None] / total_w)
    grad_w = (x.T @ diff.astype(np.float32)).astype(np.float64) + l2 * w
    grad_b = diff.sum(axis=0)
    return loss, np.concatenate([grad_w.ravel(), grad_b])


def _lbfgs(
    fun: Callable[[FloatArray], tuple[float, FloatArray]],
    start: FloatArray,
    *,
    max_iter: int,
    tol: float = 1e-5,
    memory: int = 10,
    on_step: Callable[[int], None] | None = None,
) -> FloatArray:
    """Minimise a smooth convex function (limited-memory BFGS, backtracking line search)."""
    x = start.copy()
    f, g = fun(x)
    s_hist: list[FloatArray] = []
    y_hist: list[FloatArray] = []
    for step in range(max_iter):
        if on_step is not None:
            on_step(step)
        if float(np.abs(g).max()) < tol:
            break
        # Two-loop recursion: d = -H g.
        q = g.copy()
        alphas = []
        for s, yv in zip(reversed(s_hist), reversed(y_hist), strict=True):
            rho = 1.0 / float(yv @ s)
            a = rho * float(s @ q)
            alphas.append((rho, a))
            q -= a * yv
        if y_hist:
            q *= float(s_hist[-1] @ y_hist[-1]) / float(y_hist[-1] @ y_hist[-1])
        for (s, yv), (rho, a) in zip(
            zip(s_hist, y_hist, strict=True), reversed(alphas), strict=True
        ):
            q += (a - rho * float(yv @ q)) * s
        direction = -q
        slope = float(g @ direction)
        if slope >= 0:  # not a descent direction: restart from the gradient
            s_hist.clear()
            y_hist.clear()
            direction = -g
            slope = -float(g @ g)
        t = 1.0 if y_hist else min(1.0, 1.0 / max(1e-12, float(np.abs(g).sum())))
        while True:
            x_new = x + t * direction
            f_new, g_new = fun(x_new)
            if f_new <= f + 1e-4 * t * slope or t < 1e-10:
                break
            t *= 0.5
        s_vec, y_vec = x_new - x, g_new - g
        if float(s_vec @ y_vec) > 1e-10:
            s_hist.append(s_vec)
            y_hist.append(y_vec)
            if len(s_hist) > memory:
                s_hist.pop(0)
                y_hist.pop(0)
        converged = abs(f - f_new) <= 1e-9 * max(1.0, abs(f))
        x, f, g = x_new, f_new, g_new
        if converged:
            break
    return x


def _fit(
    x: npt.NDArray[np.float32],
    y: IntArray,
    n_classes: int,
    l2: float,
    balanced: bool,
    start: FloatArray | None,
    max_iter: int,
    on_step: Callable[[int], None] | None,
) -> FloatArray:
    onehot = np.eye(n_classes)[y]
    row_w = class_weights(y, n_classes) if balanced else np.ones(len(y))
    params = start if start is not None else np.zeros(x.shape[1] * n_classes + n_classes)

    return _lbfgs(
        lambda p: _loss_grad(p, x, onehot, row_w, l2), params, max_iter=max_iter, on_step=on_step
    )


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """numpy's BLAS on one thread while a head is fitted.

    The fit's products are small (a few thousand rows by a few thousand features by the
    labels), and the rest of each step (softmax, logs) runs on one thread anyway. With
    another program busy on a 2-CPU machine, OpenBLAS's second thread spinning between
    products made a Banking77 fit 5-8x slower: 163 s against 20-30 s on one thread
    (bench/README.md). Measuring each product, as llama.cpp's threads are measured, does
    not see that cost: the spinning happens between the products. Without threadpoolctl
    (or a BLAS it knows) numpy's own choice stands.
    """
    try:
        from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

        limit = ThreadpoolController().limit(limits=1, user_api="blas")
    except Exception:  # no limit is a working fallback
        yield
        return
    with limit:
        yield


def _split_params(params: FloatArray, d: int, k: int) -> tuple[FloatArray, FloatArray]:
    return params[: d * k].reshape(d, k).copy(), params[d * k :].copy()


CV_FOLDS = 5
CV_BELOW_PER_LABEL = 50
"""Below this many examples per label (on average), a tenth held out is too few rows to
choose the penalty or to trust the estimate, so both come from cross-validation."""


def validation_folds(y: IntArray, seed: int) -> list[npt.NDArray[np.bool_]]:
    """Held-out masks, stratified: one tenth of each label, or with few examples
    :data:`CV_FOLDS` folds that together hold out every row once. A label with a single
    example is held out too in cross-validation (while held out, it is unlearned: that
    is what its estimate should say). Empty when nothing can be held out."""
    rng = np.random.default_rng(seed)
    present = np.unique(y)
    if len(present) < 2:
        return []
    if len(y) >= CV_BELOW_PER_LABEL * len(present):
        mask = np.zeros(len(y), dtype=bool)
        for label in present:
            rows = np.flatnonzero(y == label)
            take = int(len(rows) * 0.1)
            if take and len(rows) - take >= 1:
                mask[rng.choice(rows, size=take, replace=False)] = True
        return [mask] if mask.any() else []
    k = min(CV_FOLDS, len(y))
    if k < 2:
        return []
    fold = np.zeros(len(y), dtype=np.int64)
    offset = 0
    for label in present:  # deal each label's rows round the folds, continuing the deal
        rows = rng.permutation(np.flatnonzero(y == label))
        fold[rows] = (offset + np.arange(len(rows))) % k
        offset += len(rows)
    masks = [fold == i for i in range(k)]
    return [m for m in masks if m.any() and len(np.unique(y[~m])) >= 2]


def _l2_path(
    x: npt.NDArray[np.float32],
    y: IntArray,
    n_classes: int,
    folds: list[npt.NDArray[np.bool_]],
    l2_path: Sequence[float],
    balanced: bool,
    path_iter: int,
    step_reporter: Callable[[str, int, int], Callable[[int], None]],
) -> tuple[float, float, list[FloatArray | None]]:
    """(held-out balanced accuracy, the penalty that reached it, each fold's fit under it).
    Short fits along the path, strongest first, each starting from the previous one; the
    path stops once accuracy fell twice."""
    d = x.shape[1]
    total = path_iter * len(l2_path) * len(folds)
    warm: list[FloatArray | None] = [None] * len(folds)
    best_warm = list(warm)
    best = (-1.0, l2_path[0])
    worse = 0
    step = 0
    for strength in l2_path:
        logits = np.zeros((len(y), n_classes))
        held = np.zeros(len(y), dtype=bool)
        for f, mask in enumerate(folds):
            warm[f] = _fit(
                x[~mask],
                y[~mask],
                n_classes,
                strength,
                balanced,
                warm[f],
                path_iter,
                step_reporter("choosing", step * path_iter, total),
            )
            step += 1
            w, b = _split_params(warm[f], d, n_classes)  # type: ignore[arg-type]
            logits[mask] = x[mask] @ w + b
            held |= mask
        acc = _balanced_accuracy(y[held], logits[held].argmax(axis=1), n_classes)
        if acc > best[0] + 1e-9:
            best = (acc, strength)
            best_warm = list(warm)
            worse = 0
        else:
            worse += 1
            if worse == 2:
                break
    return best[0], best[1], best_warm


@dataclass(frozen=True)
class HeadChoice:
    """Standardised features and the penalty their held-out rows chose: everything a
    head needs but its final fit. Choosing between feature sets compares these, so only
    the chosen set is fitted to convergence (:func:`finish_head`)."""

    x: npt.NDArray[np.float32]
    y: IntArray
    n_classes: int
    mean: FloatArray
    scale: FloatArray
    l2: float
    validation_accuracy: float | None
    validation: str
    folds: list[npt.NDArray[np.bool_]]
    warm: list[FloatArray | None]
    balanced: bool
    max_iter: int
    seconds: float


@one_blas_thread()
def choose_head(
    features: npt.NDArray[np.floating],
    targets: Sequence[int] | IntArray,
    n_classes: int,
    *,
    l2: float | None = None,
    l2_path: Sequence[float] = DEFAULT_L2_PATH,
    balanced: bool = True,
    max_iter: int = 200,
    seed: int = 0,
    on_progress: TrainProgress | None = None,
    cancel: CancelToken | None = None,
) -> HeadChoice:
    """Check and standardise the features, and choose the penalty on held-out rows
    (``l2=None``; a given ``l2`` is kept and nothing is held out)."""
    started = time.perf_counter()
    x_raw = np.asarray(features, dtype=np.float64)
    y = np.asarray(targets, dtype=np.int64)
    if x_raw.ndim != 2 or len(x_raw) != len(y):
        raise HeadError("Features and labels do not line up; nothing was trained.")
    if len(y) < 2 or len(np.unique(y)) < 2:
        raise HeadError("Teaching needs examples of at least two different labels.")
    if y.min() < 0 or y.max() >= n_classes:
        raise HeadError("An example has a label outside the label set.")
    if not np.isfinite(x_raw).all():
        raise HeadError("The model produced non-finite features; nothing was trained.")
    mean, scale = standardise(x_raw)
    x = ((x_raw - mean) / scale).astype(np.float32)
    del x_raw
    chosen = l2
    val_acc: float | None = None
    validation = ""
    folds: list[npt.NDArray[np.bool_]] = []
    warm: list[FloatArray | None] = []
    if chosen is None:
        folds = validation_folds(y, seed)
        if not folds:
            chosen = l2_path[len(l2_path) // 2]
        else:
            validation = (
                "a held-out tenth" if len(folds) == 1 else f"{len(folds)}-fold cross-validation"
            )
            val_acc, chosen, warm = _l2_path(
                x,
                y,
                n_classes,
                folds,
                l2_path,
                balanced,
                max(30, max_iter // 5),
                _reporter(on_progress, cancel),
            )
    return HeadChoice(
        x=x,
        y=y,
        n_classes=n_classes,
        mean=mean,
        scale=scale,
        l2=float(chosen),
        validation_accuracy=val_acc,
        validation=validation,
        folds=folds,
        warm=warm,
        balanced=balanced,
        max_iter=max_iter,
        seconds=time.perf_counter() - started,
    )


@one_blas_thread()
def finish_head(
    choice: HeadChoice,
    *,
    calibrate: bool = True,
    on_progress: TrainProgress | None = None,
    cancel: CancelToken | None = None,
) -> HeadFit:
    """Fit the chosen head to convergence on every row, its probabilities calibrated.

    The path's fits are short; the head is fitted to convergence. Its temperature is
    fitted on held-out logits of fits as converged as it will be, at the chosen penalty
    (continuing from where the path left them), or it would correct the path's
    shortness rather than the head's confidence."""
    started = time.perf_counter()
    x, y, k = choice.x, choice.y, choice.n_classes
    d = x.shape[1]
    step_reporter = _reporter(on_progress, cancel)
    temperature = 1.0
    start: FloatArray | None = None
    if choice.folds:
        logits = np.zeros((len(y), k))
        warm = list(choice.warm)
        for f, mask in enumerate(choice.folds):
            warm[f] = _fit(
                x[~mask],
                y[~mask],
                k,
                choice.l2,
                choice.balanced,
                warm[f],
                choice.max_iter,
                None,
            )
            w, b = _split_params(warm[f], d, k)  # type: ignore[arg-type]
            logits[mask] = x[mask] @ w + b
        held = np.logical_or.reduce(choice.folds)
        if calibrate:
            temperature = fit_temperature(logits[held], y[held])
        start = warm[0] if len(choice.folds) == 1 else None
    params = _fit(
        x,
        y,
        k,
        choice.l2,
        choice.balanced,
        start,
        choice.max_iter,
        step_reporter("fitting", 0, choice.max_iter),
    )
    if on_progress is not None:
        on_progress("fitting", choice.max_iter, choice.max_iter)
    w, b = _split_params(params, d, k)
    return HeadFit(
        mean=choice.mean,
        scale=choice.scale,
        weights=w,
        bias=b,
        l2=choice.l2,
        validation_accuracy=choice.validation_accuracy,
        n_train=len(y),
        validation=choice.validation,
        temperature=temperature,
        seconds=choice.seconds + time.perf_counter() - started,
    )


def _reporter(
    on_progress: TrainProgress | None, cancel: CancelToken | None
) -> Callable[[str, int, int], Callable[[int], None]]:
    def step_reporter(stage: str, offset: int, total: int) -> Callable[[int], None]:
        def on_step(step: int) -> None:
            if cancel is not None:
                cancel.raise_if_cancelled()
            if on_progress is not None:
                on_progress(stage, min(offset + step, total), total)

        return on_step

    return step_reporter


def fit_head(
    features: npt.NDArray[np.floating],
    targets: Sequence[int] | IntArray,
    n_classes: int,
    *,
    l2: float | None = None,
    l2_path: Sequence[float] = DEFAULT_L2_PATH,
    balanced: bool = True,
    max_iter: int = 200,
    seed: int = 0,
    calibrate: bool = True,
    on_progress: TrainProgress | None = None,
    cancel: CancelToken | None = None,
) -> HeadFit:
    """Fit a head to (features, targets); ``l2=None`` chooses the penalty on held-out rows."""
    choice = choose_head(
        features,
        targets,
        n_classes,
        l2=l2,
        l2_path=l2_path,
        balanced=balanced,
        max_iter=max_iter,
        seed=seed,
        on_progress=on_progress,
        cancel=cancel,
    )
    return finish_head(choice, calibrate=calibrate, on_progress=on_progress, cancel=cancel)


def _balanced_accuracy(gold: IntArray, pred: IntArray, n_classes: int) -> float:
    recalls = [float((pred[gold == c] == c).mean()) for c in range(n_classes) if (gold == c).any()]
    return float(np.mean(recalls)) if recalls else 0.0
