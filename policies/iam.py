"""IAM: least privilege in every identity policy, and trust policies that name who may assume.

Identity policies appear as `aws.iam.RolePolicy` / `aws.iam.Policy` (and the deprecated
inline `inline_policies` of `aws.iam.Role`); trust policies as a role's
`assume_role_policy`. The action catalogue (which actions accept a narrower resource than
'*') and the IAM linter both come from parliament, through `common.iam_lint`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache

from common.iam_document import (
    MalformedPolicy,
    PolicyDocument,
    Statement,
    allow_statements,
    glob,
    parse_document,
    wildcard_actions,
)
from common.iam_lint import arn_formats, lint_policy
from infra.contracts import INFRA_ROLE_NAME
from policies.accounts import OUTSIDER_ACCOUNT, Own, outsiders_admitted
from policies.core import MANDATORY, Param, Policy, ResourceCheck

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
MANAGED_POLICY = "aws:iam/policy:Policy"
USER_POLICY = "aws:iam/userPolicy:UserPolicy"
GROUP_POLICY = "aws:iam/groupPolicy:GroupPolicy"
ATTACHMENTS = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
)
IDENTITY_POLICY_TYPES = (ROLE_POLICY, MANAGED_POLICY, USER_POLICY, GROUP_POLICY)
# Resource and trust policies the linter also reads, by resource type and input key.
LINTED_INPUTS: dict[str, tuple[str, ...]] = {
    ROLE: ("assumeRolePolicy",),
    ROLE_POLICY: ("policy",),
    MANAGED_POLICY: ("policy",),
    USER_POLICY: ("policy",),
    GROUP_POLICY: ("policy",),
    "aws:kms/key:Key": ("policy",),
    "aws:s3/bucketPolicy:BucketPolicy": ("policy",),
    "aws:sns/topicPolicy:TopicPolicy": ("policy",),
    "aws:ecr/repositoryPolicy:RepositoryPolicy": ("policy",),
}
NOBODY = Own(frozenset())
"""For judging service principals alone: their conditions decide, not an account list."""
ADMIN_MANAGED_POLICIES = ("AdministratorAccess", "PowerUserAccess", "IAMFullAccess")


def identity_documents(check: ResourceCheck) -> Iterator[tuple[str, list[Statement]]]:
    """(where, statements) for every identity policy the resource carries."""
    sources: list[tuple[str, object]] = []
    if check.subject.type == ROLE:
        for index, inline in enumerate(check.get("inlinePolicies") or []):
            name = inline.get("name") or str(index)
            sources.append((f"inline policy {name}", inline.get("policy")))
    else:
        sources.append(("policy", check.get("policy")))
    for where, raw in sources:
        if raw is None:
            continue
        try:
            yield where, parse_document(raw)
        except MalformedPolicy as error:
            check.violation(f"{where} must be a JSON policy document", str(error), "fix it")


def _check_wildcard_actions(check: ResourceCheck) -> None:
    for where, statements in identity_documents(check):
        for statement in allow_statements(statements):
            broad = wildcard_actions(statement)
            if broad:
                check.violation(
                    f"{where} statement {statement.label} must not allow wildcard actions",
                    broad,
                    "list each action the role needs (e.g. s3:GetObject, not s3:*)",
                )


NO_WILDCARD_ACTIONS = Policy(
    name="iam-policy-no-wildcard-actions",
    description="Checks whether IAM identity policies allow any action with a wildcard "
    "(`*`, `service:*`, `s3:Get*`) or NotAction.",
    enforcement=MANDATORY,
    severity="high",
    controls=("FSBP IAM.21", "NIST AC-6", "NIST AC-3"),
    validators={t: _check_wildcard_actions for t in (*IDENTITY_POLICY_TYPES, ROLE)},
    # IAM.21 judges customer managed policies alone; inline policies evidence NIST only.
    control_scopes={"FSBP IAM.21": (MANAGED_POLICY,)},
)


_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)\}")
_LOCATION = ("Partition", "Region")


@lru_cache(maxsize=8192)
def matches_any_resource(pattern: str, arn_format: str) -> bool:
    """Whether a Resource `pattern` covers resources of the type `arn_format` describes in
    any account (or, for types without an account, of any name): its account field (else
    its first name field) is a wildcard, or it matches an ARN of another account with
    names nobody chose (`*`, `arn:aws:s3:::*`, `arn:aws:kms:*:*:key/*`)."""
    names = _PLACEHOLDER.findall(arn_format)
    regex, last = "", 0
    for index, match in enumerate(_PLACEHOLDER.finditer(arn_format)):
        regex += re.escape(arn_format[last : match.start()]) + f"(?P<g{index}>.*?)"
        last = match.end()
    found = re.fullmatch(regex + re.escape(arn_format[last:]), pattern)
    if found is not None:
        fields = [n for n in names if n not in _LOCATION]
        key = "Account" if "Account" in fields else (fields[0] if fields else None)
        if key is not None:
            value = found.group(f"g{names.index(key)}")
            return value == "" or value[0] in "*?"
    probe = arn_format
    for name in names:
        value = {"Partition": "aws", "Region": "zz-probe-1", "Account": OUTSIDER_ACCOUNT}
        probe = probe.replace(f"${{{name}}}", value.get(name, "zz-probe"))
    return glob(pattern, probe)


def _check_wildcard_resources(check: ResourceCheck) -> None:
    for where, statements in identity_documents(check):
        for statement in allow_statements(statements):
            patterns = ["*"] if statement.not_resources else list(statement.resources)
            broad: dict[str, list[str]] = {}
            for action in statement.actions:
                for arn_format in arn_formats(action):
                    for pattern in patterns:
                        if matches_any_resource(pattern, arn_format):
                            broad.setdefault(pattern, []).append(action)
            if broad:
                actions = sorted({a for found in broad.values() for a in found})
                check.violation(
                    f"{where} statement {statement.label} must name resources of this account, not "
                    f"{', '.join(sorted(broad))}, for actions that accept a narrower resource",
                    actions[:8] + (["..."] if len(actions) > 8 else []),
                    "name the ARNs (bucket/prefix, key, repository, log group) instead",
                )


NO_WILDCARD_RESOURCES = Policy(
    name="iam-policy-no-wildcard-resources",
    description="Checks whether IAM identity policies use Resource '*', or an ARN pattern "
    "matching every account's resources (`arn:aws:kms:*:*:key/*`, `arn:aws:s3:::*`), only for "
    "actions that accept no narrower resource (per the IAM service authorization reference).",
    enforcement=MANDATORY,
    severity="high",
    controls=("FSBP KMS.1", "FSBP KMS.2", "NIST AC-6", "NIST AC-3"),
    validators={t: _check_wildcard_resources for t in (*IDENTITY_POLICY_TYPES, ROLE)},
    # KMS.1: customer managed policies; KMS.2: inline policies of users, groups and roles.
    # kms:Decrypt / kms:ReEncryptFrom on every key is one case of the rule (they take a key ARN).
    control_scopes={
        "FSBP KMS.1": (MANAGED_POLICY,),
        "FSBP KMS.2": (ROLE_POLICY, USER_POLICY, GROUP_POLICY, ROLE),
    },
)


def _check_admin_documents(check: ResourceCheck) -> None:
    for where, statements in identity_documents(check):
        for statement in allow_statements(statements):
            full = any(a in ("*", "*:*") for a in statement.actions) or bool(statement.not_actions)
            if full and ("*" in statement.resources or statement.not_resources):
                check.violation(
                    f"{where} statement {statement.label} must not grant full administrator rights",
                    {"Action": list(statement.actions), "Resource": list(statement.resources)},
                    "grant the specific actions and resources the role needs",
                )
    for arn in check.get("managedPolicyArns") or []:
        _admin_attachment(check, arn, "managed_policy_arns")


def _admin_attachment(check: ResourceCheck, arn: object, field: str) -> None:
    name = str(arn).rsplit("/", 1)[-1]
    if (
        str(arn).startswith("arn:aws")
        and ":iam::aws:policy/" in str(arn)
        and (name in ADMIN_MANAGED_POLICIES)
    ):
        check.violation(
            f"the AWS managed policy {name} must not be attached",
            arn,
            f"remove it from {field} and attach a least-privilege policy",
        )


def _check_admin_attachment(check: ResourceCheck) -> None:
    _admin_attachment(check, check.get("policyArn"), "the attachment")


NO_ADMIN = Policy(
    name="iam-no-administrator-access",
    description="Checks whether any IAM policy grants full administrator rights (Action '*' "
    "on Resource '*') or attaches AdministratorAccess, PowerUserAccess or IAMFullAccess.",
    enforcement=MANDATORY,
    severity="critical",
    controls=("FSBP IAM.1", "CIS 1.16", "NIST AC-6", "NIST AC-3"),
    validators={
        **{t: _check_admin_documents for t in (*IDENTITY_POLICY_TYPES, ROLE)},
        **{t: _check_admin_attachment for t in ATTACHMENTS},
    },
    # IAM.1 judges customer managed policies; CIS 1.16 the managed policies attached (a role's
    # managed_policy_arns or an attachment), not inline ones.
    control_scopes={
        "FSBP IAM.1": (MANAGED_POLICY,),
        "CIS 1.16": (MANAGED_POLICY, ROLE, *ATTACHMENTS),
    },
)


def _trust(check: ResourceCheck) -> list[Statement] | None:
    raw = check.get("assumeRolePolicy")
    try:
        return parse_document(raw)
    except MalformedPolicy as error:
        check.violation("the trust policy must be a JSON policy document", str(error), "fix it")
        return None


def _has_wildcard(values: list[str]) -> bool:
    return any("*" in v or "?" in v for v in values)


def _check_oidc_trust(check: ResourceCheck) -> None:
    statements = [
        s
        for s in allow_statements(_trust(check) or [])
        if s.grants("sts:AssumeRoleWithWebIdentity") or s.principals.get("Federated")
    ]
    if not statements:
        check.not_applicable("the role trusts no web identity provider")
    audiences = check.config["allowedAudiences"]
    repositories = check.config["allowedRepositories"]
    for statement in statements:
        providers = list(statement.principals.get("Federated", ()))
        issuers = [p.split("oidc-provider/", 1)[-1] for p in providers]
        check.note(f"statement {statement.label} issuers", issuers)
        for issuer in issuers or ["(unknown issuer)"]:
            aud = statement.condition_values(f"{issuer}:aud", ("StringEquals",))
            sub_exact = statement.condition_values(f"{issuer}:sub", ("StringEquals",))
            sub_like = statement.condition_values(f"{issuer}:sub", ("StringLike",))
            check.note(f"statement {statement.label} {issuer}:aud", aud)
            check.note(f"statement {statement.label} {issuer}:sub", sub_exact + sub_like)
            if not aud or any(a not in audiences for a in aud):
                check.violation(
                    f"statement {statement.label} must pin {issuer}:aud with StringEquals to "
                    f"{audiences}",
                    aud or None,
                    f'add Condition={{"StringEquals": {{"{issuer}:aud": "{audiences[0]}"}}}}',
                )
            subjects = sub_exact + sub_like
            if not subjects:
                check.violation(
                    f"statement {statement.label} must pin {issuer}:sub to exact subjects",
                    None,
                    f'add Condition={{"StringEquals": {{"{issuer}:sub": '
                    '["repo:<org>/<repo>:environment:<env>"]}}',
                )
            elif sub_like or _has_wildcard(subjects):
                check.violation(
                    f"statement {statement.label} must match {issuer}:sub exactly, without "
                    "wildcards",
                    subjects,
                    "use StringEquals with the exact repository and environment or branch",
                )
            if repositories:
                stray = [
                    s for s in subjects if not any(s.startswith(f"repo:{r}:") for r in repositories)
                ]
                if stray:
                    check.violation(
                        f"statement {statement.label} may trust only repositories {repositories}",
                        stray,
                        "remove subjects of other repositories",
                    )


OIDC_TRUST_PINNED = Policy(
    name="iam-oidc-trust-pinned",
    description="Checks whether every role federated through OIDC (GitHub Actions) pins "
    "the token audience and the exact subject (repository and environment or branch).",
    enforcement=MANDATORY,
    severity="critical",
    controls=("NIST AC-3", "NIST IA-2", "NIST AC-6"),
    validators={ROLE: _check_oidc_trust},
    params=(
        Param(
            "allowedAudiences",
            "array",
            ["sts.amazonaws.com"],
            "Accepted `aud` values.",
            items={"type": "string"},
        ),
        Param(
            "allowedRepositories",
            "array",
            [],
            "If set, `org/repo` values the `sub` claims must belong to.",
            items={"type": "string"},
        ),
    ),
)


def _check_trust_not_public(check: ResourceCheck) -> None:
    for statement in allow_statements(_trust(check) or []):
        if statement.is_public and not statement.scoped_to_account:
            check.violation(
                f"trust statement {statement.label} must not let everyone assume the role",
                "Principal *",
                "name the principals allowed to assume it",
            )


TRUST_NOT_PUBLIC = Policy(
    name="iam-role-trust-not-public",
    description="Checks whether any role trust policy lets everyone (Principal '*') assume "
    "the role without an account or organisation condition.",
    enforcement=MANDATORY,
    severity="critical",
    controls=("NIST AC-3", "NIST AC-21"),
    validators={ROLE: _check_trust_not_public},
)


def _check_service_trust(check: ResourceCheck) -> None:
    services = [s for s in allow_statements(_trust(check) or []) if s.principals.get("Service")]
    if not services:
        check.not_applicable("the role trusts no AWS service")
    for statement in services:
        # Judged by value: the service acting for another account must fail the conditions.
        admitted = [w for w in outsiders_admitted(statement, NOBODY) if w.endswith("account")]
        if admitted:
            check.violation(
                f"trust statement {statement.label} must scope "
                f"{', '.join(statement.principals['Service'])} to this account",
                admitted,
                'add Condition={"StringEquals": {"aws:SourceAccount": <account id>}}',
            )


SERVICE_TRUST_SCOPED = Policy(
    name="iam-service-role-trust-scoped",
    description="Checks whether roles trusted by AWS services limit that trust to this "
    "account (aws:SourceAccount / aws:SourceArn with this account's values), against the "
    "confused deputy.",
    enforcement=MANDATORY,
    severity="high",
    controls=("NIST AC-3", "NIST AC-6"),
    validators={ROLE: _check_service_trust},
)


def _check_lint(check: ResourceCheck) -> None:
    fail_on = set(check.config["failOnSeverities"])
    ignored = set(check.config["ignoredIssues"])
    documents: list[tuple[str, object]] = [
        (key, check.get(key)) for key in LINTED_INPUTS.get(check.subject.type, ())
    ]
    if check.subject.type == ROLE:
        for index, inline in enumerate(check.get("inlinePolicies") or []):
            documents.append((f"inlinePolicies.{index}", inline.get("policy")))
    seen = False
    for key, raw in documents:
        if raw is None:
            continue
        try:
            document = PolicyDocument.parse(raw)
        except MalformedPolicy as error:
            check.violation(f"{key} must be a JSON policy document", str(error), "fix it")
            continue
        seen = True
        findings = lint_policy(document)
        check.note(f"parliament findings in {key}", [str(f) for f in findings])
        for finding in findings:
            if finding.issue in ignored or finding.severity.upper() not in fail_on:
                continue
            check.violation(
                f"{key} must lint clean under parliament",
                str(finding),
                "fix the statement parliament names (or list the issue in ignoredIssues "
                "with a reason)",
            )
    if not seen:
        check.not_applicable("no policy document")


LINT_CLEAN = Policy(
    name="iam-policy-documents-lint-clean",
    description="Checks whether every IAM, trust, key, bucket, topic and repository policy "
    "document passes parliament, the IAM policy linter.",
    enforcement=MANDATORY,
    controls=("NIST AC-6", "NIST AC-3", "NIST CM-7"),
    validators={t: _check_lint for t in LINTED_INPUTS},
    params=(
        Param(
            "failOnSeverities",
            "array",
            ["CRITICAL", "HIGH", "MEDIUM"],
            "Parliament severities that fail the policy (LOW and INFO are reported only).",
            items={"type": "string", "enum": ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"]},
        ),
        Param(
            "ignoredIssues",
            "array",
            [],
            "Parliament issue codes to ignore (e.g. a known false positive).",
            items={"type": "string"},
        ),
    ),
)


def _check_infra_role(check: ResourceCheck) -> None:
    if check.get("name") not in check.config["roleNames"]:
        check.not_applicable("not an infrastructure deploy role")
    boundary = check.get("permissionsBoundary")
    check.note("permissions boundary", boundary)
    if not boundary:
        check.violation(
            "the infrastructure deploy role must carry a permissions boundary",
            None,
            "set permissions_boundary to the bootstrap's boundary policy",
        )
    subjects = [
        subject
        for statement in allow_statements(_trust(check) or [])
        for block in statement.conditions.values()
        for key, values in block.items()
        if key.endswith(":sub")
        for subject in values
    ]
    check.note("OIDC subjects", subjects)
    strays = [s for s in subjects if ":environment:" not in s or "*" in s or "?" in s]
    if not subjects or strays:
        check.violation(
            "the infrastructure deploy role may be assumed only from GitHub environments",
            strays or None,
            "trust exactly repo:<org>/<repo>:environment:<deployEnvironment> of each stack",
        )


INFRA_ROLE_BOUNDED = Policy(
    name="iam-infra-role-bounded-and-environment-only",
    description="Checks whether the role that runs `pulumi up` for the infrastructure carries "
    "a permissions boundary and is assumable only from GitHub deploy environments.",
    enforcement=MANDATORY,
    severity="critical",
    controls=("NIST AC-6", "NIST AC-3", "NIST AC-5"),
    validators={ROLE: _check_infra_role},
    params=(
        Param(
            "roleNames",
            "array",
            [INFRA_ROLE_NAME],
            "Names of the roles that deploy the infrastructure (infra/bootstrap).",
            items={"type": "string"},
        ),
    ),
)

POLICIES = (
    NO_WILDCARD_ACTIONS,
    NO_WILDCARD_RESOURCES,
    NO_ADMIN,
    OIDC_TRUST_PINNED,
    TRUST_NOT_PUBLIC,
    SERVICE_TRUST_SCOPED,
    LINT_CLEAN,
    INFRA_ROLE_BOUNDED,
)
