"""`pulumi up` of a rendered graph's SageMaker serving, replayed against the emulator.

The Pulumi CLI is not on this machine, yet the demo and the tests must deploy the
endpoint the way a release does, as the identity that does it, so that `mlops release
watch` can follow a real (emulated) blue/green update. This replays what Pulumi does with
the program's Models, EndpointConfigurations and Endpoint, in its order: create what the
new graph adds (Models, then configurations), create the endpoint or, when its
`endpointConfigName` differs from the state's (the previous graph), call UpdateEndpoint
with its `deploymentConfig` and wait until it settles (the provider waits for InService),
then delete what the new graph lacks (configurations, then Models). Only the inputs the
deployment needs are sent, with the graph's mock ids and ARNs read as the emulated stack
holds them (`EmulatedStack.rewrite()`: keys, accounts). The rollback alarms belong to the
infrastructure's own `pulumi up`: `create_rollback_alarms` makes them (their metric does
not matter; the emulator judges the state CloudWatch holds).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from infra.graph import Graph, Resource

MODEL_T = "aws:sagemaker/model:Model"
CONFIG_T = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
ENDPOINT_T = "aws:sagemaker/endpoint:Endpoint"
SETTLED = frozenset({"InService", "Failed", "UpdateRollbackFailed", "OutOfService"})


class RolloutTimeout(RuntimeError):
    """The endpoint did not settle in time."""


def pascal(value: Any) -> Any:
    """Pulumi's camelCase inputs as the SageMaker API spells them (whole numbers as int:
    Pulumi's wire format carries every number as a float)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key[:1].upper() + key[1:]: pascal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [pascal(item) for item in value]
    return value


@dataclass
class Applied:
    """What one apply did, in order."""

    endpoint: str = ""
    created: list[str] = field(default_factory=list)
    updated_to: str | None = None
    deleted: list[str] = field(default_factory=list)


def deployment_config(graph: Graph) -> dict[str, Any]:
    """The endpoint's `DeploymentConfig` as SageMaker's API spells it."""
    (endpoint,) = graph.of_type(ENDPOINT_T)
    return pascal(endpoint.inputs["deploymentConfig"])


def rollback_alarm_names(graph: Graph) -> list[str]:
    config = deployment_config(graph).get("AutoRollbackConfiguration", {})
    return [alarm["AlarmName"] for alarm in config.get("Alarms", [])]


def create_rollback_alarms(cloudwatch: Any, graph: Graph) -> list[str]:
    """The alarms the endpoint's auto-rollback watches, as the infrastructure made them."""
    names = rollback_alarm_names(graph)
    for name in names:
        cloudwatch.put_metric_alarm(
            AlarmName=name, Namespace="AWS/SageMaker", MetricName="Invocations",
            Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
            ComparisonOperator="GreaterThanThreshold",
        )  # fmt: skip
    return names


def apply(
    sagemaker: Any,
    graph: Graph,
    state: Graph | None,
    *,
    on_updating: Callable[[], None] = lambda: None,
    check: Callable[[], None] = lambda: None,
    timeout: float = 60.0,
    rewrite: Callable[[str], str] = str,
) -> Applied:
    """`pulumi up` of `graph`'s serving over `state` (the previously applied graph).

    `on_updating` runs once while an endpoint update is in progress; `check` after every
    step that changes something, so a test can assert at every point; `rewrite` maps the
    graph's values to the emulator's."""
    (endpoint,) = graph.of_type(ENDPOINT_T)
    done = Applied(endpoint=str(endpoint.id))
    before = {r.id for r in state.resources} if state else set()
    for kind in (MODEL_T, CONFIG_T):
        for resource in graph.of_type(kind):
            if resource.id not in before:
                _create(sagemaker, resource.type, str(resource.id), _inputs(resource, rewrite))
                done.created.append(str(resource.id))
                check()
    deployment = deployment_config(graph)
    wanted = endpoint.inputs["endpointConfigName"]
    previous = state.of_type(ENDPOINT_T)[0].inputs["endpointConfigName"] if state else None
    if previous is None:
        sagemaker.create_endpoint(
            EndpointName=endpoint.id, EndpointConfigName=wanted, DeploymentConfig=deployment
        )
    elif previous != wanted:
        sagemaker.update_endpoint(
            EndpointName=endpoint.id, EndpointConfigName=wanted, DeploymentConfig=deployment
        )
        done.updated_to = wanted
        on_updating()
    settle(sagemaker, str(endpoint.id), timeout)
    check()
    keep = {r.id for r in graph.resources}
    gone = [r for kind in (CONFIG_T, MODEL_T) for r in (state.of_type(kind) if state else [])]
    for resource in gone:
        if resource.id in keep:
            continue
        if resource.type == CONFIG_T:
            sagemaker.delete_endpoint_config(EndpointConfigName=resource.id)
        else:
            sagemaker.delete_model(ModelName=resource.id)
        done.deleted.append(str(resource.id))
        check()
    return done


def _inputs(resource: Resource, rewrite: Callable[[str], str]) -> dict[str, Any]:
    return json.loads(rewrite(json.dumps(resource.inputs)))


def _create(sagemaker: Any, kind: str, name: str, inputs: dict[str, Any]) -> None:
    if kind == MODEL_T:
        container = inputs["primaryContainer"]
        network = {"VpcConfig": pascal(inputs["vpcConfig"])} if inputs.get("vpcConfig") else {}
        sagemaker.create_model(
            **network,
            ModelName=name,
            ExecutionRoleArn=inputs["executionRoleArn"],
            PrimaryContainer={
                "ModelPackageName": container["modelPackageName"],
                "Environment": container["environment"],
            },
            EnableNetworkIsolation=inputs["enableNetworkIsolation"],
            Tags=[{"Key": k, "Value": v} for k, v in inputs["tags"].items()],
        )
        return
    keys = ("variantName", "modelName", "instanceType", "initialInstanceCount")
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            pascal({k: variant[k] for k in keys}) for variant in inputs["productionVariants"]
        ],
        KmsKeyId=inputs["kmsKeyArn"],
    )


def settle(sagemaker: Any, endpoint: str, timeout: float, poll: float = 0.02) -> str:
    """Wait until the endpoint is in a settled state (as the provider does); that state."""
    deadline = time.monotonic() + timeout
    while True:
        status = sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointStatus"]
        if status in SETTLED:
            return status
        if time.monotonic() >= deadline:
            raise RolloutTimeout(f"endpoint {endpoint} did not settle in {timeout:g}s ({status})")
        time.sleep(poll)
