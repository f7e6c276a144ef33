"""`pulumi up` of a rendered graph's SageMaker serving, replayed against the emulator.

What Pulumi does with this program's Models, EndpointConfigurations and Endpoint, in its
order: create what the new graph adds (Models, then configurations), create the endpoint
or, when its `endpointConfigName` differs from the state's (the previous graph), call
UpdateEndpoint with its `deploymentConfig` and wait until it settles (the provider waits
for InService), then delete what the new graph lacks (configurations, then Models). The
rollback alarms are created with the names the endpoint names; their metric does not
matter, the test sets their state. Only the inputs the deployment needs are sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from infra.graph import Graph, Resource
from tests.conftest import wait_until

MODEL_T = "aws:sagemaker/model:Model"
CONFIG_T = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
ENDPOINT_T = "aws:sagemaker/endpoint:Endpoint"
SETTLED = frozenset({"InService", "Failed", "UpdateRollbackFailed", "OutOfService"})


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

    created: list[str] = field(default_factory=list)
    updated_to: str | None = None
    deleted: list[str] = field(default_factory=list)


class ServingBroken(AssertionError):
    """The endpoint's configuration, or a model it runs, no longer exists."""


def serving_parts(sagemaker: Any, endpoint: str) -> tuple[str, list[str]]:
    """(the endpoint's configuration, the models it runs), read from SageMaker; raises
    ServingBroken if either is gone."""
    config_name = sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    configs = sagemaker.list_endpoint_configs()["EndpointConfigs"]
    if config_name not in {c["EndpointConfigName"] for c in configs}:
        raise ServingBroken(f"endpoint {endpoint} serves {config_name}, which was deleted")
    config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
    models = [variant["ModelName"] for variant in config["ProductionVariants"]]
    held = {m["ModelName"] for m in sagemaker.list_models()["Models"]}
    for model in models:
        if model not in held:
            raise ServingBroken(f"endpoint {endpoint} runs model {model}, which was deleted")
    return config_name, models


def apply(
    sagemaker: Any,
    cloudwatch: Any,
    graph: Graph,
    state: Graph | None,
    *,
    on_updating: Callable[[], None] = lambda: None,
    check: Callable[[], None] = lambda: None,
    timeout: float = 60.0,
) -> Applied:
    """`pulumi up` of `graph`'s serving over `state` (the previously applied graph).

    `on_updating` runs once while an endpoint update is in progress; `check` after every
    step that changes something, so a test can assert at every point."""
    done = Applied()
    before = {r.id for r in state.resources} if state else set()
    for kind in (MODEL_T, CONFIG_T):
        for resource in graph.of_type(kind):
            if resource.id not in before:
                _create(sagemaker, resource)
                done.created.append(str(resource.id))
                check()
    (endpoint,) = graph.of_type(ENDPOINT_T)
    deployment = pascal(endpoint.inputs["deploymentConfig"])
    for alarm in deployment.get("AutoRollbackConfiguration", {}).get("Alarms", []):
        cloudwatch.put_metric_alarm(
            AlarmName=alarm["AlarmName"], Namespace="AWS/SageMaker", MetricName="Invocations",
            Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
            ComparisonOperator="GreaterThanThreshold",
        )  # fmt: skip
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
    _settle(sagemaker, str(endpoint.id), timeout)
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


def _create(sagemaker: Any, resource: Resource) -> None:
    inputs = resource.inputs
    if resource.type == MODEL_T:
        container = inputs["primaryContainer"]
        sagemaker.create_model(
            ModelName=resource.id,
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
        EndpointConfigName=resource.id,
        ProductionVariants=[
            pascal({k: variant[k] for k in keys}) for variant in inputs["productionVariants"]
        ],
        KmsKeyId=inputs["kmsKeyArn"],
    )


def _settle(sagemaker: Any, endpoint: str, timeout: float) -> None:
    wait_until(
        lambda: sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] in SETTLED,
        timeout,
        f"endpoint {endpoint} did not settle",
    )
