"""SecureBucket: an S3 bucket with every control the platform's data needs, by default."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_aws as aws

from common.iam_document import Condition, Principal
from infra.arns import s3_bucket, s3_objects
from infra.contracts import ACCESS_LOGS_PREFIX
from infra.policy_document import PolicyDocument, Statement


@dataclass(frozen=True)
class ObjectLock:
    mode: Literal["GOVERNANCE", "COMPLIANCE"]
    retention_days: int


@dataclass(frozen=True)
class LogDelivery:
    """An AWS service allowed to write logs under `key_prefix`, for this account only."""

    service: str
    """Service principal, e.g. `logging.s3.amazonaws.com` or `cloudtrail.amazonaws.com`."""
    key_prefix: str
    source_account: pulumi.Input[str]
    checks_bucket_acl: bool = False
    """CloudTrail calls GetBucketAcl before it delivers."""


@dataclass(frozen=True)
class PrefixReaders:
    """Named principals (roles of another account) that may read objects under prefixes."""

    sid: str
    principals: Sequence[pulumi.Input[str]]
    key_prefixes: Sequence[str]
    """Each ends in `/`; the grant is `<prefix>*`."""


@dataclass(frozen=True)
class SecureBucketArgs:
    partition: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str] | None
    """The CMK for SSE-KMS. None only for the access-log bucket: S3 server access log
    delivery supports SSE-S3 target buckets only, so that bucket uses AES256."""
    log_bucket: pulumi.Input[str] | None
    """Bucket receiving this bucket's server access logs; None for the log bucket itself."""
    noncurrent_version_expiration_days: int = 90
    abort_incomplete_multipart_days: int = 7
    expiration_days: int | None = None
    """Expire current objects after this many days (log buckets)."""
    object_lock: ObjectLock | None = None
    force_destroy: bool = False
    log_deliveries: Sequence[LogDelivery] = field(default_factory=tuple)
    """Services that deliver logs into this bucket (the log bucket only)."""
    tags: dict[str, str] | None = None
    require_sse_header: bool = True
    """Deny uploads that do not ask for SSE-KMS. False (the Pulumi state bucket, whose
    writer sends no encryption header): deny only uploads asking for another encryption
    or key; header-less ones get the bucket's default SSE-KMS key."""
    bucket_name: str | None = None
    """A fixed name (the Pulumi state bucket, which others derive); None: Pulumi autonames."""
    readers: Sequence[PrefixReaders] = ()
    """Cross-account readers (a promoting stack's role): GetObject under named prefixes only."""


class SecureBucket(pulumi.ComponentResource):
    """Versioned, KMS-encrypted, private, TLS-only, access-logged bucket with lifecycle rules."""

    bucket_name: pulumi.Output[str]
    arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: SecureBucketArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("mlops:storage:SecureBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.Bucket(
            name,
            bucket=args.bucket_name,
            force_destroy=args.force_destroy,
            object_lock_enabled=args.object_lock is not None or None,
            tags=args.tags,
            opts=child,
        )
        bucket_id = self.bucket.id
        ownership = aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=bucket_id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=child,
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=bucket_id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket_id,
            rules=[_encryption_rule(args.kms_key_arn)],
            opts=child,
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=bucket_id,
            versioning_configuration={"status": "Enabled"},
            opts=child,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=bucket_id,
            rules=_lifecycle_rules(args),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
        if args.log_bucket is not None:
            aws.s3.BucketLogging(
                f"{name}-logging",
                bucket=bucket_id,
                target_bucket=args.log_bucket,
                target_prefix=pulumi.Output.concat(ACCESS_LOGS_PREFIX, bucket_id, "/"),
                opts=child,
            )
        if args.object_lock is not None:
            aws.s3.BucketObjectLockConfiguration(
                f"{name}-object-lock",
                bucket=bucket_id,
                object_lock_enabled="Enabled",
                rule={
                    "default_retention": {
                        "mode": args.object_lock.mode,
                        "days": args.object_lock.retention_days,
                    }
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
            )
        aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket_id,
            policy=bucket_policy(args, bucket_id).to_json(),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access, ownership]),
        )
        self.bucket_name = bucket_id
        self.arn = self.bucket.arn
        self.register_outputs({"bucket_name": self.bucket_name, "arn": self.arn})


def _encryption_rule(kms_key_arn: pulumi.Input[str] | None) -> dict[str, object]:
    if kms_key_arn is None:
        return {"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}
    return {
        "apply_server_side_encryption_by_default": {
            "sse_algorithm": "aws:kms",
            "kms_master_key_id": kms_key_arn,
        },
        "bucket_key_enabled": True,
    }


def _lifecycle_rules(args: SecureBucketArgs) -> list[dict[str, object]]:
    rules: list[dict[str, object]] = [
        {
            "id": "expire-noncurrent-versions",
            "status": "Enabled",
            "filter": {},
            "noncurrent_version_expiration": {
                "noncurrent_days": args.noncurrent_version_expiration_days
            },
        },
        {
            "id": "abort-incomplete-multipart-uploads",
            "status": "Enabled",
            "filter": {},
            "abort_incomplete_multipart_upload": {
                "days_after_initiation": args.abort_incomplete_multipart_days
            },
        },
    ]
    if args.expiration_days is not None:
        rules.append(
            {
                "id": "expire-current-objects",
                "status": "Enabled",
                "filter": {},
                "expiration": {"days": args.expiration_days},
            }
        )
    return rules


def bucket_policy(args: SecureBucketArgs, bucket: pulumi.Input[str]) -> PolicyDocument:
    """TLS only; with a CMK, every upload must name SSE-KMS and exactly that key.

    No `s3:TlsVersion` floor: every AWS API endpoint has required TLS 1.2 since 2024.
    """
    bucket_arn = s3_bucket(args.partition, bucket)
    objects = s3_objects(args.partition, bucket)
    everyone = Principal("*")
    statements = [
        Statement(
            sid="DenyInsecureTransport",
            effect="Deny",
            principals=everyone,
            actions=["s3:*"],
            resources=[bucket_arn, objects],
            conditions=[Condition("Bool", "aws:SecureTransport", ["false"])],
        ),
    ]
    if args.kms_key_arn is not None:
        statements += [
            Statement(
                sid="DenyUploadsWithoutSseKms",
                effect="Deny",
                principals=everyone,
                actions=["s3:PutObject"],
                resources=[objects],
                conditions=[
                    Condition(
                        "StringNotEquals" if args.require_sse_header else "StringNotEqualsIfExists",
                        "s3:x-amz-server-side-encryption",
                        ["aws:kms"],
                    )
                ],
            ),
            Statement(
                sid="DenyUploadsWithOtherKmsKey",
                effect="Deny",
                principals=everyone,
                actions=["s3:PutObject"],
                resources=[objects],
                conditions=[
                    Condition(
                        "ArnNotEqualsIfExists",
                        "s3:x-amz-server-side-encryption-aws-kms-key-id",
                        [args.kms_key_arn],
                    )
                ],
            ),
        ]
    for readers in args.readers:
        statements.append(
            Statement(
                sid=readers.sid,
                principals=Principal("AWS", list(readers.principals)),
                actions=["s3:GetObject"],
                resources=[s3_objects(args.partition, bucket, p) for p in readers.key_prefixes],
            )
        )
    for index, delivery in enumerate(args.log_deliveries):
        statements += _delivery_statements(index, delivery, bucket_arn, args.partition, bucket)
    return PolicyDocument(statements)


def _delivery_statements(
    index: int,
    delivery: LogDelivery,
    bucket_arn: pulumi.Input[str],
    partition: pulumi.Input[str],
    bucket: pulumi.Input[str],
) -> list[Statement]:
    source = [Condition("StringEquals", "aws:SourceAccount", [delivery.source_account])]
    service = Principal("Service", [delivery.service])
    statements = [
        Statement(
            sid=f"LogDelivery{index}Writes",
            principals=service,
            actions=["s3:PutObject"],
            resources=[s3_objects(partition, bucket, delivery.key_prefix)],
            conditions=source,
        )
    ]
    if delivery.checks_bucket_acl:
        statements.append(
            Statement(
                sid=f"LogDelivery{index}ChecksAcl",
                principals=service,
                actions=["s3:GetBucketAcl"],
                resources=[bucket_arn],
                conditions=source,
            )
        )
    return statements
