"""The account's foundation: the Pulumi state backend and the infrastructure deploy role."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import pulumi
import pulumi_aws as aws

from common.iam_document import Condition, Principal
from infra.bootstrap.boundary import RELEASE_DUTIES, boundary_document
from infra.components.identity import github_statement
from infra.components.keys import KEY_ADMIN_ACTIONS, THIS_KEY, THIS_KEY_REASON
from infra.components.secure_bucket import LogDelivery, SecureBucket, SecureBucketArgs
from infra.components.state_access import state_statements
from infra.contracts import (
    INFRA_ROLE_NAME,
    PERMISSIONS_BOUNDARY_NAME,
    STATE_KEY_ALIAS,
    state_bucket_name,
)
from infra.policy_document import PolicyDocument, Statement

# The key policy hands data-plane use to IAM policies of this account: the infra role's
# and the main stacks' plan and deploy roles', which are created after this key.
STATE_KEY_USE = ("kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey")


@dataclass(frozen=True)
class StateBackendArgs:
    account_id: str
    partition: str
    region: str
    key_deletion_window_days: int = 30
    access_log_retention_days: int = 365
    noncurrent_version_expiration_days: int = 365
    tags: dict[str, str] | None = None


class StateBackend(pulumi.ComponentResource):
    """The S3 bucket `pulumi login s3://...` uses and the CMK that encrypts it and the stacks'
    secrets (`--secrets-provider awskms://alias/mlops-state`). Both are protected: deleting
    them loses every stack's state."""

    bucket_name: pulumi.Output[str]
    key_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: StateBackendArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("mlops:bootstrap:StateBackend", name, None, opts)
        root = f"arn:{args.partition}:iam::{args.account_id}:root"
        key = aws.kms.Key(
            f"{name}-key",
            description="mlops: Pulumi state and stack secrets",
            key_usage="ENCRYPT_DECRYPT",
            customer_master_key_spec="SYMMETRIC_DEFAULT",
            enable_key_rotation=True,
            rotation_period_in_days=365,
            deletion_window_in_days=args.key_deletion_window_days,
            policy=PolicyDocument(
                [
                    Statement(
                        sid="AccountRootAdministers",
                        principals=Principal("AWS", [root]),
                        actions=KEY_ADMIN_ACTIONS,
                        resources=[THIS_KEY],
                        wildcard_resource_reason=THIS_KEY_REASON,
                    ),
                    Statement(
                        sid="IamPoliciesOfThisAccountGrantUse",
                        principals=Principal("AWS", [root]),
                        actions=STATE_KEY_USE,
                        resources=[THIS_KEY],
                        conditions=[
                            Condition("StringEquals", "kms:CallerAccount", [args.account_id])
                        ],
                        wildcard_resource_reason=THIS_KEY_REASON,
                    ),
                ]
            ).to_json(),
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        aws.kms.Alias(
            f"{name}-key-alias",
            name=STATE_KEY_ALIAS,
            target_key_id=key.key_id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=self)
        logs = SecureBucket(
            f"{name}-logs",
            SecureBucketArgs(
                partition=args.partition,
                kms_key_arn=None,
                log_bucket=None,
                expiration_days=args.access_log_retention_days,
                log_deliveries=[
                    LogDelivery("logging.s3.amazonaws.com", "s3-access/", args.account_id)
                ],
                tags=args.tags,
            ),
            opts=child,
        )
        state = SecureBucket(
            f"{name}-state",
            SecureBucketArgs(
                partition=args.partition,
                kms_key_arn=key.arn,
                log_bucket=logs.bucket_name,
                noncurrent_version_expiration_days=args.noncurrent_version_expiration_days,
                require_sse_header=False,
                bucket_name=state_bucket_name(args.account_id, args.region),
                tags=args.tags,
            ),
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        self.bucket_name = state.bucket_name
        self.key_arn = key.arn
        self.register_outputs({"bucket_name": self.bucket_name, "key_arn": self.key_arn})


@dataclass(frozen=True)
class InfraDeployRoleArgs:
    account_id: str
    partition: str
    region: str
    oidc_provider_arn: pulumi.Input[str]
    deploy_subjects: Sequence[str]
    """`repo:O/R:environment:<env>`: the deploy environments of the account's stacks."""
    state_bucket: pulumi.Input[str]
    state_key_arn: pulumi.Input[str]
    tags: dict[str, str] | None = None


class InfraDeployRole(pulumi.ComponentResource):
    """The role `infra-deploy.yml` assumes for `pulumi up`, and the boundary that caps it."""

    role_arn: pulumi.Output[str]
    boundary_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: InfraDeployRoleArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__("mlops:bootstrap:InfraDeployRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        iam_arn = f"arn:{args.partition}:iam::{args.account_id}"
        # Fixed names: the boundary names itself and the role in its denies.
        boundary_arn = f"{iam_arn}:policy/{PERMISSIONS_BOUNDARY_NAME}"
        role_arn = f"{iam_arn}:role/{INFRA_ROLE_NAME}"
        limits = boundary_document(
            args.partition, args.region, args.account_id, boundary_arn, role_arn
        )
        boundary = aws.iam.Policy(
            f"{name}-boundary",
            name=PERMISSIONS_BOUNDARY_NAME,
            description="mlops: the most the infra role and the roles it creates may do",
            policy=limits.to_json(),
            tags=args.tags,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-role",
            name=INFRA_ROLE_NAME,
            description="mlops: GitHub Actions: pulumi up of the main stacks (infra-deploy.yml)",
            assume_role_policy=PolicyDocument(
                [github_statement(args.oidc_provider_arn, list(args.deploy_subjects))]
            ).to_json(),
            max_session_duration=3600,
            permissions_boundary=boundary.arn,
            tags=args.tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-state",
            role=role.name,
            policy=PolicyDocument(
                state_statements(
                    "Infra",
                    args.partition,
                    args.state_bucket,
                    args.state_key_arn,
                    stacks=None,
                    write=True,
                )
            ).to_json(),
            opts=child,
        )
        # What `pulumi up` of the main stacks does: the boundary's own platform grants (one
        # list, PLATFORM_ACTIONS) less the release duties the roles it creates hold and it
        # never does itself: signing, registering, approving, training.
        aws.iam.RolePolicy(
            f"{name}-platform",
            role=role.name,
            policy=PolicyDocument(
                [
                    replace(s, actions=tuple(a for a in s.actions if a not in RELEASE_DUTIES))
                    for s in limits.statements
                    if s.effect == "Allow"
                ]
            ).to_json(),
            opts=child,
        )
        self.role_arn = role.arn
        self.boundary_arn = boundary.arn
        self.register_outputs({"role_arn": self.role_arn, "boundary_arn": self.boundary_arn})
