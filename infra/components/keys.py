"""KMS keys: the data CMK that encrypts everything, and the model-signing key."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from common.iam_document import Condition, Principal
from infra.contracts import signing_key_alias
from infra.policy_document import PolicyDocument, Statement

# Key administration, spelled out: no `kms:*`, and no data-plane use, for the account root.
# Keeping PutKeyPolicy with the root means the key can never become unmanageable.
KEY_ADMIN_ACTIONS = (
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:GetPublicKey",
    "kms:ListAliases",
    "kms:ListGrants",
    "kms:ListKeyPolicies",
    "kms:ListKeyRotations",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:RevokeGrant",
    "kms:RotateKeyOnDemand",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
)
DATA_USE_ACTIONS = (
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
)
DATA_READ_ACTIONS = ("kms:Decrypt", "kms:DescribeKey")
# SageMaker attaches the CMK to training volumes and endpoint instances through grants.
GRANT_ACTIONS = ("kms:CreateGrant",)
VERIFY_ACTIONS = ("kms:DescribeKey", "kms:GetPublicKey", "kms:Verify")
SIGN_ACTIONS = ("kms:DescribeKey", "kms:GetPublicKey", "kms:Sign")
SIGNING_ALGORITHM = {"ECC_NIST_P256": "ECDSA_SHA_256", "ECC_NIST_P384": "ECDSA_SHA_384"}


THIS_KEY = "*"  # In a key policy, "*" is the key the policy is attached to.
THIS_KEY_REASON = "in a key policy, '*' means this key"


@dataclass(frozen=True)
class KeyUse:
    """Roles that use the data key, only through the AWS services named (`kms:ViaService`).

    A role's credentials used against KMS directly (a stolen session, a dependency calling
    `kms:Decrypt` on a ciphertext it copied) are refused: only S3 or SageMaker acting for
    the role may use the key.
    """

    sid: str
    principals: Sequence[pulumi.Input[str]]
    actions: Sequence[str]
    via_services: Sequence[str]
    """Service prefixes, e.g. `("s3", "sagemaker")` -> `s3.<region>.amazonaws.com`, ..."""


@dataclass(frozen=True)
class LogsKeyArgs:
    """The separate CMK for audit logs: only CloudTrail and CloudWatch Logs encrypt with it,
    for the named trail and flow-log group; only the auditors read it (through S3)."""

    trail_arn: pulumi.Input[str] | None
    """The trail that may encrypt with the key (aws:SourceArn); None without a trail."""
    log_group_arn: pulumi.Input[str] | None
    """The flow-log group CloudWatch Logs may encrypt (encryption context); None without."""
    readers: Sequence[pulumi.Input[str]]
    """Role ARNs that may decrypt delivered log files through S3 (the auditor)."""
    trail_log_group_arn: pulumi.Input[str] | None = None
    """The trail's CloudWatch Logs group, encrypted the same way; None without a trail."""


@dataclass(frozen=True)
class KeysArgs:
    account_id: pulumi.Input[str]
    """The AWS account that owns the keys; its root administers them."""
    partition: pulumi.Input[str]
    region: str
    alias_prefix: str
    """Aliases become `alias/<prefix>-data`, `-signing` and `-logs`."""
    data_key_uses: Sequence[KeyUse]
    """Who uses the data key, with what actions, through which services."""
    grant_users: Sequence[pulumi.Input[str]]
    """Role ARNs whose SageMaker calls attach the data key to volumes (CreateGrant)."""
    data_key_describers: Sequence[pulumi.Input[str]]
    """Role ARNs that call kms:DescribeKey on the data key themselves (not via a service)."""
    signers: Sequence[pulumi.Input[str]]
    """The only role ARNs allowed to call kms:Sign (the release-signing role)."""
    verifiers: Sequence[pulumi.Input[str]]
    """Role ARNs allowed to verify and read the public key (deploy, auditor, inference)."""
    logs: LogsKeyArgs | None = None
    """The audit-log key, when the stack has a trail or flow logs."""
    promoters: Sequence[pulumi.Input[str]] = ()
    """Promoting roles of other accounts (`mlops-<target>-gh-promote`): may decrypt, through S3
    only, the released models they copy out of this stack."""
    promotion_accounts: Sequence[pulumi.Input[str]] = ()
    """Root ARNs of the promoting stacks' accounts: may verify with (never sign with) the
    signing key; a public-key operation, left to that account's IAM to hand out."""
    deletion_window_days: int = 30
    signing_key_spec: str = "ECC_NIST_P256"
    tags: dict[str, str] | None = None


class Keys(pulumi.ComponentResource):
    """A symmetric data CMK with rotation, an asymmetric SIGN_VERIFY key and, when the stack
    keeps audit logs, a symmetric logs CMK; each with an alias."""

    data_key_arn: pulumi.Output[str]
    data_key_id: pulumi.Output[str]
    signing_key_arn: pulumi.Output[str]
    signing_key_alias: pulumi.Output[str]
    data_key_alias: pulumi.Output[str]
    logs_key_arn: pulumi.Output[str] | None

    def __init__(self, name: str, args: KeysArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:keys:Keys", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        root = pulumi.Output.concat("arn:", args.partition, ":iam::", args.account_id, ":root")

        self.data_key = aws.kms.Key(
            f"{name}-data-key",
            description=f"{args.alias_prefix}: data at rest (buckets, volumes, topics, endpoints)",
            key_usage="ENCRYPT_DECRYPT",
            customer_master_key_spec="SYMMETRIC_DEFAULT",
            enable_key_rotation=True,
            rotation_period_in_days=365,
            deletion_window_in_days=args.deletion_window_days,
            policy=_data_key_policy(args, root).to_json(),
            tags=args.tags,
            opts=child,
        )
        self.signing_key = aws.kms.Key(
            f"{name}-signing-key",
            description=f"{args.alias_prefix}: signs model release manifests (DSSE)",
            key_usage="SIGN_VERIFY",
            customer_master_key_spec=args.signing_key_spec,
            # Asymmetric keys cannot rotate; a new key is a new alias target.
            enable_key_rotation=False,
            deletion_window_in_days=args.deletion_window_days,
            policy=_signing_key_policy(args, root).to_json(),
            tags=args.tags,
            opts=child,
        )
        self.logs_key_arn = None
        if args.logs is not None:
            logs_key = aws.kms.Key(
                f"{name}-logs-key",
                description=f"{args.alias_prefix}: audit logs (CloudTrail, VPC flow logs)",
                key_usage="ENCRYPT_DECRYPT",
                customer_master_key_spec="SYMMETRIC_DEFAULT",
                enable_key_rotation=True,
                rotation_period_in_days=365,
                deletion_window_in_days=args.deletion_window_days,
                policy=_logs_key_policy(args, args.logs, root).to_json(),
                tags=args.tags,
                opts=child,
            )
            aws.kms.Alias(
                f"{name}-logs-key-alias",
                name=f"alias/{args.alias_prefix}-logs",
                target_key_id=logs_key.key_id,
                opts=child,
            )
            self.logs_key_arn = logs_key.arn
        data_alias = aws.kms.Alias(
            f"{name}-data-key-alias",
            name=f"alias/{args.alias_prefix}-data",
            target_key_id=self.data_key.key_id,
            opts=child,
        )
        signing_alias = aws.kms.Alias(
            f"{name}-signing-key-alias",
            name=signing_key_alias(args.alias_prefix),
            target_key_id=self.signing_key.key_id,
            opts=child,
        )
        self.data_key_arn = self.data_key.arn
        self.data_key_id = self.data_key.key_id
        self.signing_key_arn = self.signing_key.arn
        self.data_key_alias = data_alias.name
        self.signing_key_alias = signing_alias.name
        self.register_outputs(
            {
                "data_key_arn": self.data_key_arn,
                "signing_key_arn": self.signing_key_arn,
                "logs_key_arn": self.logs_key_arn,
                "data_key_alias": self.data_key_alias,
                "signing_key_alias": self.signing_key_alias,
            }
        )


def _admin(root: pulumi.Input[str]) -> Statement:
    return Statement(
        sid="AccountRootAdministers",
        principals=Principal("AWS", [root]),
        actions=KEY_ADMIN_ACTIONS,
        resources=[THIS_KEY],
        wildcard_resource_reason=THIS_KEY_REASON,
    )


def via_service(region: str, services: Sequence[str]) -> Condition:
    """`kms:ViaService`: the key is usable only by these services acting for the caller."""
    endpoints = [f"{service}.{region}.amazonaws.com" for service in services]
    return Condition("StringEquals", "kms:ViaService", endpoints)


def _data_key_policy(args: KeysArgs, root: pulumi.Input[str]) -> PolicyDocument:
    logs = f"logs.{args.region}.amazonaws.com"
    log_context = pulumi.Output.concat(
        "arn:", args.partition, ":logs:", args.region, ":", args.account_id, ":log-group:*"
    )
    uses = [
        Statement(
            sid=use.sid,
            principals=Principal("AWS", list(use.principals)),
            actions=use.actions,
            resources=[THIS_KEY],
            conditions=[via_service(args.region, use.via_services)],
            wildcard_resource_reason=THIS_KEY_REASON,
        )
        for use in args.data_key_uses
    ]
    return PolicyDocument(
        [
            _admin(root),
            *uses,
            *(
                [
                    Statement(
                        sid="PromotersDecryptModelsViaS3",
                        principals=Principal("AWS", list(args.promoters)),
                        actions=["kms:Decrypt"],
                        resources=[THIS_KEY],
                        conditions=[
                            via_service(args.region, ["s3"]),
                            # Objects of the artifact bucket only (S3 Bucket Keys: S3 sends
                            # the bucket's ARN as the encryption context).
                            Condition(
                                "StringLike",
                                "kms:EncryptionContext:aws:s3:arn",
                                [
                                    pulumi.Output.concat(
                                        "arn:",
                                        args.partition,
                                        ":s3:::",
                                        args.alias_prefix,
                                        "-artifacts-*",
                                    )
                                ],
                            ),
                        ],
                        wildcard_resource_reason=THIS_KEY_REASON,
                    )
                ]
                if args.promoters
                else []
            ),
            Statement(
                sid="DescribeDataKey",
                principals=Principal("AWS", list(args.data_key_describers)),
                actions=["kms:DescribeKey"],
                resources=[THIS_KEY],
                wildcard_resource_reason=THIS_KEY_REASON,
            ),
            Statement(
                sid="SageMakerAttachesVolumes",
                principals=Principal("AWS", list(args.grant_users)),
                actions=GRANT_ACTIONS,
                resources=[THIS_KEY],
                conditions=[Condition("Bool", "kms:GrantIsForAWSResource", ["true"])],
                wildcard_resource_reason=THIS_KEY_REASON,
            ),
            Statement(
                sid="CloudWatchLogsDescribesKey",
                principals=Principal("Service", [logs]),
                actions=["kms:DescribeKey"],
                resources=[THIS_KEY],
                conditions=[Condition("StringEquals", "aws:SourceAccount", [args.account_id])],
                wildcard_resource_reason=THIS_KEY_REASON,
            ),
            Statement(
                sid="CloudWatchLogsEncrypts",
                principals=Principal("Service", [logs]),
                actions=("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"),
                resources=[THIS_KEY],
                conditions=[
                    Condition("StringLike", "kms:EncryptionContext:aws:logs:arn", [log_context])
                ],
                wildcard_resource_reason=THIS_KEY_REASON,
            ),
            Statement(
                sid="AlarmsPublishToEncryptedTopic",
                principals=Principal("Service", ["cloudwatch.amazonaws.com"]),
                actions=("kms:Decrypt", "kms:GenerateDataKey"),
                resources=[THIS_KEY],
                conditions=[Condition("StringEquals", "aws:SourceAccount", [args.account_id])],
                wildcard_resource_reason=THIS_KEY_REASON,
            ),
        ]
    )


def _logs_key_policy(args: KeysArgs, logs: LogsKeyArgs, root: pulumi.Input[str]) -> PolicyDocument:
    """Only the log services encrypt, each for its one log; the auditors read via S3."""
    statements = [_admin(root)]
    account = Condition("StringEquals", "aws:SourceAccount", [args.account_id])
    if logs.trail_arn is not None:
        trail = Condition("StringEquals", "aws:SourceArn", [logs.trail_arn])
        trail_context = pulumi.Output.concat(
            "arn:", args.partition, ":cloudtrail:*:", args.account_id, ":trail/*"
        )
        statements += [
            Statement(
                sid="CloudTrailEncryptsLogs",
                principals=Principal("Service", ["cloudtrail.amazonaws.com"]),
                actions=["kms:GenerateDataKey"],
                resources=[THIS_KEY],
                conditions=[
                    trail,
                    Condition(
                        "StringLike", "kms:EncryptionContext:aws:cloudtrail:arn", [trail_context]
                    ),
                ],
                wildcard_resource_reason=THIS_KEY_REASON,
            ),
            Statement(
                sid="CloudTrailDescribesKey",
                principals=Principal("Service", ["cloudtrail.amazonaws.com"]),
                actions=["kms:DescribeKey"],
                resources=[THIS_KEY],
                conditions=[trail],
                wildcard_resource_reason=THIS_KEY_REASON,
            ),
        ]
    service = Principal("Service", [f"logs.{args.region}.amazonaws.com"])
    groups = {
        "CloudWatchLogsEncryptsFlowLogs": logs.log_group_arn,
        "CloudWatchLogsEncryptsTrailLogs": logs.trail_log_group_arn,
    }
    for sid, group_arn in groups.items():
        if group_arn is None:
            continue
        statements.append(
            Statement(
                sid=sid,
                principals=service,
                actions=("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"),
                resources=[THIS_KEY],
                conditions=[
                    # Encryption context values are strings to IAM (ArnEquals is a type error).
                    Condition("StringEquals", "kms:EncryptionContext:aws:logs:arn", [group_arn])
                ],
                wildcard_resource_reason=THIS_KEY_REASON,
            )
        )
    if any(arn is not None for arn in groups.values()):
        statements.append(
            Statement(
                sid="CloudWatchLogsDescribesKey",
                principals=service,
                actions=["kms:DescribeKey"],
                resources=[THIS_KEY],
                conditions=[account],
                wildcard_resource_reason=THIS_KEY_REASON,
            )
        )
    statements.append(
        Statement(
            sid="AuditorsReadLogs",
            principals=Principal("AWS", list(logs.readers)),
            actions=DATA_READ_ACTIONS,
            resources=[THIS_KEY],
            conditions=[via_service(args.region, ["s3"])],
            wildcard_resource_reason=THIS_KEY_REASON,
        )
    )
    return PolicyDocument(statements)


def _signing_key_policy(args: KeysArgs, root: pulumi.Input[str]) -> PolicyDocument:
    reason = THIS_KEY_REASON
    return PolicyDocument(
        [
            _admin(root),
            Statement(
                sid="ReleaseSignerReadsKey",
                principals=Principal("AWS", list(args.signers)),
                actions=("kms:DescribeKey", "kms:GetPublicKey"),
                resources=["*"],
                wildcard_resource_reason=reason,
            ),
            Statement(
                sid="ReleaseSignerSigns",
                principals=Principal("AWS", list(args.signers)),
                actions=["kms:Sign"],
                resources=["*"],
                conditions=[
                    Condition(
                        "StringEquals",
                        "kms:SigningAlgorithm",
                        [SIGNING_ALGORITHM[args.signing_key_spec]],
                    )
                ],
                wildcard_resource_reason=reason,
            ),
            Statement(
                sid="DeployersAndAuditorsVerify",
                principals=Principal("AWS", list(args.verifiers)),
                actions=VERIFY_ACTIONS,
                resources=["*"],
                wildcard_resource_reason=reason,
            ),
            *(
                [
                    Statement(
                        sid="PromotingAccountsVerify",
                        principals=Principal("AWS", list(args.promotion_accounts)),
                        actions=VERIFY_ACTIONS,
                        resources=["*"],
                        wildcard_resource_reason=reason,
                    )
                ]
                if args.promotion_accounts
                else []
            ),
        ]
    )
