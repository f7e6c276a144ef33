"""The emulator's UpdateEndpoint: blue/green steps, auto-rollback on alarms, DescribeEndpoint."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from ml.emulator import deployments
from tests.conftest import wait_until
from tests.ml.provenance_support import REGION, Aws, aws_fixture  # noqa: F401

PACKAGE = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/g/{}"
ALARM = "mlops-dev-churn-classifier-model-errors"
CANARY: dict[str, Any] = {
    "BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": {
            "Type": "CANARY",
            "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
            "WaitIntervalInSeconds": 600,
        },
        "TerminationWaitInSeconds": 600,
        "MaximumExecutionTimeoutInSeconds": 3600,
    },
    "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": ALARM}]},
}


@pytest.fixture
def endpoint(aws: Aws) -> Iterator[Any]:
    """Endpoint `e` serving config `e-v1`, with `e-v2` ready; waits run 1000x faster."""
    sagemaker = aws.sagemaker
    for version in (1, 2):
        sagemaker.create_model(
            ModelName=f"e-v{version}",
            ExecutionRoleArn="arn:aws:iam::123456789012:role/inference",
            PrimaryContainer={"ModelPackageName": PACKAGE.format(version)},
        )
        sagemaker.create_endpoint_config(
            EndpointConfigName=f"e-v{version}",
            ProductionVariants=[
                {"VariantName": "primary", "ModelName": f"e-v{version}",
                 "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
            ],
        )  # fmt: skip
    boto3.client("cloudwatch", region_name=REGION).put_metric_alarm(
        AlarmName=ALARM, Namespace="AWS/SageMaker", MetricName="InvocationModelErrors",
        Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )  # fmt: skip
    sagemaker.create_endpoint(EndpointName="e", EndpointConfigName="e-v1", DeploymentConfig=CANARY)
    with deployments.scaled(0.001):
        yield sagemaker
        deployments.settle()


def _follow(sagemaker: Any, until: str = "InService", timeout: float = 20.0) -> list[str]:
    """Statuses seen, without repeats, until the endpoint is `until` again."""
    seen: list[str] = []

    def back_to_until() -> bool:
        status = sagemaker.describe_endpoint(EndpointName="e")["EndpointStatus"]
        if not seen or seen[-1] != status:
            seen.append(status)
        return status == until and len(seen) > 1

    wait_until(back_to_until, timeout, lambda: f"endpoint never got {until}: {seen}", poll=0.005)
    return seen


@pytest.mark.parametrize(
    ("routing", "steps"),
    [
        ({"Type": "ALL_AT_ONCE"}, [100]),
        ({"Type": "CANARY", "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10}}, [10, 100]),
        (
            {"Type": "LINEAR", "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 20}},
            [20, 40, 60, 80, 100],
        ),
    ],
)
def test_traffic_steps_follow_the_routing_type(routing: dict, steps: list[int]) -> None:
    assert deployments.traffic_steps(routing) == steps, routing


def test_create_endpoint_reports_its_deployment_config(endpoint: Any) -> None:
    described = endpoint.describe_endpoint(EndpointName="e")
    assert described["LastDeploymentConfig"] == CANARY, described.get("LastDeploymentConfig")
    assert "PendingDeploymentSummary" not in described, described


def test_update_endpoint_without_alarm_moves_to_the_new_config(endpoint: Any) -> None:
    # when v2 is deployed and no alarm fires
    endpoint.update_endpoint(EndpointName="e", EndpointConfigName="e-v2", DeploymentConfig=CANARY)
    during = endpoint.describe_endpoint(EndpointName="e")
    # then while it updates, the endpoint still names v1 and the pending deployment v2
    assert during["EndpointStatus"] == "Updating", during["EndpointStatus"]
    assert during["EndpointConfigName"] == "e-v1", "the old config serves until the end"
    assert during["PendingDeploymentSummary"]["EndpointConfigName"] == "e-v2", during
    # and once done, v2 is the endpoint's configuration
    assert _follow(endpoint) == ["Updating", "InService"]
    after = endpoint.describe_endpoint(EndpointName="e")
    assert after["EndpointConfigName"] == "e-v2", after
    assert "PendingDeploymentSummary" not in after and "FailureReason" not in after, after


def test_update_endpoint_rolls_back_when_a_rollback_alarm_fires(endpoint: Any) -> None:
    # given v2 deploying
    endpoint.update_endpoint(EndpointName="e", EndpointConfigName="e-v2", DeploymentConfig=CANARY)
    # when a rollback alarm goes to ALARM during the canary
    boto3.client("cloudwatch", region_name=REGION).set_alarm_state(
        AlarmName=ALARM, StateValue="ALARM", StateReason="test"
    )
    # then SageMaker rolls back and serves v1 again, saying which alarm
    assert _follow(endpoint)[-2:] == ["RollingBack", "InService"]
    after = endpoint.describe_endpoint(EndpointName="e")
    assert after["EndpointConfigName"] == "e-v1", after
    assert ALARM in after["FailureReason"], after.get("FailureReason")


def test_update_endpoint_while_updating_is_refused(endpoint: Any) -> None:
    endpoint.update_endpoint(EndpointName="e", EndpointConfigName="e-v2", DeploymentConfig=CANARY)
    with pytest.raises(ClientError) as raised:
        endpoint.update_endpoint(EndpointName="e", EndpointConfigName="e-v1")
    error = raised.value.response["Error"]
    assert error["Code"] == "ValidationException", error
    assert "Cannot update in-progress endpoint" in error["Message"], error


def test_update_endpoint_to_a_missing_config_is_refused(endpoint: Any) -> None:
    with pytest.raises(ClientError) as raised:
        endpoint.update_endpoint(EndpointName="e", EndpointConfigName="e-v9")
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert endpoint.describe_endpoint(EndpointName="e")["EndpointStatus"] == "InService"
