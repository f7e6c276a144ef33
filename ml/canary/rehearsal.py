"""The canary rehearsal: two real servers, the stack's schedule, the endpoint's alarms.

1. Start the production and the candidate model, each in its own `python -m ml.serving`
   process on loopback (signature verified as in production), and wait for /ping.
   A candidate that never becomes healthy is not deployed: SageMaker would fail the
   update and keep the old fleet; the rehearsal reports it as rolled back.
2. Send bounded single-row traffic (`rps`, over `concurrency` keep-alive connections
   per server) and route each request to the candidate with the current step's share,
   deterministically (request k goes to the candidate when floor((k+1)s) > floor(ks)).
3. Every compressed CloudWatch period, compute the candidate's datapoints from the
   requests that completed in it and feed the alarms (`ml.canary.alarms`). An alarm
   during a baking period rolls back: all traffic returns to production, which is watched
   for one more period; otherwise the schedule runs to its end and the candidate is
   promoted.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Literal

import httptools

from ml.canary.alarms import AlarmState, Datapoint, Sample, datapoint
from ml.canary.schedule import Plan, Step
from ml.serving.client import Connection, build_request

PRODUCTION = "production"
CANDIDATE = "candidate"
Decision = Literal["promoted", "rolled back"]


@dataclass(frozen=True)
class Period:
    index: int
    start: float
    end: float
    share: float
    """The candidate's share at the start of the period."""
    production: Datapoint
    candidate: Datapoint
    breaches: dict[str, bool]
    evaluated: bool
    """False after a rollback: shown, not judged."""


@dataclass
class Outcome:
    decision: Decision
    reason: str
    alarm: str | None = None
    rolled_back_at: float | None = None
    periods: list[Period] = field(default_factory=list)
    shares: list[tuple[float, float]] = field(default_factory=list)
    """(seconds, candidate share) at every change."""
    step_starts: list[tuple[float, str]] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    duration: float = 0.0


class Router:
    """Deterministic weighted routing: exactly `share` of requests, evenly spread."""

    def __init__(self) -> None:
        self.share = 0.0
        self._count = 0

    def pick(self) -> str:
        k = self._count
        self._count += 1
        chosen = math.floor((k + 1) * self.share) > math.floor(k * self.share)
        return CANDIDATE if chosen else PRODUCTION


async def run_traffic(
    plan: Plan,
    ports: dict[str, int],
    bodies: list[bytes],
    *,
    rps: float,
    concurrency: int,
    host: str = "127.0.0.1",
) -> Outcome:
    """Drive traffic along `plan` between the two servers and judge the candidate."""
    requests = [build_request("/invocations", body, "text/csv") for body in bodies]
    router = Router()
    alarms = AlarmState(plan.alarms)
    samples: list[Sample] = []
    outcome = Outcome("promoted", "")
    stop = asyncio.Event()
    clock = time.perf_counter
    started = clock()
    next_slot = 0

    def elapsed() -> float:
        return clock() - started

    async def worker() -> None:
        nonlocal next_slot
        connections = {name: Connection(host, port) for name, port in ports.items()}
        try:
            while not stop.is_set():
                slot = next_slot
                next_slot += 1
                delay = slot / rps - elapsed()
                if delay > 0:
                    await asyncio.sleep(delay)
                if stop.is_set():
                    return
                target = router.pick()
                began = clock()
                try:
                    response = await connections[target].send(requests[slot % len(requests)], 5.0)
                    status = response.status
                except (TimeoutError, OSError, httptools.HttpParserError):
                    status = 0
                samples.append(Sample(began - started, target, clock() - began, status))
        finally:
            for connection in connections.values():
                connection.close()

    def set_share(share: float) -> None:
        if router.share != share or not outcome.shares:
            router.share = share
            outcome.shares.append((round(elapsed(), 4), share))

    def evaluate(index: int, judged: bool) -> bool:
        start, end = index * period, (index + 1) * period
        # A request counts in the period it completed in, as SageMaker emits ModelLatency
        # when an invocation finishes: every sample of the period is known at evaluation,
        # however slow the candidate (by send time, answers slower than the evaluation
        # delay would be missing data and could never breach).
        window = [s for s in samples if start <= s.completed_at < end]
        production = datapoint([s for s in window if s.target == PRODUCTION])
        candidate = datapoint([s for s in window if s.target == CANDIDATE])
        share = _share_at(outcome.shares, start)
        breaches = alarms.breaches(candidate)
        fired = alarms.update(candidate) if judged else False
        outcome.periods.append(
            Period(index, start, end, share, production, candidate, breaches, judged)
        )
        return fired

    period = plan.period
    ends = _step_ends(plan)
    schedule_end = ends[-1] if ends else 0.0
    periods_total = math.ceil(schedule_end / period - 1e-9) if period > 0 else 0
    grace = min(max(0.05, period / 2), 1.0)
    tick = min(0.02, period / 10) if period > 0 else 0.02
    set_share(plan.steps[0].share if plan.steps and schedule_end > 0 else 1.0)
    workers = [asyncio.ensure_future(worker()) for _ in range(concurrency)]
    evaluated = 0
    step_index = -1
    watch_until: float | None = None
    try:
        while True:
            now = elapsed()
            while period > 0 and (evaluated + 1) * period + grace <= now:
                judged = outcome.rolled_back_at is None and evaluated < periods_total
                if evaluate(evaluated, judged) and outcome.rolled_back_at is None:
                    set_share(0.0)
                    outcome.decision, outcome.alarm = "rolled back", alarms.fired
                    outcome.reason = alarms.reason or "alarm"
                    outcome.rolled_back_at = round(elapsed(), 4)
                    watch_until = elapsed() + max(period, 0.5)
                evaluated += 1
            if watch_until is not None:
                if now >= watch_until:
                    break
            else:
                current = next((i for i, end in enumerate(ends) if now < end), None)
                if current is None:
                    set_share(1.0)
                    if evaluated >= periods_total:
                        break
                elif current != step_index:
                    step_index = current
                    step: Step = plan.steps[current]
                    outcome.step_starts.append((round(now, 4), step.label))
                    set_share(step.share)
            await asyncio.sleep(tick)
    finally:
        stop.set()
        await asyncio.gather(*workers, return_exceptions=True)
    outcome.samples = samples
    outcome.duration = elapsed()
    if outcome.decision == "promoted":
        outcome.reason = (
            f"no alarm in {periods_total} baking period(s) of the candidate"
            if periods_total
            else "the schedule has no baking time (wait interval 0): nothing was watched"
        )
    return outcome


def _step_ends(plan: Plan) -> list[float]:
    ends, total = [], 0.0
    for step in plan.steps:
        total += plan.compressed(step)
        ends.append(total)
    return ends


def _share_at(shares: list[tuple[float, float]], moment: float) -> float:
    current = shares[0][1] if shares else 0.0
    for at, share in shares:
        if at <= moment + 1e-9:
            current = share
        else:
            break
    return current
