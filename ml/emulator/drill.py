"""`mlops demo --drill-deny ROLE:ACTION`: take one grant away from one emulated role.

Rehearses a least-privilege mistake on purpose: the role loses `ACTION` everywhere it
was granted to it, in its inline policies and in the key and bucket policies that name
it, and the demo must then stop at the step that needs it, naming identity, action and
resource. Only the emulator's copies change (as the administrator); the graph does not.

A grant given through a wildcard action (`s3:Get*`) cannot be taken away one action at
a time: that is refused with a line saying so (the project grants no wildcard actions).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from common.errors import MlopsError
from ml.emulator.bootstrap import EmulatedStack
from ml.emulator.identities import DUTY_ROLES


@dataclass(frozen=True)
class Drill:
    role: str
    """Role name suffix, e.g. `gh-release`."""
    action: str

    @classmethod
    def parse(cls, text: str) -> Drill:
        """`ROLE:ACTION`, ROLE a duty (`release`) or role suffix (`gh-release`)."""
        role, _, action = text.partition(":")
        service, _, name = action.partition(":")
        if not role or not service or not name or "*" in action:
            raise MlopsError(
                f"--drill-deny {text!r}: write ROLE:ACTION, e.g. gh-release:s3:PutObject "
                "(ROLE a duty or role suffix, ACTION one IAM action without wildcards)"
            )
        return cls(DUTY_ROLES.get(role, role), action)


def apply_drill(drill: Drill, stack: EmulatedStack, *, iam: Any, kms: Any, s3: Any) -> int:
    """Remove the grant from the emulator's policies; returns how many statements changed."""
    role_arn = stack.roles.get(drill.role)
    if role_arn is None:
        known = ", ".join(sorted(stack.roles))
        raise MlopsError(
            f"--drill-deny: stack {stack.stack} has no role {drill.role}; choose one of {known}"
        )
    role_name = role_arn.rsplit("/", 1)[1]
    changed = 0
    for name in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
        updated, count = without_grant(_loaded(document), drill.action, None)
        if count:
            iam.put_role_policy(
                RoleName=role_name, PolicyName=name, PolicyDocument=json.dumps(updated)
            )
            changed += count
    for key_arn in {stack.data_key_arn, stack.signing_key_arn}:
        document = kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"]
        updated, count = without_grant(_loaded(document), drill.action, role_arn)
        if count:
            kms.put_key_policy(KeyId=key_arn, PolicyName="default", Policy=json.dumps(updated))
            changed += count
    for bucket in stack.buckets.values():
        document = s3.get_bucket_policy(Bucket=bucket)["Policy"]
        updated, count = without_grant(_loaded(document), drill.action, role_arn)
        if count:
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(updated))
            changed += count
    if not changed:
        raise MlopsError(
            f"--drill-deny: {drill.role} holds no grant of {drill.action} to take away"
        )
    return changed


def _loaded(document: Any) -> dict[str, Any]:
    return document if isinstance(document, dict) else json.loads(document)


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def without_grant(
    document: dict[str, Any], action: str, principal: str | None
) -> tuple[dict[str, Any], int]:
    """`document` with `action` removed from every Allow that grants it (to `principal`,
    for a resource policy; a statement shared with other principals is split)."""
    statements = _list(document.get("Statement", []))
    result: list[dict[str, Any]] = []
    changed = 0
    for statement in statements:
        actions = _list(statement.get("Action", []))
        lowered = [a.lower() for a in actions]
        if statement.get("Effect") != "Allow" or action.lower() not in lowered:
            if (
                statement.get("Effect") == "Allow"
                and any("*" in a and _covers(a, action) for a in actions)
                and (principal is None or principal in _aws_principals(statement))
            ):
                raise MlopsError(f"--drill-deny: {action} is granted through a wildcard")
            result.append(statement)
            continue
        if principal is not None and principal not in _aws_principals(statement):
            result.append(statement)
            continue
        changed += 1
        others = [p for p in _aws_principals(statement) if p != principal]
        if principal is not None and others:
            kept = copy.deepcopy(statement)
            kept["Principal"] = {**statement["Principal"], "AWS": others}
            result.append(kept)
        remaining = [a for a in actions if a.lower() != action.lower()]
        if remaining:
            reduced = copy.deepcopy(statement)
            reduced["Action"] = remaining
            if principal is not None:
                reduced["Principal"] = {"AWS": [principal]}
            if "Sid" in reduced and principal is not None and others:
                reduced["Sid"] = f"{reduced['Sid']}Drill"
            result.append(reduced)
    return {**document, "Statement": result}, changed


def _aws_principals(statement: dict[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if not isinstance(principal, dict):
        return []
    return [str(p) for p in _list(principal.get("AWS", []))]


def _covers(pattern: str, action: str) -> bool:
    from common.iam_document import glob

    return glob(pattern, action, ignore_case=True)
