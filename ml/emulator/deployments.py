"""Endpoint updates that deploy: blue/green traffic shifting with auto-rollback (a moto gap).

Gap (moto 5.2.5): there is no `UpdateEndpoint`, `CreateEndpoint` drops `DeploymentConfig`
and `DescribeEndpoint` has no `LastDeploymentConfig` or `PendingDeploymentSummary`. On AWS
an update with a `BlueGreenUpdatePolicy` provisions the new fleet and shifts traffic to it
(ALL_AT_ONCE, CANARY, or LINEAR steps), waits `WaitIntervalInSeconds` after each step
while the `AutoRollbackConfiguration` alarms watch, and if one of them is in ALARM it
shifts the traffic back: the endpoint is `RollingBack`, then `InService` again on the
configuration it had, with a `FailureReason` naming the alarm. After the last step it
waits `TerminationWaitInSeconds` before the old fleet goes and the new configuration
becomes the endpoint's `EndpointConfigName`.

The emulator does the same in a thread per update, judging the alarms' state in moto's
CloudWatch (a test sets it with `SetAlarmState`). Time is compressible: every wait is
multiplied by `time_scale()` (1.0 by default; `scaled(0.001)` makes a 600 s bake 0.6 s),
and the thread polls the alarms, never sleeping a whole wait at once; `paused()` stops
deployment time so a test can act mid-deployment. Not emulated: instance provisioning
failures, `MaximumExecutionTimeoutInSeconds`, and the rollback alarms' own metrics (the
state is whatever CloudWatch holds). Registered with
the other moto fixes in `ml.emulator.patches` (patch `sagemaker-update-endpoint`); the
product code only ever calls the SageMaker API.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from moto.cloudwatch.models import cloudwatch_backends
from moto.core.responses import ActionResult
from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpoint, SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse

PROVISIONING_SECONDS = 60.0
"""Time to bring up the new fleet before the first traffic step (scaled like every wait)."""
ROLLBACK_SECONDS = 60.0
"""Time to shift the traffic back to the old fleet."""
POLL_SECONDS = 0.02
"""How often a bake looks at the alarms, in real (unscaled) seconds."""

_SCALE = [1.0]
_PAUSED = [False]
_LOCK = threading.RLock()


def time_scale() -> float:
    return _SCALE[0]


@contextmanager
def scaled(factor: float) -> Iterator[None]:
    """Every deployment wait multiplied by `factor` for the block (tests: 0.001)."""
    if factor <= 0:
        raise ValueError(f"time scale {factor}: must be positive")
    before = _SCALE[0]
    _SCALE[0] = factor
    try:
        yield
    finally:
        _SCALE[0] = before


@contextmanager
def paused() -> Iterator[None]:
    """Deployment time stands still for the block (alarms are still watched)."""
    _PAUSED[0] = True
    try:
        yield
    finally:
        _PAUSED[0] = False


@dataclass
class Deployment:
    """One endpoint's deployment state, beyond what moto's FakeEndpoint keeps."""

    last_config: dict[str, Any] | None = None
    pending_config: str | None = None
    pending_since: Any = None
    traffic_percent: int = 0
    """Share of the traffic on the new fleet during an update (for tests and logs)."""
    thread: threading.Thread | None = field(default=None, repr=False)


_STATE: dict[str, Deployment] = {}
"""Endpoint ARN -> its deployment state."""


def state(endpoint_arn: str) -> Deployment:
    with _LOCK:
        return _STATE.setdefault(endpoint_arn, Deployment())


def traffic_steps(routing: dict[str, Any]) -> list[int]:
    """The share of capacity on the new fleet after each step, ending at 100."""
    kind = routing.get("Type", "ALL_AT_ONCE")
    if kind == "CANARY":
        return [int(routing["CanarySize"]["Value"]), 100]
    if kind == "LINEAR":
        step = int(routing["LinearStepSize"]["Value"])
        return [*range(step, 100, step), 100]
    return [100]


def _alarm_in_alarm(endpoint: FakeEndpoint, config: dict[str, Any]) -> str | None:
    names = [
        a["AlarmName"] for a in (config.get("AutoRollbackConfiguration") or {}).get("Alarms") or []
    ]
    account, region = endpoint.arn.split(":")[4], endpoint.arn.split(":")[3]
    alarms = cloudwatch_backends[account][region].alarms
    for name in names:
        alarm = alarms.get(name)
        if alarm is not None and alarm.state_value == "ALARM":
            return name
    return None


def _wait(seconds: float, stop: Callable[[], str | None] = lambda: None) -> str | None:
    """Wait `seconds` of deployment time, polling `stop`; what `stop` said, if anything.

    Deployment time runs at 1/`time_scale()` of real time and stands still while
    `paused()`, so a test can look at an endpoint mid-deployment for as long as it needs."""
    remaining = seconds
    last = time.monotonic()
    while True:
        said = stop()
        if said is not None:
            return said
        if remaining <= 0:
            return None
        time.sleep(POLL_SECONDS)
        now = time.monotonic()
        if not _PAUSED[0]:
            remaining -= (now - last) / time_scale()
        last = now


def _deploy(backend: SageMakerModelBackend, endpoint: FakeEndpoint, new_config: str) -> None:
    """The blue/green update of `endpoint` to `new_config`, as SageMaker runs it."""
    deployment = state(endpoint.arn)
    config = deployment.last_config or {}
    policy = config.get("BlueGreenUpdatePolicy") or {}
    routing = policy.get("TrafficRoutingConfiguration") or {"Type": "ALL_AT_ONCE"}
    bake = float(routing.get("WaitIntervalInSeconds", 0))
    fired: str | None = _wait(PROVISIONING_SECONDS)
    for percent in traffic_steps(routing):
        if fired is not None:
            break
        deployment.traffic_percent = percent
        fired = _wait(bake, lambda: _alarm_in_alarm(endpoint, config))
    if fired is not None:
        endpoint.endpoint_status = "RollingBack"
        endpoint.last_modified_time = utcnow()
        _wait(ROLLBACK_SECONDS)
        deployment.traffic_percent = 0
        endpoint.failure_reason = (
            f"Deployment rolled back: alarm {fired} is in ALARM; the endpoint serves "
            f"{endpoint.endpoint_config_name} again"
        )
    elif (target := backend.endpoint_configs.get(new_config)) is None:
        endpoint.failure_reason = f"Endpoint configuration {new_config} was deleted mid-update"
    else:
        _wait(float(policy.get("TerminationWaitInSeconds", 0)))
        variants = target.production_variants
        endpoint.endpoint_config_name = new_config
        endpoint.production_variants = endpoint._process_production_variants(variants)
        endpoint.failure_reason = None
    deployment.pending_config = deployment.pending_since = None
    endpoint.endpoint_status = "InService"
    endpoint.last_modified_time = utcnow()


def _update_endpoint(self: SageMakerResponse) -> ActionResult:
    """UpdateEndpoint: validate as SageMaker does, then deploy in the background."""
    name = self._get_param("EndpointName")
    config_name = self._get_param("EndpointConfigName")
    backend = self.sagemaker_backend
    endpoint = backend.endpoints.get(name)
    if endpoint is None:
        arn = FakeEndpoint.arn_formatter(name, self.current_account, self.region)
        raise ValidationError(message=f"Could not find endpoint '{arn}'.")
    if endpoint.endpoint_status != "InService":
        raise ValidationError(message=f'Cannot update in-progress endpoint "{endpoint.arn}".')
    if config_name not in backend.endpoint_configs:
        raise ValidationError(message=f"Could not find endpoint configuration '{config_name}'.")
    deployment = state(endpoint.arn)
    given = self._get_param("DeploymentConfig")
    if given is not None or not self._get_param("RetainDeploymentConfig"):
        deployment.last_config = given
    deployment.pending_config = config_name
    deployment.pending_since = utcnow()
    deployment.traffic_percent = 0
    endpoint.endpoint_status = "Updating"
    endpoint.failure_reason = None
    endpoint.last_modified_time = utcnow()
    deployment.thread = threading.Thread(
        target=_deploy,
        args=(backend, endpoint, config_name),
        daemon=True,
        name=f"emulator-deploy-{name}",
    )
    deployment.thread.start()
    return ActionResult({"EndpointArn": endpoint.arn})


def _create_endpoint(original: Callable[[SageMakerResponse], Any]) -> Callable[..., Any]:
    def create_endpoint(self: SageMakerResponse) -> Any:
        result = original(self)
        arn = result.result["EndpointArn"]
        with _LOCK:
            _STATE[arn] = Deployment(last_config=self._get_param("DeploymentConfig"))
        return result

    return create_endpoint


def _describe_endpoint(original: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    def describe_endpoint(self: SageMakerModelBackend, endpoint_name: str) -> dict[str, Any]:
        response = original(self, endpoint_name)
        deployment = _STATE.get(response["EndpointArn"])
        if deployment is None:
            return response
        if deployment.last_config:
            response["LastDeploymentConfig"] = deployment.last_config
        if deployment.pending_config:
            pending = self.endpoint_configs.get(deployment.pending_config)
            response["PendingDeploymentSummary"] = {
                "EndpointConfigName": deployment.pending_config,
                "ProductionVariants": [
                    {"VariantName": v["VariantName"]}
                    for v in (pending.production_variants if pending else [])
                ],
                "StartTime": deployment.pending_since,
            }
        return response

    return describe_endpoint


def _delete_endpoint(original: Callable[..., None]) -> Callable[..., None]:
    def delete_endpoint(self: SageMakerModelBackend, endpoint_name: str) -> None:
        endpoint = self.endpoints.get(endpoint_name)
        original(self, endpoint_name)
        if endpoint is not None:
            with _LOCK:
                _STATE.pop(endpoint.arn, None)

    return delete_endpoint


def _add_update_endpoint(_missing: Any) -> Callable[[SageMakerResponse], ActionResult]:
    return _update_endpoint


TARGETS: tuple[tuple[type, str, Callable[[Any], Any]], ...] = (
    (SageMakerResponse, "update_endpoint", _add_update_endpoint),
    (SageMakerResponse, "create_endpoint", _create_endpoint),
    (SageMakerModelBackend, "describe_endpoint", _describe_endpoint),
    (SageMakerModelBackend, "delete_endpoint", _delete_endpoint),
)
"""What `ml.emulator.patches` installs for this fix ((class, attribute, wrap))."""


def settle(timeout: float = 30.0) -> None:
    """Wait for every running deployment to end (tests, before the emulator stops)."""
    deadline = time.monotonic() + timeout
    for deployment in list(_STATE.values()):
        if deployment.thread is not None:
            deployment.thread.join(max(0.0, deadline - time.monotonic()))
