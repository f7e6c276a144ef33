"""The monitor's CloudWatch metric: drifted features per endpoint, after each run.

Published to `MONITORING_NAMESPACE` (the only namespace the monitor role may publish to)
with the endpoint as the one dimension, so an alarm per endpoint can watch it.
"""

from __future__ import annotations

from typing import Any

from infra.contracts import MONITORING_DIMENSION, MONITORING_NAMESPACE, MonitorMetric


def publish(cloudwatch: Any, metric: MonitorMetric, endpoint: str, value: float) -> None:
    """One datum of `metric` for `endpoint` (a count)."""
    from ml.aws import aws_errors

    with aws_errors(f"publishing {MONITORING_NAMESPACE}/{metric} for {endpoint}"):
        cloudwatch.put_metric_data(
            Namespace=MONITORING_NAMESPACE,
            MetricData=[
                {
                    "MetricName": str(metric),
                    "Dimensions": [{"Name": MONITORING_DIMENSION, "Value": endpoint}],
                    "Value": float(value),
                    "Unit": "Count",
                }
            ],
        )
