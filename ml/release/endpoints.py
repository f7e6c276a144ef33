"""What a SageMaker endpoint is doing and which model version it serves (adapter).

Takes a boto3 SageMaker client. The serving component names each endpoint
`<prefix>-<model>` (`infra/components/serving_sagemaker.py`) and builds its Model from
the registry's package ARN (`PrimaryContainer.ModelPackageName`,
`arn:...:model-package/<group>/<version>`), so what serves is read from SageMaker itself:
DescribeEndpoint -> EndpointConfigName -> DescribeEndpointConfig -> ModelName ->
DescribeModel -> ModelPackageName. A Model built otherwise is recognised by its
`model-version` tag, which the component also sets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from common.errors import MlopsError
from infra.config import StackConfig
from ml.aws import aws_errors, error_code

# DescribeEndpoint's EndpointStatus values (SageMaker API reference).
IN_PROGRESS = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})
FAILED = frozenset({"Failed", "UpdateRollbackFailed", "OutOfService"})
IN_SERVICE = "InService"
_PACKAGE_ARN = re.compile(r":model-package/(?P<group>[^/]+)/(?P<version>\d+)$")


def endpoint_name(cfg: StackConfig, model: str) -> str:
    """The endpoint that serves `model` in this stack (serving component's naming)."""
    return cfg.model_group(model)


def group_name(cfg: StackConfig, model: str) -> str:
    """The model package group of `model` in this stack's registry."""
    return cfg.model_group(model)


@dataclass(frozen=True)
class EndpointState:
    """One DescribeEndpoint answer, or `status=None` when the endpoint does not exist."""

    name: str
    status: str | None
    config_name: str | None = None
    failure_reason: str | None = None
    pending_config_name: str | None = None
    """The configuration a deployment in progress is moving to, if any."""

    @property
    def exists(self) -> bool:
        return self.status is not None

    @property
    def in_progress(self) -> bool:
        return self.status in IN_PROGRESS

    def describe(self) -> str:
        if not self.exists:
            return f"endpoint {self.name} does not exist"
        reason = f" ({self.failure_reason})" if self.failure_reason else ""
        return f"endpoint {self.name} is {self.status}{reason}"


def describe_endpoint(sagemaker: Any, name: str) -> EndpointState:
    try:
        data = sagemaker.describe_endpoint(EndpointName=name)
    except ClientError as error:
        if error_code(error) == "ValidationException" and "Could not find" in str(error):
            return EndpointState(name=name, status=None)
        with aws_errors(f"describing endpoint {name}"):
            raise
    pending = data.get("PendingDeploymentSummary") or {}
    return EndpointState(
        name=name,
        status=data.get("EndpointStatus"),
        config_name=data.get("EndpointConfigName"),
        failure_reason=data.get("FailureReason") or None,
        pending_config_name=pending.get("EndpointConfigName"),
    )


def serving_version(sagemaker: Any, config_name: str, group: str) -> int | None:
    """The version of `group` the endpoint configuration serves; None if it serves none."""
    with aws_errors(f"describing endpoint configuration {config_name}"):
        config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
    for variant in config.get("ProductionVariants") or []:
        model_name = variant.get("ModelName")
        if not model_name:
            continue
        with aws_errors(f"describing model {model_name}"):
            model = sagemaker.describe_model(ModelName=model_name)
        version = _package_version(model, group)
        if version is None:
            version = _tagged_version(sagemaker, model)
        if version is not None:
            return version
    return None


def _package_version(model: dict[str, Any], group: str) -> int | None:
    containers = [model.get("PrimaryContainer") or {}, *(model.get("Containers") or [])]
    for container in containers:
        match = _PACKAGE_ARN.search(str(container.get("ModelPackageName") or ""))
        if match and match["group"] == group:
            return int(match["version"])
    return None


def _tagged_version(sagemaker: Any, model: dict[str, Any]) -> int | None:
    arn = model.get("ModelArn")
    if not arn:
        return None
    with aws_errors(f"listing tags of model {model.get('ModelName')}"):
        tags = sagemaker.list_tags(ResourceArn=arn).get("Tags") or []
    for tag in tags:
        if tag.get("Key") == "model-version":
            try:
                return int(tag.get("Value", ""))
            except ValueError:
                raise MlopsError(
                    f"model {model.get('ModelName')}: tag model-version={tag.get('Value')!r} "
                    "is not a version number"
                ) from None
    return None
