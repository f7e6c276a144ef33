"""Typed IAM policy documents: the only way this program writes IAM or resource policies.

Statements are `common.iam_document` statements (the model the policy pack and the
emulator read back), with this program's authoring rules on top, rendered as JSON
once the Outputs in them resolve, so ARNs of other resources resolve at deploy time. An allowed
wildcard action is rejected at construction; a wildcard resource needs a stated reason (AWS
offers nothing narrower for that action).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from common import iam_document
from common.iam_document import Effect


@dataclass(frozen=True, kw_only=True)
class Statement(iam_document.Statement):
    """One statement as the program declares it: a Sid, actions sorted, no allowed
    wildcard action. `wildcard_resource_reason` is required when resources is `*`;
    `unused_in_demo_because` says why the emulated release never exercises it."""

    sid: str
    effect: Effect = "Allow"
    wildcard_resource_reason: str | None = None
    unused_in_demo_because: str | None = None
    """Why no call of `make demo` uses this Allow (a path only CI or people on AWS take);
    the grant-usage test accepts it only with this reason. Not rendered."""

    def __post_init__(self) -> None:
        if not self.sid.isalnum():
            raise ValueError(f"statement sid {self.sid!r} must be alphanumeric")
        super().__post_init__()
        # One spelling per set of actions, so a reordering never shows as a change.
        object.__setattr__(self, "actions", tuple(sorted(set(self.actions))))
        for action in (*self.actions, *self.not_actions):
            service, _, name = action.partition(":")
            if not service or not name:
                raise ValueError(f"statement {self.sid}: action {action!r} is not service:Action")
            # A wildcard may only ever take rights away (Deny `s3:*` for TLS-only).
            if "*" in action and self.allows:
                raise ValueError(f"statement {self.sid}: Allow of wildcard action {action!r}")
        if self.not_actions and self.allows:
            raise ValueError(f"statement {self.sid}: Allow with NotAction grants all but a few")
        if "*" in self.resources and self.allows and not self.wildcard_resource_reason:
            raise ValueError(
                f"statement {self.sid}: resource '*' needs wildcard_resource_reason "
                "(the action supports no narrower resource)"
            )


@dataclass(frozen=True)
class PolicyDocument(iam_document.PolicyDocument):
    """A policy the program declares: statement ids unique, version 2012-10-17."""

    def __post_init__(self) -> None:
        super().__post_init__()
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

        template = hollow(self.to_dict())
        if not outputs:
            return pulumi.Output.from_input(json.dumps(template))
        return pulumi.Output.all(*outputs).apply(
            lambda resolved: json.dumps(fill(template, resolved))
        )


@dataclass(frozen=True)
class _Slot:
    """Where an Output's value goes in a document's JSON (`PolicyDocument.to_json`)."""

    index: int
