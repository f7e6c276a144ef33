"""IAM policy evaluation: may this principal call this action on this resource?

The project's one model of how AWS decides a request (IAM User Guide, "Policy evaluation
logic"), pure and offline. The emulator authorises every call with it
(`ml.emulator.iam`), and the who-can-do-what analysis (`policies.reachability`) probes
roles with it, so both read policies the same way.

Within one account, for a request (principal, action, resource, condition context):

1. an explicit `Deny` in any applicable policy (identity or resource) decides: denied;
2. else an `Allow` in an identity policy or in the resource's policy (naming the
   principal) decides: allowed. Two resources are stricter: a KMS key and a role's trust
   policy must themselves allow the call, either naming the principal or delegating to
   the account's IAM policies by naming the account root (`resource_required`);
3. else denied implicitly.

Across accounts (the resource's account is not the caller's, `resource_account`), both
sides must allow: an Allow in the caller's identity policies, and an Allow in the
resource's policy naming the caller (or its account root, delegating to its IAM).

A statement (`common.iam_document`, which also matches actions and resources) applies
when its `Action`/`NotAction` (case-insensitive wildcards), `Resource`/`NotResource`
(case-sensitive wildcards), `Principal`/`NotPrincipal` (resource
policies only) and every `Condition` match. Condition operators: `String*` (with
`IgnoreCase`, `Like`, negations), `Arn*`, `Bool`, `Null`, `Numeric*`, each with
`...IfExists` and the `ForAnyValue:`/`ForAllValues:` set forms. Anything else raises
`UnsupportedPolicy`: the evaluator never guesses, so an unmodelled rule fails loudly
rather than allowing. Policy variables (`${aws:username}`) are not substituted.

A request whose context is `None` is a "may" question: the caller's condition values are
unknown, so an Allow's conditions are taken as met and a Deny's as unmet, the most
permissive reading (what a reachability analysis must assume).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Literal

from common.iam_document import Statement, covers_action, covers_resource, glob

Decision = Literal["allow", "explicit-deny", "implicit-deny"]
Context = Mapping[str, Sequence[str]]
"""Condition key (lower case) -> the request's values for it."""


class UnsupportedPolicy(ValueError):
    """A policy element the evaluator does not model; refusing beats guessing."""


@dataclass(frozen=True)
class Request:
    """One call as IAM sees it."""

    principal: str
    """The caller, e.g. `arn:aws:sts::123456789012:assumed-role/R/session`."""
    action: str
    """`service:Action`, e.g. `s3:PutObject`."""
    resource: str
    """The ARN the call targets, or `*` for actions that have no resource type."""
    context: Context | None = field(default_factory=dict)
    """Condition keys (lower case) -> values; None: unknown (see the module docstring)."""
    principal_aliases: tuple[str, ...] = ()
    """Other ARNs a resource policy may name the caller by (its role's ARN)."""

    def values(self, key: str) -> tuple[str, ...] | None:
        assert self.context is not None
        found = self.context.get(key.lower())
        return None if found is None else tuple(found)


@dataclass(frozen=True)
class Policy:
    """A named policy: where it came from (for messages and usage) and its statements."""

    name: str
    statements: Sequence[Statement]


@dataclass(frozen=True)
class Match:
    policy: str
    statement: Statement


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    matches: tuple[Match, ...] = ()
    """The deciding statements: the Deny that matched, or every Allow that matched."""
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.decision == "allow"


# ---- principals and conditions ------------------------------------------------------------


def covers_principal(statement: Statement, request: Request) -> bool:
    """For a resource policy: does `Principal` (or `NotPrincipal`) name the caller?"""
    callers = {request.principal, *request.principal_aliases}
    if statement.not_principals:
        named = {p for ids in statement.not_principals.values() for p in ids}
        return not (named & callers)
    if statement.principals:
        if statement.is_public:
            return True
        named = statement.principal_ids()
        return bool(named & callers)
    return False


def _account_root(request: Request) -> str | None:
    parts = request.principal.split(":")
    if len(parts) < 6 or parts[4] == "":
        return None
    return f"arn:{parts[1]}:iam::{parts[4]}:root"


def conditions_hold(statement: Statement, request: Request) -> bool:
    """Every operator block holds (AND); within a block every key holds (AND); a key
    holds when any of its values matches (OR), or, negated, when none does."""
    if request.context is None:
        return statement.allows or not statement.conditions
    for operator, block in statement.conditions.items():
        for key, wanted in block.items():
            if not _condition(operator, request.values(key), wanted):
                return False
    return True


_STRING = {"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase",
           "StringNotEqualsIgnoreCase", "StringLike", "StringNotLike"}  # fmt: skip
_ARN = {"ArnEquals", "ArnNotEquals", "ArnLike", "ArnNotLike"}
_NUMERIC = {"NumericEquals", "NumericNotEquals", "NumericLessThan", "NumericLessThanEquals",
            "NumericGreaterThan", "NumericGreaterThanEquals"}  # fmt: skip
_NEGATED = {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals",
            "ArnNotLike", "NumericNotEquals"}  # fmt: skip


def _condition(operator: str, actual: tuple[str, ...] | None, wanted: Sequence[str]) -> bool:
    qualifier, _, base = operator.rpartition(":")
    if qualifier not in ("", "ForAnyValue", "ForAllValues"):
        raise UnsupportedPolicy(f"condition operator {operator}")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if base == "Null":
        if qualifier or if_exists:
            raise UnsupportedPolicy(f"condition operator {operator}")
        absent = actual is None or len(actual) == 0
        return any(absent == (value.lower() == "true") for value in wanted)
    if base not in _STRING | _ARN | _NUMERIC | {"Bool"}:
        raise UnsupportedPolicy(f"condition operator {operator}")
    if qualifier == "ForAllValues":
        # Every value in the request matches; an absent key or empty set: true.
        return all(_one(base, value, wanted) for value in actual or ())
    if qualifier == "ForAnyValue":
        return any(_one(base, value, wanted) for value in actual or ())
    if actual is None:
        # Absent key: no match, so false, unless IfExists or a negated operator.
        return if_exists or base in _NEGATED
    if len(actual) != 1:
        raise UnsupportedPolicy(f"{operator} on a multivalued key: use ForAnyValue/ForAllValues")
    return _one(base, actual[0], wanted)


def _one(base: str, actual: str, wanted: Sequence[str]) -> bool:
    """A single request value against a policy's values: any matches (negated: none)."""
    positive = base.replace("Not", "", 1) if base in _NEGATED else base
    hit = any(_compare(positive, actual, value) for value in wanted)
    return not hit if base in _NEGATED else hit


def _compare(operator: str, actual: str, wanted: str) -> bool:
    if operator == "StringEquals":
        return actual == wanted
    if operator == "StringEqualsIgnoreCase":
        return actual.lower() == wanted.lower()
    if operator == "StringLike":
        return glob(wanted, actual)
    if operator in ("ArnEquals", "ArnLike"):
        return _arn_like(actual, wanted)
    if operator == "Bool":
        return actual.lower() == wanted.lower()
    return _numeric(operator, actual, wanted)


def _arn_like(actual: str, pattern: str) -> bool:
    """ARN operators compare each of the six colon-separated fields on its own."""
    got, want = actual.split(":", 5), pattern.split(":", 5)
    if len(got) != 6 or len(want) != 6:
        return False
    return all(glob(w, g) for w, g in zip(want, got, strict=True))


def _numeric(operator: str, actual: str, wanted: str) -> bool:
    try:
        a, w = Decimal(actual), Decimal(wanted)
    except InvalidOperation:
        return False
    return {
        "NumericEquals": a == w,
        "NumericLessThan": a < w,
        "NumericLessThanEquals": a <= w,
        "NumericGreaterThan": a > w,
        "NumericGreaterThanEquals": a >= w,
    }[operator]


def applies(statement: Statement, request: Request, *, resource_policy: bool) -> bool:
    """Whether `statement` speaks to `request` (its effect aside)."""
    if not covers_action(statement, request.action):
        return False
    if not covers_resource(statement, request.resource):
        return False
    if resource_policy and not covers_principal(statement, request):
        return False
    return conditions_hold(statement, request)


# ---- deciding ---------------------------------------------------------------------------


def evaluate(
    request: Request,
    identity: Sequence[Policy],
    resource: Sequence[Policy] = (),
    *,
    resource_required: bool = False,
    resource_account: str | None = None,
) -> Outcome:
    """AWS's decision for `request` (see the module docstring); `resource_account` is the
    account owning the resource when it may differ from the caller's."""
    allows: list[Match] = []
    resource_allows: list[Match] = []
    delegated = False
    root = _account_root(request)
    for policies, is_resource in ((identity, False), (resource, True)):
        for policy in policies:
            for statement in policy.statements:
                if not applies(statement, request, resource_policy=is_resource):
                    if (
                        is_resource
                        and statement.allows
                        and root is not None
                        and root in statement.principal_ids()
                        and applies(
                            statement,
                            Request(root, request.action, request.resource, request.context),
                            resource_policy=True,
                        )
                    ):
                        delegated = True
                    continue
                match = Match(policy.name, statement)
                if statement.effect == "Deny":
                    return Outcome("explicit-deny", (match,), f"explicit deny in {policy.name}")
                (resource_allows if is_resource else allows).append(match)
    caller_account = root.split(":")[4] if root is not None else None
    if resource_account is not None and caller_account not in (None, resource_account):
        if not allows:
            return Outcome("implicit-deny", (), "no identity-based policy of the caller allows it")
        if resource_allows or delegated:
            return Outcome("allow", tuple(resource_allows + allows))
        where = resource[0].name if resource else "no resource policy"
        return Outcome(
            "implicit-deny", (), f"cross-account: {where} allows neither the caller nor its account"
        )
    if resource_required:
        if resource_allows:
            return Outcome("allow", tuple(resource_allows + allows))
        if delegated and allows:
            return Outcome("allow", tuple(allows))
        where = resource[0].name if resource else "the resource policy"
        return Outcome("implicit-deny", (), f"{where} allows neither the caller nor its account")
    if allows or resource_allows:
        return Outcome("allow", tuple(allows + resource_allows))
    return Outcome("implicit-deny", (), "no identity-based or resource-based policy allows it")


def decides(statements: Sequence[Statement], action: str, resource: str) -> bool:
    """May some caller governed by `statements` (identity statements, or resource
    statements already chosen for it) call `action` on `resource`, conditions unknown?"""
    request = Request("", action, resource, context=None)
    return evaluate(request, [Policy("statements", statements)]).allowed
