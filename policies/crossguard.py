"""The pack's policies as Pulumi CrossGuard policies: thin adapters, no rules of their own.

A `ResourceValidationPolicy` hands `args.props` to the policy's validator for that type; a
`StackValidationPolicy` hands every resource of the stack (with the property
dependencies the engine reports, so links hold even while values are unknown during
preview). Both call `policies.core`'s engine, exactly as the offline audit does.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pulumi.runtime
from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import Policy as CrossGuardPolicy

from policies.core import Policy, Subject, evaluate_resource, evaluate_stack, handles_from

Waived = Callable[[str, Subject, str | None], bool]
"""(policy name, resource, environment) -> whether an unexpired waiver covers it."""

_LEVELS = {"mandatory": EnforcementLevel.MANDATORY, "advisory": EnforcementLevel.ADVISORY}
_SEVERITIES = {s.value: s for s in Severity}


def stack_environment() -> str | None:
    """The stack's `mlops:environment`, else the stack name the CLI passes to the pack."""
    config = pulumi.runtime.get_config_env()
    return config.get("mlops:environment") or os.environ.get("PULUMI_STACK") or None


def with_stack_peers(config: Mapping[str, Any], stack_config: Mapping[str, str]) -> dict[str, Any]:
    """A policy's CrossGuard config, with `peerPrincipalArns` taken from the stack file's
    `mlops:promotesTo` (as `mlops audit --stack` derives it) when the pack config names none:
    `pulumi up` of staging must admit prod's promoting role, and nothing else."""
    merged = dict(config)
    if "peerPrincipalArns" in merged and not merged["peerPrincipalArns"]:
        raw = stack_config.get("mlops:promotesTo")
        if raw:
            from infra.config import promoter_role_arns

            merged["peerPrincipalArns"] = promoter_role_arns(json.loads(raw))
    return merged


def _never(_policy: str, _subject: Subject, _environment: str | None) -> bool:
    return False


def subject_of(resource: PolicyResource) -> Subject:
    return Subject(
        type=resource.resource_type,
        name=resource.name,
        urn=resource.urn,
        props=resource.props,
        parent=resource.parent.urn if resource.parent is not None else None,
        handles=handles_from(resource.props),
        dependencies={
            prop: tuple(dep.urn for dep in deps)
            for prop, deps in resource.property_dependencies.items()
        },
    )


def _common(policy: Policy) -> dict[str, object]:
    schema = (
        PolicyConfigSchema({p.name: p.schema() for p in policy.params}) if policy.params else None
    )
    return {
        "name": policy.name,
        "description": policy.description,
        "enforcement_level": _LEVELS[policy.enforcement],
        "config_schema": schema,
        "severity": _SEVERITIES[policy.severity],
        "tags": list(policy.controls),
    }


def to_crossguard(
    policy: Policy,
    waived: Waived = _never,
    environment: Callable[[], str | None] = stack_environment,
) -> CrossGuardPolicy:
    """One pack policy as the CrossGuard policy of its kind."""
    if policy.kind == "resource":

        def validate_resource(args: ResourceValidationArgs, report: ReportViolation) -> None:
            if args.resource_type not in policy.validators:
                return
            env = environment()
            subject = Subject(args.resource_type, args.name, args.urn, args.props)
            evaluation = evaluate_resource(policy, subject, args.get_config(), env)
            if evaluation is None or not evaluation.violations:
                return
            if waived(policy.name, subject, env):
                return
            for message in evaluation.violations:
                report(message, None)

        return ResourceValidationPolicy(validate=validate_resource, **_common(policy))

    def validate_stack(args: StackValidationArgs, report: ReportViolation) -> None:
        env = environment()
        subjects = [subject_of(r) for r in args.resources]
        config = with_stack_peers(args.get_config(), pulumi.runtime.get_config_env())
        for evaluation in evaluate_stack(policy, subjects, config, env):
            if not evaluation.violations or waived(policy.name, evaluation.subject, env):
                continue
            for message in evaluation.violations:
                report(message, evaluation.subject.urn)

    return StackValidationPolicy(validate=validate_stack, **_common(policy))


def crossguard_policies(
    policies: Sequence[Policy],
    waived: Waived = _never,
    environment: Callable[[], str | None] = stack_environment,
) -> list[CrossGuardPolicy]:
    return [to_crossguard(p, waived, environment) for p in policies]
