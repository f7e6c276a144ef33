"""Audit trail: CloudTrail with S3 data events on the model artifacts, on the logs CMK.

The trail also delivers to a CloudWatch Logs group (FSBP CloudTrail.5) on the same CMK, so
the CIS section-4 metric filters (infra/components/security_alarms.py) see every event
within minutes. CloudTrail writes there with a role only it can assume, for this trail only,
allowed to create streams and put events in that one group.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from common.iam_document import Condition, Principal
from infra.arns import Arns, s3_bucket
from infra.policy_document import PolicyDocument, Statement


@dataclass(frozen=True)
class AuditTrailArgs:
    log_bucket: pulumi.Input[str]
    """Delivery bucket; its policy must already grant CloudTrail (see `cloudtrail_statements`)."""
    artifact_bucket: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    """The stack's logs CMK, whose policy lets only this trail (by name) encrypt with it."""
    arns: Arns
    """ARN builder of the stack's account and region (the delivery role's conditions)."""
    log_group_retention_days: int
    """Retention of the trail's CloudWatch Logs group (a CloudWatch period, >= 365 days)."""
    permissions_boundary_arn: pulumi.Input[str] | None = None
    """The boundary every role of the stack carries, if the stack sets one."""
    tags: dict[str, str] | None = None


def trail_name(prefix: str) -> str:
    """The trail's fixed name, so the logs key policy can name it (aws:SourceArn)."""
    return f"{prefix}-trail"


def trail_log_group_name(prefix: str) -> str:
    """The trail's log group, fixed so the logs key policy can name it (encryption context)."""
    return f"/{prefix}/cloudtrail"


DELIVERY_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")
"""All CloudTrail needs to deliver to CloudWatch Logs (AWS's documented role policy)."""


class AuditTrail(pulumi.ComponentResource):
    """Multi-region trail, log file validation on, every read and write of a model recorded,
    delivered to S3 and to an encrypted CloudWatch Logs group."""

    trail_arn: pulumi.Output[str]
    log_group_name: pulumi.Output[str]

    def __init__(self, name: str, args: AuditTrailArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:audit:AuditTrail", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        group_name = trail_log_group_name(name)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-trail-logs",
            name=group_name,
            retention_in_days=args.log_group_retention_days,
            kms_key_id=args.kms_key_arn,
            tags=args.tags,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-trail-delivery",
            description="mlops: CloudTrail delivery to CloudWatch Logs",
            assume_role_policy=_delivery_trust(args.arns, trail_name(name)).to_json(),
            max_session_duration=3600,
            permissions_boundary=args.permissions_boundary_arn,
            tags=args.tags,
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-trail-delivery-policy",
            role=role.name,
            policy=PolicyDocument(
                [
                    Statement(
                        sid="DeliverTrailEvents",
                        actions=DELIVERY_ACTIONS,
                        resources=[args.arns.log_streams(group_name)],
                    )
                ]
            ).to_json(),
            opts=child,
        )
        self.log_group_name = log_group.name
        trail = aws.cloudtrail.Trail(
            f"{name}-trail",
            name=trail_name(name),
            s3_bucket_name=args.log_bucket,
            s3_key_prefix="cloudtrail",
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_log_file_validation=True,
            enable_logging=True,
            kms_key_id=args.kms_key_arn,
            # CloudTrail wants the group's ARN with the stream wildcard.
            cloud_watch_logs_group_arn=pulumi.Output.concat(args.arns.log_group(group_name), ":*"),
            cloud_watch_logs_role_arn=role.arn,
            event_selectors=[
                {
                    "read_write_type": "All",
                    "include_management_events": True,
                    "data_resources": [
                        {
                            "type": "AWS::S3::Object",
                            "values": [
                                pulumi.Output.concat(
                                    s3_bucket(args.arns.partition, args.artifact_bucket), "/"
                                )
                            ],
                        }
                    ],
                }
            ],
            tags=args.tags,
            # CloudTrail checks it can write when the trail is created or updated.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group, policy]),
        )
        self.trail_arn = trail.arn
        self.register_outputs({"trail_arn": self.trail_arn, "log_group_name": self.log_group_name})


def _delivery_trust(arns: Arns, name: str) -> PolicyDocument:
    """Only CloudTrail, acting for this trail in this account, may assume the role."""
    return PolicyDocument(
        [
            Statement(
                sid="CloudTrailAssume",
                principals=Principal("Service", ["cloudtrail.amazonaws.com"]),
                actions=["sts:AssumeRole"],
                conditions=[
                    Condition("StringEquals", "aws:SourceAccount", [arns.account_id]),
                    Condition(
                        "StringEquals",
                        "aws:SourceArn",
                        [arns.service("cloudtrail", f"trail/{name}")],
                    ),
                ],
            )
        ]
    )
