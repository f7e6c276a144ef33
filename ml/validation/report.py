"""Validation reports: `validation.md` (the PR comment), `validation.json`, `validation.html`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ml.drift import report as drift_report
from ml.metrics import HIGHER_IS_BETTER, average_ranks
from ml.reports import ReportPaths, plots, write_reports
from ml.reports import markdown as md
from ml.reports.html import Badge, render
from ml.tracking.runs import TrackingLink
from ml.validation.explain import Explanation
from ml.validation.run import ModelEvaluation, ValidationResult

METRIC_NAMES = tuple(HIGHER_IS_BETTER)
NO_REFERENCE = (
    "### Drift\n\nNo production reference to compare with (a first model): no drift gate.\n"
)
SHOWN_FEATURES = 20
"""Features in the importance chart and beeswarm (most important first)."""
SWARM_ROWS = 300
"""Explained rows drawn in the beeswarm (every k-th): enough to see the shape, and the page
stays small (the importance table uses them all)."""


def _verdict(result: ValidationResult) -> str:
    if result.passed:
        return f"✅ all {len(result.gates)} gates passed"
    return f"❌ {len(result.failed)} of {len(result.gates)} gates failed"


def _limit(g) -> str:
    if g.name == "latency_p99_ms":
        return f"≤ {g.limit:g}"
    if g.name == "drifted_features":
        return f"≤ {int(g.limit)}"
    return f"{'≥' if HIGHER_IS_BETTER[g.name] else '≤'} {g.limit:.4f}"


def _value(g, value: float | None) -> str:
    if value is not None and g.name == "drifted_features":
        return str(int(value))
    return md.number(value, 3 if g.name == "latency_p99_ms" else 4)


def _metric_rows(c: ModelEvaluation, p: ModelEvaluation | None) -> list[list[str]]:
    rows = []
    for name in METRIC_NAMES:
        cv = getattr(c.metrics, name)
        pv = getattr(p.metrics, name) if p else None
        arrow = "↑ better" if HIGHER_IS_BETTER[name] else "↓ better"
        rows.append([name, md.number(cv), md.number(pv), md.signed(cv - pv if p else None), arrow])
    for label, attr in (("latency p50 (ms)", "p50_ms"), ("latency p99 (ms)", "p99_ms")):
        cv = getattr(c.latency, attr)
        pv = getattr(p.latency, attr) if p else None
        rows.append(
            [
                label,
                md.number(cv, 3),
                md.number(pv, 3),
                md.signed(cv - pv if p else None, 3),
                "↓ better",
            ]
        )
    return rows


def render_markdown(result: ValidationResult) -> str:
    c, p = result.candidate, result.production
    against = (
        f"production `{p.path}`"
        if p
        else "no production model (first release: absolute gates only)"
    )
    gate_rows = [
        [
            md.code(g.name),
            md.status(g.passed),
            _value(g, g.candidate),
            _value(g, g.baseline),
            _limit(g),
            md.signed(g.margin, 0 if g.name == "drifted_features" else 4),
            md.cell(g.message),
        ]
        for g in result.gates
    ]
    lines = [
        f"## Model validation: {_verdict(result)}",
        "",
        f"Candidate `{c.path}` vs {against}, on {c.metrics.rows:,} held-out rows.",
        "",
        md.table(
            ["gate", "result", "candidate", "production", "limit", "margin", "detail"],
            gate_rows,
            "lcrrrrl",
        ),
        "",
        "### Metrics",
        "",
        md.table(["metric", "candidate", "production", "Δ", ""], _metric_rows(c, p), "lrrrl"),
        "",
        f"Candidate training data `{c.training_data_hash}`.",
        "",
        *(_explanation_markdown(c.explanation) if c.explanation else []),
        drift_report.markdown_section(result.drift) if result.drift else NO_REFERENCE,
    ]
    return "\n".join(lines)


def _sample_note(e: Explanation) -> str:
    sample = f"{e.rows:,} of {e.of_rows:,}" if e.rows < e.of_rows else f"all {e.rows:,}"
    return (
        f"LightGBM TreeSHAP (`pred_contrib`) on {sample} validation rows, in log-odds: "
        f"each row's contributions plus the bias ({e.bias:+.4f}) are its raw score."
    )


def _example_rows(e: Explanation) -> list[list[str]]:
    return [
        [
            f"{x.label} (row {x.row:,})",
            md.number(x.probability),
            md.signed(x.raw_score),
            md.cell(", ".join(f"{f}={v:.4g}: {c:+.4f}" for f, v, c in x.contributions)),
        ]
        for x in e.examples
    ]


def _explanation_markdown(e: Explanation) -> list[str]:
    rows = [
        [
            str(rank),
            md.code(e.features[i]),
            md.number(e.importance[i]),
            md.signed(e.mean_contribution[i]),
        ]
        for rank, i in enumerate(e.ranked(), start=1)
    ]
    table = md.table(["#", "feature", "mean |contribution|", "mean contribution"], rows, "rlrr")
    return [
        "### Feature contributions",
        "",
        _sample_note(e),
        "",
        md.details("Global importance (mean |contribution| per feature)", table),
        "",
        md.table(
            [
                "example",
                "probability",
                "raw score",
                f"largest {len(e.examples[0].contributions)} contributions",
            ],
            _example_rows(e),
            "lrrl",
        ),
        "",
    ]


def _shares(values: np.ndarray) -> list[float | None]:
    """Each value's rank among the column's values, 0 (lowest) to 1: the beeswarm colour."""
    finite = np.isfinite(values)
    shares: list[float | None] = [None] * len(values)
    if finite.sum() > 1:
        ranks = average_ranks(values[finite])
        scaled = (ranks - 1) / (finite.sum() - 1)
        for at, share in zip(np.flatnonzero(finite), scaled.tolist(), strict=True):
            shares[at] = share
    return shares


def _explanation_html(e: Explanation) -> dict[str, Any]:
    """The feature-contributions section of `validation.html`."""
    shown = e.ranked()[:SHOWN_FEATURES]
    names = [e.features[i] for i in shown]
    step = -(-e.rows // SWARM_ROWS)
    points, values = e.contributions[::step], e.values[::step]
    charts = [
        (
            plots.horizontal_bars(
                names, [e.importance[i] for i in shown], "Global importance", "mean |contribution|"
            ),
            "mean absolute TreeSHAP contribution per feature (log-odds), most important first",
        ),
        (
            plots.beeswarm(
                names,
                [points[:, i].tolist() for i in shown],
                [_shares(values[:, i]) for i in shown],
                "Contribution of each feature, per row",
                "contribution to the raw score (log-odds)",
            ),
            f"one dot per row ({len(points):,} of the {e.rows:,} explained); colour: the "
            "feature's value, low (blue) to high (red)",
        ),
    ]
    examples = [
        [
            f"{x.label} (row {x.row:,})",
            x.probability,
            x.raw_score,
            ", ".join(f"{f}={v:.4g}: {c:+.4f}" for f, v, c in x.contributions),
        ]
        for x in e.examples
    ]
    importance = [[e.features[i], e.importance[i], e.mean_contribution[i]] for i in e.ranked()]
    return {
        "note": _sample_note(e).replace("`", ""),
        "charts": charts,
        "examples": examples,
        "importance": importance,
    }


def _evaluation_json(e: ModelEvaluation | None) -> dict[str, Any] | None:
    if e is None:
        return None
    return {
        "path": str(e.path),
        "metrics": e.metrics.as_dict(),
        "rows": e.metrics.rows,
        "latency_ms": {
            "p50": e.latency.p50_ms,
            "p99": e.latency.p99_ms,
            "mean": e.latency.mean_ms,
            "repeats": e.latency.repeats,
        },
        "training_data_hash": e.training_data_hash,
        "params": e.params,
        "roc_curve": {"fpr": e.roc[0], "tpr": e.roc[1]},
        "explanation": e.explanation.to_json() if e.explanation else None,
    }


def render_json(result: ValidationResult) -> dict[str, Any]:
    return {
        "passed": result.passed,
        "failed_gates": [g.name for g in result.failed],
        "gates": [
            {
                "name": g.name,
                "passed": g.passed,
                "candidate": g.candidate,
                "production": g.baseline,
                "limit": g.limit,
                "margin": g.margin,
                "message": g.message,
            }
            for g in result.gates
        ],
        "candidate": _evaluation_json(result.candidate),
        "production": _evaluation_json(result.production),
        "reference": result.reference_path,
        "drift": result.drift.to_json() if result.drift else None,
    }


def _latency_bound(result: ValidationResult) -> float:
    return next(g.limit for g in result.gates if g.name == "latency_p99_ms")


def render_html(result: ValidationResult, training_run: TrackingLink | None = None) -> str:
    c, p = result.candidate, result.production
    gates = {
        "headers": ["gate", "result", "candidate", "production", "limit", "margin", "detail"],
        "rows": [
            [g.name, Badge(g.passed), g.candidate, g.baseline, _limit(g), g.margin, g.message]
            for g in result.gates
        ],
        "bad": [not g.passed for g in result.gates],
    }
    series = {"candidate": [getattr(c.metrics, m) for m in METRIC_NAMES]}
    latency = {"candidate": [c.latency.p50_ms, c.latency.p99_ms]}
    roc = {"candidate": c.roc}
    if p:
        series["production"] = [getattr(p.metrics, m) for m in METRIC_NAMES]
        latency["production"] = [p.latency.p50_ms, p.latency.p99_ms]
        roc["production"] = p.roc
    charts = [
        (
            plots.grouped_bars(list(METRIC_NAMES), series, "Held-out metrics"),
            "accuracy and ROC AUC: higher is better; log loss: lower is better",
        ),
        (
            plots.curves(
                roc, "ROC curve", "false positive rate", "true positive rate", diagonal=True
            ),
            "",
        ),
        (
            plots.grouped_bars(["p50", "p99"], latency, "Single-row latency", "ms"),
            f"bound: p99 ≤ {_latency_bound(result):g} ms",
        ),
    ]
    against = str(p.path) if p else "no production model"
    return render(
        "validation.html",
        title="Model validation",
        subtitle=f"candidate {c.path} vs {against}",
        verdict=Badge(result.passed, _verdict(result)[2:]),
        gates=gates,
        charts=charts,
        explanation=_explanation_html(c.explanation) if c.explanation else None,
        drift=drift_report.html_context(result.drift) if result.drift else None,
        training_run=_training_run_line(training_run) if training_run else None,
    )


def _training_run_line(training_run: TrackingLink) -> str:
    return f"Candidate training run: {training_run.describe()}."


def write_validation_reports(
    out_dir: Path, result: ValidationResult, training_run: TrackingLink | None = None
) -> ReportPaths:
    """The three reports; `training_run` (the candidate's MLflow run) is linked from each."""
    markdown, data = render_markdown(result), render_json(result)
    html = render_html(result, training_run)
    if training_run is not None:
        markdown += f"\n\n{md.cell(_training_run_line(training_run))}\n"
        data["training_run"] = training_run.model_dump()
    return write_reports(out_dir, "validation", markdown=markdown, data=data, html=html)
