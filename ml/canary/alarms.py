"""The endpoint's alarms, evaluated the way CloudWatch evaluates them. Pure.

Two alarms watch the candidate (green fleet), with the stack's thresholds
(`ServingConfig.alarms`): p99 latency over `latency_p99_ms`, and the error rate
(non-2xx answers and failed requests, as a percentage of requests) over
`error_rate_percent`. Each period yields one datapoint per alarm; an alarm fires when
`evaluation_periods` consecutive datapoints breach (CloudWatch's "M out of N" with
M = N). A period in which the candidate received no request is missing data, which does
not breach (CloudWatch's default `TreatMissingData: missing`).

Latency here is what the client saw on loopback (request written to answer read), a
fraction of a millisecond more than the container time SageMaker reports as
ModelLatency; against thresholds of tens of milliseconds the difference does not matter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from infra.config import AlarmConfig

LATENCY = "latency-p99"
ERRORS = "error-rate"


@dataclass(frozen=True)
class Sample:
    """One request of the rehearsal's traffic."""

    at: float
    """Seconds since traffic started, when the request was sent."""
    target: str
    """'production' or 'candidate'."""
    latency: float
    """Seconds until the whole answer was read (or until the failure)."""
    status: int
    """HTTP status; 0 when no answer came (connection refused, reset, timeout)."""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def completed_at(self) -> float:
        """When the answer (or the failure) came: where CloudWatch puts its datapoint."""
        return self.at + self.latency


@dataclass(frozen=True)
class Datapoint:
    requests: int
    p99_ms: float | None
    error_rate_percent: float | None


def datapoint(samples: Sequence[Sample]) -> Datapoint:
    if not samples:
        return Datapoint(0, None, None)
    latencies = np.fromiter((sample.latency for sample in samples), dtype=np.float64)
    errors = sum(1 for sample in samples if not sample.ok)
    return Datapoint(
        requests=len(samples),
        p99_ms=float(np.percentile(latencies, 99) * 1000),
        error_rate_percent=100.0 * errors / len(samples),
    )


@dataclass
class AlarmState:
    """Consecutive breaching datapoints per alarm, and the first alarm to fire."""

    config: AlarmConfig
    streak: dict[str, int] = field(default_factory=lambda: {LATENCY: 0, ERRORS: 0})
    fired: str | None = None
    reason: str | None = None

    def breaches(self, point: Datapoint) -> dict[str, bool]:
        return {
            LATENCY: point.p99_ms is not None and point.p99_ms > self.config.latency_p99_ms,
            ERRORS: point.error_rate_percent is not None
            and point.error_rate_percent > self.config.error_rate_percent,
        }

    def update(self, point: Datapoint) -> bool:
        """Feed one period's datapoint; True once an alarm is in ALARM."""
        for name, breached in self.breaches(point).items():
            self.streak[name] = self.streak[name] + 1 if breached else 0
            if self.fired is None and self.streak[name] >= self.config.evaluation_periods:
                self.fired = name
                self.reason = self._describe(name, point)
        return self.fired is not None

    def _describe(self, name: str, point: Datapoint) -> str:
        periods = self.config.evaluation_periods
        if name == LATENCY:
            return (
                f"candidate p99 latency {_ms(point.p99_ms)} ms over the "
                f"{self.config.latency_p99_ms:g} ms threshold for {periods} consecutive period(s)"
            )
        return (
            f"candidate error rate {_pct(point.error_rate_percent)}% over the "
            f"{self.config.error_rate_percent:g}% threshold for {periods} consecutive period(s)"
        )


def _ms(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.1f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"
