"""The one helper every policy test uses: run a policy on resources' props, get its messages.

`run_policy` runs the policy twice, through the two runners the project has, and insists
they agree:
- CrossGuard: the `pulumi_policy` object `policies.crossguard` builds, fed `args.props`
  wrapped in the SDK's unknown-checking proxy, exactly as the analyzer calls it;
- offline: `ml.audit.engine.run_pack` over a graph made of the same resources.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import PolicyResource, ResourceValidationArgs, StackValidationArgs
from pulumi_policy.proxy import unknown_checking_proxy

from infra.graph import Graph
from ml.audit.engine import run_pack
from policies.core import Policy
from policies.crossguard import to_crossguard


@dataclass(frozen=True)
class Res:
    """A synthetic resource: its Pulumi type, logical name and inputs (camelCase)."""

    type: str
    name: str
    props: Mapping[str, Any]
    id: str | None = None
    """The physical id other resources' inputs hold when they refer to it (default: name)."""
    arn: str | None = None
    refs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Property -> logical names it depends on (what CrossGuard reports even when the
    value is unknown during preview)."""

    @property
    def urn(self) -> str:
        return f"urn:pulumi:test::mlops::{self.type}::{self.name}"

    def with_props(self, **changes: Any) -> Res:
        """A copy with top-level props replaced (None removes the key)."""
        props = {k: v for k, v in {**self.props, **changes}.items() if v is not None}
        return Res(self.type, self.name, props, self.id, self.arn, self.refs)


def _graph(resources: Iterable[Res], stack: str) -> Graph:
    return Graph.from_json(
        {
            "stack": stack,
            "resources": [
                {
                    "urn": r.urn,
                    "type": r.type,
                    "name": r.name,
                    "parent": None,
                    "inputs": copy.deepcopy(dict(r.props)),
                    "id": r.id or r.name,
                    "outputs": {"arn": r.arn} if r.arn else {},
                }
                for r in resources
            ],
        }
    )


def _crossguard(
    policy: Policy, resources: list[Res], config: Mapping[str, Any] | None, environment: str
) -> list[str]:
    messages: list[str] = []
    report = lambda message, urn=None: messages.append(message)  # noqa: E731
    guard = to_crossguard(policy, environment=lambda: environment)
    if policy.kind == "resource":
        for r in resources:
            props = unknown_checking_proxy(copy.deepcopy(dict(r.props)))
            guard.validate(
                ResourceValidationArgs(r.type, props, r.urn, r.name, None, None, config), report
            )
        return messages
    names = [r.name for r in resources]
    assert len(set(names)) == len(names), f"resource names must be unique in a test: {names}"
    by_name: dict[str, PolicyResource] = {}
    for r in resources:
        props = dict(copy.deepcopy(dict(r.props)))
        # After `up`, the engine passes outputs: the id and ARN are props too.
        props.setdefault("id", r.id or r.name)
        if r.arn:
            props.setdefault("arn", r.arn)
        by_name[r.name] = PolicyResource(
            r.type, unknown_checking_proxy(props), r.urn, r.name, None, None, None, [], {}
        )
    for r in resources:
        by_name[r.name].property_dependencies = {
            prop: [by_name[n] for n in names] for prop, names in r.refs.items()
        }
    guard.validate(StackValidationArgs(list(by_name.values()), config), report)
    return messages


def _offline(
    policy: Policy, resources: list[Res], config: Mapping[str, Any] | None, environment: str
) -> list[str]:
    findings = run_pack(_graph(resources, environment), None, [policy], {policy.name: config or {}})
    return [m for f in findings for m in f.evaluation.violations]


def run_policy(
    policy: Policy,
    *resources: Res,
    config: Mapping[str, Any] | None = None,
    environment: str = "dev",
) -> list[str]:
    """Every message `policy` reports for `resources` (both runners, which must agree)."""
    listed = list(resources)
    guarded = _crossguard(policy, listed, config, environment)
    offline = _offline(policy, listed, config, environment)
    assert sorted(guarded) == sorted(offline), (
        f"CrossGuard and the offline engine disagree on {policy.name}: {guarded} vs {offline}"
    )
    return guarded


def evidence_of(policy: Policy, *resources: Res, environment: str = "dev") -> dict[str, dict]:
    """Resource name -> the evidence the offline engine recorded for it."""
    findings = run_pack(_graph(resources, environment), None, [policy])
    return {f.resource.name: f.evaluation.evidence for f in findings}


def statuses_of(policy: Policy, *resources: Res, environment: str = "dev") -> dict[str, str]:
    """Resource name -> pass / fail / advisory / not-applicable (offline engine)."""
    findings = run_pack(_graph(resources, environment), None, [policy])
    return {f.resource.name: f.status for f in findings}


def only_message(messages: list[str], *fragments: str) -> str:
    """The single message reported, after checking it contains every fragment."""
    assert len(messages) == 1, f"expected exactly one violation, got {len(messages)}: {messages}"
    message = messages[0]
    missing = [f for f in fragments if f not in message]
    assert not missing, f"message lacks {missing}: {message}"
    return message
