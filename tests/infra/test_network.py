"""Network: private subnets with no internet route, endpoints, tight groups, flow logs."""

from __future__ import annotations

import ipaddress

import pytest

from infra.components.network import INTERFACE_SERVICES
from infra.graph import Graph

NETWORKED = ("staging", "prod")


def test_dev_has_no_vpc(graph_of) -> None:
    assert graph_of("dev").of_type("aws:ec2/vpc:Vpc") == [], "dev runs without a VPC"


@pytest.mark.parametrize("stack", NETWORKED)
def test_private_subnets_span_at_least_two_zones(graph_of, stack: str) -> None:
    subnets = graph_of(stack).of_type("aws:ec2/subnet:Subnet")
    zones = {s.inputs["availabilityZone"] for s in subnets}
    assert len(zones) >= 2 and len(zones) == len(subnets), f"{stack}: {zones}"
    assert all(s.inputs["mapPublicIpOnLaunch"] is False for s in subnets), "no public IPs"
    (vpc,) = graph_of(stack).of_type("aws:ec2/vpc:Vpc")
    network = ipaddress.ip_network(vpc.inputs["cidrBlock"])
    assert all(ipaddress.ip_network(s.inputs["cidrBlock"]).subnet_of(network) for s in subnets)


@pytest.mark.parametrize("stack", NETWORKED)
def test_no_route_to_the_internet(graph_of, stack: str) -> None:
    graph: Graph = graph_of(stack)
    for forbidden in ("aws:ec2/internetGateway:InternetGateway", "aws:ec2/natGateway:NatGateway",
                      "aws:ec2/route:Route", "aws:ec2/eip:Eip"):  # fmt: skip
        assert graph.of_type(forbidden) == [], f"{stack} declares {forbidden}"
    for table in graph.of_type("aws:ec2/routeTable:RouteTable"):
        assert not table.inputs.get("routes"), f"{table.name} has routes: {table.inputs}"


@pytest.mark.parametrize("stack", NETWORKED)
def test_vpc_endpoints_cover_what_jobs_and_endpoints_reach(graph_of, stack: str) -> None:
    endpoints = {
        e.inputs["serviceName"]: e.inputs
        for e in graph_of(stack).of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
    }
    region = "eu-west-1"
    assert endpoints[f"com.amazonaws.{region}.s3"]["vpcEndpointType"] == "Gateway"
    for service in (
        "sagemaker.api",
        "sagemaker.runtime",
        "sts",
        "kms",
        "ecr.api",
        "ecr.dkr",
        "logs",
    ):
        endpoint = endpoints[f"com.amazonaws.{region}.{service}"]
        assert endpoint["vpcEndpointType"] == "Interface" and endpoint["privateDnsEnabled"] is True
    services = {name.removeprefix(f"com.amazonaws.{region}.") for name in endpoints}
    assert set(INTERFACE_SERVICES) <= services, f"missing: {set(INTERFACE_SERVICES) - services}"


@pytest.mark.parametrize("stack", NETWORKED)
def test_default_security_group_allows_nothing(graph_of, stack: str) -> None:
    (default,) = graph_of(stack).of_type("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert default.inputs.get("ingress", []) == [] and default.inputs.get("egress", []) == []


@pytest.mark.parametrize("stack", NETWORKED)
def test_workload_security_groups_only_reach_https_inside(graph_of, stack: str) -> None:
    graph: Graph = graph_of(stack)
    for workload in ("training", "endpoint"):
        group = graph.named(f"mlops-{stack}-{workload}-sg").inputs
        assert all(rule.get("self") for rule in group["ingress"]), f"{workload}: {group['ingress']}"
        for rule in group["egress"]:
            assert not rule.get("cidrBlocks"), f"{workload} egress to a CIDR: {rule}"
            assert rule.get("self") or (rule["fromPort"], rule["toPort"]) == (443, 443), rule


@pytest.mark.parametrize("stack", NETWORKED)
def test_flow_logs_go_to_an_encrypted_log_group_with_retention(graph_of, stack: str) -> None:
    graph: Graph = graph_of(stack)
    (flow_log,) = graph.of_type("aws:ec2/flowLog:FlowLog")
    groups = [
        group
        for group in graph.of_type("aws:cloudwatch/logGroup:LogGroup")
        if group.outputs["arn"] == flow_log.inputs["logDestination"]
    ]
    assert flow_log.inputs["trafficType"] == "ALL", flow_log.inputs
    assert len(groups) == 1, "flow logs are delivered to a log group of this stack"
    (group,) = groups
    cmk = graph.named(f"mlops-{stack}-logs-key").outputs["arn"]
    assert group.inputs["kmsKeyId"] == cmk, "flow logs are encrypted with the logs CMK"
    assert group.inputs["retentionInDays"] >= 365, group.inputs["retentionInDays"]
