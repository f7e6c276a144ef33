"""The stack's traffic-shifting schedule, as SageMaker runs it, compressed in time. Pure.

SageMaker blue/green (deployment guardrails) with `TrafficRoutingConfiguration`:

- CANARY: the canary share goes to the new (green) fleet, then a baking period of
  `WaitIntervalInSeconds` with the alarms watched; then all traffic, and a final
  baking period of the same length.
- LINEAR: steps of `linear_step_percent` each baked for `WaitIntervalInSeconds`, then
  all traffic and a final baking period.
- ALL_AT_ONCE: all traffic at once, then one baking period.

An alarm during any baking period sends all traffic back to the old (blue) fleet.
`TerminationWaitInSeconds` follows the last baking period; the old fleet is kept but
no longer watched, so the rehearsal only reports it.

The rehearsal keeps every proportion and squeezes the wall clock: every duration,
CloudWatch's alarm period included, is multiplied by one `scale`.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.config import AlarmConfig, TrafficRoutingConfig


@dataclass(frozen=True)
class Step:
    share: float
    """Fraction of requests the candidate (green fleet) receives, 0..1."""
    seconds: float
    """How long SageMaker bakes this step (the alarms are evaluated meanwhile)."""
    label: str


@dataclass(frozen=True)
class Plan:
    routing: TrafficRoutingConfig
    alarms: AlarmConfig
    steps: tuple[Step, ...]
    scale: float
    """Rehearsal seconds per real second."""

    @property
    def real_seconds(self) -> float:
        return sum(step.seconds for step in self.steps)

    @property
    def period(self) -> float:
        """One CloudWatch alarm period, compressed."""
        return self.alarms.period_seconds * self.scale

    def compressed(self, step: Step) -> float:
        return step.seconds * self.scale


def traffic_steps(routing: TrafficRoutingConfig) -> tuple[Step, ...]:
    wait = float(routing.wait_interval_seconds)
    if routing.type == "ALL_AT_ONCE":
        return (Step(1.0, wait, "all traffic, baking"),)
    if routing.type == "CANARY":
        size = routing.canary_size_percent
        return (
            Step(size / 100, wait, f"canary {size}%, baking"),
            Step(1.0, wait, "all traffic, final baking"),
        )
    step = routing.linear_step_percent
    shares = list(range(step, 100, step))
    return (
        *(Step(share / 100, wait, f"linear {share}%, baking") for share in shares),
        Step(1.0, wait, "all traffic, final baking"),
    )


def plan(routing: TrafficRoutingConfig, alarms: AlarmConfig, rehearsal_seconds: float) -> Plan:
    """The stack's schedule compressed so that its baking periods last `rehearsal_seconds`.

    A schedule without baking time (wait interval 0) is rehearsed as such: SageMaker
    would shift at once and its alarms could never roll back; the report says so.
    """
    if rehearsal_seconds <= 0:
        raise ValueError("rehearsal_seconds must be positive")
    steps = traffic_steps(routing)
    real = sum(step.seconds for step in steps)
    scale = rehearsal_seconds / real if real > 0 else 0.0
    return Plan(routing, alarms, steps, scale)
