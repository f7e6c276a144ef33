"""Identities: SageMaker execution roles, the auditor role, GitHub OIDC and one role per duty.

Each release duty has its own role, trusted by exactly the GitHub OIDC subjects that
perform it (docs/identities.md has the table): a pull request can reach only `gh-plan`
and, where the stack trains on pull requests, `gh-train`; signing, approving and
deploying are GitHub environments no pull request can enter. Roles are created here with
their trust policies only; `Permissions` attaches what each may do once the keys and
buckets exist, because the key policies must name these roles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from common.iam_document import Condition, Principal
from infra.contracts import GITHUB_OIDC_HOST, PROMOTE_ROLE_SUFFIX
from infra.policy_document import PolicyDocument, Statement

STS_AUDIENCE = "sts.amazonaws.com"
MAIN = "ref:refs/heads/main"
PULL_REQUEST = "pull_request"


@dataclass(frozen=True)
class GitHubTrust:
    """Who in GitHub may assume a workflow role: exact OIDC `sub` values, never a wildcard."""

    org: str
    repo: str
    deploy_environment: str
    signing_environment: str
    """`model-signing-<env>`: the sign-and-register job of main builds."""
    approval_environment: str
    """`model-approval-<env>`: a job behind required reviewers that approves a package."""
    train_on_pull_requests: bool
    promotion_environment: str | None = None
    """`model-promotion-<env>`: the job that promotes packages from another stack's account
    into this one; None when the stack takes no promotions (no `gh-promote` role)."""

    def subject(self, qualifier: str) -> str:
        return f"repo:{self.org}/{self.repo}:{qualifier}"

    def subjects(self) -> dict[str, list[str]]:
        """Role purpose -> the subjects its trust policy accepts (absent: no such role)."""
        trusted = {
            "plan": [self.subject(PULL_REQUEST), self.subject(MAIN)],
            "build": [self.subject(MAIN)],
            "release": [self.subject(f"environment:{self.signing_environment}")],
            "approve": [self.subject(f"environment:{self.approval_environment}")],
            "deploy": [self.subject(f"environment:{self.deploy_environment}")],
            # Scheduled workflows run on the default branch.
            "monitor": [self.subject(MAIN)],
        }
        if self.train_on_pull_requests:
            trusted["train"] = [self.subject(PULL_REQUEST)]
        if self.promotion_environment is not None:
            trusted["promote"] = [self.subject(f"environment:{self.promotion_environment}")]
        return trusted


# The GitHub role of each purpose: (logical name suffix, what its description says).
GITHUB_ROLES = {
    "plan": ("gh-plan", "pulumi preview and registry checks (read-only)"),
    "train": ("gh-train", "pull-request training (PR prefixes only)"),
    "build": ("gh-build", "train and validate the release candidate on main"),
    "release": ("gh-release", "sign and register (never approve)"),
    "approve": ("gh-approve", "approve model packages (never sign or deploy)"),
    "deploy": ("gh-deploy", "pulumi up of serving (never sign, approve or register)"),
    "monitor": ("gh-monitor", "scheduled drift monitor"),
    "promote": (
        PROMOTE_ROLE_SUFFIX,
        "promote approved packages from the source account (never sign or approve)",
    ),
}
# Roles another account's policies name, so they get a fixed name instead of Pulumi's
# random suffix: the source stack grants `mlops-<env>-gh-promote` (contracts.promote_role_name).
FIXED_NAMES = ("promote",)


@dataclass(frozen=True)
class KubernetesTrust:
    """IRSA: the one ServiceAccount whose pods may assume the model-fetch role."""

    oidc_provider_arn: str
    """The cluster's IAM OIDC provider."""
    issuer: str
    """Its issuer without `https://` (`oidc.eks.<region>.amazonaws.com/id/<id>`)."""
    namespace: str
    service_account: str

    @property
    def subject(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"


@dataclass(frozen=True)
class IdentityArgs:
    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    github: GitHubTrust
    oidc_provider_arn: pulumi.Input[str]
    """The account's GitHub OIDC provider, declared once per account by infra/bootstrap."""
    auditor_principal_arns: Sequence[str]
    """Named IAM principals that may assume the auditor role with MFA (at least one)."""
    approver_principal_arns: Sequence[str] = ()
    """Named IAM principals that may assume the approver role with MFA (optional)."""
    permissions_boundary_arn: str | None = None
    tags: dict[str, str] | None = None
    kubernetes: KubernetesTrust | None = None
    """Set when the stack serves on Kubernetes: the pods' model-fetch role."""
    tracking: bool = False
    """Set when the stack has an MLflow tracking server: the server's artifact-store role."""


class Identity(pulumi.ComponentResource):
    """The roles of the platform, each trusted only by who needs it.

    `roles` maps a purpose (`training`, `training-pr`, `inference`, `auditor`, and the
    GitHub purposes of `GITHUB_ROLES`) to its role; a purpose the stack does not enable
    (pull-request training) has no role.
    """

    roles: dict[str, aws.iam.Role]

    def __init__(self, name: str, args: IdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:identity:Identity", name, None, opts)
        if not args.auditor_principal_arns:
            raise ValueError("the auditor role needs at least one named principal")
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)
        sagemaker_trust = _service_trust("sagemaker.amazonaws.com", args.account_id)
        github = args.github

        self.roles = {
            "training": self._role(
                f"{name}-training", "SageMaker training jobs of main builds", sagemaker_trust
            ),
        }
        if github.train_on_pull_requests:
            self.roles["training-pr"] = self._role(
                f"{name}-training-pr", "SageMaker training jobs of pull requests", sagemaker_trust
            )
        self.roles["inference"] = self._role(
            f"{name}-inference", "SageMaker models and endpoints", sagemaker_trust
        )
        self.roles["auditor"] = self._role(
            f"{name}-auditor",
            "read-only evidence: verify signatures, read key policies, artifacts and logs",
            PolicyDocument([_named_with_mfa("AuditorsAssumeWithMfa", args.auditor_principal_arns)]),
        )

        if args.tracking:
            self.roles["tracking"] = self._role(
                f"{name}-tracking",
                "SageMaker managed MLflow tracking server: its artifact store prefix",
                sagemaker_trust,
            )

        if args.kubernetes is not None:
            self.roles["kubernetes"] = self._role(
                f"{name}-k8s-serving",
                "Kubernetes serving pods: fetch the served model (IRSA, read-only)",
                PolicyDocument([kubernetes_statement(args.kubernetes)]),
            )

        for purpose, subjects in github.subjects().items():
            suffix, description = GITHUB_ROLES[purpose]
            statements = [github_statement(args.oidc_provider_arn, subjects)]
            if purpose == "monitor":
                # its drift comparison may run as a SageMaker Processing job in this role
                statements.append(_service_statement("sagemaker.amazonaws.com", args.account_id))
            if purpose == "approve" and args.approver_principal_arns:
                statements.append(
                    _named_with_mfa("ApproversAssumeWithMfa", args.approver_principal_arns)
                )
            self.roles[purpose] = self._role(
                f"{name}-{suffix}",
                f"GitHub Actions: {description}",
                PolicyDocument(statements),
                fixed_name=purpose in FIXED_NAMES,
            )

        self.register_outputs({purpose: role.arn for purpose, role in self.roles.items()})

    def _role(
        self, name: str, purpose: str, trust: PolicyDocument, fixed_name: bool = False
    ) -> aws.iam.Role:
        return aws.iam.Role(
            name,
            name=name if fixed_name else None,
            description=f"mlops: {purpose}",
            assume_role_policy=trust.to_json(),
            max_session_duration=3600,
            permissions_boundary=self._args.permissions_boundary_arn,
            tags=self._args.tags,
            opts=self._child,
        )


def github_statement(provider_arn: pulumi.Input[str], subjects: list[str]) -> Statement:
    """GitHub Actions jobs whose token has exactly one of `subjects`, for STS only."""
    return Statement(
        sid="GitHubActionsAssume",
        principals=Principal("Federated", [provider_arn]),
        actions=["sts:AssumeRoleWithWebIdentity"],
        conditions=[
            Condition("StringEquals", f"{GITHUB_OIDC_HOST}:aud", [STS_AUDIENCE]),
            Condition("StringEquals", f"{GITHUB_OIDC_HOST}:sub", subjects),
        ],
    )


def kubernetes_statement(trust: KubernetesTrust) -> Statement:
    """Tokens the cluster issued to exactly one ServiceAccount, for STS only."""
    return Statement(
        sid="KubernetesServiceAccountAssumes",
        principals=Principal("Federated", [trust.oidc_provider_arn]),
        actions=["sts:AssumeRoleWithWebIdentity"],
        conditions=[
            Condition("StringEquals", f"{trust.issuer}:aud", [STS_AUDIENCE]),
            Condition("StringEquals", f"{trust.issuer}:sub", [trust.subject]),
        ],
    )


def _named_with_mfa(sid: str, principals: Sequence[str]) -> Statement:
    """Named people only, and only in a session they opened with MFA."""
    return Statement(
        sid=sid,
        principals=Principal("AWS", list(principals)),
        actions=["sts:AssumeRole"],
        conditions=[Condition("Bool", "aws:MultiFactorAuthPresent", ["true"])],
    )


def _service_trust(service: str, account_id: pulumi.Input[str]) -> PolicyDocument:
    return PolicyDocument([_service_statement(service, account_id)])


def _service_statement(service: str, account_id: pulumi.Input[str]) -> Statement:
    """Trust a service principal only on behalf of this account (confused-deputy guard)."""
    return Statement(
        sid="ServiceAssumes",
        principals=Principal("Service", [service]),
        actions=["sts:AssumeRole"],
        conditions=[Condition("StringEquals", "aws:SourceAccount", [account_id])],
    )
