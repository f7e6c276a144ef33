"""Reading IAM-style JSON policy documents (identity, trust, key, bucket, topic policies).

Inputs carry policies as JSON strings; these helpers parse them once and give every
statement the same shape (lists for Action/Resource/principal values), so the rules read
clearly and the audit's inventory reads the same statements the rules judged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

ACCOUNT_ROOT = re.compile(r"^(arn:aws[a-z-]*:iam::\d{12}:root|\d{12})$")
# Conditions that scope a public or service principal to this account or organisation.
SCOPING_CONDITION_KEYS = frozenset(
    key.lower()
    for key in (
        "aws:SourceAccount",
        "aws:SourceArn",
        "aws:SourceOwner",
        "aws:PrincipalAccount",
        "aws:PrincipalArn",
        "aws:PrincipalOrgID",
        "aws:SourceOrgID",
        "aws:SourceVpc",
        "aws:SourceVpce",
        "kms:CallerAccount",
    )
)


class MalformedPolicy(ValueError):
    """A policy input that is not a JSON policy document."""


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str | bytes | Mapping):
        return [value]
    return list(value)


@dataclass(frozen=True)
class PolicyStatement:
    sid: str | None
    effect: str
    actions: tuple[str, ...]
    not_actions: tuple[str, ...]
    resources: tuple[str, ...]
    not_resources: tuple[str, ...]
    principals: Mapping[str, tuple[str, ...]]
    """{"AWS": (...), "Service": (...), "Federated": (...), "*": ("*",)} when Principal is '*'."""
    conditions: Mapping[str, Mapping[str, tuple[str, ...]]]
    """{operator: {key: (values...)}} with values as strings."""
    not_principals: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """`NotPrincipal`, in the same shape as `principals`."""

    @property
    def label(self) -> str:
        return self.sid or "(no Sid)"

    @property
    def allows(self) -> bool:
        return self.effect == "Allow"

    @property
    def is_public(self) -> bool:
        """Principal is everyone: `"*"` or `{"AWS": "*"}`."""
        return "*" in self.principals or "*" in self.principals.get("AWS", ())

    def condition_keys(self) -> set[str]:
        return {key.lower() for block in self.conditions.values() for key in block}

    def condition_values(self, key: str, operators: tuple[str, ...] = ()) -> list[str]:
        """Values of condition `key` (case-insensitive), optionally only under `operators`."""
        values: list[str] = []
        for operator, block in self.conditions.items():
            if operators and operator not in operators:
                continue
            for name, items in block.items():
                if name.lower() == key.lower():
                    values += items
        return values

    @property
    def scoped_to_account(self) -> bool:
        """Whether a condition limits who (or on whose behalf) the statement applies."""
        return bool(self.condition_keys() & SCOPING_CONDITION_KEYS)

    def grants(self, action: str) -> bool:
        """Whether this statement's Action covers `action` (wildcards expanded)."""
        wanted = action.lower()
        return any(_glob(pattern.lower(), wanted) for pattern in self.actions)


def _glob(pattern: str, value: str) -> bool:
    regex = "^" + re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".") + "$"
    return re.match(regex, value) is not None


def _principals(raw: Any) -> dict[str, tuple[str, ...]]:
    if raw is None:
        return {}
    if raw == "*":
        return {"*": ("*",)}
    if not isinstance(raw, Mapping):
        raise MalformedPolicy(f"Principal must be '*' or an object, got {raw!r}")
    return {str(kind): tuple(str(v) for v in _as_list(ids)) for kind, ids in raw.items()}


def _conditions(raw: Any) -> dict[str, dict[str, tuple[str, ...]]]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise MalformedPolicy("Condition must be an object")
    return {
        str(op): {str(k): tuple(str(v) for v in _as_list(vals)) for k, vals in block.items()}
        for op, block in raw.items()
    }


def parse_statement(raw: Mapping[str, Any]) -> PolicyStatement:
    return PolicyStatement(
        sid=raw.get("Sid"),
        effect=str(raw.get("Effect", "")),
        actions=tuple(str(a) for a in _as_list(raw.get("Action"))),
        not_actions=tuple(str(a) for a in _as_list(raw.get("NotAction"))),
        resources=tuple(str(r) for r in _as_list(raw.get("Resource"))),
        not_resources=tuple(str(r) for r in _as_list(raw.get("NotResource"))),
        principals=_principals(raw.get("Principal")),
        conditions=_conditions(raw.get("Condition")),
        not_principals=_principals(raw.get("NotPrincipal")),
    )


def parse_document(raw: Any) -> list[PolicyStatement]:
    """Statements of a policy given as a JSON string or an already parsed mapping."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as error:
            raise MalformedPolicy(f"not valid JSON ({error.msg})") from None
    if not isinstance(raw, Mapping):
        raise MalformedPolicy("a policy document must be a JSON object")
    statements = raw.get("Statement", [])
    if isinstance(statements, Mapping):
        statements = [statements]
    if not isinstance(statements, list | tuple):
        raise MalformedPolicy("Statement must be an object or a list")
    return [parse_statement(s) for s in statements]


def allow_statements(statements: list[PolicyStatement]) -> Iterator[PolicyStatement]:
    return (s for s in statements if s.allows)


def is_account_root(principal: str) -> bool:
    return ACCOUNT_ROOT.match(principal) is not None


def wildcard_actions(statement: PolicyStatement) -> list[str]:
    """Actions of an Allow statement containing `*` (and any NotAction, equally broad)."""
    broad = [a for a in statement.actions if "*" in a]
    broad += [f"NotAction {a}" for a in statement.not_actions]
    return broad
