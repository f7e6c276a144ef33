"""Follow a stack's endpoints after `pulumi up` and say: promote, or rollback.

`pulumi up` returns once an endpoint is InService again, and an endpoint is InService
again after SageMaker's auto-rollback too: the update "succeeded" from Pulumi's point of
view while the old model still serves. So the watch judges by what serves, not by
status alone. For each model the stack declares a version for:

- poll DescribeEndpoint while the endpoint is Creating / Updating / SystemUpdating /
  RollingBack, up to the stack's `maximumExecutionTimeoutSeconds` plus a margin;
- once it settles, read the version it serves (endpoints.serving_version) and judge:
  **promote** when that is the stack file's version and no rollback was seen;
  **rollback** when another version serves (SageMaker rolled back, or something else
  changed the endpoint) or the update was seen rolling back;
  **failed** when the endpoint is Failed / UpdateRollbackFailed / OutOfService, gone,
  or serves something that is not a version of the model's registry group;
  **timeout** when it did not settle in time.

On rollback the stack file no longer says what serves: `revert_targets` gives the
versions to write back, which `mlops release revert` turns into a pull request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from infra.config import StackConfig
from ml.release.endpoints import (
    FAILED,
    IN_SERVICE,
    EndpointState,
    describe_endpoint,
    endpoint_name,
    group_name,
    serving_version,
)
from ml.release.stackfile import served_versions

Outcome = Literal["promote", "rollback", "failed", "timeout"]
SEVERITY: dict[str, int] = {"promote": 0, "timeout": 1, "rollback": 2, "failed": 3}
PROVISIONING_MARGIN_SECONDS = 1200
"""On top of the traffic shift: new instances must be provisioned and pass health checks."""


@dataclass(frozen=True)
class EndpointWatch:
    """How one endpoint's deployment ended."""

    model: str
    endpoint: str
    desired_version: int
    serving_version: int | None
    outcome: Outcome
    statuses: tuple[str, ...]
    """Every status seen, in order, without repeats."""
    failure_reason: str | None
    elapsed_seconds: float

    def describe(self) -> str:
        serving = "nothing" if self.serving_version is None else f"v{self.serving_version}"
        path = " -> ".join(self.statuses) or "never seen"
        reason = f"; SageMaker says: {self.failure_reason}" if self.failure_reason else ""
        return (
            f"{self.model}: {self.outcome}: endpoint {self.endpoint} serves {serving}, the "
            f"stack file says v{self.desired_version} (status {path}){reason}"
        )


@dataclass(frozen=True)
class StackWatch:
    stack: str
    endpoints: tuple[EndpointWatch, ...] = field(default_factory=tuple)

    @property
    def outcome(self) -> Outcome:
        if not self.endpoints:
            return "promote"
        worst = max(self.endpoints, key=lambda watch: SEVERITY[watch.outcome])
        return worst.outcome

    def revert_targets(self) -> dict[str, int]:
        """Model -> the version that serves, for every model that did not get its release."""
        return {
            watch.model: watch.serving_version
            for watch in self.endpoints
            if watch.outcome == "rollback"
            and watch.serving_version is not None
            and watch.serving_version != watch.desired_version
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "outcome": self.outcome,
            "revert": self.revert_targets(),
            "endpoints": [asdict(watch) for watch in self.endpoints],
        }


def judge(
    desired: int, serving: int | None, statuses: tuple[str, ...], final: EndpointState
) -> Outcome:
    """The verdict on a settled endpoint (pure)."""
    if not final.exists or final.status in FAILED:
        return "failed"
    if final.status != IN_SERVICE:
        return "timeout"
    if serving is None:
        return "failed"  # it serves something that is not this model's registry package
    if serving != desired or "RollingBack" in statuses:
        return "rollback"
    return "promote"


def default_timeout_seconds(cfg: StackConfig) -> float:
    routing = cfg.serving.traffic_routing
    return routing.maximum_execution_timeout_seconds + PROVISIONING_MARGIN_SECONDS


def watch_endpoint(
    sagemaker: Any,
    *,
    model: str,
    endpoint: str,
    group: str,
    desired_version: int,
    timeout_seconds: float,
    poll_seconds: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_status: Callable[[EndpointState], None] = lambda state: None,
) -> EndpointWatch:
    """Poll one endpoint until it settles or the time is up, then judge it."""
    start = clock()
    statuses: list[str] = []
    while True:
        state = describe_endpoint(sagemaker, endpoint)
        shown = state.status or "absent"
        if not statuses or statuses[-1] != shown:
            statuses.append(shown)
            on_status(state)
        if not state.in_progress or clock() - start >= timeout_seconds:
            break
        sleep(poll_seconds)
    serving = (
        serving_version(sagemaker, state.config_name, group)
        if state.exists and state.config_name and not state.in_progress
        else None
    )
    outcome = judge(desired_version, serving, tuple(statuses), state)
    return EndpointWatch(
        model=model,
        endpoint=endpoint,
        desired_version=desired_version,
        serving_version=serving,
        outcome=outcome,
        statuses=tuple(statuses),
        failure_reason=state.failure_reason,
        elapsed_seconds=round(clock() - start, 3),
    )


def watch_stack(
    sagemaker: Any,
    cfg: StackConfig,
    *,
    timeout_seconds: float | None = None,
    poll_seconds: float = 30.0,
    endpoints: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_status: Callable[[str, EndpointState], None] = lambda model, state: None,
) -> StackWatch:
    """Watch every endpoint that serves a model version of the stack, one after another.

    Endpoints deploy in parallel; watching them in turn costs nothing, because by the
    time the first has settled the others have had the same time to.
    """
    budget = default_timeout_seconds(cfg) if timeout_seconds is None else timeout_seconds
    names = dict(endpoints or {})
    start = clock()
    results = []
    for model, version in served_versions(cfg).items():
        remaining = max(0.0, budget - (clock() - start))
        results.append(
            watch_endpoint(
                sagemaker,
                model=model,
                endpoint=names.get(model, endpoint_name(cfg, model)),
                group=group_name(cfg, model),
                desired_version=version,
                timeout_seconds=remaining,
                poll_seconds=poll_seconds,
                clock=clock,
                sleep=sleep,
                on_status=lambda state, model=model: on_status(model, state),
            )
        )
    return StackWatch(cfg.environment, tuple(results))
