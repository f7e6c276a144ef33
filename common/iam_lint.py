"""Lint IAM policy documents with parliament (Duo Labs' IAM linter), used as a library."""

from __future__ import annotations

import json
import re
import warnings
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # parliament imports the deprecated pkg_resources
    import parliament

from common.iam_document import PolicyDocument

# IAM defines `<issuer>:aud` / `:sub` keys for every OIDC provider; parliament's catalogue
# only lists global and service keys, so it calls these unknown. They are documented
# (IAM User Guide, "Available keys for AWS OIDC federation").
_OIDC_CONDITION_PREFIXES = ("token.actions.githubusercontent.com:",)
# The same keys of an EKS cluster's issuer (IRSA: the Kubernetes serving pods' fetch role).
_EKS_OIDC_CONDITION = re.compile(
    r"condition oidc\.eks\.[a-z0-9-]+\.amazonaws\.com/id/\w+:(aud|sub)\b"
)
# Condition keys of a resource type rather than of an action: parliament checks keys per
# action and calls these unknown. `kms:ResourceAliases` applies to every operation on a KMS
# key (AWS KMS Developer Guide, "kms:ResourceAliases"); the state-key grants use it because
# the main stacks know the state key by its alias only.
_RESOURCE_CONDITION_KEYS = ("kms:ResourceAliases",)


@dataclass(frozen=True)
class LintFinding:
    issue: str
    detail: str
    severity: str
    statement_sid: str | None

    def __str__(self) -> str:
        where = f" in statement {self.statement_sid}" if self.statement_sid else ""
        return f"{self.issue}{where}: {self.detail}"


def lint_policy(document: Any) -> list[LintFinding]:
    """All parliament findings for one policy document (identity, resource or trust), given
    as a `PolicyDocument` or its JSON; a malformed one raises `MalformedPolicy`."""
    if not isinstance(document, PolicyDocument):
        document = PolicyDocument.parse(document)
    findings: list[LintFinding] = []
    for statement in document.statements:
        # In a resource policy (key policy, trust policy) the resource is the resource the
        # policy is attached to: '*' there is the only correct spelling, not a finding.
        resource_policy = bool(statement.principals or statement.not_principals)
        # Parliament lints identity policies: a resource or trust policy's statement is
        # linted without its principal (actions, resources and conditions are what it checks).
        stripped = replace(statement, principals=None, not_principals=None).to_dict()
        if "Resource" not in stripped and "NotResource" not in stripped:
            stripped["Resource"] = "*"  # trust policies have no resource; parliament needs one
        policy = parliament.analyze_policy_string(
            json.dumps({"Version": document.version or "2012-10-17", "Statement": [stripped]}),
            include_community_auditors=False,
        )
        for finding in policy.findings:
            _with_severity(finding)
            if finding.issue == "RESOURCE_STAR" and resource_policy:
                continue
            if finding.issue == "UNKNOWN_CONDITION_FOR_ACTION" and _is_oidc_key(finding.detail):
                continue
            findings.append(
                LintFinding(
                    issue=finding.issue,
                    detail=str(finding.detail),
                    severity=str(finding.severity or ""),
                    statement_sid=statement.sid,
                )
            )
    return findings


def _with_severity(finding: object) -> None:
    """Fill in the severity (and title) from parliament's issue catalogue; `analyze_policy_string`
    leaves them empty and only its CLI adds them."""
    try:
        parliament.enhance_finding(finding)
    except Exception:
        return


def _is_oidc_key(detail: object) -> bool:
    text = str(detail)
    prefixes = (*_OIDC_CONDITION_PREFIXES, *_RESOURCE_CONDITION_KEYS)
    return any(f"condition {prefix}" in text for prefix in prefixes) or bool(
        _EKS_OIDC_CONDITION.search(text)
    )


def actions_with_resource_scope(action: str) -> list[str]:
    """Actions matched by `action` that IAM lets you scope to a resource narrower than '*'.

    Read from parliament's copy of the IAM service authorization reference: an action whose
    only resource type is empty accepts nothing but '*' (e.g. `ecr:GetAuthorizationToken`,
    `ec2:DescribeVpcs`); any other action has an ARN format to use instead. Unknown services
    or actions are returned as-is, so a typo never passes as "needs '*'".
    """
    try:
        expanded = parliament.expand_action(action)
    except (parliament.UnknownPrefixException, parliament.UnknownActionException, ValueError):
        return [action]
    scoped: list[str] = []
    for item in expanded:
        if _resource_types(item["service"], item["action"]):
            scoped.append(f"{item['service']}:{item['action']}")
    return scoped


def _resource_types(service: str, action: str) -> list[str]:
    for definition in parliament.iam_definition:
        if definition["prefix"] != service:
            continue
        for privilege in definition["privileges"]:
            if privilege["privilege"] == action:
                return [
                    r["resource_type"] for r in privilege["resource_types"] if r["resource_type"]
                ]
    return []


@lru_cache(maxsize=1)
def _definitions() -> dict[str, dict[str, Any]]:
    return {d["prefix"]: d for d in parliament.iam_definition}


@lru_cache(maxsize=4096)
def arn_formats(action: str) -> tuple[str, ...]:
    """The ARN formats (`arn:${Partition}:kms:${Region}:${Account}:key/${KeyId}`) of every
    resource type the actions `action` matches can act on, from parliament's copy of the IAM
    service authorization reference; empty for actions that take only '*' or are unknown."""
    try:
        expanded = parliament.expand_action(action)
    except (parliament.UnknownPrefixException, parliament.UnknownActionException, ValueError):
        return ()
    formats: list[str] = []
    for item in expanded:
        definition = _definitions().get(item["service"])
        if definition is None:
            continue
        arns = {r["resource"]: r["arn"] for r in definition.get("resources", [])}
        for privilege in definition["privileges"]:
            if privilege["privilege"] != item["action"]:
                continue
            for resource_type in privilege["resource_types"]:
                name = resource_type["resource_type"].rstrip("*")
                if name in arns and arns[name] not in formats:
                    formats.append(arns[name])
    return tuple(formats)
