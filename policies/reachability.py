"""Who can do what: each role's release powers, and who may assume it.

Pure logic over policy `Subject`s (a rendered graph offline, or CrossGuard's resources),
so the stack policy, the audit's "who can do what" matrix and the trust-model tests read
one analysis. A power is judged by probing: "may role R call action A on resource X?",
where X is a concrete ARN of this stack (its signing key, `models/` in its artifact
bucket, an endpoint named like its endpoints). A role holds the power when an Allow in
its inline policies, or in the key or bucket policy of X naming the role, covers the
probe and no unconditional Deny does. Allow conditions are not evaluated: a conditional
grant is still a power (over-approximation is the safe side for a reachability check).

A GitHub OIDC subject reaches a role when the role's trust policy admits it for
`sts:AssumeRoleWithWebIdentity`: `StringEquals`/`StringLike` (and their `ForAnyValue:`
forms) on `token.actions.githubusercontent.com:sub`; no `sub` condition admits everyone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from common.iam_document import (
    MalformedPolicy,
    Statement,
    covers_action,
    covers_resource,
    glob,
    parse_document,
)
from infra.contracts import MODEL_ARTIFACT_FILE, capture_prefix, dataset_prefix, model_prefix
from policies.core import Subject
from policies.evaluation import decides

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
KEY = "aws:kms/key:Key"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
PACKAGE_GROUP = "aws:sagemaker/modelPackageGroup:ModelPackageGroup"
OIDC_SUB = "token.actions.githubusercontent.com:sub"
APPROVAL_STATUS_KEY = "sagemaker:ModelApprovalStatus"

# The powers a release must keep apart, in the order the matrix shows them.
SIGN, APPROVE, REGISTER, DEPLOY, WRITE_MODELS = (
    "sign",
    "approve",
    "register",
    "deploy",
    "write-models",
)
PASS_ROLE, DECRYPT, READ_MODELS, READ_DATA = ("pass-role", "decrypt", "read-models", "read-data")
WRITE_DATA = "write-data"
"""Writing the datasets main builds train on: a pull request holding it poisons the next
signed model without touching the model itself."""
POWERS = (
    SIGN,
    APPROVE,
    REGISTER,
    DEPLOY,
    WRITE_MODELS,
    WRITE_DATA,
    PASS_ROLE,
    DECRYPT,
    READ_MODELS,
    READ_DATA,
)
# What no job a pull request can start may hold: in every stack, and additionally in prod.
PULL_REQUEST_FORBIDDEN = (SIGN, APPROVE, REGISTER, DEPLOY, WRITE_MODELS, WRITE_DATA)
PULL_REQUEST_FORBIDDEN_IN_PROD = (
    *PULL_REQUEST_FORBIDDEN,
    PASS_ROLE,
    DECRYPT,
    READ_MODELS,
    READ_DATA,
)
# No identity holds two of these (DESIGN.md, trust model).
SEPARATED_DUTIES = (SIGN, APPROVE, DEPLOY)
# Changing what serves: action -> the SageMaker resource type it acts on.
DEPLOY_ACTIONS = {
    "sagemaker:CreateEndpoint": "endpoint",
    "sagemaker:UpdateEndpoint": "endpoint",
    "sagemaker:DeleteEndpoint": "endpoint",
    "sagemaker:UpdateEndpointWeightsAndCapacities": "endpoint",
    "sagemaker:CreateEndpointConfig": "endpoint-config",
    "sagemaker:CreateModel": "model",
}


def forbidden_for_pull_requests(environment: str | None) -> tuple[str, ...]:
    return PULL_REQUEST_FORBIDDEN_IN_PROD if environment == "prod" else PULL_REQUEST_FORBIDDEN


def _statements(raw: object) -> list[Statement]:
    try:
        return parse_document(raw)
    except MalformedPolicy:
        return []


def _arn(subject: Subject, marker: str) -> str | None:
    return next((h for h in sorted(subject.handles) if h.startswith("arn:") and marker in h), None)


def _name(subject: Subject, key: str) -> str | None:
    value = subject.props.get(key)
    if isinstance(value, str):
        return value
    return next((h for h in sorted(subject.handles) if not h.startswith("arn:")), None)


@dataclass(frozen=True)
class Probe:
    """One question to ask of a role: may it call `action` on `resource`?"""

    power: str
    action: str
    resource: str


@dataclass(frozen=True)
class Trust:
    """Who may assume a role: GitHub OIDC subjects (values or patterns) and AWS principals."""

    oidc_subjects: tuple[str, ...] = ()
    oidc_unpinned: bool = False
    """An OIDC statement without a `sub` condition: every workflow of every repository."""
    principals: tuple[str, ...] = ()
    """AWS and Service principals; `(MFA)` is appended where MFA is required."""

    def admits(self, oidc_subject: str) -> bool:
        """Whether the trust admits `oidc_subject`; a subject with `*` (a job whose
        environment is an expression) stands for every subject it matches."""
        return self.oidc_unpinned or any(
            glob(pattern, oidc_subject) or ("*" in oidc_subject and glob(oidc_subject, pattern))
            for pattern in self.oidc_subjects
        )


@dataclass(frozen=True)
class RoleAccess:
    """One role of the stack: who may assume it and which release powers it holds."""

    name: str
    arn: str
    trust: Trust
    powers: tuple[str, ...]
    evidence: Mapping[str, str] = field(default_factory=dict)
    """power -> the probe that showed it (`action on resource`)."""


class _Stack:
    """The resources of one stack that the probes need, found by type and name."""

    def __init__(self, subjects: Sequence[Subject]):
        self.subjects = subjects
        self.roles = [s for s in subjects if s.type == ROLE]
        self.keys = [s for s in subjects if s.type == KEY]
        self.buckets = [s for s in subjects if s.type == BUCKET]

    def bucket(self, role: str) -> str | None:
        for subject in self.buckets:
            if subject.name.rsplit("-", 1)[-1] == role:
                return _name(subject, "bucket")
        return None

    def key_arns(self, usage: str) -> list[str]:
        return [
            arn
            for s in self.keys
            if s.props.get("keyUsage", "ENCRYPT_DECRYPT") == usage
            and (arn := _arn(s, ":key/")) is not None
        ]

    def scope(self) -> tuple[str, str, str] | None:
        """(partition, region, account) from any key ARN of the stack."""
        for arn in self.key_arns("ENCRYPT_DECRYPT") + self.key_arns("SIGN_VERIFY"):
            parts = arn.split(":")
            return parts[1], parts[3], parts[4]
        return None

    def groups(self) -> list[str]:
        names = [
            _name(s, "modelPackageGroupName") for s in self.subjects if s.type == PACKAGE_GROUP
        ]
        return [n for n in names if n]

    def identity_statements(self, role: Subject) -> list[Statement]:
        statements: list[Statement] = []
        for policy in self.subjects:
            if policy.type == ROLE_POLICY and policy.props.get("role") in role.handles:
                statements += _statements(policy.props.get("policy"))
        return statements

    def resource_statements(self, resource: str) -> list[Statement]:
        """Statements of the key or bucket policy that governs `resource`."""
        statements: list[Statement] = []
        for key in self.keys:
            if resource in key.handles:
                # A key policy's Resource is always the key itself.
                statements += [
                    _with_resources(s, (resource,)) for s in _statements(key.props.get("policy"))
                ]
        if resource.startswith("arn:aws:s3:::") or ":s3:::" in resource:
            bucket = resource.split(":::", 1)[1].split("/", 1)[0]
            for policy in self.subjects:
                if policy.type == BUCKET_POLICY and policy.props.get("bucket") == bucket:
                    statements += _statements(policy.props.get("policy"))
        return statements

    def probes(self, environment: str | None) -> list[Probe]:
        scope = self.scope()
        if scope is None:
            return []
        partition, region, account = scope
        sagemaker = f"arn:{partition}:sagemaker:{region}:{account}"
        prefix = f"mlops-{environment}" if environment else "mlops"
        probes = [Probe(SIGN, "kms:Sign", arn) for arn in self.key_arns("SIGN_VERIFY")]
        for group in self.groups() or [f"{prefix}-model"]:
            package = f"{sagemaker}:model-package/{group}/1"
            probes += [
                Probe(APPROVE, "sagemaker:UpdateModelPackage", package),
                Probe(REGISTER, "sagemaker:CreateModelPackage", package),
            ]
        probes += [
            Probe(DEPLOY, action, f"{sagemaker}:{kind}/{prefix}-probe")
            for action, kind in DEPLOY_ACTIONS.items()
        ]
        artifacts, data, capture = (
            self.bucket("artifacts"),
            self.bucket("data"),
            self.bucket("capture"),
        )
        if artifacts:
            key = f"{model_prefix('probe', '0')}{MODEL_ARTIFACT_FILE}"
            model = f"arn:{partition}:s3:::{artifacts}/{key}"
            probes += [
                Probe(WRITE_MODELS, "s3:PutObject", model),
                Probe(READ_MODELS, "s3:GetObject", model),
            ]
        if data:
            dataset = f"arn:{partition}:s3:::{data}/{dataset_prefix('probe')}probe.csv"
            probes += [
                Probe(READ_DATA, "s3:GetObject", dataset),
                Probe(WRITE_DATA, "s3:PutObject", dataset),
            ]
        if capture:
            probes.append(
                Probe(
                    READ_DATA,
                    "s3:GetObject",
                    f"arn:{partition}:s3:::{capture}/{capture_prefix('probe')}probe.jsonl",
                )
            )
        probes += [Probe(DECRYPT, "kms:Decrypt", arn) for arn in self.key_arns("ENCRYPT_DECRYPT")]
        probes += [
            Probe(PASS_ROLE, "iam:PassRole", arn)
            for role in self.roles
            if (arn := _arn(role, ":role/")) is not None
        ]
        return probes


def _with_resources(statement: Statement, resources: tuple[str, ...]) -> Statement:
    return replace(statement, resources=resources, not_resources=())


def _allowed(probe: Probe, statements: list[Statement]) -> bool:
    if decides(statements, probe.action, probe.resource):
        return True
    if probe.power != APPROVE:
        return False
    # Registering straight into Approved is approving, unless a Deny on the status stops it.
    create = "sagemaker:CreateModelPackage"
    denies_status = any(
        s.effect == "Deny"
        and APPROVAL_STATUS_KEY.lower() in s.condition_keys()
        and covers_action(s, create)
        and covers_resource(s, probe.resource)
        for s in statements
    )
    return not denies_status and decides(statements, create, probe.resource)


def trust_of(role: Subject) -> Trust:
    """Who may assume `role`, read from its trust policy."""
    subjects: list[str] = []
    principals: list[str] = []
    unpinned = False
    for statement in _statements(role.props.get("assumeRolePolicy")):
        if not statement.allows:
            continue
        mfa = "aws:multifactorauthpresent" in statement.condition_keys()
        for kind, ids in statement.principals.items():
            if kind == "Federated":
                values = [
                    v
                    for op, block in statement.conditions.items()
                    if op.split(":")[-1] in ("StringEquals", "StringLike")
                    for key, vals in block.items()
                    if key.lower() == OIDC_SUB
                    for v in vals
                ]
                subjects += values
                unpinned = unpinned or not values
            else:
                principals += [f"{p} (MFA)" if mfa and kind == "AWS" else p for p in ids]
    return Trust(tuple(subjects), unpinned, tuple(principals))


def role_access(subjects: Sequence[Subject], environment: str | None) -> list[RoleAccess]:
    """Every role of the stack with its trust and the release powers it holds."""
    stack = _Stack(subjects)
    probes = stack.probes(environment)
    access: list[RoleAccess] = []
    for role in stack.roles:
        arn = _arn(role, ":role/") or role.name
        identity = stack.identity_statements(role)
        evidence: dict[str, str] = {}
        for probe in probes:
            if probe.power in evidence:
                continue
            if probe.power == PASS_ROLE and probe.resource == arn:
                continue
            granted = identity + [
                s
                for s in stack.resource_statements(probe.resource)
                if arn in s.principals.get("AWS", ()) or s.is_public
            ]
            if _allowed(probe, granted):
                evidence[probe.power] = f"{probe.action} on {probe.resource}"
        powers = tuple(p for p in POWERS if p in evidence)
        access.append(RoleAccess(role.name, arn, trust_of(role), powers, evidence))
    return access


@dataclass(frozen=True)
class Repository:
    """The GitHub repository a stack's roles trust, and what its environments protect."""

    org: str
    repo: str
    main_only_environments: frozenset[str] = frozenset()
    """Environments whose deployment-branch policy admits only `main` (GitHub settings)."""

    def subject(self, qualifier: str) -> str:
        return f"repo:{self.org}/{self.repo}:{qualifier}"

    def attacker_subjects(self, trusted: Iterable[str] = ()) -> list[str]:
        """OIDC subjects a pull-request author or branch writer can make GitHub issue.

        A pull request runs the workflow files of its own branch, so it can name any
        environment; only an environment whose deployment-branch policy admits `main` alone
        refuses it (GitHub creates an undeclared environment on first use, unprotected).
        `trusted` are the subjects roles trust: every environment among them that is not
        main-only is reachable.
        """
        subjects = [
            self.subject("pull_request"),
            self.subject("ref:refs/heads/attacker-branch"),
            self.subject("ref:refs/tags/attacker-tag"),
        ]
        marker = self.subject("environment:")
        for value in trusted:
            if value.startswith(marker):
                name = value.removeprefix(marker)
                if "*" in name or "?" in name or name not in self.main_only_environments:
                    subjects.append(self.subject(f"environment:{name.replace('*', 'x')}"))
        return subjects


def reachable_powers(
    access: Sequence[RoleAccess], subjects: Iterable[str]
) -> dict[str, dict[str, str]]:
    """role name -> {power: evidence} for every role any of `subjects` can assume."""
    subjects = list(subjects)
    return {
        role.name: dict(role.evidence)
        for role in access
        if any(role.trust.admits(s) for s in subjects) and role.powers
    }
