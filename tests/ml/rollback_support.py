"""`pulumi up` of a rendered graph's SageMaker serving, replayed against the emulator
(`ml.emulator.rollout`), with the rollback alarms the infrastructure made, and the check
the tests make after every step: what serves still exists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from infra.graph import Graph
from ml.emulator.rollout import Applied, create_rollback_alarms
from ml.emulator.rollout import apply as apply_serving


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
    """The alarms, then `pulumi up` of `graph`'s serving over `state`."""
    create_rollback_alarms(cloudwatch, graph)
    return apply_serving(
        sagemaker, graph, state, on_updating=on_updating, check=check, timeout=timeout
    )
