"""What drives the candidate's predictions: LightGBM's exact TreeSHAP on validation rows.

`Booster.predict(rows, pred_contrib=True)` gives, per row, one contribution per feature
plus a bias, in the raw score (log-odds): they add up to the score whose logistic is the
predicted probability. Global importance is the mean absolute contribution of each
feature; the report also shows every sampled row's contributions (a beeswarm) and the
full breakdown of a few example rows (the highest, middle and lowest prediction).

TreeSHAP is exact but not cheap (about 2 ms a row for the 100-tree churn model), so it
runs on a fixed-seed sample of `validation.explain_rows` rows when there are more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

SAMPLE_SEED = 0
TOP = 5
"""Contributions listed per example row (the largest in absolute value)."""


@dataclass(frozen=True)
class Example:
    """One row's prediction and its contributions, largest first."""

    label: str
    row: int
    """Index of the row in the validation data."""
    probability: float
    raw_score: float
    bias: float
    contributions: list[tuple[str, float, float]]
    """(feature, value, contribution), sorted by |contribution|, the `TOP` largest."""


@dataclass(frozen=True)
class Explanation:
    features: list[str]
    rows: int
    """Rows explained (the sample)."""
    of_rows: int
    """Validation rows it was drawn from."""
    importance: list[float]
    """Mean |contribution| per feature, in `features` order."""
    mean_contribution: list[float]
    bias: float
    examples: list[Example]
    contributions: np.ndarray
    """(rows, features) contributions of the sample, for the beeswarm."""
    values: np.ndarray
    """(rows, features) feature values of the sample (the beeswarm's colours)."""

    def ranked(self) -> list[int]:
        """Feature indices, most important first (ties in feature order)."""
        return sorted(range(len(self.features)), key=lambda i: (-self.importance[i], i))

    def to_json(self) -> dict[str, Any]:
        order = self.ranked()
        return {
            "method": "treeshap (lightgbm pred_contrib)",
            "output": "log-odds",
            "rows": self.rows,
            "of_rows": self.of_rows,
            "bias": self.bias,
            "importance": [
                {
                    "feature": self.features[i],
                    "mean_abs_contribution": self.importance[i],
                    "mean_contribution": self.mean_contribution[i],
                }
                for i in order
            ],
            "examples": [
                {
                    "label": e.label,
                    "row": e.row,
                    "probability": e.probability,
                    "raw_score": e.raw_score,
                    "bias": e.bias,
                    "contributions": [
                        {"feature": f, "value": v, "contribution": c} for f, v, c in e.contributions
                    ],
                }
                for e in self.examples
            ],
        }


def explain(booster: Any, rows: np.ndarray, features: list[str], sample: int) -> Explanation:
    """TreeSHAP contributions of `booster` (a LightGBM Booster) on up to `sample` rows."""
    chosen = np.arange(rows.shape[0])
    if rows.shape[0] > sample:
        chosen = np.sort(np.random.default_rng(SAMPLE_SEED).choice(rows.shape[0], sample, False))
    data = np.ascontiguousarray(rows[chosen], dtype=np.float64)
    full = np.asarray(booster.predict(data, pred_contrib=True, num_threads=1), dtype=np.float64)
    contributions, bias = full[:, :-1], full[:, -1]
    raw = full.sum(axis=1)
    order = np.argsort(raw, kind="stable")
    picks = [("highest", order[-1]), ("middle", order[len(order) // 2]), ("lowest", order[0])]
    examples = []
    for label, at in picks:
        top = sorted(range(len(features)), key=lambda i: -abs(contributions[at, i]))[:TOP]
        examples.append(
            Example(
                label=label,
                row=int(chosen[at]),
                probability=float(1.0 / (1.0 + np.exp(-raw[at]))),
                raw_score=float(raw[at]),
                bias=float(bias[at]),
                contributions=[
                    (features[i], float(data[at, i]), float(contributions[at, i])) for i in top
                ],
            )
        )
    return Explanation(
        features=list(features),
        rows=int(data.shape[0]),
        of_rows=int(rows.shape[0]),
        importance=np.abs(contributions).mean(axis=0).tolist(),
        mean_contribution=contributions.mean(axis=0).tolist(),
        bias=float(bias[0]),
        examples=examples,
        contributions=contributions,
        values=data,
    )
