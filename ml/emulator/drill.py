"""`mlops demo --drill-deny ROLE:ACTION`: take one grant away from one emulated role.

Rehearses a least-privilege mistake on purpose: the role loses `ACTION` everywhere it
was granted to it, in its inline policies and in the key and bucket policies that name
it, and the demo must then stop at the step that needs it, naming identity, action and
resource. Only the emulator's copies change (as the administrator); the graph does not.

A grant given through a wildcard action (`s3:Get*`) cannot be taken away one action at
a time: that is refused with a line saying so (the project grants no wildcard actions).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from common.errors import MlopsError
from common.iam_document import MalformedPolicy, PolicyDocument, Statement, glob
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
        updated, count = without_grant(document, drill.action, None)
        if count:
            iam.put_role_policy(
                RoleName=role_name, PolicyName=name, PolicyDocument=json.dumps(updated)
            )
            changed += count
    for key_arn in {stack.data_key_arn, stack.signing_key_arn}:
        document = kms.get_key_policy(KeyId=key_arn, PolicyName="default")["Policy"]
        updated, count = without_grant(document, drill.action, role_arn)
        if count:
            kms.put_key_policy(KeyId=key_arn, PolicyName="default", Policy=json.dumps(updated))
            changed += count
    for bucket in stack.buckets.values():
        document = s3.get_bucket_policy(Bucket=bucket)["Policy"]
        updated, count = without_grant(document, drill.action, role_arn)
        if count:
            s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(updated))
            changed += count
    if not changed:
        raise MlopsError(
            f"--drill-deny: {drill.role} holds no grant of {drill.action} to take away"
        )
    return changed


def _loaded(document: Any) -> PolicyDocument:
    try:
        return PolicyDocument.parse(document)
    except MalformedPolicy as error:
        raise MlopsError(f"--drill-deny: a policy of the emulator is malformed: {error}") from None


def without_grant(document: Any, action: str, principal: str | None) -> tuple[dict[str, Any], int]:
    """`document` with `action` removed from every Allow that grants it (to `principal`,
    for a resource policy; a statement shared with other principals is split)."""
    parsed = _loaded(document)
    result: list[Statement] = []
    changed = 0
    for statement in parsed.statements:
        named = statement.principals.get("AWS", ())
        mine = principal is None or principal in named
        if not statement.allows or action.lower() not in {a.lower() for a in statement.actions}:
            wildcards = [a for a in statement.actions if "*" in a]
            if statement.allows and mine and any(glob(a, action, True) for a in wildcards):
                raise MlopsError(f"--drill-deny: {action} is granted through a wildcard")
            result.append(statement)
            continue
        if not mine:
            result.append(statement)
            continue
        changed += 1
        others = [p for p in named if p != principal]
        if principal is not None and others:
            result.append(replace(statement, principals={**statement.principals, "AWS": others}))
        remaining = [a for a in statement.actions if a.lower() != action.lower()]
        if remaining:
            reduced = replace(statement, actions=remaining)
            if principal is not None:
                split = statement.sid is not None and bool(others)
                sid = f"{statement.sid}Drill" if split else statement.sid
                reduced = replace(reduced, principals={"AWS": [principal]}, sid=sid)
            result.append(reduced)
    return replace(parsed, statements=tuple(result)).to_dict(), changed
