"""SageMaker serving: isolated models, encrypted and captured endpoints, safe rollouts.

Training jobs are not Pulumi resources (`ml` launches them), so no CrossGuard policy can
see them; what the stack does declare for training (its role, the CMK grants, the
artifact bucket that refuses uploads without the CMK) is checked by the IAM, KMS and S3
policies.
"""

from __future__ import annotations

from policies.core import ADVISORY, MANDATORY, Param, Policy, ResourceCheck, StackCheck

MODEL = "aws:sagemaker/model:Model"
ENDPOINT_CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
ENDPOINT = "aws:sagemaker/endpoint:Endpoint"
VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
PROD = Param(
    "environments",
    "array",
    ["prod"],
    "Environments (resource tag `environment`, else the stack) this rule applies to.",
    items={"type": "string"},
)


def _check_isolation(check: ResourceCheck) -> None:
    if check.get("enableNetworkIsolation") is not True:
        check.violation(
            "network isolation must be enabled (no calls in or out of the model container)",
            check.get("enableNetworkIsolation"),
            "set enable_network_isolation=True; verify signatures with the public key file",
        )


MODEL_NETWORK_ISOLATION = Policy(
    name="sagemaker-model-network-isolation",
    description="Checks whether every SageMaker model runs with network isolation enabled.",
    enforcement=MANDATORY,
    severity="high",
    controls=("FSBP SageMaker.5", "NIST SC-7", "NIST AC-4", "NIST SC-39"),
    validators={MODEL: _check_isolation},
)


def _check_model_vpc(stack: StackCheck) -> None:
    vpcs = stack.resources(VPC)
    for model in stack.resources(MODEL):
        check = stack.check(model)
        if not vpcs:
            stack.skip(model, "the stack declares no VPC")
            continue
        check.note("stack VPCs", [v.name for v in vpcs])
        subnets = check.get("vpcConfig.subnets") or []
        groups = check.get("vpcConfig.securityGroupIds") or []
        if not subnets or not groups:
            check.violation(
                "a model must run in the stack's private subnets when the stack has a VPC",
                "no vpc_config"
                if not (subnets or groups)
                else {"subnets": subnets, "securityGroupIds": groups},
                'set vpc_config={"subnets": <private subnet ids>, "security_group_ids": '
                "[<endpoint security group id>]}",
            )
            continue
        for subnet in stack.referenced(model, "vpcConfig.subnets", SUBNET):
            if check.look(subnet, "mapPublicIpOnLaunch") is True:
                check.violation(
                    f"subnet {subnet.name} must be private",
                    "map_public_ip_on_launch true",
                    "use subnets with map_public_ip_on_launch=False and no internet route",
                )


MODEL_IN_PRIVATE_VPC = Policy(
    name="sagemaker-model-in-private-vpc",
    description="Checks whether SageMaker models run in private subnets with a security "
    "group when the stack has a VPC, so they have no direct internet access.",
    enforcement=MANDATORY,
    severity="high",
    controls=("NIST SC-7", "NIST AC-4"),
    stack_validator=_check_model_vpc,
    subject_types=(MODEL,),
)


def _customer_key(value: object) -> bool:
    return isinstance(value, str) and bool(value) and not value.startswith("alias/aws/")


def _check_config_kms(check: ResourceCheck) -> None:
    key = check.get("kmsKeyArn")
    if not _customer_key(key):
        check.violation(
            "instance storage must be encrypted with a customer managed KMS key",
            key,
            "set kms_key_arn to the stack's data CMK",
        )


ENDPOINT_CONFIG_ENCRYPTED = Policy(
    name="sagemaker-endpoint-config-encrypted",
    description="Checks whether every SageMaker endpoint configuration encrypts the ML "
    "storage volumes with a customer managed KMS key.",
    enforcement=MANDATORY,
    controls=("NIST SC-28", "NIST SC-12"),
    validators={ENDPOINT_CONFIG: _check_config_kms},
)


def _check_capture(check: ResourceCheck) -> None:
    capture = "dataCaptureConfig"
    if check.get(f"{capture}.enableCapture") is not True:
        check.violation(
            "data capture must be enabled (drift monitoring and audit need the traffic)",
            check.get(f"{capture}.enableCapture"),
            'set data_capture_config={"enable_capture": True, ...}',
        )
        return
    minimum = check.config["minimumSamplingPercent"]
    sampling = check.get(f"{capture}.initialSamplingPercentage")
    if sampling is None or sampling < minimum:
        check.violation(
            f"at least {minimum}% of requests must be captured",
            f"{sampling:g}%" if sampling is not None else None,
            f"set initial_sampling_percentage={minimum} or more",
        )
    modes = {o.get("captureMode") for o in check.get(f"{capture}.captureOptions") or []}
    if not {"Input", "Output"} <= modes:
        check.violation(
            "both requests (Input) and responses (Output) must be captured",
            sorted(m for m in modes if m),
            'set capture_options=[{"capture_mode": "Input"}, {"capture_mode": "Output"}]',
        )
    destination = check.get(f"{capture}.destinationS3Uri")
    if not (isinstance(destination, str) and destination.startswith("s3://")):
        check.violation("captured data must go to an S3 URI", destination, "set destination_s3_uri")
    key = check.get(f"{capture}.kmsKeyId")
    if not _customer_key(key):
        check.violation(
            "captured data must be encrypted with a customer managed KMS key",
            key,
            "set data_capture_config.kms_key_id to the stack's data CMK",
        )


ENDPOINT_DATA_CAPTURE = Policy(
    name="sagemaker-endpoint-config-data-capture",
    description="Checks whether every SageMaker endpoint configuration captures requests "
    "and responses to S3, encrypted with a customer managed KMS key.",
    enforcement=MANDATORY,
    controls=("NIST AU-2", "NIST AU-12", "NIST SI-4", "NIST SC-28"),
    validators={ENDPOINT_CONFIG: _check_capture},
    params=(
        Param(
            "minimumSamplingPercent",
            "integer",
            1,
            "Lowest accepted initial_sampling_percentage.",
            minimum=1,
            maximum=100,
        ),
    ),
)


def _variants(check: ResourceCheck) -> list:
    variants = check.get("productionVariants") or []
    if not variants:
        check.not_applicable("no production variants")
    return list(variants)


def _check_multi_instance(check: ResourceCheck) -> None:
    counted = [v for v in _variants(check) if v.get("initialInstanceCount") is not None]
    if not counted:
        check.not_applicable("serverless variants only")
    for variant in counted:
        count = variant.get("initialInstanceCount")
        if count <= 1:
            check.violation(
                f"variant {variant.get('variantName')} should start with more than one "
                "instance (one per Availability Zone)",
                f"initial_instance_count {count:g}",
                "set initial_instance_count=2 or more",
            )


MULTIPLE_INSTANCES = Policy(
    name="sagemaker-endpoint-config-multiple-instances",
    description="Checks whether every instance-based production variant starts with more "
    "than one instance, so SageMaker can spread it across Availability Zones.",
    enforcement=ADVISORY,
    controls=("FSBP SageMaker.4", "NIST CP-10", "NIST SC-5"),
    validators={ENDPOINT_CONFIG: _check_multi_instance},
)


def _check_prod_capacity(check: ResourceCheck) -> None:
    variants = _variants(check)
    if not check.in_environments():
        check.not_applicable(f"applies only in {check.config['environments']}")
    minimum = check.config["minimumInstances"]
    for variant in variants:
        count = variant.get("initialInstanceCount")
        if count is None or count < minimum:
            check.violation(
                f"production variant {variant.get('variantName')} needs at least {minimum} "
                "instances",
                f"initial_instance_count {count:g}"
                if count is not None
                else "a serverless variant",
                f"set initial_instance_count={minimum}",
            )


PROD_CAPACITY = Policy(
    name="sagemaker-endpoint-config-prod-capacity",
    description="Checks whether production endpoint configurations run every variant on at "
    "least two instances.",
    enforcement=MANDATORY,
    controls=("FSBP SageMaker.4", "NIST CP-10", "NIST SC-5", "NIST SC-6"),
    validators={ENDPOINT_CONFIG: _check_prod_capacity},
    params=(
        PROD,
        Param("minimumInstances", "integer", 2, "Fewest instances.", minimum=2, maximum=20),
    ),
)


def _check_blue_green(check: ResourceCheck) -> None:
    policy = "deploymentConfig.blueGreenUpdatePolicy"
    routing = check.get(f"{policy}.trafficRoutingConfiguration.type")
    if routing is None:
        check.violation(
            "updates must be blue/green (SageMaker shifts traffic to a new fleet)",
            check.get("deploymentConfig"),
            'set deployment_config={"blue_green_update_policy": {"traffic_routing_configuration":'
            ' {"type": "CANARY", ...}}, "auto_rollback_configuration": {...}}',
        )
    alarms = check.get("deploymentConfig.autoRollbackConfiguration.alarms") or []
    minimum = check.config["minimumAlarms"]
    if len(alarms) < minimum:
        check.violation(
            f"at least {minimum} CloudWatch alarm(s) must roll a deployment back",
            f"{len(alarms)} alarm(s)",
            "list the latency, 5XX and model-error alarms in auto_rollback_configuration.alarms",
        )


BLUE_GREEN_AUTO_ROLLBACK = Policy(
    name="sagemaker-endpoint-blue-green-auto-rollback",
    description="Checks whether every SageMaker endpoint deploys blue/green and rolls back "
    "automatically on CloudWatch alarms.",
    enforcement=MANDATORY,
    severity="high",
    controls=("NIST CM-3", "NIST CP-10", "NIST SI-4"),
    validators={ENDPOINT: _check_blue_green},
    params=(
        Param(
            "minimumAlarms",
            "integer",
            2,
            "Fewest rollback alarms (e.g. latency and errors).",
            minimum=1,
            maximum=10,
        ),
    ),
)


def _check_canary(check: ResourceCheck) -> None:
    if not check.in_environments():
        check.not_applicable(f"applies only in {check.config['environments']}")
    routing = "deploymentConfig.blueGreenUpdatePolicy.trafficRoutingConfiguration"
    kind = check.get(f"{routing}.type")
    allowed = check.config["allowedTypes"]
    if kind not in allowed:
        check.violation(
            f"production traffic must shift gradually ({' or '.join(allowed)})",
            kind,
            'set traffic_routing_configuration={"type": "CANARY", "canary_size": {...}, ...}',
        )
    wait = check.get(f"{routing}.waitIntervalInSeconds")
    minimum = check.config["minimumWaitSeconds"]
    if wait is None or wait < minimum:
        check.violation(
            f"each traffic step must bake at least {minimum} s while alarms watch",
            f"wait_interval_in_seconds {wait:g}" if wait is not None else None,
            f"set wait_interval_in_seconds={minimum} or more",
        )


CANARY_IN_PROD = Policy(
    name="sagemaker-endpoint-canary-in-prod",
    description="Checks whether production endpoints shift traffic canary-first or "
    "linearly, baking each step long enough for the alarms to judge it.",
    enforcement=MANDATORY,
    controls=("NIST CM-3", "NIST CP-10"),
    validators={ENDPOINT: _check_canary},
    params=(
        PROD,
        Param(
            "allowedTypes",
            "array",
            ["CANARY", "LINEAR"],
            "Accepted traffic routing types.",
            items={"type": "string", "enum": ["CANARY", "LINEAR", "ALL_AT_ONCE"]},
        ),
        Param(
            "minimumWaitSeconds",
            "integer",
            300,
            "Shortest wait_interval_in_seconds.",
            minimum=0,
            maximum=3600,
        ),
    ),
)


def _check_rollback_alarms(stack: StackCheck) -> None:
    declared = stack.resources(ALARM)
    for endpoint in stack.resources(ENDPOINT):
        check = stack.check(endpoint)
        names = [
            a.get("alarmName")
            for a in check.get("deploymentConfig.autoRollbackConfiguration.alarms") or []
        ]
        if not names:
            stack.skip(
                endpoint, "no rollback alarms (see sagemaker-endpoint-blue-green-auto-rollback)"
            )
            continue
        for name in names:
            matches = [a for a in declared if name in a.handles]
            if not matches:
                check.violation(
                    f"rollback alarm {name} must be declared in this stack",
                    "no MetricAlarm with that name",
                    "declare the alarm with aws.cloudwatch.MetricAlarm and pass its name",
                )
                continue
            alarm = matches[0]
            if not check.look(alarm, "alarmActions"):
                check.violation(
                    f"rollback alarm {alarm.name} must notify someone",
                    "no alarm_actions",
                    "set alarm_actions=[<the serving alarm topic ARN>]",
                )


ROLLBACK_ALARMS_DECLARED = Policy(
    name="sagemaker-endpoint-rollback-alarms-declared",
    description="Checks whether every alarm an endpoint rolls back on is declared in the "
    "stack and notifies a topic, so a rollback is never silent.",
    enforcement=MANDATORY,
    controls=("NIST SI-4", "NIST IR-4", "NIST CM-3"),
    stack_validator=_check_rollback_alarms,
    subject_types=(ENDPOINT,),
)

POLICIES = (
    MODEL_NETWORK_ISOLATION,
    MODEL_IN_PRIVATE_VPC,
    ENDPOINT_CONFIG_ENCRYPTED,
    ENDPOINT_DATA_CAPTURE,
    MULTIPLE_INSTANCES,
    PROD_CAPACITY,
    BLUE_GREEN_AUTO_ROLLBACK,
    CANARY_IN_PROD,
    ROLLBACK_ALARMS_DECLARED,
)
