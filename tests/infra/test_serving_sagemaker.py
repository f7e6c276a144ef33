"""SageMaker serving on the rendered graph of every stack: the stack file's model version,
isolated and encrypted, behind an endpoint that shifts traffic canary-first and rolls back
on its alarms."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from infra.contracts import versioned_serving_name
from infra.graph import Graph, Resource
from infra.offline import MOCK_ACCOUNT_ID, render_graph
from tests.infra.helpers import as_list, statements

MODEL = "churn-classifier"
BASE_TAGS = {"project", "environment", "owner"}
MODEL_T = "aws:sagemaker/model:Model"
CONFIG_T = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
ENDPOINT_T = "aws:sagemaker/endpoint:Endpoint"
ALARM_T = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC_T = "aws:sns/topic:Topic"


@dataclass(frozen=True)
class Expected:
    """What a shipped stack must serve, written out from its Pulumi.<stack>.yaml (and from
    the config defaults where the file is silent: marked `default`). Literals, so a change
    to the stack file, the defaults or the config code shows up here."""

    instance_type: str
    initial_instances: int
    max_instances: int
    routing_type: str
    wait_seconds: int
    termination_wait_seconds: int
    log_retention_days: int
    version: int = 1
    max_execution_seconds: int = 3600  # default
    latency_p99_ms: float = 120.0  # staging, prod; default in dev
    error_rate_percent: float = 1.0  # staging, prod; default in dev
    invocations_per_instance: float = 1000.0  # default


EXPECTED = {
    "dev": Expected("ml.m5.large", 1, 2, "ALL_AT_ONCE", 300, 300, log_retention_days=365),
    "staging": Expected("ml.m5.large", 2, 4, "CANARY", 600, 600, log_retention_days=365),
    "prod": Expected("ml.m5.xlarge", 2, 6, "CANARY", 600, 900, log_retention_days=731),
}
"""dev's and staging's log retention is the default (365); prod's file sets 731."""


def _one(graph: Graph, resource_type: str) -> Resource:
    matches = graph.of_type(resource_type)
    assert len(matches) == 1, f"{graph.stack}: expected one {resource_type}, got {len(matches)}"
    return matches[0]


def _data_key(graph: Graph) -> Resource:
    # Not the stack's logs key: that one encrypts audit logs only.
    return graph.named(f"mlops-{graph.stack}-data-key", "aws:kms/key:Key")


def _data_key_arn(graph: Graph) -> str:
    return _data_key(graph).outputs["arn"]


def _alarm(graph: Graph, kind: str) -> Resource:
    return graph.named(f"mlops-{graph.stack}-{MODEL}-{kind}", ALARM_T)


def _routing(graph: Graph) -> dict:
    return _one(graph, ENDPOINT_T).inputs["deploymentConfig"]["blueGreenUpdatePolicy"]


def _render_dev_with(tmp_path: Path, repo_root: Path, old: str, new: str) -> Graph:
    text = (repo_root / "Pulumi.dev.yaml").read_text()
    assert old in text, f"Pulumi.dev.yaml no longer contains {old!r}"
    (tmp_path / "Pulumi.dev.yaml").write_text(text.replace(old, new))
    return Graph.from_json(render_graph("dev", tmp_path))


# -- Model ---------------------------------------------------------------------------


def test_model_serves_the_package_version_the_stack_file_names(stack_graph: Graph) -> None:
    container = _one(stack_graph, MODEL_T).inputs["primaryContainer"]
    expected = (
        f"arn:aws:sagemaker:eu-west-1:{MOCK_ACCOUNT_ID}:model-package/"
        f"mlops-{stack_graph.stack}-{MODEL}/{EXPECTED[stack_graph.stack].version}"
    )
    assert container["modelPackageName"] == expected, container


def test_model_is_network_isolated_and_runs_as_the_inference_role(stack_graph: Graph) -> None:
    model = _one(stack_graph, MODEL_T).inputs
    role = stack_graph.named(f"mlops-{stack_graph.stack}-inference", "aws:iam/role:Role")
    assert model["enableNetworkIsolation"] is True, "the container must make no network calls"
    assert model["executionRoleArn"] == role.outputs["arn"], model["executionRoleArn"]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_model_runs_in_the_private_subnets_behind_the_endpoint_group(graph_of, stack: str) -> None:
    graph: Graph = graph_of(stack)
    vpc = _one(graph, MODEL_T).inputs["vpcConfig"]
    subnets = {s.id for s in graph.of_type("aws:ec2/subnet:Subnet")}
    group = graph.named(f"mlops-{stack}-endpoint-sg", "aws:ec2/securityGroup:SecurityGroup")
    assert set(vpc["subnets"]) == subnets and len(subnets) >= 2, vpc
    assert vpc["securityGroupIds"] == [group.id], vpc


def test_model_without_a_vpc_in_the_stack_has_no_vpc_config(graph_of) -> None:
    model = _one(graph_of("dev"), MODEL_T).inputs
    assert "vpcConfig" not in model, "dev has no VPC to place the model in"


def test_model_container_requires_a_signature_and_gets_the_signing_key(stack_graph: Graph) -> None:
    env = _one(stack_graph, MODEL_T).inputs["primaryContainer"]["environment"]
    assert env["MLOPS_REQUIRE_SIGNATURE"] == "true", env
    key = load_pem_public_key(env["MLOPS_SIGNING_PUBLIC_KEY_PEM"].encode())
    assert isinstance(key, ec.EllipticCurvePublicKey), "the KMS signing key's public half (P-256)"
    assert env["MLOPS_MODEL_VERSION"] == "1", "every shipped stack serves version 1"


def test_render_changed_version_in_the_stack_file_changes_the_served_package(
    tmp_path: Path, repo_root: Path
) -> None:
    graph = _render_dev_with(tmp_path, repo_root, "      version: 1\n", "      version: 7\n")
    package = _one(graph, MODEL_T).inputs["primaryContainer"]["modelPackageName"]
    assert package.endswith(f"model-package/mlops-dev-{MODEL}/7"), package


def test_render_model_without_a_version_gets_no_endpoint(tmp_path: Path, repo_root: Path) -> None:
    graph = _render_dev_with(tmp_path, repo_root, "      version: 1\n", "      version: null\n")
    assert graph.of_type(ENDPOINT_T) == [], "nothing serves before the first release PR"
    assert graph.of_type("aws:sagemaker/modelPackageGroup:ModelPackageGroup"), "group stays"


# -- Names per version and the retained version ----------------------------------------


@pytest.mark.parametrize(
    ("stack", "expected"),
    [
        ("dev", "mlops-dev-churn-classifier-v1"),
        ("staging", "mlops-staging-churn-classifier-v1"),
        ("prod", "mlops-prod-churn-classifier-v1"),
    ],
)
def test_model_and_endpoint_config_are_named_after_the_version_they_serve(
    graph_of, stack: str, expected: str
) -> None:
    graph: Graph = graph_of(stack)
    assert _one(graph, MODEL_T).id == expected, "the Model is named <endpoint>-v<version>"
    assert _one(graph, CONFIG_T).id == expected, "so is the EndpointConfiguration"
    assert _one(graph, ENDPOINT_T).inputs["endpointConfigName"] == expected


def test_render_release_with_previous_version_keeps_the_previous_pair_unserved(
    tmp_path: Path, repo_root: Path
) -> None:
    # given a release PR's stack file: v2 released, v1 served before it
    graph = _render_dev_with(
        tmp_path, repo_root, "      version: 1\n", "      version: 2\n      previousVersion: 1\n"
    )
    # then both versions have their Model and EndpointConfiguration, named by version
    models = {m.id: m.inputs for m in graph.of_type(MODEL_T)}
    configs = {c.id: c.inputs for c in graph.of_type(CONFIG_T)}
    names = {"mlops-dev-churn-classifier-v1", "mlops-dev-churn-classifier-v2"}
    assert set(models) == names and set(configs) == names, (sorted(models), sorted(configs))
    package = models["mlops-dev-churn-classifier-v1"]["primaryContainer"]["modelPackageName"]
    assert package.endswith("model-package/mlops-dev-churn-classifier/1"), package
    (variant,) = configs["mlops-dev-churn-classifier-v1"]["productionVariants"]
    assert variant["modelName"] == "mlops-dev-churn-classifier-v1", variant
    assert configs["mlops-dev-churn-classifier-v1"]["tags"]["model-version"] == "1"
    # and the endpoint serves the released version only
    endpoint = _one(graph, ENDPOINT_T).inputs
    assert endpoint["endpointConfigName"] == "mlops-dev-churn-classifier-v2", endpoint


@pytest.mark.parametrize(
    ("endpoint", "version", "expected"),
    [
        ("mlops-prod-churn-classifier", 12, "mlops-prod-churn-classifier-v12"),
        (
            "mlops-staging-" + "a" * 48,  # 65 characters with -v3: cut, and a hash added
            3,
            "mlops-staging-" + "a" * 37 + "-0ad15eaf-v3",
        ),
    ],
)
def test_versioned_serving_name_fits_sagemakers_63_characters(
    endpoint: str, version: int, expected: str
) -> None:
    name = versioned_serving_name(endpoint, version)
    assert name == expected, name
    assert len(name) <= 63, f"{name}: {len(name)} characters"


def test_versioned_serving_names_of_long_endpoints_stay_distinct() -> None:
    # two endpoints that differ only past the cut must not share a configuration name
    first = versioned_serving_name("mlops-staging-" + "a" * 47 + "b", 3)
    second = versioned_serving_name("mlops-staging-" + "a" * 47 + "c", 3)
    assert first != second, first


# -- EndpointConfiguration ----------------------------------------------------------


def test_endpoint_config_encrypts_instance_volumes_with_the_cmk(stack_graph: Graph) -> None:
    config = _one(stack_graph, CONFIG_T).inputs
    assert config["kmsKeyArn"] == _data_key_arn(stack_graph), config.get("kmsKeyArn")


def test_data_capture_goes_to_the_capture_bucket_encrypted(stack_graph: Graph) -> None:
    capture = _one(stack_graph, CONFIG_T).inputs["dataCaptureConfig"]
    bucket = stack_graph.named(f"mlops-{stack_graph.stack}-capture", "aws:s3/bucket:Bucket")
    assert capture["enableCapture"] is True, capture
    assert capture["destinationS3Uri"].startswith(f"s3://{bucket.id}/"), capture
    assert capture["kmsKeyId"] == _data_key_arn(stack_graph), capture
    modes = {option["captureMode"] for option in capture["captureOptions"]}
    assert modes == {"Input", "Output"}, f"capture requests and responses: {modes}"


def test_production_variant_runs_the_model_on_the_configured_fleet(stack_graph: Graph) -> None:
    expected = EXPECTED[stack_graph.stack]
    (variant,) = _one(stack_graph, CONFIG_T).inputs["productionVariants"]
    assert variant["modelName"] == _one(stack_graph, MODEL_T).id, variant
    assert variant["instanceType"] == expected.instance_type, variant
    assert variant["initialInstanceCount"] == expected.initial_instances, variant
    assert variant["variantName"] == "primary", "blue/green needs a stable variant name"


def test_prod_serves_from_at_least_two_instances(graph_of) -> None:
    (variant,) = _one(graph_of("prod"), CONFIG_T).inputs["productionVariants"]
    assert variant["initialInstanceCount"] >= 2, "SageMaker spreads instances across AZs"


# -- Endpoint and deployment guardrails --------------------------------------------


def test_endpoint_uses_the_endpoint_config(stack_graph: Graph) -> None:
    endpoint = _one(stack_graph, ENDPOINT_T)
    assert endpoint.inputs["endpointConfigName"] == _one(stack_graph, CONFIG_T).id, endpoint
    assert endpoint.id == f"mlops-{stack_graph.stack}-{MODEL}", endpoint.id


def test_endpoint_shifts_traffic_as_the_stack_file_says(stack_graph: Graph) -> None:
    expected = EXPECTED[stack_graph.stack]
    policy = _routing(stack_graph)
    shift = policy["trafficRoutingConfiguration"]
    assert shift["type"] == expected.routing_type, shift
    assert shift["waitIntervalInSeconds"] == expected.wait_seconds, shift
    assert policy["terminationWaitInSeconds"] == expected.termination_wait_seconds, policy
    assert policy["maximumExecutionTimeoutInSeconds"] == expected.max_execution_seconds, policy


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_canary_stacks_shift_ten_percent_for_ten_minutes_first(graph_of, stack: str) -> None:
    shift = _routing(graph_of(stack))["trafficRoutingConfiguration"]
    assert shift["type"] == "CANARY", f"{stack} releases canary-first: {shift}"
    assert shift["canarySize"] == {"type": "CAPACITY_PERCENT", "value": 10}, shift
    assert shift["waitIntervalInSeconds"] == 600, shift


def test_all_at_once_stack_has_no_canary_size(graph_of) -> None:
    shift = _routing(graph_of("dev"))["trafficRoutingConfiguration"]
    assert shift["type"] == "ALL_AT_ONCE" and "canarySize" not in shift, shift


def test_render_linear_routing_shifts_equal_steps_of_the_fleet(
    tmp_path: Path, repo_root: Path
) -> None:
    # given dev's stack file asking for LINEAR shifts of 25% on a fleet of two
    graph = _render_dev_with(
        tmp_path,
        repo_root,
        "    initialInstanceCount: 1\n    maxInstanceCount: 2\n"
        "    trafficRouting:\n      type: ALL_AT_ONCE\n",
        "    initialInstanceCount: 2\n    maxInstanceCount: 4\n"
        "    trafficRouting:\n      type: LINEAR\n      linearStepPercent: 25\n",
    )
    # when rendered, then the endpoint's blue/green policy shifts in 25% steps, baking 300 s
    policy = _routing(graph)
    assert policy["trafficRoutingConfiguration"] == {
        "type": "LINEAR",
        "waitIntervalInSeconds": 300,
        "linearStepSize": {"type": "CAPACITY_PERCENT", "value": 25},
    }, policy
    assert policy["terminationWaitInSeconds"] == 300, policy
    assert policy["maximumExecutionTimeoutInSeconds"] == 3600, policy


def test_endpoint_rolls_back_on_latency_5xx_and_model_error_alarms(stack_graph: Graph) -> None:
    rollback = _one(stack_graph, ENDPOINT_T).inputs["deploymentConfig"]
    names = [alarm["alarmName"] for alarm in rollback["autoRollbackConfiguration"]["alarms"]]
    expected = [
        _alarm(stack_graph, kind).id
        for kind in ("model-latency-p99", "invocation-5xx-errors", "model-errors")
    ]
    assert names == expected, f"rollback alarms {names} must be the stack's alarms {expected}"


# -- Alarms ---------------------------------------------------------------------------


def test_latency_alarm_is_p99_model_latency_in_microseconds(stack_graph: Graph) -> None:
    expected = EXPECTED[stack_graph.stack]
    alarm = _alarm(stack_graph, "model-latency-p99").inputs
    assert (alarm["namespace"], alarm["metricName"]) == ("AWS/SageMaker", "ModelLatency"), alarm
    assert alarm["extendedStatistic"] == "p99", alarm
    assert alarm["threshold"] == expected.latency_p99_ms * 1000, "ModelLatency is in microseconds"
    assert alarm["comparisonOperator"] == "GreaterThanThreshold", alarm
    assert alarm["dimensions"] == {
        "EndpointName": f"mlops-{stack_graph.stack}-{MODEL}",
        "VariantName": "primary",
    }, alarm["dimensions"]


@pytest.mark.parametrize(
    ("kind", "metric"),
    [("invocation-5xx-errors", "Invocation5XXErrors"), ("model-errors", "InvocationModelErrors")],
)
def test_error_alarms_fire_above_the_configured_error_rate(
    stack_graph: Graph, kind: str, metric: str
) -> None:
    alarm = _alarm(stack_graph, kind).inputs
    queries = {query["id"]: query for query in alarm["metricQueries"]}
    assert queries["errors"]["metric"]["metricName"] == metric, queries["errors"]
    assert queries["invocations"]["metric"]["metricName"] == "Invocations", queries
    assert "100 * FILL(errors, 0) / invocations" in queries["rate"]["expression"], queries
    expected = EXPECTED[stack_graph.stack].error_rate_percent
    assert alarm["threshold"] == expected, f"percent of invocations: {alarm}"


def test_alarms_ignore_missing_data_so_an_idle_endpoint_never_rolls_back(
    stack_graph: Graph,
) -> None:
    for alarm in stack_graph.of_type(ALARM_T):
        assert alarm.inputs["treatMissingData"] == "notBreaching", alarm.name


def test_every_alarm_notifies_the_cmk_encrypted_topic(stack_graph: Graph) -> None:
    serving = _one(stack_graph, "mlops:serving:SageMakerServing")
    (topic,) = stack_graph.children(serving, TOPIC_T)
    assert topic.inputs["kmsMasterKeyId"] == _data_key_arn(stack_graph), topic.inputs
    alarms = stack_graph.children(serving, ALARM_T)
    # three rollback alarms, drift and quality
    assert len(alarms) == 5, [a.name for a in alarms]
    for alarm in alarms:
        assert alarm.inputs["alarmActions"] == [topic.outputs["arn"]], alarm.name
        assert alarm.inputs["okActions"] == [topic.outputs["arn"]], alarm.name


def test_topic_accepts_only_this_stacks_alarms_over_tls(stack_graph: Graph) -> None:
    policies = stack_graph.of_type("aws:sns/topicPolicy:TopicPolicy")
    # the serving topic everywhere; the security (CIS) topic where the stack has a trail
    assert len(policies) == (2 if stack_graph.stack == "prod" else 1), policies
    for policy in policies:
        _assert_closed_topic_policy(stack_graph, policy)


def _assert_closed_topic_policy(stack_graph: Graph, policy: Resource) -> None:
    sids = statements(json.loads(policy.inputs["policy"]))
    publish = sids["StackAlarmsPublish"]
    assert publish["Principal"] == {"Service": ["cloudwatch.amazonaws.com"]}, publish
    source = publish["Condition"]["ArnLike"]["aws:SourceArn"]
    assert source.endswith(f":alarm:mlops-{stack_graph.stack}-*"), source
    deny = sids["DenyInsecureTransport"]
    assert deny["Effect"] == "Deny", deny
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}, deny


def test_data_key_lets_cloudwatch_publish_to_the_encrypted_topic(stack_graph: Graph) -> None:
    key = _data_key(stack_graph)
    granted = [
        statement
        for statement in json.loads(key.inputs["policy"])["Statement"]
        if "cloudwatch.amazonaws.com" in as_list(statement.get("Principal", {}).get("Service"))
    ]
    actions = {action for statement in granted for action in as_list(statement["Action"])}
    assert {"kms:GenerateDataKey", "kms:Decrypt"} <= actions, f"cloudwatch may use: {actions}"


# -- Autoscaling, logs, tags ----------------------------------------------------------


def test_autoscaling_tracks_invocations_per_instance(stack_graph: Graph) -> None:
    expected = EXPECTED[stack_graph.stack]
    target = _one(stack_graph, "aws:appautoscaling/target:Target").inputs
    policy = _one(stack_graph, "aws:appautoscaling/policy:Policy").inputs
    resource_id = f"endpoint/mlops-{stack_graph.stack}-{MODEL}/variant/primary"
    assert target["resourceId"] == resource_id, target
    assert target["scalableDimension"] == "sagemaker:variant:DesiredInstanceCount", target
    assert (target["minCapacity"], target["maxCapacity"]) == (
        expected.initial_instances,
        expected.max_instances,
    ), target
    tracking = policy["targetTrackingScalingPolicyConfiguration"]
    assert policy["resourceId"] == resource_id, policy
    assert tracking["predefinedMetricSpecification"] == {
        "predefinedMetricType": "SageMakerVariantInvocationsPerInstance"
    }, tracking
    assert tracking["targetValue"] == expected.invocations_per_instance, tracking


def test_endpoint_logs_are_encrypted_and_retained(stack_graph: Graph) -> None:
    name = f"/aws/sagemaker/Endpoints/mlops-{stack_graph.stack}-{MODEL}"
    (group,) = stack_graph.attached_to("aws:cloudwatch/logGroup:LogGroup", "name", name)
    assert group.inputs["kmsKeyId"] == _data_key_arn(stack_graph), group.inputs
    retention = group.inputs["retentionInDays"]
    assert retention == EXPECTED[stack_graph.stack].log_retention_days, retention


def test_every_serving_resource_is_tagged_with_model_and_version(stack_graph: Graph) -> None:
    (component,) = stack_graph.of_type("mlops:serving:SageMakerServing")
    version = str(EXPECTED[stack_graph.stack].version)
    taggable = [r for r in stack_graph.children(component) if "tags" in r.inputs]
    assert len(taggable) >= 8, [r.name for r in taggable]
    for resource in taggable:
        tags = resource.inputs["tags"]
        assert tags.keys() >= BASE_TAGS, f"{resource.name}: {sorted(tags)}"
        if resource.type != TOPIC_T:
            assert (tags["model"], tags["model-version"]) == (MODEL, version), resource.name


@pytest.mark.parametrize(
    ("stack", "expected"),
    [
        ("dev", {"MLOPS_MODEL_NAME": "churn-classifier", "MLOPS_STACK": "dev"}),
        ("staging", {"MLOPS_MODEL_NAME": "churn-classifier", "MLOPS_STACK": "staging"}),
        ("prod", {"MLOPS_MODEL_NAME": "churn-classifier", "MLOPS_STACK": "prod"}),
    ],
)
def test_model_container_is_told_the_model_stack_and_version_it_serves(
    graph_of, stack: str, expected: dict[str, str]
) -> None:
    # given the shipped Pulumi.<stack>.yaml (churn-classifier at version 1 in each)
    env = _one(graph_of(stack), MODEL_T).inputs["primaryContainer"]["environment"]
    # then the server is told exactly what it may serve, and refuses anything else
    told = {name: env.get(name) for name in ("MLOPS_MODEL_NAME", "MLOPS_STACK")}
    assert told == expected, env
    assert env.get("MLOPS_MODEL_VERSION") == "1", env
