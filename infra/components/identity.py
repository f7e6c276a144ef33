"""Identities: SageMaker execution roles, the auditor role, GitHub OIDC and one role per workflow.

Roles are created here with their trust policies only; `Permissions` attaches what each
may do once the keys and buckets exist, because the key policies must name these roles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.policy_document import Condition, PolicyDocument, Principal, Statement

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
STS_AUDIENCE = "sts.amazonaws.com"


@dataclass(frozen=True)
class GitHubTrust:
    """Who in GitHub may assume a workflow role: exact OIDC `sub` values, never a wildcard."""

    org: str
    repo: str
    deploy_environment: str
    signing_environment: str
    train_on_pull_requests: bool

    def subject(self, qualifier: str) -> str:
        return f"repo:{self.org}/{self.repo}:{qualifier}"

    @property
    def plan_subjects(self) -> list[str]:
        return [self.subject("pull_request"), self.subject("ref:refs/heads/main")]

    @property
    def train_subjects(self) -> list[str]:
        subjects = [self.subject("ref:refs/heads/main")]
        if self.train_on_pull_requests:
            subjects.insert(0, self.subject("pull_request"))
        return subjects

    @property
    def sign_subjects(self) -> list[str]:
        return [self.subject(f"environment:{self.signing_environment}")]

    @property
    def monitor_subjects(self) -> list[str]:
        """Scheduled workflows run on the default branch."""
        return [self.subject("ref:refs/heads/main")]

    @property
    def deploy_subjects(self) -> list[str]:
        return [self.subject(f"environment:{self.deploy_environment}")]


@dataclass(frozen=True)
class IdentityArgs:
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    github: GitHubTrust
    auditor_principal_arns: Sequence[str] = ()
    """Principals that may assume the auditor role; empty means this account's root."""
    permissions_boundary_arn: str | None = None
    tags: dict[str, str] | None = None


class Identity(pulumi.ComponentResource):
    """The roles of the platform, each trusted only by who needs it."""

    def __init__(self, name: str, args: IdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:identity:Identity", name, None, opts)
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)
        sagemaker_trust = _service_trust("sagemaker.amazonaws.com", args.account_id)

        self.training_role = self._role(
            f"{name}-training", "SageMaker training jobs", sagemaker_trust
        )
        self.inference_role = self._role(
            f"{name}-inference", "SageMaker models and endpoints", sagemaker_trust
        )
        root = pulumi.Output.concat("arn:", args.partition, ":iam::", args.account_id, ":root")
        auditors = list(args.auditor_principal_arns) or [root]
        self.auditor_role = self._role(
            f"{name}-auditor",
            "read-only evidence: verify signatures, read key policies and artifacts",
            PolicyDocument(
                [
                    Statement(
                        sid="AuditorsAssume",
                        principals=Principal("AWS", auditors),
                        actions=["sts:AssumeRole"],
                    )
                ]
            ),
        )

        self.github_provider = aws.iam.OpenIdConnectProvider(
            f"{name}-github-oidc",
            url=f"https://{GITHUB_OIDC_HOST}",
            client_id_lists=[STS_AUDIENCE],
            tags=args.tags,
            opts=self._child,
        )
        github = args.github
        self.plan_role = self._github_role(
            f"{name}-gh-plan", "pulumi preview", github.plan_subjects
        )
        self.train_role = self._github_role(f"{name}-gh-train", "train", github.train_subjects)
        self.release_role = self._github_role(
            f"{name}-gh-release", "sign and register", github.sign_subjects
        )
        self.deploy_role = self._github_role(
            f"{name}-gh-deploy", "pulumi up", github.deploy_subjects
        )
        self.monitor_role = self._github_role(
            f"{name}-gh-monitor", "scheduled drift monitor", github.monitor_subjects
        )

        self.register_outputs(
            {
                role: getattr(self, role).arn
                for role in (
                    "training_role",
                    "inference_role",
                    "auditor_role",
                    "plan_role",
                    "train_role",
                    "release_role",
                    "deploy_role",
                    "monitor_role",
                )
            }
        )

    def _role(self, name: str, purpose: str, trust: PolicyDocument) -> aws.iam.Role:
        return aws.iam.Role(
            name,
            description=f"mlops: {purpose}",
            assume_role_policy=trust.to_json(),
            max_session_duration=3600,
            permissions_boundary=self._args.permissions_boundary_arn,
            tags=self._args.tags,
            opts=self._child,
        )

    def _github_role(self, name: str, purpose: str, subjects: list[str]) -> aws.iam.Role:
        trust = PolicyDocument(
            [
                Statement(
                    sid="GitHubActionsAssume",
                    principals=Principal("Federated", [self.github_provider.arn]),
                    actions=["sts:AssumeRoleWithWebIdentity"],
                    conditions=[
                        Condition("StringEquals", f"{GITHUB_OIDC_HOST}:aud", [STS_AUDIENCE]),
                        Condition("StringEquals", f"{GITHUB_OIDC_HOST}:sub", subjects),
                    ],
                )
            ]
        )
        return self._role(name, f"GitHub Actions: {purpose}", trust)


def _service_trust(service: str, account_id: pulumi.Input[str]) -> PolicyDocument:
    """Trust a service principal only on behalf of this account (confused-deputy guard)."""
    return PolicyDocument(
        [
            Statement(
                sid="ServiceAssumes",
                principals=Principal("Service", [service]),
                actions=["sts:AssumeRole"],
                conditions=[Condition("StringEquals", "aws:SourceAccount", [account_id])],
            )
        ]
    )
