"""`mlops release watch` and the release lock, against moto's SageMaker.

The models, endpoint configurations and endpoints are moto's; DescribeEndpoint during
a blue/green deployment is scripted (moto has no UpdateEndpoint), see release_support.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ml.release.lock import ReleaseInProgress, require_idle
from ml.release.stackfile import plan_edit
from ml.release.watch import watch_stack
from tests.ml.provenance_support import aws_fixture  # noqa: F401 - fixture
from tests.ml.release_support import (
    MODEL,
    FakeClock,
    ScriptedEndpoint,
    clock_fixture,  # noqa: F401 - fixture
    endpoint_response,
    serve,
    stack_config,
    stack_root_fixture,  # noqa: F401 - fixture
)

STACK = "staging"


def _released(root: Path, version: int) -> None:
    """The merged release PR: the stack file declares `version`."""
    plan_edit(root / f"Pulumi.{STACK}.yaml", {MODEL: version}).write()


def _watch(sagemaker, root: Path, clock: FakeClock, timeout: float | None = None):
    return watch_stack(
        sagemaker,
        stack_config(root, STACK),
        timeout_seconds=timeout,
        poll_seconds=30,
        clock=clock,
        sleep=clock.sleep,
    )


def test_watch_after_successful_canary_reports_promote(aws, stack_root, clock):
    # Given v1 serving, the release of v2 merged, and SageMaker shifting traffic to v2,
    old, new = serve(aws.sagemaker, STACK, 1), serve(aws.sagemaker, STACK, 2)
    _released(stack_root, 2)
    sagemaker = ScriptedEndpoint(
        aws.sagemaker,
        [
            endpoint_response(STACK, "Updating", old, pending=new),
            endpoint_response(STACK, "Updating", old, pending=new),
            endpoint_response(STACK, "InService", new),
        ],
    )
    # when the release is watched,
    result = _watch(sagemaker, stack_root, clock)
    # then it is promoted, having polled every 30 seconds while the canary baked.
    assert result.outcome == "promote", result.endpoints
    assert result.endpoints[0].statuses == ("Updating", "InService"), result.endpoints[0]
    assert clock.sleeps == [30, 30], f"polling: {clock.sleeps}"
    assert result.revert_targets() == {}, "nothing to revert after a promote"


def test_watch_after_alarm_rollback_reports_rollback_and_the_version_to_revert_to(
    aws, stack_root, clock
):
    # Given the release of v2, whose canary trips an alarm so SageMaker rolls back to v1,
    old, new = serve(aws.sagemaker, STACK, 1), serve(aws.sagemaker, STACK, 2)
    _released(stack_root, 2)
    reason = "Deployment rolled back: alarm mlops-staging-churn-classifier-model-latency-p99"
    sagemaker = ScriptedEndpoint(
        aws.sagemaker,
        [
            endpoint_response(STACK, "Updating", old, pending=new),
            endpoint_response(STACK, "RollingBack", old, pending=new),
            endpoint_response(STACK, "InService", old, reason=reason),
        ],
    )
    # when the release is watched,
    result = _watch(sagemaker, stack_root, clock)
    # then it reports the rollback, with v1 as what serves and so what git must say.
    watch = result.endpoints[0]
    assert result.outcome == "rollback", watch
    assert (watch.serving_version, watch.desired_version) == (1, 2), watch
    assert result.revert_targets() == {MODEL: 1}, result.revert_targets()
    assert reason in watch.describe(), watch.describe()


def test_watch_after_pulumi_returned_from_a_rollback_reports_rollback(aws, stack_root, clock):
    # Given pulumi up has returned once the endpoint was InService again, after SageMaker
    # rolled the release of v2 back (the watch sees no intermediate status at all),
    old = serve(aws.sagemaker, STACK, 1, create_endpoint=True)
    serve(aws.sagemaker, STACK, 2)
    _released(stack_root, 2)
    # when the release is watched on moto's endpoint as it is,
    result = _watch(aws.sagemaker, stack_root, clock)
    # then what serves (v1, config `old`) decides: rollback, revert to v1.
    assert result.outcome == "rollback", result.endpoints
    assert result.revert_targets() == {MODEL: 1}, f"serving config {old}: {result.to_json()}"


def test_watch_when_the_rollback_itself_fails_reports_failed(aws, stack_root, clock):
    # Given a release whose rollback failed (UpdateRollbackFailed needs a person),
    old, new = serve(aws.sagemaker, STACK, 1), serve(aws.sagemaker, STACK, 2)
    _released(stack_root, 2)
    sagemaker = ScriptedEndpoint(
        aws.sagemaker,
        [
            endpoint_response(STACK, "RollingBack", old, pending=new),
            endpoint_response(STACK, "UpdateRollbackFailed", old, reason="instances failed"),
        ],
    )
    # when the release is watched, then it is failed, with nothing to revert automatically.
    result = _watch(sagemaker, stack_root, clock)
    assert result.outcome == "failed", result.endpoints
    assert result.revert_targets() == {}, "a failed rollback is not a revert"


def test_watch_of_update_past_its_deadline_reports_timeout(aws, stack_root, clock):
    # Given an update that is still going after the watch's time budget of 60 seconds,
    old, new = serve(aws.sagemaker, STACK, 1), serve(aws.sagemaker, STACK, 2)
    _released(stack_root, 2)
    updating = endpoint_response(STACK, "Updating", old, pending=new)
    sagemaker = ScriptedEndpoint(aws.sagemaker, [updating, updating, updating])
    # when the release is watched,
    result = _watch(sagemaker, stack_root, clock, timeout=60)
    # then it gives up at the deadline (no real sleeping) and says so.
    assert result.outcome == "timeout", result.endpoints
    assert clock.now == 60, f"the watch must stop at its deadline, stopped at {clock.now}"


def test_require_idle_while_an_endpoint_updates_refuses_a_second_release(aws, stack_root):
    # Given an endpoint of the stack in the middle of a deployment,
    old, new = serve(aws.sagemaker, STACK, 1), serve(aws.sagemaker, STACK, 2)
    sagemaker = ScriptedEndpoint(
        aws.sagemaker, [endpoint_response(STACK, "Updating", old, pending=new)]
    )
    # when another release checks the lock,
    with pytest.raises(ReleaseInProgress) as raised:
        require_idle(sagemaker, stack_config(stack_root, STACK))
    # then it is refused with one line naming the endpoint and its status.
    assert "mlops-staging-churn-classifier is Updating" in str(raised.value), str(raised.value)
    assert raised.value.exit_code == 2, "a release in progress is bad timing, exit code 2"


def test_require_idle_before_the_first_deploy_allows_the_release(aws, stack_root):
    # Given a stack whose endpoint does not exist yet (first deploy),
    # when a release checks the lock, then it may go ahead.
    states = require_idle(aws.sagemaker, stack_config(stack_root, STACK))
    assert [state.exists for state in states] == [False], states
