"""SageMaker serving: isolated models, encrypted and captured endpoints, safe rollouts.

Training jobs are not Pulumi resources (`ml` launches them), so no CrossGuard policy can
see them; what the stack does declare for training (its role, the CMK grants, the
artifact bucket that refuses uploads without the CMK) is checked by the IAM, KMS and S3
policies.
"""

from __future__ import annotations

import re

from infra.contracts import MODELS_PREFIX, Env
from policies.core import ADVISORY, MANDATORY, Param, Policy, ResourceCheck, StackCheck, Subject

MODEL = "aws:sagemaker/model:Model"
ENDPOINT_CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
ENDPOINT = "aws:sagemaker/endpoint:Endpoint"
VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
REPOSITORY = "aws:ecr/repository:Repository"
BUCKET = "aws:s3/bucket:Bucket"
PACKAGE_GROUP = "aws:sagemaker/modelPackageGroup:ModelPackageGroup"
ROLE = "aws:iam/role:Role"
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


def _containers(check: ResourceCheck) -> list[tuple[str, dict]]:
    """(where, container) for the primary container and every container of a pipeline."""
    found = []
    primary = check.get("primaryContainer")
    if primary:
        found.append(("primary_container", primary))
    for index, container in enumerate(check.get("containers") or []):
        found.append((f"containers[{index}]", container))
    return found


def _check_signatures(check: ResourceCheck) -> None:
    containers = _containers(check)
    if not containers:
        check.not_applicable("no containers")
    for where, container in containers:
        environment = container.get("environment") or {}
        required = environment.get(Env.REQUIRE_SIGNATURE)
        if str(required).lower() != "true":
            check.violation(
                f"{where} must refuse unsigned models ({Env.REQUIRE_SIGNATURE}=true)",
                required,
                f'set environment["{Env.REQUIRE_SIGNATURE}"] = "true"',
            )
        pem = environment.get(Env.SIGNING_PUBLIC_KEY_PEM)
        if not (isinstance(pem, str) and "BEGIN PUBLIC KEY" in pem):
            check.violation(
                f"{where} must carry the signing key's public key to verify with "
                "(network isolation leaves it no KMS)",
                f"{Env.SIGNING_PUBLIC_KEY_PEM} {'set' if pem else 'not set'}",
                f'set environment["{Env.SIGNING_PUBLIC_KEY_PEM}"] to the signing key\'s PEM',
            )


MODEL_VERIFIES_SIGNATURES = Policy(
    name="sagemaker-model-verifies-signatures",
    description="Checks whether every SageMaker model's container is told to refuse unsigned "
    "models and is given the signing key's public key to verify them with.",
    enforcement=MANDATORY,
    severity="critical",
    controls=("NIST SI-7",),
    validators={MODEL: _check_signatures},
)


def _ecr_prefixes(stack: StackCheck) -> set[str]:
    """Image URI prefixes of the stack's ECR repositories (`<acct>.dkr.ecr.<region>...`)."""
    prefixes: set[str] = set()
    for repository in stack.resources(REPOSITORY):
        for handle in repository.handles:
            if ".dkr.ecr." in handle:
                prefixes.add(handle)
            parts = handle.split(":", 5)
            if handle.startswith("arn:") and len(parts) == 6 and parts[2] == "ecr":
                name = parts[5].removeprefix("repository/")
                prefixes.add(f"{parts[4]}.dkr.ecr.{parts[3]}.amazonaws.com/{name}")
    return prefixes


def _bucket_names(stack: StackCheck, pattern: str) -> set[str]:
    """Names of the stack's buckets whose logical name matches `pattern`."""
    names: set[str] = set()
    for bucket in stack.resources(BUCKET):
        if re.search(pattern, bucket.name):
            names |= {h.removeprefix("arn:aws:s3:::") for h in bucket.handles}
    return names


def _s3_bucket(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _check_model_sources(stack: StackCheck, model: Subject) -> None:
    check = stack.check(model)
    images = _ecr_prefixes(stack)
    artifacts = _bucket_names(stack, stack.config["artifactBucketPattern"])
    groups = {h for g in stack.resources(PACKAGE_GROUP) for h in g.handles}
    for where, container in _containers(check):
        image = container.get("image")
        if isinstance(image, str) and not any(
            image.startswith(f"{p}:") or image.startswith(f"{p}@") for p in images
        ):
            check.violation(
                f"{where} image must come from the stack's ECR repository",
                image,
                "push the image to the stack's repository and pin it by digest",
            )
        data = container.get("modelDataUrl")
        if isinstance(data, str):
            bucket, key = _s3_bucket(data)
            if bucket not in artifacts or not key.startswith(MODELS_PREFIX):
                check.violation(
                    f"{where} model data must be a signed release under "
                    f"s3://<the stack's artifact bucket>/{MODELS_PREFIX}",
                    data,
                    "serve the model package `mlops release` verified, not a training output",
                )
        package = container.get("modelPackageName")
        if isinstance(package, str):
            group = package.split(":model-package/", 1)[-1].split("/", 1)[0]
            group_arn = package.rsplit("/", 1)[0].replace(
                ":model-package/", ":model-package-group/"
            )
            if group not in groups and group_arn not in groups:
                check.violation(
                    f"{where} model package must belong to the stack's model package group",
                    package,
                    "serve a package registered (and approved) in this stack's registry",
                )
    role = check.get("executionRoleArn")
    roles = {h for r in stack.resources(ROLE) for h in r.handles}
    if isinstance(role, str) and role not in roles:
        check.violation(
            "the model must run as the stack's inference role",
            role,
            "set execution_role_arn to the inference role's ARN",
        )


def _check_serving_sources(stack: StackCheck) -> None:
    for model in stack.resources(MODEL):
        _check_model_sources(stack, model)
    captures = _bucket_names(stack, stack.config["captureBucketPattern"])
    for config in stack.resources(ENDPOINT_CONFIG):
        check = stack.check(config)
        destination = check.get("dataCaptureConfig.destinationS3Uri")
        if not isinstance(destination, str):
            stack.skip(config, "captures nothing")
            continue
        bucket, _ = _s3_bucket(destination)
        if bucket not in captures:
            check.violation(
                "captured requests must go to the stack's capture bucket",
                destination,
                "set data_capture_config.destination_s3_uri to s3://<capture bucket>/...",
            )


SERVING_USES_STACK_RESOURCES = Policy(
    name="sagemaker-serving-uses-stack-resources",
    description="Checks whether SageMaker models serve the stack's own image, signed model "
    "data or registered packages and run as its roles, and whether endpoints capture "
    "requests into the stack's capture bucket.",
    enforcement=MANDATORY,
    severity="critical",
    controls=("NIST SI-7", "NIST AC-4"),
    stack_validator=_check_serving_sources,
    subject_types=(MODEL, ENDPOINT_CONFIG),
    params=(
        Param(
            "artifactBucketPattern",
            "string",
            r"-artifacts$",
            "Regex on the logical names of the buckets signed models live in.",
        ),
        Param(
            "captureBucketPattern",
            "string",
            r"-capture$",
            "Regex on the logical names of the buckets endpoints capture into.",
        ),
    ),
)

POLICIES = (
    MODEL_NETWORK_ISOLATION,
    MODEL_VERIFIES_SIGNATURES,
    SERVING_USES_STACK_RESOURCES,
    MODEL_IN_PRIVATE_VPC,
    ENDPOINT_CONFIG_ENCRYPTED,
    ENDPOINT_DATA_CAPTURE,
    MULTIPLE_INSTANCES,
    PROD_CAPACITY,
    BLUE_GREEN_AUTO_ROLLBACK,
    CANARY_IN_PROD,
    ROLLBACK_ALARMS_DECLARED,
)
