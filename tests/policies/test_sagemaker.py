"""SageMaker policies: isolation, VPC placement, encryption, capture, capacity, rollouts."""

from __future__ import annotations

import pytest

from policies import sagemaker
from tests.policies.fixtures import (
    ALARMS,
    alarm,
    endpoint,
    endpoint_config,
    sagemaker_model,
    serving_neighbours,
    subnet,
    topic,
    vpc,
)
from tests.policies.harness import only_message, run_policy, statuses_of

FOREIGN = "999988887777"

MODEL = "SageMaker model `mlops-prod-m-model`: "
CONFIG = "SageMaker endpoint config `mlops-prod-m-config`: "
ENDPOINT = "SageMaker endpoint `mlops-prod-m-endpoint`: "


def _serving(**overrides):
    resources = {
        "vpc": vpc(),
        "subnet_a": subnet("subnet-a"),
        "subnet_b": subnet("subnet-b"),
        "model": sagemaker_model(),
        "config": endpoint_config(),
        "endpoint": endpoint(),
        "topic": topic(),
        **{f"alarm{i}": alarm(name) for i, name in enumerate(ALARMS)},
        **{f"neighbour{i}": r for i, r in enumerate(serving_neighbours())},
    }
    resources.update(overrides)
    return [r for r in resources.values() if r is not None]


@pytest.mark.parametrize("policy", sagemaker.POLICIES, ids=lambda p: p.name)
def test_sagemaker_policy_compliant_serving_passes(policy):
    # Given a prod model, endpoint config and endpoint as SageMakerServing declares them
    # When each SageMaker policy runs
    messages = run_policy(policy, *_serving(), environment="prod")
    # Then nothing is reported
    assert messages == [], f"{policy.name} must pass compliant serving: {messages}"


def test_isolation_policy_open_model_reports_value():
    # Given a model without network isolation
    model = sagemaker_model(enableNetworkIsolation=False)
    # When the isolation policy runs
    messages = run_policy(sagemaker.MODEL_NETWORK_ISOLATION, model)
    # Then the fix names the flag and the offline verification it implies
    only_message(
        messages,
        MODEL,
        "network isolation must be enabled",
        "found false",
        "enable_network_isolation=True",
    )


def test_vpc_policy_model_outside_vpc_reports_missing_config():
    # Given a stack with a VPC and a model declared without vpc_config
    resources = _serving(model=sagemaker_model(vpcConfig=None))
    # When the VPC policy runs
    messages = run_policy(sagemaker.MODEL_IN_PRIVATE_VPC, *resources)
    # Then the model is told to run in the private subnets
    only_message(messages, MODEL, "private subnets", "found no vpc_config", "security_group_ids")


def test_vpc_policy_public_subnet_reported():
    # Given the model placed in a subnet that maps public IPs
    resources = _serving(subnet_a=subnet("subnet-a", public=True))
    # When the VPC policy runs
    messages = run_policy(sagemaker.MODEL_IN_PRIVATE_VPC, *resources)
    # Then the subnet is named
    only_message(messages, MODEL, "subnet mlops-prod-subnet-a must be private")


def test_vpc_policy_stack_without_vpc_not_applicable():
    # Given a stack without a VPC (dev) and a model without vpc_config
    resources = _serving(
        vpc=None, subnet_a=None, subnet_b=None, model=sagemaker_model(vpcConfig=None)
    )
    # When the VPC policy runs
    statuses = statuses_of(sagemaker.MODEL_IN_PRIVATE_VPC, *resources)
    # Then it is not judged
    assert statuses == {"mlops-prod-m-model": "not-applicable"}, statuses


@pytest.mark.parametrize("key", [None, "alias/aws/sagemaker"], ids=["unset", "aws-managed"])
def test_config_kms_policy_no_customer_key_reports_value(key):
    # Given an endpoint config without a customer managed key
    config = endpoint_config(kmsKeyArn=key)
    # When the KMS policy runs
    messages = run_policy(sagemaker.ENDPOINT_CONFIG_ENCRYPTED, config)
    # Then the key setting is reported
    only_message(messages, CONFIG, "customer managed KMS key", "set kms_key_arn")


def _capture(**changes):
    base = dict(endpoint_config().props["dataCaptureConfig"])
    base.update(changes)
    return endpoint_config(dataCaptureConfig={k: v for k, v in base.items() if v is not None})


@pytest.mark.parametrize(
    ("config", "fragments"),
    [
        (
            endpoint_config(dataCaptureConfig=None),
            ["data capture must be enabled", "found not set"],
        ),
        (_capture(enableCapture=False), ["data capture must be enabled", "found false"]),
        (_capture(captureOptions=[{"captureMode": "Input"}]), ["(Output)", 'found ["Input"]']),
        (_capture(kmsKeyId=None), ["captured data must be encrypted"]),
        (_capture(destinationS3Uri=None), ["must go to an S3 URI"]),
    ],
    ids=["none", "disabled", "input-only", "no-key", "no-destination"],
)
def test_capture_policy_incomplete_capture_reports_setting(config, fragments):
    # Given an endpoint config whose data capture is missing a piece
    # When the data capture policy runs
    messages = run_policy(sagemaker.ENDPOINT_DATA_CAPTURE, config)
    # Then the missing piece is named
    only_message(messages, CONFIG, *fragments)


def test_capture_policy_low_sampling_reported_against_configured_minimum():
    # Given 5% sampling and a pack configured to require 20%
    config = _capture(initialSamplingPercentage=5.0)
    # When the capture policy runs with that config
    messages = run_policy(
        sagemaker.ENDPOINT_DATA_CAPTURE, config, config={"minimumSamplingPercent": 20}
    )
    # Then the sampling rate is reported
    only_message(messages, CONFIG, "at least 20%", "found 5%")


def _single_instance():
    variant = {**endpoint_config().props["productionVariants"][0], "initialInstanceCount": 1.0}
    return endpoint_config(productionVariants=[variant])


def test_multi_instance_policy_single_instance_reports_advisory():
    # Given a variant starting with one instance
    # When the advisory multi-instance policy runs
    messages = run_policy(sagemaker.MULTIPLE_INSTANCES, _single_instance())
    # Then it suggests two instances
    only_message(messages, CONFIG, "more than one instance", "found initial_instance_count 1")
    assert sagemaker.MULTIPLE_INSTANCES.enforcement == "advisory", "SageMaker.4 is advisory here"


def test_prod_capacity_policy_single_instance_in_prod_reports_minimum():
    # Given a prod endpoint config with one instance
    # When the prod capacity policy runs
    messages = run_policy(sagemaker.PROD_CAPACITY, _single_instance(), environment="prod")
    # Then it requires two
    only_message(messages, CONFIG, "at least 2 instances", "initial_instance_count=2")


def test_prod_capacity_policy_dev_single_instance_not_applicable():
    # Given the same config tagged for dev
    config = _single_instance().with_props(tags={"environment": "dev"})
    # When the prod capacity policy runs
    statuses = statuses_of(sagemaker.PROD_CAPACITY, config, environment="dev")
    # Then it is not judged
    assert statuses == {"mlops-prod-m-config": "not-applicable"}, statuses


def test_blue_green_policy_no_deployment_config_reports_both_parts():
    # Given an endpoint without deployment_config
    # When the blue/green policy runs
    messages = run_policy(sagemaker.BLUE_GREEN_AUTO_ROLLBACK, endpoint(deploymentConfig=None))
    # Then blue/green and the rollback alarms are both asked for
    assert len(messages) == 2, messages
    assert any("must be blue/green" in m for m in messages), messages
    assert any("at least 2 CloudWatch alarm(s)" in m and "found 0 alarm(s)" in m for m in messages)


def test_blue_green_policy_one_alarm_reports_count():
    # Given an endpoint rolling back on a single alarm
    config = endpoint().props["deploymentConfig"]
    one = {**config, "autoRollbackConfiguration": {"alarms": [{"alarmName": ALARMS[0]}]}}
    # When the blue/green policy runs
    messages = run_policy(sagemaker.BLUE_GREEN_AUTO_ROLLBACK, endpoint(deploymentConfig=one))
    # Then the count is reported
    only_message(messages, ENDPOINT, "found 1 alarm(s)")


def _routing(**changes):
    config = endpoint().props["deploymentConfig"]
    routing = {**config["blueGreenUpdatePolicy"]["trafficRoutingConfiguration"], **changes}
    policy = {**config["blueGreenUpdatePolicy"], "trafficRoutingConfiguration": routing}
    return endpoint(deploymentConfig={**config, "blueGreenUpdatePolicy": policy})


@pytest.mark.parametrize(
    ("changes", "fragments"),
    [
        ({"type": "ALL_AT_ONCE"}, ["shift gradually (CANARY or LINEAR)", "found ALL_AT_ONCE"]),
        ({"waitIntervalInSeconds": 60.0}, ["at least 300 s", "found wait_interval_in_seconds 60"]),
    ],
    ids=["all-at-once", "short-bake"],
)
def test_canary_policy_fast_prod_rollout_reports_setting(changes, fragments):
    # Given a prod endpoint shifting all at once, or baking too briefly
    # When the canary policy runs
    messages = run_policy(sagemaker.CANARY_IN_PROD, _routing(**changes), environment="prod")
    # Then the setting is reported
    only_message(messages, ENDPOINT, *fragments)


def test_canary_policy_dev_all_at_once_not_applicable():
    # Given a dev endpoint shifting all at once (the dev stack's choice)
    resource = _routing(type="ALL_AT_ONCE").with_props(tags={"environment": "dev"})
    # When the canary policy runs
    statuses = statuses_of(sagemaker.CANARY_IN_PROD, resource, environment="dev")
    # Then it is not judged
    assert statuses == {"mlops-prod-m-endpoint": "not-applicable"}, statuses


def test_rollback_alarms_policy_undeclared_alarm_reported():
    # Given an endpoint naming an alarm the stack does not declare
    resources = _serving(alarm1=None)
    # When the rollback alarms policy runs
    messages = run_policy(sagemaker.ROLLBACK_ALARMS_DECLARED, *resources)
    # Then the missing alarm is named
    only_message(messages, ENDPOINT, f"rollback alarm {ALARMS[1]} must be declared")


def test_rollback_alarms_policy_silent_alarm_reported():
    # Given a rollback alarm that notifies nobody
    resources = _serving(alarm0=alarm(ALARMS[0], alarmActions=None))
    # When the rollback alarms policy runs
    messages = run_policy(sagemaker.ROLLBACK_ALARMS_DECLARED, *resources)
    # Then the alarm is told to notify the topic
    only_message(messages, ENDPOINT, f"rollback alarm {ALARMS[0]} must notify", "alarm_actions")


def test_model_without_signature_enforcement_fails():
    # Given a model whose container may serve unsigned models
    model = sagemaker_model()
    container = dict(model.props["primaryContainer"])
    container["environment"] = {"MLOPS_REQUIRE_SIGNATURE": "false"}
    # When the signature rule runs
    messages = run_policy(
        sagemaker.MODEL_VERIFIES_SIGNATURES, model.with_props(primaryContainer=container)
    )
    # Then both the flag and the missing key are reported
    assert len(messages) == 2, messages
    assert "MLOPS_REQUIRE_SIGNATURE=true" in messages[0], messages


def test_model_image_from_another_account_fails():
    # Given a model running another account's image
    image = f"{FOREIGN}.dkr.ecr.eu-west-1.amazonaws.com/server:latest"
    model = sagemaker_model(primaryContainer={"image": image})
    # When the stack-sources rule runs over the serving resources
    messages = run_policy(
        sagemaker.SERVING_USES_STACK_RESOURCES, model, *serving_neighbours(), environment="prod"
    )
    # Then the image is reported
    only_message(messages, "image must come from the stack's ECR repository", image)
