"""The baseline a window is judged against: the metrics registered with the model the
endpoint serves (what its validation measured before release), or a file.

The endpoint's model is read from SageMaker, not from git: DescribeEndpoint -> its
configuration -> the Model -> the registry package it was built from
(`ml.release.endpoints.serving_version`); that package's `metric.<name>` metadata is the
baseline. The serving component names an endpoint after its model package group.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.errors import MlopsError
from ml.metrics import HIGHER_IS_BETTER


@dataclass(frozen=True)
class Baseline:
    metrics: dict[str, float]
    source: str
    """Where the numbers came from, for the report: a package ARN or a file."""


def from_file(path: Path) -> Baseline:
    """A JSON object of metrics: at the top level, under `metrics`, or a validation report
    (`validation.json`, stored beside each registered model) whose `candidate.metrics`
    are the released model's."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MlopsError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MlopsError(f"{path}: not a JSON baseline: {error}") from None
    if isinstance(data, dict) and isinstance(data.get("candidate"), dict):
        data = data["candidate"]
    if isinstance(data, dict) and isinstance(data.get("metrics"), dict):
        data = data["metrics"]
    if not isinstance(data, dict):
        raise MlopsError(f"{path}: the baseline must be a JSON object of metric values")
    metrics: dict[str, float] = {}
    for name in HIGHER_IS_BETTER:
        value = data.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise MlopsError(f"{path}: baseline {name} is {value!r}, not a number")
        metrics[name] = float(value)
    if not metrics:
        raise MlopsError(f"{path}: no accuracy, roc_auc or log_loss in the baseline")
    return Baseline(metrics, str(path))


def from_registry(sagemaker: Any, endpoint: str) -> Baseline:
    """The registered metrics of the package `endpoint` serves now."""
    from ml.registry.packages import find_package
    from ml.release.endpoints import describe_endpoint, serving_version

    state = describe_endpoint(sagemaker, endpoint)
    if not state.exists or state.config_name is None:
        raise MlopsError(f"{state.describe()}: no production model to take a baseline from")
    group = endpoint
    version = serving_version(sagemaker, state.config_name, group)
    if version is None:
        raise MlopsError(
            f"endpoint {endpoint} serves no package of group {group}: pass --baseline FILE"
        )
    package = find_package(sagemaker, group, version)
    metrics = {k: v for k, v in package.metrics.items() if k in HIGHER_IS_BETTER}
    if not metrics:
        raise MlopsError(
            f"{package.arn} records no metric.accuracy, metric.roc_auc or metric.log_loss: "
            "pass --baseline FILE"
        )
    return Baseline(metrics, package.arn)
