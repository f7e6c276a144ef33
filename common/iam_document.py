"""One model of an IAM JSON policy document (identity, trust, key, bucket, topic policies).

The program declares its policies with it (`infra.policy_document`), the policy pack and
the audit parse the rendered policies back into it (`PolicyDocument.parse`), and the
emulator's IAM enforcement evaluates it (`policies.evaluation`). A `Statement` holds each
element in one shape however it was written, as the IAM User Guide's "IAM JSON policy
element reference" allows: a single string or a list for Action, Resource and principal
ids; `"*"`, `{"AWS": ...}` or `{"Service": ...}` for Principal. `to_dict` writes it back as
AWS accepts it. Declared values may be pulumi Inputs (ARNs resolved at deploy time): the
model never looks inside a value, so it imports nothing but the standard library.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

Effect = Literal["Allow", "Deny"]
VERSIONS = ("2012-10-17", "2008-10-17")
Principals = Mapping[str, tuple[Any, ...]]
"""{"AWS": (...), "Service": (...), ...}; everyone (`"*"`) is {"*": ("*",)}."""
Conditions = Mapping[str, Mapping[str, tuple[Any, ...]]]
"""{operator: {key: (values...)}}."""

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
    """Not an IAM policy document as AWS accepts it; the message names the element."""


@dataclass(frozen=True)
class Principal:
    """One kind of principal: `Principal("AWS", [role_arn])`, `Principal("Service", [...])`,
    or everyone, `Principal("*")`."""

    kind: str
    identifiers: Sequence[Any] = ()


@dataclass(frozen=True)
class Condition:
    """One condition: `Condition("Bool", "aws:SecureTransport", ["false"])`."""

    test: str
    variable: str
    values: Sequence[Any]


@dataclass(frozen=True, kw_only=True)
class Statement:
    """One statement, normalised on construction (so declared and parsed statements
    compare equal). Principals take a `Principal`, `"*"` or the JSON object; conditions a
    list of `Condition`s or the JSON object."""

    sid: str | None = None
    effect: Effect
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    resources: tuple[Any, ...] = ()
    not_resources: tuple[Any, ...] = ()
    principals: Principals = None  # type: ignore[assignment]
    not_principals: Principals = None  # type: ignore[assignment]
    conditions: Conditions = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.effect not in ("Allow", "Deny"):
            found = "none" if self.effect is None else repr(self.effect)
            raise MalformedPolicy(
                f'statement {self.label}: Effect must be "Allow" or "Deny" (found {found})'
            )
        for name in ("actions", "not_actions", "resources", "not_resources"):
            object.__setattr__(self, name, _values(getattr(self, name), self, name))
        object.__setattr__(self, "principals", _principals(self.principals, self))
        object.__setattr__(self, "not_principals", _principals(self.not_principals, self))
        object.__setattr__(self, "conditions", _conditions(self.conditions, self))
        for element, one, other in (
            ("Action", self.actions, self.not_actions),
            ("Resource", self.resources, self.not_resources),
            ("Principal", self.principals, self.not_principals),
        ):
            if one and other:
                raise MalformedPolicy(
                    f"statement {self.label}: give {element} or Not{element}, not both"
                )
        if not self.actions and not self.not_actions:
            raise MalformedPolicy(f"statement {self.label}: needs an Action or NotAction")

    @classmethod
    def parse(cls, raw: Any) -> Statement:
        """A statement from its JSON object; values become strings."""
        if not isinstance(raw, Mapping):
            raise MalformedPolicy(f"a statement must be a JSON object, got {_short(raw)}")
        sid = raw.get("Sid")
        where = f"statement {sid}" if sid else "statement (no Sid)"
        return cls(
            sid=None if sid is None else str(sid),
            effect=raw.get("Effect"),  # type: ignore[arg-type]  # checked on construction
            actions=_strings(raw.get("Action"), where, "Action"),
            not_actions=_strings(raw.get("NotAction"), where, "NotAction"),
            resources=_strings(raw.get("Resource"), where, "Resource"),
            not_resources=_strings(raw.get("NotResource"), where, "NotResource"),
            principals=_parsed_principals(raw.get("Principal"), where, "Principal"),
            not_principals=_parsed_principals(raw.get("NotPrincipal"), where, "NotPrincipal"),
            conditions=_parsed_conditions(raw.get("Condition"), where),
        )

    def to_dict(self) -> dict[str, Any]:
        """The statement as AWS accepts it: elements in the reference's order, lists for
        Action, Resource and principal ids, a single condition value as a scalar."""
        body: dict[str, Any] = {}
        if self.sid is not None:
            body["Sid"] = self.sid
        body["Effect"] = self.effect
        for element, principals in (("Principal", self.principals),
                                    ("NotPrincipal", self.not_principals)):  # fmt: skip
            if principals:
                body[element] = (
                    "*" if set(principals) == {"*"} else {k: list(v) for k, v in principals.items()}
                )
        for element, values in (("Action", self.actions), ("NotAction", self.not_actions),
                                ("Resource", self.resources),
                                ("NotResource", self.not_resources)):  # fmt: skip
            if values:
                body[element] = list(values)
        if self.conditions:
            body["Condition"] = {
                test: {key: v[0] if len(v) == 1 else list(v) for key, v in block.items()}
                for test, block in self.conditions.items()
            }
        return body

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

    def principal_ids(self) -> set[Any]:
        """Every id `Principal` names, whatever its kind."""
        return {p for ids in self.principals.values() for p in ids}

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
        """Whether `Action` (not `NotAction`) names `action`, wildcards expanded."""
        return any(glob(pattern, action, ignore_case=True) for pattern in self.actions)


@dataclass(frozen=True)
class PolicyDocument:
    """A policy: its statements, and the policy language version (absent: AWS reads it
    as 2008-10-17, which has no policy variables)."""

    statements: Sequence[Statement] = ()
    version: str | None = "2012-10-17"
    id: str | None = None

    def __post_init__(self) -> None:
        if self.version is not None and self.version not in VERSIONS:
            raise MalformedPolicy(
                f"Version must be one of {', '.join(VERSIONS)} (found {self.version!r})"
            )

    @classmethod
    def parse(cls, raw: Any) -> PolicyDocument:
        """A policy given as a JSON string or an already parsed object."""
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", "replace")
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
        return cls(
            tuple(Statement.parse(s) for s in statements),
            version=raw.get("Version"),
            id=raw.get("Id"),
        )

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.version is not None:
            body["Version"] = self.version
        if self.id is not None:
            body["Id"] = self.id
        body["Statement"] = [statement.to_dict() for statement in self.statements]
        return body


def parse_document(raw: Any) -> list[Statement]:
    """The statements of a policy given as a JSON string or an already parsed object."""
    return list(PolicyDocument.parse(raw).statements)


def allow_statements(statements: Iterable[Statement]) -> Iterator[Statement]:
    return (s for s in statements if s.allows)


def is_account_root(principal: str) -> bool:
    return ACCOUNT_ROOT.match(principal) is not None


def wildcard_actions(statement: Statement) -> list[str]:
    """Actions of a statement containing `*` (and any NotAction, equally broad)."""
    broad = [a for a in statement.actions if "*" in a]
    broad += [f"NotAction {a}" for a in statement.not_actions]
    return broad


# ---- matching ---------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _pattern(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(regex, (re.IGNORECASE if ignore_case else 0) | re.DOTALL)


def glob(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM wildcards: `*` any run of characters (including none), `?` exactly one."""
    return _pattern(pattern, ignore_case).fullmatch(value) is not None


def covers_action(statement: Statement, action: str) -> bool:
    """`Action` lists `action` (or `NotAction` does not); action names ignore case."""
    if statement.not_actions:
        return not any(glob(p, action, ignore_case=True) for p in statement.not_actions)
    return statement.grants(action)


def covers_resource(statement: Statement, resource: str) -> bool:
    """`Resource` lists `resource` (or `NotResource` does not), case-sensitively. A
    statement with neither (a trust policy's) applies to the resource the policy is on."""
    if statement.not_resources:
        return not any(glob(p, resource) for p in statement.not_resources)
    if not statement.resources:
        return True
    return any(glob(p, resource) for p in statement.resources)


# ---- normalising ------------------------------------------------------------------------


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _values(value: Any, statement: Statement, name: str) -> tuple[Any, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Mapping):
        raise MalformedPolicy(f"statement {statement.label}: {name} must be a list, not an object")
    return tuple(value)


def _principals(value: Any, statement: Statement) -> dict[str, tuple[Any, ...]]:
    if value is None:
        return {}
    if isinstance(value, Principal):
        if value.kind == "*":
            return {"*": ("*",)}
        return {value.kind: tuple(value.identifiers)}
    if value == "*":
        return {"*": ("*",)}
    if isinstance(value, Mapping):
        return {str(kind): _values(ids, statement, "principal ids") for kind, ids in value.items()}
    raise MalformedPolicy(
        f"statement {statement.label}: Principal must be '*' or an object, got {_short(value)}"
    )


def _conditions(value: Any, statement: Statement) -> dict[str, dict[str, tuple[Any, ...]]]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        block = value
    else:
        block = {}
        for condition in value:
            entry = block.setdefault(condition.test, {})
            if condition.variable in entry:
                raise MalformedPolicy(
                    f"statement {statement.label}: two {condition.test} conditions on "
                    f"{condition.variable}; give one with every value"
                )
            entry[condition.variable] = condition.values
    if not all(isinstance(keys, Mapping) for keys in block.values()):
        raise MalformedPolicy(f"statement {statement.label}: each Condition must be an object")
    return {
        str(test): {str(key): _values(values, statement, "condition values")
                    for key, values in keys.items()}
        for test, keys in block.items()
    }  # fmt: skip


def _scalar(value: Any) -> str:
    # JSON `true` in a condition means the string "true" (IAM compares strings).
    return json.dumps(value) if isinstance(value, bool) else str(value)


def _strings(value: Any, where: str, element: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str | int | float):
        return (_scalar(value),)
    if isinstance(value, list | tuple):
        if any(isinstance(item, Mapping | list) for item in value):
            raise MalformedPolicy(f"{where}: {element} must be a string or a list of strings")
        return tuple(_scalar(item) for item in value)
    raise MalformedPolicy(f"{where}: {element} must be a string or a list of strings")


def _parsed_principals(value: Any, where: str, element: str) -> Any:
    if value is None or value == "*":
        return value
    if not isinstance(value, Mapping):
        raise MalformedPolicy(f"{where}: {element} must be '*' or an object, got {_short(value)}")
    return {str(kind): _strings(ids, where, f"{element} {kind}") for kind, ids in value.items()}


def _parsed_conditions(value: Any, where: str) -> Any:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(isinstance(b, Mapping) for b in value.values()):
        raise MalformedPolicy(f"{where}: Condition must be an object of objects")
    return {
        str(test): {str(key): _strings(values, where, f"Condition {test} {key}")
                    for key, values in block.items()}
        for test, block in value.items()
    }  # fmt: skip
