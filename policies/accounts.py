"""Whose is it? The stack's own account (and organisation), and whether a resource policy
statement lets anyone outside them in.

A 12-digit account in an ARN is not "ours" because it is an account: it is ours when it is
the account the stack's own resources live in (the ARNs of the resources it declares), or
one the policy config names. A statement's conditions are judged by value, not by the
presence of a key: the statement is put to `policies.evaluation` as a request from another
account whose caller chooses every value it controls (an `aws:PrincipalAccount` of `*`
admits it; an `aws:SourceArn` of this account's trail does not).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from common.iam_document import Statement
from policies.core import Param, Subject
from policies.evaluation import Request, conditions_hold

OUTSIDER_ACCOUNT = "000011112222"
"""The account the probes impersonate; never one of the stack's (checked at use)."""
OUTSIDER_ORG = "o-outsider0000"
ACCOUNT_ID = re.compile(r"^\d{12}$")
# Keys about the caller (or the service's source): the values an outsider cannot choose.
# `aws:ResourceAccount` and the like describe the stack's own resource, so a condition on
# them holds for an outsider's request too and scopes nothing.
ACCOUNT_KEYS = frozenset(
    k.lower()
    for k in (
        "aws:PrincipalAccount",
        "aws:SourceAccount",
        "aws:SourceOwner",
        "kms:CallerAccount",
    )
)
ORG_KEYS = frozenset(k.lower() for k in ("aws:PrincipalOrgID", "aws:SourceOrgID"))
ORG_PATH_KEYS = frozenset(k.lower() for k in ("aws:PrincipalOrgPaths", "aws:SourceOrgPaths"))
NETWORK_KEYS = {"aws:sourcevpc": "vpc-outsider", "aws:sourcevpce": "vpce-outsider"}

ACCOUNT_PARAMS = (
    Param(
        "accountIds",
        "array",
        [],
        "The stack's own AWS account ids; empty: the account of the ARNs of the resources "
        "the stack declares.",
        items={"type": "string", "pattern": r"^\d{12}$"},
    ),
    Param(
        "peerPrincipalArns",
        "array",
        [],
        "Principals of other accounts the stack admits on purpose, by exact ARN (the roles of "
        "the stacks that promote from this one, `mlops:promotesTo`); `mlops audit` derives "
        "them from the stack file.",
        items={"type": "string", "pattern": r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$"},
    ),
    Param(
        "organizationId",
        "string",
        "",
        "The AWS Organizations id (`o-...`) whose accounts count as the stack's own; empty: "
        "none but the stack's accounts.",
    ),
)


def arn_account(value: str) -> str | None:
    """The account field of an ARN (or a bare 12-digit id); None when there is none."""
    if ACCOUNT_ID.match(value):
        return value
    parts = value.split(":")
    if len(parts) >= 6 and parts[0] == "arn":
        return parts[4] or None
    return None


@dataclass(frozen=True)
class Own:
    """Who counts as inside: the stack's accounts and, when configured, its organisation."""

    accounts: frozenset[str]
    organization: str = ""
    peers: frozenset[str] = frozenset()
    """Other accounts' principals admitted on purpose, by exact ARN (never a root)."""

    def owns(self, principal: str) -> bool:
        account = arn_account(principal)
        return account is not None and account in self.accounts


def own_of(subjects: Iterable[Subject], config: Mapping[str, object]) -> Own:
    """The stack's accounts: the configured ones, else the account most of the ARNs of the
    stack's own resources (their handles, never their inputs) carry."""
    configured = frozenset(str(a) for a in (config.get("accountIds") or ()))
    organization = str(config.get("organizationId") or "")
    peers = frozenset(str(a) for a in (config.get("peerPrincipalArns") or ()))
    if configured:
        return Own(configured, organization, peers)
    counts = Counter(
        account
        for subject in subjects
        for handle in subject.handles
        if handle.startswith("arn:")
        and (account := arn_account(handle)) is not None
        and ACCOUNT_ID.match(account)
    )
    accounts = frozenset(a for a, _ in counts.most_common(1))
    return Own(accounts, organization, peers)


def _outsider_arn(value: str) -> str:
    """`value` (an ARN or ARN pattern) as the outsider would present it: its account field
    the outsider's, its wildcards filled in."""
    parts = value.split(":", 5)
    if len(parts) == 6:
        parts[4] = OUTSIDER_ACCOUNT
    return ":".join(parts).replace("*", "x").replace("?", "x")


def outsider_context(statement: Statement, own: Own) -> dict[str, list[str]]:
    """The condition values a caller from another account presents: its own account and
    network where those are keys, an organisation that is not the stack's (any one the
    statement names but the configured one: an unconfigured organisation may be anyone's),
    and for anything else it controls, values chosen to satisfy the statement."""
    context: dict[str, list[str]] = {}
    nulls: dict[str, bool] = {}
    for operator, block in statement.conditions.items():
        base = operator.rpartition(":")[2].removesuffix("IfExists")
        negated = "Not" in base
        for key, values in block.items():
            name = key.lower()
            if base == "Null":
                nulls[name] = any(v.lower() == "true" for v in values)
                continue
            if name in ACCOUNT_KEYS:
                value = OUTSIDER_ACCOUNT
            elif name in ORG_KEYS:
                value = next((v for v in values if v != own.organization), OUTSIDER_ORG)
                value = value.replace("*", "x").replace("?", "x")
            elif name in ORG_PATH_KEYS:
                value = f"{OUTSIDER_ORG}/r-outsider/"
            elif name in NETWORK_KEYS:
                value = NETWORK_KEYS[name]
            elif any(v.startswith("arn:") for v in values):
                value = _outsider_arn(next(v for v in values if v.startswith("arn:")))
            elif negated or not values:
                value = "outsider-chosen-value"
            else:
                value = values[0].replace("*", "x").replace("?", "x")
            context.setdefault(name, [value])
    for name, absent in nulls.items():
        if absent:
            context.pop(name, None)
        else:
            context.setdefault(name, ["outsider-chosen-value"])
    return context


def outsiders_admitted(statement: Statement, own: Own) -> list[str]:
    """Who outside the stack's accounts an Allow statement of a resource policy lets in,
    once its conditions are judged for an outsider's request: `everyone`, foreign
    principals by name, or services acting for any account. Empty: nobody."""
    if not statement.allows:
        return []
    if OUTSIDER_ACCOUNT in own.accounts:  # pragma: no cover - a 12-digit id nobody owns
        raise ValueError("the outsider probe account is one of the stack's")
    who: list[str] = []
    if statement.is_public:
        who.append("everyone (Principal *)")
    who += [
        p
        for p in statement.principals.get("AWS", ())
        if p != "*" and not own.owns(p) and p not in own.peers
    ]
    who += [f"{s} for any account" for s in statement.principals.get("Service", ())]
    if not who:
        return []
    request = Request(
        principal=f"arn:aws:iam::{OUTSIDER_ACCOUNT}:role/outsider",
        action=next(iter(statement.actions), "*"),
        resource="*",
        context=outsider_context(statement, own),
    )
    return who if conditions_hold(statement, request) else []


def foreign_references(values: Sequence[object], own: Own) -> list[str]:
    """The ARNs among `values` that live in an account other than the stack's."""
    return [
        v
        for v in values
        if isinstance(v, str)
        and v.startswith("arn:")
        and (account := arn_account(v)) is not None
        and account not in own.accounts
    ]
