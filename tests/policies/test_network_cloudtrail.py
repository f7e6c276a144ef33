"""Network and CloudTrail policies."""

from __future__ import annotations

import pytest

from policies import cloudtrail, network
from tests.policies.fixtures import (
    LOG_BUCKET,
    default_sg,
    flow_log,
    parts,
    secure_bucket,
    security_group,
    subnet,
    trail,
    trail_delivery,
    vpc,
)
from tests.policies.harness import Res, only_message, run_policy, statuses_of

VPC = "VPC `mlops-prod-vpc`: "
SG = "security group `mlops-prod-endpoints-sg`: "
TRAIL = "CloudTrail trail `mlops-prod-trail`: "


def _log_bucket_with_logging() -> list[Res]:
    """The trail's bucket, access-logged into a separate bucket."""
    d = secure_bucket("trail-logs")
    bucket = Res(d["bucket"].type, d["bucket"].name, d["bucket"].props, id=LOG_BUCKET)
    logging = d["logging"].with_props(bucket=LOG_BUCKET, targetBucket="access-logs")
    return [bucket, logging]


def _network() -> list[Res]:
    return [vpc(), flow_log(), default_sg(), security_group(), subnet()]


def _trail_stack() -> list[Res]:
    return [
        trail(),
        *trail_delivery(),
        *_log_bucket_with_logging(),
        *parts(secure_bucket("artifacts", lock=True)),
    ]


@pytest.mark.parametrize("policy", (*network.POLICIES, *cloudtrail.POLICIES), ids=lambda p: p.name)
def test_network_and_trail_policy_compliant_resources_pass(policy):
    # Given a private VPC with flow logs and closed groups, and a prod trail
    # When each policy runs
    messages = run_policy(policy, *_network(), *_trail_stack(), environment="prod")
    # Then nothing is reported
    assert messages == [], f"{policy.name} must pass compliant resources: {messages}"


@pytest.mark.parametrize(
    ("log", "found"),
    [(None, "found no FlowLog"), (flow_log(trafficType="REJECT"), 'found ["REJECT"]')],
    ids=["missing", "reject-only"],
)
def test_flow_log_policy_unlogged_vpc_reports_value(log, found):
    # Given a VPC without flow logs, or logging rejected traffic only
    resources = [vpc()] + ([log] if log else [])
    # When the flow log policy runs
    messages = run_policy(network.FLOW_LOGS_ENABLED, *resources)
    # Then the missing or partial logging is reported
    only_message(messages, VPC, "record ALL traffic", found)


@pytest.mark.parametrize(
    ("group", "fragment"),
    [
        (None, "found no DefaultSecurityGroup"),
        (
            default_sg(
                egress=[
                    {"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "cidrBlocks": ["0.0.0.0/0"]}
                ]
            ),
            'found {"egress": 1, "ingress": 0}',
        ),
    ],
    ids=["unmanaged", "open-egress"],
)
def test_default_sg_policy_open_default_group_reports_rules(group, fragment):
    # Given a VPC whose default security group is unmanaged or allows traffic
    resources = [vpc()] + ([group] if group else [])
    # When the default group policy runs
    messages = run_policy(network.DEFAULT_SG_CLOSED, *resources)
    # Then the rule counts or the missing resource are reported
    only_message(messages, VPC, fragment)


def test_ingress_policy_world_open_ssh_reports_cidr_and_port():
    # Given a group open to the internet on port 22
    rule = {"protocol": "tcp", "fromPort": 22.0, "toPort": 22.0, "cidrBlocks": ["0.0.0.0/0"]}
    # When the ingress policy runs
    messages = run_policy(network.NO_OPEN_INGRESS, security_group(ingress=[rule]))
    # Then the CIDR and the port range are named
    only_message(messages, SG, "must not be open to the internet", "0.0.0.0/0 on tcp 22-22")


def test_ingress_policy_standalone_ipv6_rule_reported():
    # Given a separate ingress rule resource open to ::/0
    rule = Res(
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        "https-any",
        {
            "securityGroupId": "sg-1",
            "ipProtocol": "tcp",
            "fromPort": 443.0,
            "toPort": 443.0,
            "cidrIpv6": "::/0",
        },
    )
    # When the ingress policy runs
    messages = run_policy(network.NO_OPEN_INGRESS, rule)
    # Then the rule is reported
    only_message(messages, "`https-any`: ", "::/0 on tcp 443-443")


def test_ingress_policy_authorized_port_passes_when_configured():
    # Given HTTPS open to the internet and 443 listed as an authorized port
    rule = {"protocol": "tcp", "fromPort": 443.0, "toPort": 443.0, "cidrBlocks": ["0.0.0.0/0"]}
    # When the ingress policy runs with that config
    messages = run_policy(
        network.NO_OPEN_INGRESS, security_group(ingress=[rule]), config={"allowedPorts": [443]}
    )
    # Then the authorized port passes
    assert messages == [], f"an authorized port must pass: {messages}"


def test_egress_policy_open_egress_reports_advisory():
    # Given a group allowing all egress to the internet
    rule = {"protocol": "-1", "fromPort": 0.0, "toPort": 0.0, "cidrBlocks": ["0.0.0.0/0"]}
    # When the (advisory) egress policy runs
    messages = run_policy(network.NO_OPEN_EGRESS, security_group(egress=[rule]))
    # Then it points at the VPC endpoints instead
    only_message(messages, SG, "0.0.0.0/0 on all ports", "VPC endpoints")


def test_subnet_policy_public_ip_subnet_reported():
    # Given a subnet mapping public IPs on launch
    # When the subnet policy runs
    messages = run_policy(network.SUBNET_PRIVATE, subnet(public=True))
    # Then the flag is reported
    only_message(messages, "subnet `mlops-prod-subnet-a`: ", "map_public_ip_on_launch=False")


@pytest.mark.parametrize(
    "resource",
    [
        Res(
            "aws:ec2/route:Route",
            "default",
            {"routeTableId": "rtb-1", "destinationCidrBlock": "0.0.0.0/0", "natGatewayId": "nat-1"},
        ),
        Res(
            "aws:ec2/routeTable:RouteTable",
            "default",
            {"vpcId": "vpc-1", "routes": [{"ipv6CidrBlock": "::/0", "gatewayId": "igw-1"}]},
        ),
    ],
    ids=["route", "inline-route"],
)
def test_route_policy_default_route_reported(resource):
    # Given a default route to a gateway
    # When the route policy runs
    messages = run_policy(network.NO_INTERNET_ROUTE, resource)
    # Then the route is reported
    only_message(messages, "`default`: ", "no default route")


@pytest.mark.parametrize(
    ("props", "fragments"),
    [
        ({"isMultiRegionTrail": False}, ["every region", "is_multi_region_trail=True"]),
        ({"includeGlobalServiceEvents": False}, ["global service events"]),
        ({"enableLogging": False}, ["must be logging"]),
        (
            {"eventSelectors": [{"readWriteType": "WriteOnly", "includeManagementEvents": True}]},
            ["read and write management events"],
        ),
    ],
    ids=["single-region", "no-global", "stopped", "write-only"],
)
def test_multi_region_policy_partial_trail_reports_setting(props, fragments):
    # Given a trail that misses part of the account's activity
    # When the multi-region policy runs
    messages = run_policy(cloudtrail.MULTI_REGION, trail(**props))
    # Then the setting is named
    only_message(messages, TRAIL, *fragments)


def test_trail_kms_policy_unencrypted_trail_reported():
    # Given a trail without a KMS key
    # When the trail encryption policy runs
    messages = run_policy(cloudtrail.ENCRYPTED, trail(kmsKeyId=None))
    # Then the key setting is reported
    only_message(messages, TRAIL, "customer managed KMS key", "kms_key_id")


def test_trail_validation_policy_unvalidated_trail_reported():
    # Given a trail without log file validation
    # When the validation policy runs
    messages = run_policy(cloudtrail.LOG_VALIDATION, trail(enableLogFileValidation=False))
    # Then the flag is reported
    only_message(messages, TRAIL, "integrity validation", "found false")


def test_trail_bucket_policy_unlogged_delivery_bucket_reported():
    # Given a trail delivering to a declared bucket that has no access logging
    bucket = _log_bucket_with_logging()[0]
    # When the trail bucket policy runs
    messages = run_policy(cloudtrail.BUCKET_ACCESS_LOGGING, trail(), bucket)
    # Then the delivery bucket is named with the fix
    only_message(
        messages,
        TRAIL,
        "bucket mlops-prod-trail-logs must have server access logging",
        "dedicated bucket",
    )


def test_trail_bucket_policy_external_bucket_not_applicable():
    # Given a trail delivering to a bucket outside the stack
    # When the trail bucket policy runs
    statuses = statuses_of(cloudtrail.BUCKET_ACCESS_LOGGING, trail())
    # Then it cannot be judged from this stack
    assert statuses == {"mlops-prod-trail": "not-applicable"}, statuses


def test_data_events_policy_prod_artifacts_without_data_events_reported():
    # Given a prod trail recording management events only
    resources = [trail(eventSelectors=None), *parts(secure_bucket("artifacts", lock=True))]
    # When the data events policy runs in prod
    messages = run_policy(cloudtrail.ARTIFACT_DATA_EVENTS, *resources, environment="prod")
    # Then the artifact bucket is reported
    only_message(
        messages, "S3 bucket `mlops-prod-artifacts`: ", "recorded by CloudTrail", "AWS::S3::Object"
    )


def test_data_events_policy_write_only_selector_does_not_count():
    # Given a prod trail recording only writes on the artifacts
    selector = {**trail().props["eventSelectors"][0], "readWriteType": "WriteOnly"}
    resources = [trail(eventSelectors=[selector]), *parts(secure_bucket("artifacts", lock=True))]
    # When the data events policy runs
    messages = run_policy(cloudtrail.ARTIFACT_DATA_EVENTS, *resources, environment="prod")
    # Then reads must be recorded too
    only_message(messages, "no trail with S3 data events (read and write)")
