"""IAM: no path from a role to more power than it was given.

Privilege escalation is judged against a maintained catalogue rather than a hand-kept
list: cloudsplaining's `PRIVILEGE_ESCALATION_METHODS` (the Rhino Security Labs set plus
DataDog's pathfinding.cloud paths), each a set of actions that together let a principal
raise its own rights. `iam:PassRole` is judged by what it may pass: a role pattern that
matches any role of the account hands over whatever role an attacker picks, and a grant
without `iam:PassedToService` lets the role go to any service (both judged by evaluating
the statement, `policies.evaluation`). The project grants no AWS managed policy (each is
broader than a stack needs) and has no IAM users or long-lived access keys: people and CI
assume roles.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from cloudsplaining.shared.constants import PRIVILEGE_ESCALATION_METHODS

from common.iam_document import Statement, covers_action, glob
from infra.contracts import INFRA_ROLE_NAME
from policies.accounts import ACCOUNT_ID, OUTSIDER_ACCOUNT
from policies.core import MANDATORY, Param, Policy, ResourceCheck, StackCheck, Subject, peek
from policies.evaluation import Request, conditions_hold
from policies.iam import ATTACHMENTS, IDENTITY_POLICY_TYPES, ROLE, identity_documents

ROLE_HANDOVER = "iam:passrole"
"""How the escalation catalogue spells the action that hands a role to a service."""
MANAGED_POLICY = "aws:iam/policy:Policy"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
AWS_MANAGED_MARKER = ":iam::aws:policy/"
USER_TYPES = (
    "aws:iam/user:User",
    "aws:iam/accessKey:AccessKey",
    "aws:iam/userLoginProfile:UserLoginProfile",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/userGroupMembership:UserGroupMembership",
    "aws:iam/serviceSpecificCredential:ServiceSpecificCredential",
    "aws:iam/signingCertificate:SigningCertificate",
    "aws:iam/sshKey:SshKey",
)


def allows(statements: list[Statement], action: str) -> bool:
    """Some Allow grants `action` and no unconditional Deny on every resource removes it."""
    granted = any(s.allows and covers_action(s, action) for s in statements)
    removed = any(
        s.effect == "Deny" and covers_action(s, action) and "*" in s.resources and not s.conditions
        for s in statements
    )
    return granted and not removed


def _any_role(pattern: str) -> bool:
    """Whether a PassRole resource pattern matches a role nobody named (`role/*`)."""
    parts = pattern.split(":", 5)
    account = parts[4] if len(parts) == 6 and ACCOUNT_ID.match(parts[4]) else OUTSIDER_ACCOUNT
    return glob(pattern, f"arn:aws:iam::{account}:role/zz-escalation-probe")


def _service_unpinned(statement: Statement) -> bool:
    """Whether the PassRole grant holds with no `iam:PassedToService`, or for a service the
    caller picks (evaluated, so a `*` value counts as no pin)."""
    return any(
        conditions_hold(statement, Request("", "iam:PassRole", "*", context))
        for context in ({}, {"iam:passedtoservice": ["outsider-chosen.amazonaws.com"]})
    )


def _check_document(
    check: ResourceCheck,
    where: str,
    statements: list[Statement],
    held: list[Statement],
) -> None:
    """Judge one document; `held` is everything the same role holds (a path may take
    actions from two of its policies)."""
    completed = sorted(
        name
        for name, actions in PRIVILEGE_ESCALATION_METHODS.items()
        if ROLE_HANDOVER not in actions
        and any(allows(statements, a) for a in actions)
        and all(allows(held, a) for a in actions)
    )
    if completed:
        check.violation(
            f"{where} must not let the role raise its own rights",
            completed,
            "remove the IAM write and code-update actions; the stack's roles are changed by "
            "`pulumi up` only",
        )
    for statement in statements:
        if not (statement.allows and covers_action(statement, "iam:PassRole")):
            continue
        wide = [p for p in statement.resources or ["*"] if _any_role(p)]
        if statement.not_resources:
            wide.append("NotResource")
        if wide:
            paths = sorted(
                name
                for name, actions in PRIVILEGE_ESCALATION_METHODS.items()
                if ROLE_HANDOVER in actions
                and all(allows(held, a) for a in actions if a != ROLE_HANDOVER)
            )
            check.violation(
                f"{where} statement {statement.label} must pass only named roles",
                {"Resource": wide, "escalation paths completed": paths},
                "list the ARN of each role it passes (e.g. the training role)",
            )
        if _service_unpinned(statement):
            check.violation(
                f"{where} statement {statement.label} must limit iam:PassRole to the service "
                "that uses the role",
                peek(dict(statement.conditions), "StringEquals") or None,
                'add Condition={"StringEquals": {"iam:PassedToService": '
                '"sagemaker.amazonaws.com"}}',
            )


def _exempt(stack: StackCheck, subject: Subject) -> str | None:
    """Why `subject` is not judged: an exempt role's policy, or a permissions boundary."""
    patterns = stack.config["exemptRoles"]
    role = peek(subject.props, "role") if subject.type == ROLE_POLICY else None
    if subject.type == ROLE:
        role = peek(subject.props, "name") or subject.name
    if isinstance(role, str) and any(fnmatchcase(role, p) for p in patterns):
        return f"the role {role} is exempt (exemptRoles)"
    if subject.type == MANAGED_POLICY and stack.referrers(subject, ROLE, "permissionsBoundary"):
        return "a permissions boundary: the ceiling of a role's rights, not a grant"
    return None


def _role_of(subject: Subject) -> object:
    return peek(subject.props, "role") if subject.type == ROLE_POLICY else None


def _check_escalation(stack: StackCheck) -> None:
    by_role: dict[object, list[Statement]] = {}
    documents: list[tuple[Subject, ResourceCheck, list[tuple[str, list[Statement]]]]] = []
    for subject in stack.resources(*IDENTITY_POLICY_TYPES, ROLE):
        reason = _exempt(stack, subject)
        if reason:
            stack.skip(subject, reason)
            continue
        check = stack.check(subject)
        found = list(identity_documents(check))
        documents.append((subject, check, found))
        role = _role_of(subject)
        if role is not None:
            by_role.setdefault(role, []).extend(s for _, ss in found for s in ss)
    for subject, check, found in documents:
        role = _role_of(subject)
        for where, statements in found:
            held = by_role.get(role, statements) if role is not None else statements
            _check_document(check, where, statements, held)


NO_PRIVILEGE_ESCALATION = Policy(
    name="iam-policy-no-privilege-escalation",
    description="Checks whether any identity policy completes a known privilege-escalation "
    "path (cloudsplaining's catalogue: IAM policy or credential writes, code updates of "
    "compute that runs as a role), passes roles it does not name, or passes them to any "
    "service.",
    enforcement=MANDATORY,
    severity="critical",
    controls=("NIST AC-6", "NIST AC-3"),
    stack_validator=_check_escalation,
    subject_types=(*IDENTITY_POLICY_TYPES, ROLE),
    params=(
        Param(
            "exemptRoles",
            "array",
            [INFRA_ROLE_NAME],
            "Role names (globs) whose policies may manage IAM: the infrastructure deploy "
            "role, bounded and environment-only (iam-infra-role-bounded-and-environment-only).",
            items={"type": "string"},
        ),
    ),
)


def _managed(check: ResourceCheck, arns: list[object], field: str) -> None:
    allowed = set(check.config["allowedManagedPolicies"])
    for arn in arns:
        name = str(arn).rsplit("/", 1)[-1]
        if AWS_MANAGED_MARKER in str(arn) and name not in allowed:
            check.violation(
                f"the AWS managed policy {name} must not be attached",
                arn,
                f"remove it from {field}; grant the actions the role uses in its own policy",
            )


def _check_attachment(check: ResourceCheck) -> None:
    _managed(check, [check.get("policyArn")], "the attachment")


def _check_role_managed(check: ResourceCheck) -> None:
    _managed(check, list(check.get("managedPolicyArns") or []), "managed_policy_arns")


ONLY_STACK_POLICIES = Policy(
    name="iam-only-stack-built-policies-attached",
    description="Checks whether roles carry only policies the stack builds, never an AWS "
    "managed policy (each grants far more than one duty needs, and AWS widens them).",
    enforcement=MANDATORY,
    severity="high",
    controls=("NIST AC-6",),
    validators={ROLE: _check_role_managed, **{t: _check_attachment for t in ATTACHMENTS}},
    params=(
        Param(
            "allowedManagedPolicies",
            "array",
            [],
            "AWS managed policy names accepted anyway.",
            items={"type": "string"},
        ),
    ),
)


def _check_user(check: ResourceCheck) -> None:
    check.violation(
        "the stack must declare no IAM users or long-lived credentials",
        check.subject.type.rsplit(":", 1)[-1],
        "use a role: GitHub Actions through OIDC, people through SSO with MFA",
    )


NO_USERS = Policy(
    name="iam-no-users-or-access-keys",
    description="Checks whether the stack declares IAM users, access keys, login profiles or "
    "other long-lived credentials.",
    enforcement=MANDATORY,
    severity="high",
    controls=("NIST IA-2", "NIST AC-6"),
    validators={t: _check_user for t in USER_TYPES},
)

POLICIES = (NO_PRIVILEGE_ESCALATION, ONLY_STACK_POLICIES, NO_USERS)
