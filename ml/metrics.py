"""Classification metrics and single-row latency, in numpy (no scikit-learn import).

The definitions follow scikit-learn's: accuracy at threshold 0.5, ROC AUC as the
Mann-Whitney statistic with tied scores counted half, log loss with probabilities
clipped to [eps, 1 - eps] (eps = machine epsilon of float64).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from common.errors import MlopsError

EPS = np.finfo(np.float64).eps
# Direction of each metric: does a larger value mean a better model?
HIGHER_IS_BETTER = {"accuracy": True, "roc_auc": True, "log_loss": False}


@dataclass(frozen=True)
class Metrics:
    accuracy: float
    roc_auc: float
    log_loss: float
    rows: int

    def as_dict(self) -> dict[str, float]:
        return {"accuracy": self.accuracy, "roc_auc": self.roc_auc, "log_loss": self.log_loss}


@dataclass(frozen=True)
class Latency:
    """Wall time of one single-row prediction, in milliseconds."""

    p50_ms: float
    p99_ms: float
    mean_ms: float
    repeats: int


def classification_metrics(y_true: np.ndarray, p_pred: np.ndarray) -> Metrics:
    y = np.asarray(y_true).astype(np.int64)
    p = np.asarray(p_pred, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1 or y.size == 0:
        raise MlopsError("metrics need one prediction per label and at least one row")
    positives = int(y.sum())
    negatives = y.size - positives
    if positives == 0 or negatives == 0:
        raise MlopsError("ROC AUC needs both classes in the validation labels")
    accuracy = float(np.mean((p >= 0.5).astype(np.int64) == y))
    ranks = average_ranks(p)  # ties share their average rank: they count half
    auc = (ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives)
    clipped = np.clip(p, EPS, 1 - EPS)
    log_loss = float(-np.mean(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)))
    return Metrics(accuracy, float(auc), log_loss, int(y.size))


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing their average rank (scipy's `rankdata`)."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    counts = np.diff(np.append(starts, values.size))
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat(starts + (counts + 1) / 2.0, counts)
    return ranks


def roc_curve(y_true: np.ndarray, p_pred: np.ndarray, points: int = 200) -> tuple[list, list]:
    """False and true positive rates at up to `points` thresholds (for plots)."""
    y = np.asarray(y_true).astype(bool)
    order = np.argsort(-np.asarray(p_pred), kind="stable")
    hits = np.cumsum(y[order])
    false = np.arange(1, y.size + 1) - hits
    tpr = np.concatenate([[0.0], hits / max(1, y.sum())])
    fpr = np.concatenate([[0.0], false / max(1, (~y).sum())])
    pick = np.unique(np.linspace(0, tpr.size - 1, min(points, tpr.size)).astype(int))
    return fpr[pick].tolist(), tpr[pick].tolist()


def single_row_latency(
    predict: Callable[[np.ndarray], np.ndarray], rows: np.ndarray, repeats: int = 300
) -> Latency:
    """Time `predict` on one row at a time, cycling through `rows`, after a warm-up.

    The clock is the predicting thread's CPU time: the gate judges what the model costs,
    and a CI runner's other work (a preempted thread waits out whole scheduler slices)
    must not fail a good model. What a request costs end to end, server included, is
    judged by the canary's latency alarm and measured by `make bench`."""
    if rows.ndim != 2 or rows.shape[0] == 0:
        raise MlopsError("latency needs at least one row to predict")
    singles = [np.ascontiguousarray(rows[i : i + 1]) for i in range(min(rows.shape[0], repeats))]
    for row in singles[:20]:
        predict(row)
    samples = np.empty(repeats)
    for i in range(repeats):
        row = singles[i % len(singles)]
        start = time.thread_time()
        predict(row)
        samples[i] = time.thread_time() - start
    samples *= 1000.0
    return Latency(
        p50_ms=float(np.percentile(samples, 50)),
        p99_ms=float(np.percentile(samples, 99)),
        mean_ms=float(samples.mean()),
        repeats=repeats,
    )
