"""Audit trail: CloudTrail with S3 data events on the model artifacts, on the logs CMK."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.arns import s3_bucket


@dataclass(frozen=True)
class AuditTrailArgs:
    log_bucket: pulumi.Input[str]
    """Delivery bucket; its policy must already grant CloudTrail (see `cloudtrail_statements`)."""
    artifact_bucket: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    """The stack's logs CMK, whose policy lets only this trail (by name) encrypt with it."""
    partition: pulumi.Input[str]
    tags: dict[str, str] | None = None


def trail_name(prefix: str) -> str:
    """The trail's fixed name, so the logs key policy can name it (aws:SourceArn)."""
    return f"{prefix}-trail"


class AuditTrail(pulumi.ComponentResource):
    """Multi-region trail, log file validation on, every read and write of a model recorded."""

    trail_arn: pulumi.Output[str]

    def __init__(self, name: str, args: AuditTrailArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:audit:AuditTrail", name, None, opts)
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
            event_selectors=[
                {
                    "read_write_type": "All",
                    "include_management_events": True,
                    "data_resources": [
                        {
                            "type": "AWS::S3::Object",
                            "values": [
                                pulumi.Output.concat(
                                    s3_bucket(args.partition, args.artifact_bucket), "/"
                                )
                            ],
                        }
                    ],
                }
            ],
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.trail_arn = trail.arn
        self.register_outputs({"trail_arn": self.trail_arn})
