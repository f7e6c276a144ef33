"""The join of predictions and labels, the window's metrics and the tolerance checks (pure).

Metrics are the release gates' (`ml.metrics`): accuracy at 0.5, ROC AUC, log
loss. A tolerance is relative to the baseline: accuracy 0.05 means "more than 5% below
the baseline's accuracy is a regression" (0.90 -> anything under 0.855); for log loss,
where lower is better, "more than 5% above".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from common.errors import MlopsError
from ml.metrics import HIGHER_IS_BETTER, Metrics, classification_metrics, roc_curve
from ml.quality.inputs import ID, LABEL, SCORE, Predictions

Fraction = Annotated[float, Field(ge=0, le=1)]


class Tolerances(BaseModel):
    """How much worse than the baseline, relative to it, each metric may get."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    accuracy: Fraction = 0.05
    roc_auc: Fraction = 0.05
    log_loss: Annotated[float, Field(ge=0)] = 0.25
    """Log loss swings more than accuracy on a day's labels: 25% above the baseline."""


@dataclass(frozen=True)
class MetricCheck:
    name: str
    value: float
    baseline: float | None
    limit: float | None
    """The worst value still accepted; None when the baseline lacks the metric."""

    @property
    def regressed(self) -> bool:
        if self.limit is None:
            return False
        if HIGHER_IS_BETTER[self.name]:
            return self.value < self.limit
        return self.value > self.limit

    @property
    def change(self) -> float | None:
        """Relative change against the baseline (+0.02 = 2% higher)."""
        if not self.baseline:
            return None
        return (self.value - self.baseline) / abs(self.baseline)


@dataclass(frozen=True)
class QualityResult:
    metrics: Metrics
    checks: list[MetricCheck]
    tolerances: Tolerances
    joined: int
    unlabelled: int
    """Predictions in the window no label has arrived for (yet)."""
    labels_unmatched: int
    """Labels whose inference id is not among the window's predictions."""
    positives: int
    records: int
    outside_window: int
    multi_row: int
    no_output: int
    roc: tuple[list[float], list[float]]

    @property
    def regressions(self) -> list[str]:
        return [c.name for c in self.checks if c.regressed]


def check(name: str, value: float, baseline: float | None, tolerance: float) -> MetricCheck:
    if baseline is None:
        return MetricCheck(name, value, None, None)
    factor = 1 - tolerance if HIGHER_IS_BETTER[name] else 1 + tolerance
    return MetricCheck(name, value, baseline, baseline * factor)


def evaluate(
    predictions: Predictions,
    labels: pl.DataFrame,
    baseline: dict[str, float],
    tolerances: Tolerances,
) -> QualityResult:
    """Join by inference id, score the window, compare each metric with the baseline."""
    if not set(baseline) & set(HIGHER_IS_BETTER):
        raise MlopsError(
            "the baseline has none of accuracy, roc_auc, log_loss: nothing to compare with"
        )
    scored = predictions.frame
    if scored.height == 0:
        raise MlopsError(
            f"no single-row predictions in the window ({predictions.records} capture records "
            f"read, {predictions.outside_window} outside it, {predictions.multi_row} "
            "multi-row): widen --since/--until or check the capture location"
        )
    scored = scored.unique(ID, keep="first", maintain_order=True)
    joined = scored.join(labels, on=ID, how="inner")
    if joined.height == 0:
        raise MlopsError(
            f"no inference id of the {scored.height} predictions in the window has a label "
            f"(of {labels.height} labels): do the labels carry the ids the endpoint captured?"
        )
    y = joined.get_column(LABEL).to_numpy()
    p = joined.get_column(SCORE).to_numpy()
    positives = int(np.sum(y))
    if positives in (0, y.size):
        raise MlopsError(
            f"all {y.size} labelled predictions in the window are of class "
            f"{int(y[0])}: ROC AUC needs both classes (widen the window)"
        )
    metrics = classification_metrics(y, p)
    checks = [
        check(name, value, baseline.get(name), getattr(tolerances, name))
        for name, value in metrics.as_dict().items()
    ]
    return QualityResult(
        metrics=metrics,
        checks=checks,
        tolerances=tolerances,
        joined=joined.height,
        unlabelled=scored.height - joined.height,
        labels_unmatched=labels.height - joined.height,
        positives=positives,
        records=predictions.records,
        outside_window=predictions.outside_window,
        multi_row=predictions.multi_row,
        no_output=predictions.no_output,
        roc=roc_curve(y, p),
    )
