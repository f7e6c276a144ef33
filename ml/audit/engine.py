"""The offline runner: the policy pack over a rendered resource graph.

It only adapts the graph to the policies' `Subject` shape and hands it to
`policies.core.evaluate`, the same engine CrossGuard runs; then it applies waivers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from infra.graph import Graph, Resource
from policies.core import Evaluation, Policy, Subject, evaluate, handles_from
from policies.pack import POLICIES
from policies.waivers import Waiver, WaiverSet

Status = Literal["pass", "fail", "advisory", "waived", "expired-waiver", "not-applicable"]


def subject_of(resource: Resource) -> Subject:
    """A graph resource as policies see it; its handles include the id and ARN the mocks
    returned, which is what other resources' inputs hold when they refer to it."""
    outputs = resource.outputs
    return Subject(
        type=resource.type,
        name=resource.name,
        urn=resource.urn,
        props=resource.inputs,
        parent=resource.parent,
        handles=handles_from(
            resource.inputs,
            resource.id,
            outputs.get("arn"),
            outputs.get("name"),
            outputs.get("bucket"),
            outputs.get("keyId"),
        ),
    )


def subjects_of(graph: Graph) -> list[Subject]:
    return [subject_of(r) for r in graph.resources if not r.type.startswith("mlops:")]


@dataclass(frozen=True)
class Finding:
    """One policy's verdict on one resource, after waivers."""

    evaluation: Evaluation
    policy: Policy
    status: Status
    waiver: Waiver | None = None

    @property
    def resource(self) -> Subject:
        return self.evaluation.subject


def _status(policy: Policy, evaluation: Evaluation, waiver: Waiver | None, today: date) -> Status:
    if not evaluation.applicable:
        return "not-applicable"
    if evaluation.passed:
        return "pass"
    if waiver is not None:
        return "expired-waiver" if waiver.expired(today) else "waived"
    return "fail" if policy.enforcement == "mandatory" else "advisory"


def stack_configs(peer_principal_arns: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The policy config a stack file implies: the other accounts' principals it admits on
    purpose (`StackConfig.promoter_role_arns`), which the cross-account rule then accepts
    by exact ARN and nothing else of their accounts."""
    from policies.cross_account import ADMIT_OWN_ACCOUNT_ONLY

    return {ADMIT_OWN_ACCOUNT_ONLY.name: {"peerPrincipalArns": list(peer_principal_arns)}}


def run_pack(
    graph: Graph,
    waivers: WaiverSet | None = None,
    policies: Sequence[Policy] = POLICIES,
    configs: Mapping[str, Mapping[str, Any]] | None = None,
    today: date | None = None,
) -> list[Finding]:
    """Every policy over the graph, each verdict with its waiver (if one matches)."""
    today = today or date.today()
    by_name = {p.name: p for p in policies}
    evaluations = evaluate(policies, subjects_of(graph), configs, environment=graph.stack)
    findings: list[Finding] = []
    for evaluation in evaluations:
        policy = by_name[evaluation.policy]
        waiver = None
        if waivers is not None and evaluation.violations:
            waiver = waivers.match(policy.name, evaluation.subject, graph.stack)
        findings.append(
            Finding(evaluation, policy, _status(policy, evaluation, waiver, today), waiver)
        )
    return findings


def failing(findings: Iterable[Finding]) -> list[Finding]:
    """Findings that fail the audit: unwaived mandatory failures and expired waivers."""
    return [f for f in findings if f.status in ("fail", "expired-waiver")]
