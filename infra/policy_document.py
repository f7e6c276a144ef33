"""Typed IAM policy documents: the only way this program writes IAM or resource policies.

Statements are data, rendered as JSON once the Outputs in them resolve, so ARNs of other
resources resolve at deploy time. An allowed wildcard action is rejected at construction; a
wildcard resource needs a stated reason (AWS offers nothing narrower for that action).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi

Effect = Literal["Allow", "Deny"]


@dataclass(frozen=True)
class Principal:
    """A statement principal, e.g. `Principal("AWS", [role_arn])` or `Principal("Service", ...)`."""

    kind: Literal["AWS", "Service", "Federated", "*"]
    identifiers: Sequence[pulumi.Input[str]] = ()

    def render(self) -> object:
        if self.kind == "*":
            return "*"
        return {self.kind: list(self.identifiers)}


@dataclass(frozen=True)
class Condition:
    """One condition block entry: `Condition("StringEquals", "aws:SecureTransport", ["true"])`."""

    test: str
    variable: str
    values: Sequence[pulumi.Input[str]]


@dataclass(frozen=True)
class Statement:
    """One IAM statement. `wildcard_resource_reason` is required when resources is `*`;
    `unused_in_demo_because` says why the emulated release never exercises it."""

    sid: str
    actions: Sequence[str]
    resources: Sequence[pulumi.Input[str]] = ()
    effect: Effect = "Allow"
    principals: Principal | None = None
    conditions: Sequence[Condition] = ()
    not_principals: Principal | None = None
    wildcard_resource_reason: str | None = None
    unused_in_demo_because: str | None = None
    """Why no call of `make demo` uses this Allow (a path only CI or people on AWS take);
    the grant-usage test accepts it only with this reason. Not rendered."""

    def __post_init__(self) -> None:
        if not self.sid.isalnum():
            raise ValueError(f"statement sid {self.sid!r} must be alphanumeric")
        if not self.actions:
            raise ValueError(f"statement {self.sid}: at least one action is required")
        for action in self.actions:
            service, _, name = action.partition(":")
            if not service or not name:
                raise ValueError(f"statement {self.sid}: action {action!r} is not service:Action")
            # A wildcard may only ever take rights away (Deny `s3:*` for TLS-only).
            if "*" in action and self.effect == "Allow":
                raise ValueError(f"statement {self.sid}: Allow of wildcard action {action!r}")
        if "*" in self.resources and self.effect == "Allow" and not self.wildcard_resource_reason:
            raise ValueError(
                f"statement {self.sid}: resource '*' needs wildcard_resource_reason "
                "(the action supports no narrower resource)"
            )

    def render(self) -> dict[str, object]:
        body: dict[str, object] = {"Sid": self.sid, "Effect": self.effect}
        if self.principals is not None:
            body["Principal"] = self.principals.render()
        if self.not_principals is not None:
            body["NotPrincipal"] = self.not_principals.render()
        body["Action"] = sorted(set(self.actions))
        if self.resources:
            body["Resource"] = list(self.resources)
        if self.conditions:
            body["Condition"] = _conditions(self.conditions)
        return body


def _conditions(conditions: Sequence[Condition]) -> dict[str, dict[str, object]]:
    block: dict[str, dict[str, object]] = {}
    for condition in conditions:
        values = list(condition.values)
        # One value is written as a scalar, as AWS's own examples (and linters) expect.
        block.setdefault(condition.test, {})[condition.variable] = (
            values[0] if len(values) == 1 else values
        )
    return block


@dataclass(frozen=True)
class PolicyDocument:
    statements: Sequence[Statement] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        sids = [statement.sid for statement in self.statements]
        if len(sids) != len(set(sids)):
            raise ValueError(f"duplicate statement ids in {sids}")

    def to_json(self) -> pulumi.Output[str]:
        """The JSON text once every Output in the document resolves, with their secrecy and
        dependencies: what `pulumi.Output.json_dumps` gives, through one `Output.all` over
        the Outputs in it (`json_dumps` lifts every dict and list of the document into
        Outputs of its own: a third of the Outputs of a render, and their callbacks)."""
        outputs: list[pulumi.Output] = []

        def hollow(value: object) -> object:
            """`value` with each Output replaced by its index in `outputs`, wrapped."""
            if isinstance(value, Mapping):
                return {key: hollow(item) for key, item in value.items()}
            if isinstance(value, list | tuple):
                return [hollow(item) for item in value]
            if isinstance(value, str | int | float | bool) or value is None:
                return value
            is_output = isinstance(value, pulumi.Output)
            outputs.append(value if is_output else pulumi.Output.from_input(value))  # type: ignore[arg-type]
            return _Slot(len(outputs) - 1)

        def fill(value: object, resolved: list[object]) -> object:
            if isinstance(value, dict):
                return {key: fill(item, resolved) for key, item in value.items()}
            if isinstance(value, list):
                return [fill(item, resolved) for item in value]
            return resolved[value.index] if isinstance(value, _Slot) else value

        template = hollow(self.as_dict())
        if not outputs:
            return pulumi.Output.from_input(json.dumps(template))
        return pulumi.Output.all(*outputs).apply(
            lambda resolved: json.dumps(fill(template, resolved))
        )

    def as_dict(self) -> Mapping[str, object]:
        return {"Version": "2012-10-17", "Statement": [s.render() for s in self.statements]}


@dataclass(frozen=True)
class _Slot:
    """Where an Output's value goes in a document's JSON (`PolicyDocument.to_json`)."""

    index: int
