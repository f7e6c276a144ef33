"""Release gates: pure comparisons of a candidate's numbers with production's and bounds.

Each gate says whether it passed, the two values, the allowed limit and the margin by
which it passed or failed, in the metric's own units, so a report can say "roc_auc is
0.012 worse than production, 0.007 more than the 0.005 tolerance".
"""

from __future__ import annotations

from dataclasses import dataclass

from ml.metrics import HIGHER_IS_BETTER, Latency, Metrics
from ml.params import ValidationParams


@dataclass(frozen=True)
class GateResult:
    name: str
    passed: bool
    candidate: float
    baseline: float | None
    """Production's value, or None for an absolute bound."""
    limit: float
    """The worst value the candidate may have and still pass."""
    margin: float
    """How far inside (positive) or outside (negative) the limit the candidate is."""
    message: str


def metric_gate(name: str, candidate: float, production: float, tolerance: float) -> GateResult:
    higher = HIGHER_IS_BETTER[name]
    limit = production - tolerance if higher else production + tolerance
    margin = candidate - limit if higher else limit - candidate
    worse_by = (production - candidate) if higher else (candidate - production)
    passed = margin >= 0
    if worse_by == 0:
        change = f"same as production ({production:.4f})"
    elif worse_by < 0:
        change = f"{-worse_by:.4f} better than production ({production:.4f})"
    else:
        change = f"{worse_by:.4f} worse than production ({production:.4f})"
    if passed:
        message = f"{name} {candidate:.4f}: {change}, within the {tolerance:g} tolerance"
    else:
        message = (
            f"{name} {candidate:.4f}: {change}, {-margin:.4f} more than the {tolerance:g} tolerance"
        )
    return GateResult(name, passed, candidate, production, limit, margin, message)


def latency_gate(latency: Latency, bound_ms: float) -> GateResult:
    margin = bound_ms - latency.p99_ms
    verdict = "under" if margin >= 0 else f"{-margin:.3f} ms over"
    return GateResult(
        "latency_p99_ms",
        margin >= 0,
        latency.p99_ms,
        None,
        bound_ms,
        margin,
        f"single-row p99 latency {latency.p99_ms:.3f} ms: {verdict} the {bound_ms:g} ms bound",
    )


def drift_gate(drifted: list[str], allowed: int) -> GateResult:
    count = len(drifted)
    names = f" ({', '.join(drifted[:8])}{', ...' if count > 8 else ''})" if drifted else ""
    verdict = "within" if count <= allowed else f"{count - allowed} more than"
    return GateResult(
        "drifted_features",
        count <= allowed,
        float(count),
        None,
        float(allowed),
        float(allowed - count),
        f"{count} drifted feature(s) in the training data vs production's reference{names}: "
        f"{verdict} the {allowed} allowed",
    )


def evaluate_gates(
    candidate: Metrics,
    production: Metrics | None,
    latency: Latency,
    drifted: list[str] | None,
    config: ValidationParams,
) -> list[GateResult]:
    """Every gate, in a stable order: metrics (when there is a production model), latency,
    drift (when there is a production reference to compare with)."""
    gates: list[GateResult] = []
    if production is not None:
        for name, tolerance in config.tolerances.items():
            gates.append(
                metric_gate(name, getattr(candidate, name), getattr(production, name), tolerance)
            )
    gates.append(latency_gate(latency, config.max_latency_p99_ms))
    if drifted is not None:
        gates.append(drift_gate(drifted, config.max_drifted_features))
    return gates
