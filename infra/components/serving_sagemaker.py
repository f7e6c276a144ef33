"""SageMaker serving: registry models behind endpoints that shift traffic canary-first.

For every model the stack serves: a SageMaker Model built from the model package version
the stack file names (network-isolated, in the private subnets when the stack has a VPC),
an EndpointConfiguration (CMK on the volumes, data capture to the capture bucket with the
CMK, one production variant spread by SageMaker across AZs), and an Endpoint whose
`deployment_config` shifts traffic blue/green (CANARY, LINEAR or ALL_AT_ONCE) and rolls
back by itself when one of its CloudWatch alarms fires. Target-tracking autoscaling keeps
invocations per instance near the target. Alarms notify one CMK-encrypted SNS topic.

Each endpoint also has a CloudWatch dashboard (traffic, latency, errors, instances, drift
and quality) and two alarms on the monitoring jobs' metrics (`infra.contracts.MonitorMetric`):
drift and quality notify the topic like the others but never roll a deployment back.

Every Model and EndpointConfiguration is named after the version it serves,
`<prefix>-<model>-v<N>` (`infra.contracts.versioned_serving_name`). A release is a new
version in the stack file: the new pair is created next to the old one, and the Endpoint
update is SageMaker's blue/green deployment. The variant name never changes, as blue/green
needs.

Rollbacks stay consistent: if SageMaker rolls the update back by itself, the endpoint goes
back to the configuration it served before, which Pulumi knows nothing about. So the
release PR also writes `previousVersion` (the version serving before it) into the stack
file, and this component renders a Model and EndpointConfiguration for that retained
version too, the Endpoint pointing at the current one only. `pulumi up` therefore never
deletes what an automatic rollback lands on; the revert PR (version back, previousVersion
dropped) or the next release (previousVersion replaced) lets it go once nothing can roll
back to it. A Model and an EndpointConfiguration cost nothing while no endpoint uses them.
See docs/rollback.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_aws as aws

from infra.arns import Arns
from infra.components.alarm_topic import alarm_topic
from infra.contracts import (
    CAPTURE_PREFIX,
    ENDPOINT_VARIANT,
    MONITORING_DIMENSION,
    MONITORING_NAMESPACE,
    PROMOTED_FROM_ENV,
    Alarm,
    Env,
    MonitorAlarm,
    MonitorMetric,
    alarm_name,
    versioned_serving_name,
)

VARIANT = ENDPOINT_VARIANT
METRIC_NAMESPACE = "AWS/SageMaker"
LATENCY_ALARM, ERRORS_5XX_ALARM, MODEL_ERRORS_ALARM = (
    Alarm.LATENCY_P99,
    Alarm.ERRORS_5XX,
    Alarm.MODEL_ERRORS,
)
ALARM_KINDS = tuple(Alarm)
MONITOR_ALARM_METRICS = {
    MonitorAlarm.DRIFT: MonitorMetric.DRIFTED_FEATURES,
    MonitorAlarm.QUALITY: MonitorMetric.QUALITY_REGRESSIONS,
}
ENDPOINT_LOG_GROUP = "/aws/sagemaker/Endpoints/{endpoint}"
INSTANCE_METRIC_NAMESPACE = "/aws/sagemaker/Endpoints"
"""Where SageMaker publishes the instances' CPU and memory utilisation."""
SCALE_IN_COOLDOWN_SECONDS = 300
SCALE_OUT_COOLDOWN_SECONDS = 60


@dataclass(frozen=True)
class RetainedVersion:
    """A version kept ready for SageMaker's auto-rollback: its Model and config, not served."""

    version: int
    model_package_arn: pulumi.Input[str]


@dataclass(frozen=True)
class ServedModel:
    name: str
    """The model's name in `mlops:models`, e.g. `churn-classifier`; the endpoint is
    `<prefix>-<name>`."""
    version: int
    """The model package version to serve: the stack file's, nothing else."""
    model_package_arn: pulumi.Input[str]
    """`arn:...:model-package/<prefix>-<name>/<version>` in the stack's registry."""
    retained: Sequence[RetainedVersion] = ()
    """The version that served before this release (the stack file's `previousVersion`)."""


@dataclass(frozen=True)
class VpcPlacement:
    subnet_ids: Sequence[pulumi.Input[str]]
    """Private subnets, one per AZ; SageMaker spreads the instances across them."""
    security_group_ids: Sequence[pulumi.Input[str]]
    """The endpoint security group: HTTPS to the VPC endpoints only."""


@dataclass(frozen=True)
class TrafficShift:
    """Blue/green traffic routing, in SageMaker's terms (validated by the stack config)."""

    type: Literal["CANARY", "LINEAR", "ALL_AT_ONCE"] = "CANARY"
    canary_size_percent: int = 10
    """CANARY: share of the new fleet's capacity that takes traffic first."""
    linear_step_percent: int = 20
    """LINEAR: share shifted per step."""
    wait_interval_seconds: int = 600
    """Baking time after each step while the rollback alarms watch."""
    termination_wait_seconds: int = 600
    """How long the old fleet stays up after the last step, ready to take traffic back."""
    maximum_execution_timeout_seconds: int = 3600


@dataclass(frozen=True)
class RollbackAlarms:
    """Thresholds of the alarms that watch each endpoint."""

    latency_p99_ms: float = 120.0
    """p99 ModelLatency above this, in milliseconds (SageMaker reports microseconds)."""
    error_rate_percent: float = 1.0
    """Share of invocations answered with a 5XX, or with a model error, above this."""
    evaluation_periods: int = 2
    period_seconds: int = 60
    rollback_on: Sequence[str] = ALARM_KINDS
    """Which alarms roll a deployment back; all of them notify the topic either way."""
    drifted_features_threshold: int = 0
    """The drift alarm fires when more features than this drift in one monitor run."""
    quality_regressions_threshold: int = 0
    """The quality alarm fires when more metrics than this regress in one run."""
    monitor_period_seconds: int = 86400
    """Period of the drift and quality alarms: at least the monitors' schedule (daily)."""


@dataclass(frozen=True)
class SageMakerServingArgs:
    arns: Arns
    """ARN builder for this account and region (topic policy, alarm scoping)."""
    prefix: str
    """Name prefix, `mlops-<env>`; endpoints, alarms and the topic start with it."""
    stack: str
    """The stack (environment); the server refuses a model signed for another."""
    models: Sequence[ServedModel]
    execution_role_arn: pulumi.Input[str]
    """The inference role: reads model artifacts, writes capture and logs."""
    kms_key_arn: pulumi.Input[str]
    """The data CMK: endpoint volumes, data capture, the log group and the topic."""
    capture_bucket: pulumi.Input[str]
    """Bucket name for data capture (requests and responses, under `datacapture/`)."""
    signing_public_key_pem: pulumi.Input[str]
    """PEM of the release-signing key; the server verifies the model with it, offline,
    since a network-isolated container cannot call KMS. A stack that takes promotions
    appends its trusted source keys' PEMs."""
    instance_type: str
    initial_instance_count: int
    max_instance_count: int
    target_invocations_per_instance: int
    """Autoscaling target: invocations per instance per minute."""
    data_capture_percent: int = 100
    log_retention_days: int = 365
    traffic: TrafficShift = field(default_factory=TrafficShift)
    alarms: RollbackAlarms = field(default_factory=RollbackAlarms)
    vpc: VpcPlacement | None = None
    """Private subnets and security group; None only in stacks without a VPC (dev)."""
    tags: dict[str, str] | None = None
    promoted_from: str | None = None
    """The stack promoted models come from (`mlops:promotion.fromStack`); None: none."""


@dataclass(frozen=True)
class EndpointOutputs:
    """What `mlops release` and CI read back about one endpoint."""

    endpoint_name: pulumi.Output[str]
    endpoint_config_name: pulumi.Output[str]
    model_name: pulumi.Output[str]
    model_package_arn: pulumi.Input[str]
    alarm_names: list[pulumi.Output[str]]
    rollback_alarm_names: list[pulumi.Output[str]]
    monitor_alarm_names: list[pulumi.Output[str]]
    """The drift and quality alarms: they notify, never roll back."""


class SageMakerServing(pulumi.ComponentResource):
    """Endpoints for the stack's models, each canary-first with auto-rollback on alarms."""

    alarm_topic_arn: pulumi.Output[str]
    endpoints: dict[str, EndpointOutputs]

    def __init__(
        self, name: str, args: SageMakerServingArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("mlops:serving:SageMakerServing", name, None, opts)
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)
        self._tags = args.tags or {}
        topic = alarm_topic(
            f"{name}-alarms",
            topic_name=f"{args.prefix}-serving-alarms",
            display_name=f"{args.prefix} serving alarms",
            arns=args.arns,
            prefix=args.prefix,
            kms_key_arn=args.kms_key_arn,
            tags=self._tags,
            opts=self._child,
        )
        self.alarm_topic_arn = topic.arn
        self.endpoints = {model.name: self._endpoint(name, model) for model in args.models}
        self.register_outputs(
            {
                "alarm_topic_arn": self.alarm_topic_arn,
                "endpoint_names": {m: e.endpoint_name for m, e in self.endpoints.items()},
            }
        )

    def _endpoint(self, name: str, model: ServedModel) -> EndpointOutputs:
        args, child = self._args, self._child
        endpoint_name = f"{args.prefix}-{model.name}"
        tags = {**self._tags, "model": model.name, "model-version": str(model.version)}
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-{model.name}-logs",
            name=ENDPOINT_LOG_GROUP.format(endpoint=endpoint_name),
            retention_in_days=args.log_retention_days,
            kms_key_id=args.kms_key_arn,
            tags=tags,
            opts=child,
        )
        sm_model, config = self._version_pair(name, model.name, endpoint_name, model)
        for kept in model.retained:
            if kept.version != model.version:
                self._version_pair(name, model.name, endpoint_name, kept)
        alarms = self._alarms(name, model.name, endpoint_name, tags)
        # Rollback alarms come from the rollback kinds only: a drift alarm is not one.
        rollback = [alarms[Alarm(kind)] for kind in args.alarms.rollback_on]
        monitors = self._monitor_alarms(name, model.name, endpoint_name, tags)
        self._dashboard(name, model.name, endpoint_name, [*alarms.values(), *monitors.values()])
        endpoint = aws.sagemaker.Endpoint(
            f"{name}-{model.name}-endpoint",
            name=endpoint_name,
            endpoint_config_name=config.name,
            deployment_config=_deployment_config(args.traffic, rollback),
            tags=tags,
            # SageMaker writes to the log group on first start: it must exist, encrypted.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group]),
        )
        self._autoscaling(name, model.name, endpoint.name, tags)
        return EndpointOutputs(
            endpoint_name=endpoint.name,
            endpoint_config_name=config.name,
            model_name=sm_model.name,
            model_package_arn=model.model_package_arn,
            alarm_names=[alarms[kind] for kind in ALARM_KINDS],
            rollback_alarm_names=rollback,
            monitor_alarm_names=list(monitors.values()),
        )

    def _version_pair(
        self, name: str, model: str, endpoint_name: str, served: ServedModel | RetainedVersion
    ) -> tuple[aws.sagemaker.Model, aws.sagemaker.EndpointConfiguration]:
        """The Model and EndpointConfiguration of one version, both named after it."""
        args = self._args
        resource_name = versioned_serving_name(endpoint_name, served.version)
        tags = {**self._tags, "model": model, "model-version": str(served.version)}
        sm_model = aws.sagemaker.Model(
            f"{name}-{model}-v{served.version}-model",
            name=resource_name,
            execution_role_arn=args.execution_role_arn,
            enable_network_isolation=True,
            primary_container={
                "model_package_name": served.model_package_arn,
                "environment": {
                    Env.REQUIRE_SIGNATURE: "true",
                    Env.SIGNING_PUBLIC_KEY_PEM: args.signing_public_key_pem,
                    # What this endpoint must serve; the server refuses any other statement.
                    Env.MODEL_NAME: model,
                    Env.STACK: args.stack,
                    Env.MODEL_VERSION: str(served.version),
                    **({PROMOTED_FROM_ENV: args.promoted_from} if args.promoted_from else {}),
                },
            },
            vpc_config=(
                {
                    "subnets": list(args.vpc.subnet_ids),
                    "security_group_ids": list(args.vpc.security_group_ids),
                }
                if args.vpc
                else None
            ),
            tags=tags,
            opts=self._child,
        )
        config = aws.sagemaker.EndpointConfiguration(
            f"{name}-{model}-v{served.version}-config",
            name=resource_name,
            kms_key_arn=args.kms_key_arn,
            production_variants=[
                {
                    "variant_name": VARIANT,
                    "model_name": sm_model.name,
                    "instance_type": args.instance_type,
                    "initial_instance_count": args.initial_instance_count,
                    "initial_variant_weight": 1,
                    "routing_configs": [{"routing_strategy": "LEAST_OUTSTANDING_REQUESTS"}],
                }
            ],
            data_capture_config={
                "enable_capture": True,
                "initial_sampling_percentage": args.data_capture_percent,
                "destination_s3_uri": pulumi.Output.concat(
                    "s3://", args.capture_bucket, "/", CAPTURE_PREFIX
                ),
                "kms_key_id": args.kms_key_arn,
                "capture_options": [{"capture_mode": "Input"}, {"capture_mode": "Output"}],
                "capture_content_type_header": {
                    "csv_content_types": ["text/csv"],
                    "json_content_types": ["application/json"],
                },
            },
            tags=tags,
            opts=self._child,
        )
        return sm_model, config

    def _alarms(
        self, name: str, model: str, endpoint_name: str, tags: dict[str, str]
    ) -> dict[str, pulumi.Output[str]]:
        """The three alarms, named `<endpoint>-<kind>`, each notifying the topic."""
        a = self._args.alarms
        dimensions = {"EndpointName": endpoint_name, "VariantName": VARIANT}
        common = {
            "evaluation_periods": a.evaluation_periods,
            "datapoints_to_alarm": a.evaluation_periods,
            "comparison_operator": "GreaterThanThreshold",
            # No traffic is not a failure: an idle endpoint must not roll back.
            "treat_missing_data": "notBreaching",
            "alarm_actions": [self.alarm_topic_arn],
            "ok_actions": [self.alarm_topic_arn],
            "tags": tags,
            "opts": self._child,
        }
        latency = aws.cloudwatch.MetricAlarm(
            f"{name}-{model}-{LATENCY_ALARM}",
            name=alarm_name(endpoint_name, LATENCY_ALARM),
            alarm_description=(
                f"{endpoint_name}: p99 model latency above {a.latency_p99_ms:g} ms "
                "(ModelLatency is in microseconds); rolls a deployment back"
            ),
            namespace=METRIC_NAMESPACE,
            metric_name="ModelLatency",
            dimensions=dimensions,
            extended_statistic="p99",
            period=a.period_seconds,
            threshold=a.latency_p99_ms * 1000,
            **common,
        )
        errors = {
            ERRORS_5XX_ALARM: ("Invocation5XXErrors", "invocations answered with a 5XX"),
            MODEL_ERRORS_ALARM: (
                "InvocationModelErrors",
                "invocations the model container failed (non-2XX, timeouts)",
            ),
        }
        names = {LATENCY_ALARM: latency.name}
        for kind, (metric, what) in errors.items():
            alarm = aws.cloudwatch.MetricAlarm(
                f"{name}-{model}-{kind}",
                name=alarm_name(endpoint_name, kind),
                alarm_description=(
                    f"{endpoint_name}: {what} above {a.error_rate_percent:g}% of invocations; "
                    "rolls a deployment back"
                ),
                threshold=a.error_rate_percent,
                metric_queries=_error_rate_queries(metric, dimensions, a.period_seconds),
                **common,
            )
            names[kind] = alarm.name
        return names

    def _monitor_alarms(
        self, name: str, model: str, endpoint_name: str, tags: dict[str, str]
    ) -> dict[MonitorAlarm, pulumi.Output[str]]:
        """Drift and quality alarms on the monitoring jobs' metrics; they only notify."""
        a = self._args.alarms
        thresholds = {
            MonitorAlarm.DRIFT: (a.drifted_features_threshold, "features drifted"),
            MonitorAlarm.QUALITY: (a.quality_regressions_threshold, "quality metrics regressed"),
        }
        names = {}
        for kind, metric in MONITOR_ALARM_METRICS.items():
            threshold, what = thresholds[kind]
            alarm = aws.cloudwatch.MetricAlarm(
                f"{name}-{model}-{kind}",
                name=alarm_name(endpoint_name, kind),
                alarm_description=(
                    f"{endpoint_name}: more than {threshold} {what} in a monitor run; "
                    "notifies only, never rolls a deployment back"
                ),
                namespace=MONITORING_NAMESPACE,
                metric_name=metric,
                dimensions={MONITORING_DIMENSION: endpoint_name},
                statistic="Maximum",
                period=a.monitor_period_seconds,
                evaluation_periods=1,
                datapoints_to_alarm=1,
                comparison_operator="GreaterThanThreshold",
                threshold=threshold,
                # A period without a run is not drift: a failed monitor run fails its workflow.
                treat_missing_data="notBreaching",
                alarm_actions=[self.alarm_topic_arn],
                ok_actions=[self.alarm_topic_arn],
                tags=tags,
                opts=self._child,
            )
            names[kind] = alarm.name
        return names

    def _dashboard(
        self, name: str, model: str, endpoint_name: str, alarms: Sequence[pulumi.Input[str]]
    ) -> None:
        """One dashboard per endpoint, named after it."""
        args = self._args
        body = dashboard_body(
            endpoint_name,
            args.arns.region,
            [args.arns.service("cloudwatch", pulumi.Output.concat("alarm:", a)) for a in alarms],
        )
        aws.cloudwatch.Dashboard(
            f"{name}-{model}-dashboard",
            dashboard_name=endpoint_name,
            dashboard_body=pulumi.Output.json_dumps(body),
            opts=self._child,
        )

    def _autoscaling(
        self, name: str, model: str, endpoint_name: pulumi.Input[str], tags: dict[str, str]
    ) -> None:
        args = self._args
        target = aws.appautoscaling.Target(
            f"{name}-{model}-scaling",
            service_namespace="sagemaker",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            resource_id=pulumi.Output.concat("endpoint/", endpoint_name, "/variant/", VARIANT),
            min_capacity=args.initial_instance_count,
            max_capacity=args.max_instance_count,
            tags=tags,
            opts=self._child,
        )
        aws.appautoscaling.Policy(
            f"{name}-{model}-invocations",
            name=f"{args.prefix}-{model}-invocations-per-instance",
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace,
            scalable_dimension=target.scalable_dimension,
            resource_id=target.resource_id,
            target_tracking_scaling_policy_configuration={
                "target_value": float(args.target_invocations_per_instance),
                "predefined_metric_specification": {
                    "predefined_metric_type": "SageMakerVariantInvocationsPerInstance"
                },
                "scale_in_cooldown": SCALE_IN_COOLDOWN_SECONDS,
                "scale_out_cooldown": SCALE_OUT_COOLDOWN_SECONDS,
            },
            opts=self._child,
        )


def _error_rate_queries(
    metric: str, dimensions: dict[str, str], period: int
) -> list[dict[str, object]]:
    """`100 * errors / invocations`, 0 when idle: a rate, so low traffic is not judged harshly."""

    def series(query_id: str, metric_name: str) -> dict[str, object]:
        return {
            "id": query_id,
            "return_data": False,
            "metric": {
                "namespace": METRIC_NAMESPACE,
                "metric_name": metric_name,
                "dimensions": dimensions,
                "period": period,
                "stat": "Sum",
            },
        }

    return [
        series("errors", metric),
        series("invocations", "Invocations"),
        {
            "id": "rate",
            "expression": "IF(invocations > 0, 100 * FILL(errors, 0) / invocations, 0)",
            "label": f"{metric} (% of invocations)",
            "return_data": True,
        },
    ]


def _deployment_config(
    traffic: TrafficShift, rollback_alarms: Sequence[pulumi.Output[str]]
) -> dict[str, object]:
    routing: dict[str, object] = {
        "type": traffic.type,
        "wait_interval_in_seconds": traffic.wait_interval_seconds,
    }
    if traffic.type == "CANARY":
        routing["canary_size"] = {"type": "CAPACITY_PERCENT", "value": traffic.canary_size_percent}
    elif traffic.type == "LINEAR":
        routing["linear_step_size"] = {
            "type": "CAPACITY_PERCENT",
            "value": traffic.linear_step_percent,
        }
    config: dict[str, object] = {
        "blue_green_update_policy": {
            "traffic_routing_configuration": routing,
            "termination_wait_in_seconds": traffic.termination_wait_seconds,
            "maximum_execution_timeout_in_seconds": traffic.maximum_execution_timeout_seconds,
        }
    }
    if rollback_alarms:
        config["auto_rollback_configuration"] = {
            "alarms": [{"alarm_name": alarm} for alarm in rollback_alarms]
        }
    return config


def dashboard_body(
    endpoint: str, region: str, alarm_arns: Sequence[pulumi.Input[str]]
) -> dict[str, object]:
    """The dashboard of one endpoint: traffic, latency, errors, instances, drift, quality."""
    dims = ["EndpointName", endpoint, "VariantName", VARIANT]

    def graph(title: str, metrics: list[list[object]], **extra: object) -> dict[str, object]:
        return {
            "type": "metric",
            "width": 12,
            "height": 6,
            "properties": {
                "title": title,
                "region": region,
                "view": "timeSeries",
                "metrics": metrics,
                "period": 60,
                **extra,
            },
        }

    sm = METRIC_NAMESPACE
    return {
        "widgets": [
            {
                "type": "alarm",
                "width": 24,
                "height": 3,
                "properties": {"title": f"{endpoint} alarms", "alarms": list(alarm_arns)},
            },
            graph(
                "Invocations",
                [[sm, "Invocations", *dims, {"stat": "Sum"}]],
            ),
            graph(
                "Model latency (microseconds)",
                [
                    [sm, "ModelLatency", *dims, {"stat": "p50", "label": "p50"}],
                    [sm, "ModelLatency", *dims, {"stat": "p99", "label": "p99"}],
                ],
            ),
            graph(
                "Errors",
                [
                    [sm, "Invocation4XXErrors", *dims, {"stat": "Sum"}],
                    [sm, "Invocation5XXErrors", *dims, {"stat": "Sum"}],
                    [sm, "InvocationModelErrors", *dims, {"stat": "Sum"}],
                ],
            ),
            graph(
                "Instances",
                [
                    [sm, "Invocations", *dims, {"stat": "Sum", "id": "inv", "visible": False}],
                    [
                        sm,
                        "InvocationsPerInstance",
                        *dims,
                        {"stat": "Sum", "id": "per", "visible": False},
                    ],
                    [{"expression": "inv / per", "label": "instances in service", "id": "count"}],
                    [INSTANCE_METRIC_NAMESPACE, "CPUUtilization", *dims, {"yAxis": "right"}],
                ],
            ),
            graph(
                "Drift and quality (per monitor run)",
                [
                    [
                        MONITORING_NAMESPACE,
                        metric.value,
                        MONITORING_DIMENSION,
                        endpoint,
                        {"stat": "Maximum"},
                    ]
                    for metric in MonitorMetric
                ],
                period=86400,
            ),
        ]
    }
