"""Network: a private VPC with no route to the internet, VPC endpoints and flow logs."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from common.iam_document import Condition, Principal
from infra.config import PRIVATE_SUBNET_PREFIX
from infra.policy_document import PolicyDocument, Statement

# What training jobs and endpoints reach, all through PrivateLink.
INTERFACE_SERVICES = (
    "sagemaker.api",
    "sagemaker.runtime",
    "sts",
    "kms",
    "ecr.api",
    "ecr.dkr",
    "logs",
    "monitoring",
)


def flow_log_group_name(prefix: str) -> str:
    """The flow-log group's fixed name, so the logs key policy can name it."""
    return f"/{prefix}/vpc-flow-logs"


@dataclass(frozen=True)
class NetworkArgs:
    cidr_block: str
    availability_zones: Sequence[str]
    region: str
    kms_key_arn: pulumi.Input[str]
    """The stack's logs CMK (flow logs are audit evidence, not workload data)."""
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    flow_log_retention_days: int
    tags: dict[str, str] | None = None


class Network(pulumi.ComponentResource):
    """Private subnets in several AZs, a security group per workload, endpoints, flow logs."""

    vpc_id: pulumi.Output[str]
    private_subnet_ids: list[pulumi.Output[str]]
    training_security_group_id: pulumi.Output[str]
    endpoint_security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:network:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tags = args.tags or {}
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr_block,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={**tags, "Name": f"{name}-vpc"},
            opts=child,
        )
        # The default security group allows nothing (CIS 5.4): no ingress, no egress rules.
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg", vpc_id=vpc.id, ingress=[], egress=[], tags=tags, opts=child
        )
        vpc_network = ipaddress.ip_network(args.cidr_block)
        subnet_cidrs = list(vpc_network.subnets(new_prefix=PRIVATE_SUBNET_PREFIX))
        route_table = aws.ec2.RouteTable(
            f"{name}-private-rt",
            vpc_id=vpc.id,
            tags={**tags, "Name": f"{name}-private"},
            opts=child,
        )
        self.private_subnet_ids = []
        for index, zone in enumerate(args.availability_zones):
            subnet = aws.ec2.Subnet(
                f"{name}-private-{index}",
                vpc_id=vpc.id,
                availability_zone=zone,
                cidr_block=str(subnet_cidrs[index]),
                map_public_ip_on_launch=False,
                tags={**tags, "Name": f"{name}-private-{zone}"},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{index}-rt",
                subnet_id=subnet.id,
                route_table_id=route_table.id,
                opts=child,
            )
            self.private_subnet_ids.append(subnet.id)

        endpoints_sg = aws.ec2.SecurityGroup(
            f"{name}-endpoints-sg",
            vpc_id=vpc.id,
            description="VPC interface endpoints: HTTPS from inside the VPC only",
            ingress=[
                {
                    "description": "HTTPS from workloads in this VPC",
                    "protocol": "tcp",
                    "from_port": 443,
                    "to_port": 443,
                    "cidr_blocks": [args.cidr_block],
                }
            ],
            egress=[],
            tags=tags,
            opts=child,
        )
        s3_endpoint = aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc.id,
            service_name=f"com.amazonaws.{args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[route_table.id],
            tags=tags,
            opts=child,
        )
        for service in INTERFACE_SERVICES:
            aws.ec2.VpcEndpoint(
                f"{name}-{service.replace('.', '-')}",
                vpc_id=vpc.id,
                service_name=f"com.amazonaws.{args.region}.{service}",
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=self.private_subnet_ids,
                security_group_ids=[endpoints_sg.id],
                tags=tags,
                opts=child,
            )
        self.training_security_group_id = self._workload_sg(
            name, "training", vpc.id, endpoints_sg.id, s3_endpoint.prefix_list_id, tags
        )
        self.endpoint_security_group_id = self._workload_sg(
            name, "endpoint", vpc.id, endpoints_sg.id, s3_endpoint.prefix_list_id, tags
        )
        self._flow_logs(name, args, vpc.id, tags)
        self.vpc_id = vpc.id
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "private_subnet_ids": self.private_subnet_ids,
                "training_security_group_id": self.training_security_group_id,
                "endpoint_security_group_id": self.endpoint_security_group_id,
            }
        )

    def _workload_sg(
        self,
        name: str,
        workload: str,
        vpc_id: pulumi.Input[str],
        endpoints_sg_id: pulumi.Input[str],
        s3_prefix_list: pulumi.Input[str],
        tags: dict[str, str],
    ) -> pulumi.Output[str]:
        """No ingress; HTTPS out only to the VPC endpoints and S3 (distributed training
        traffic between instances of one job stays inside the group)."""
        group = aws.ec2.SecurityGroup(
            f"{name}-{workload}-sg",
            vpc_id=vpc_id,
            description=f"SageMaker {workload}: HTTPS to VPC endpoints and S3 only",
            ingress=[
                {
                    "description": "instances of the same job",
                    "protocol": "tcp",
                    "from_port": 0,
                    "to_port": 65535,
                    "self": True,
                }
            ],
            egress=[
                {
                    "description": "HTTPS to interface endpoints",
                    "protocol": "tcp",
                    "from_port": 443,
                    "to_port": 443,
                    "security_groups": [endpoints_sg_id],
                },
                {
                    "description": "HTTPS to S3 through the gateway endpoint",
                    "protocol": "tcp",
                    "from_port": 443,
                    "to_port": 443,
                    "prefix_list_ids": [s3_prefix_list],
                },
                {
                    "description": "instances of the same job",
                    "protocol": "tcp",
                    "from_port": 0,
                    "to_port": 65535,
                    "self": True,
                },
            ],
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return group.id

    def _flow_logs(
        self, name: str, args: NetworkArgs, vpc_id: pulumi.Input[str], tags: dict[str, str]
    ) -> None:
        child = pulumi.ResourceOptions(parent=self)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            name=flow_log_group_name(name),
            retention_in_days=args.flow_log_retention_days,
            kms_key_id=args.kms_key_arn,
            tags=tags,
            opts=child,
        )
        trust = PolicyDocument(
            [
                Statement(
                    sid="FlowLogsAssume",
                    principals=Principal("Service", ["vpc-flow-logs.amazonaws.com"]),
                    actions=["sts:AssumeRole"],
                    conditions=[Condition("StringEquals", "aws:SourceAccount", [args.account_id])],
                )
            ]
        )
        role = aws.iam.Role(
            f"{name}-flow-logs-role",
            description="mlops: VPC flow log delivery",
            assume_role_policy=trust.to_json(),
            tags=tags,
            opts=child,
        )
        deliver = PolicyDocument(
            [
                Statement(
                    sid="DeliverFlowLogs",
                    actions=(
                        "logs:CreateLogStream",
                        "logs:DescribeLogStreams",
                        "logs:PutLogEvents",
                    ),
                    resources=[
                        log_group.arn,
                        pulumi.Output.concat(log_group.arn, ":log-stream:*"),
                    ],
                )
            ]
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs-policy", role=role.name, policy=deliver.to_json(), opts=child
        )
        aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=vpc_id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            tags=tags,
            opts=child,
        )
