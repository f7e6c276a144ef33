"""KMS keys: the data CMK that encrypts everything, and the model-signing key."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.policy_document import Condition, PolicyDocument, Principal, Statement

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


@dataclass(frozen=True)
class KeysArgs:
    account_id: pulumi.Input[str]
    """The AWS account that owns the keys; its root administers them."""
    partition: pulumi.Input[str]
    region: str
    alias_prefix: str
    """Aliases become `alias/<prefix>-data` and `alias/<prefix>-signing`."""
    data_users: Sequence[pulumi.Input[str]]
    """Role ARNs that encrypt and decrypt with the data key (training, release, deploy)."""
    data_readers: Sequence[pulumi.Input[str]]
    """Role ARNs that only decrypt (inference, auditor)."""
    signers: Sequence[pulumi.Input[str]]
    """The only role ARNs allowed to call kms:Sign (the release-signing role)."""
    verifiers: Sequence[pulumi.Input[str]]
    """Role ARNs allowed to verify and read the public key (deploy, auditor, inference)."""
    deletion_window_days: int = 30
    signing_key_spec: str = "ECC_NIST_P256"
    tags: dict[str, str] | None = None


class Keys(pulumi.ComponentResource):
    """A symmetric data CMK with rotation and an asymmetric SIGN_VERIFY key, with aliases."""

    data_key_arn: pulumi.Output[str]
    data_key_id: pulumi.Output[str]
    signing_key_arn: pulumi.Output[str]
    signing_key_alias: pulumi.Output[str]
    data_key_alias: pulumi.Output[str]

    def __init__(self, name: str, args: KeysArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:keys:Keys", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        root = pulumi.Output.concat("arn:", args.partition, ":iam::", args.account_id, ":root")

        self.data_key = aws.kms.Key(
            f"{name}-data-key",
            description=f"{args.alias_prefix}: data at rest (buckets, logs, volumes, topics)",
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
        data_alias = aws.kms.Alias(
            f"{name}-data-key-alias",
            name=f"alias/{args.alias_prefix}-data",
            target_key_id=self.data_key.key_id,
            opts=child,
        )
        signing_alias = aws.kms.Alias(
            f"{name}-signing-key-alias",
            name=f"alias/{args.alias_prefix}-signing",
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
                "data_key_alias": self.data_key_alias,
                "signing_key_alias": self.signing_key_alias,
            }
        )


def _admin(root: pulumi.Input[str]) -> Statement:
    return Statement(
        sid="AccountRootAdministers",
        principals=Principal("AWS", [root]),
        actions=KEY_ADMIN_ACTIONS,
        resources=["*"],
        wildcard_resource_reason="in a key policy, '*' means this key",
    )


def _data_key_policy(args: KeysArgs, root: pulumi.Input[str]) -> PolicyDocument:
    this_key = "*"  # In a key policy, "*" is the key the policy is attached to.
    logs = f"logs.{args.region}.amazonaws.com"
    log_context = pulumi.Output.concat(
        "arn:", args.partition, ":logs:", args.region, ":", args.account_id, ":log-group:*"
    )
    reason = "in a key policy, '*' means this key"
    return PolicyDocument(
        [
            _admin(root),
            Statement(
                sid="WorkloadRolesUseKey",
                principals=Principal("AWS", list(args.data_users)),
                actions=DATA_USE_ACTIONS,
                resources=[this_key],
                wildcard_resource_reason=reason,
            ),
            Statement(
                sid="ReadOnlyRolesDecrypt",
                principals=Principal("AWS", list(args.data_readers)),
                actions=DATA_READ_ACTIONS,
                resources=[this_key],
                wildcard_resource_reason=reason,
            ),
            Statement(
                sid="SageMakerAttachesVolumes",
                principals=Principal("AWS", [*args.data_users, *args.data_readers]),
                actions=GRANT_ACTIONS,
                resources=[this_key],
                conditions=[Condition("Bool", "kms:GrantIsForAWSResource", ["true"])],
                wildcard_resource_reason=reason,
            ),
            Statement(
                sid="CloudWatchLogsDescribesKey",
                principals=Principal("Service", [logs]),
                actions=["kms:DescribeKey"],
                resources=[this_key],
                conditions=[Condition("StringEquals", "aws:SourceAccount", [args.account_id])],
                wildcard_resource_reason=reason,
            ),
            Statement(
                sid="CloudWatchLogsEncrypts",
                principals=Principal("Service", [logs]),
                actions=("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"),
                resources=[this_key],
                conditions=[
                    Condition("StringLike", "kms:EncryptionContext:aws:logs:arn", [log_context])
                ],
                wildcard_resource_reason=reason,
            ),
            Statement(
                sid="CloudTrailEncryptsLogs",
                principals=Principal("Service", ["cloudtrail.amazonaws.com"]),
                actions=("kms:DescribeKey", "kms:GenerateDataKey"),
                resources=[this_key],
                conditions=[
                    Condition("StringEquals", "aws:SourceAccount", [args.account_id]),
                ],
                wildcard_resource_reason=reason,
            ),
            Statement(
                sid="AlarmsPublishToEncryptedTopic",
                principals=Principal("Service", ["cloudwatch.amazonaws.com"]),
                actions=("kms:Decrypt", "kms:GenerateDataKey"),
                resources=[this_key],
                conditions=[Condition("StringEquals", "aws:SourceAccount", [args.account_id])],
                wildcard_resource_reason=reason,
            ),
        ]
    )


def _signing_key_policy(args: KeysArgs, root: pulumi.Input[str]) -> PolicyDocument:
    reason = "in a key policy, '*' means this key"
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
        ]
    )
