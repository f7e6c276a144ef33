"""The audit report as one plain document; the Markdown, HTML and SARIF writers render it.

Structure (JSON, `schema_version` 1):
- `summary`: status (`pass` only when no mandatory failure and no expired waiver) and counts;
- `evaluations`: every policy verdict on every resource it concerns, with `values`, the
  exact inputs the rule read (the evidence), messages, and the waiver that covers it;
- `controls`: per control ID (Security Hub, CIS, NIST, CIS Kubernetes) its status, the
  policies that evidence it and the ids of their evaluations;
- `policies`, `waivers`, `inventory` (keys and their grants, buckets, roles, endpoints),
  `retention` (each bucket's expiry, the personal-data columns: ml/audit/retention.py)
  and `iam_lint` (parliament findings for every policy document).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from common.iam_lint import lint_policy
from infra.graph import Graph
from ml.audit.engine import Finding, failing, run_pack
from ml.audit.inventory import build_inventory
from ml.audit.retention import retention_and_classification
from ml.audit.sources import DESCRIPTIONS, Source
from ml.data.schema import DatasetSchema
from policies.controls import CONTROLS, FRAMEWORKS, STANDARDS
from policies.core import PACK_NAME, Policy
from policies.pack import DOMAIN_OF, POLICIES
from policies.waivers import WaiverSet, unused

SCHEMA_VERSION = 1
PACK_VERSION = "1.0.0"
# A control's status is the worst of its evaluations' statuses, in this order.
STATUS_ORDER = ("fail", "expired-waiver", "advisory", "waived", "pass", "not-applicable")


def _worst(statuses: Iterable[str]) -> str:
    present = set(statuses)
    for status in STATUS_ORDER:
        if status in present:
            return status
    return "not-applicable"


def _waiver(waiver, today: date) -> dict[str, Any] | None:
    if waiver is None:
        return None
    return {
        "policy": waiver.policy,
        "resource": waiver.resource,
        "stacks": list(waiver.stacks),
        "owner": waiver.owner,
        "justification": waiver.justification.strip(),
        "expiry": waiver.expiry.isoformat(),
        "expired": waiver.expired(today),
    }


def _evaluation(index: int, finding: Finding, today: date) -> dict[str, Any]:
    e = finding.evaluation
    return {
        "id": index,
        "policy": e.policy,
        "enforcement": finding.policy.enforcement,
        "resource": e.subject.name,
        "type": e.subject.type,
        "urn": e.subject.urn,
        "status": finding.status,
        "messages": list(e.violations),
        "reason": e.reason,
        "values": e.evidence,
        "waiver": _waiver(finding.waiver, today),
    }


def _policy(policy: Policy, evaluations: Sequence[dict[str, Any]]) -> dict[str, Any]:
    mine = [e for e in evaluations if e["policy"] == policy.name]
    return {
        "name": policy.name,
        "domain": DOMAIN_OF.get(policy.name, ""),
        "description": policy.description,
        "enforcement": policy.enforcement,
        "severity": policy.severity,
        "kind": policy.kind,
        "resource_types": list(policy.resource_types),
        "controls": list(policy.controls),
        "config": {p.name: p.default for p in policy.params},
        "status": _worst(e["status"] for e in mine),
        "counts": dict(Counter(e["status"] for e in mine)),
    }


def _controls(policies: Sequence[Policy], evaluations: Sequence[dict[str, Any]]) -> list[dict]:
    """Per control, the verdicts that evidence it: a policy's verdicts on the resource types
    the control asks about (`Policy.control_scopes`), not on every type the policy judges."""
    by_name = {p.name: p for p in policies}
    controls = []
    for control_id, control in CONTROLS.items():
        names = [p.name for p in policies if control_id in p.controls]
        if not names:
            continue
        mine = [
            e
            for e in evaluations
            if e["policy"] in names and by_name[e["policy"]].evidences(control_id, e["type"])
        ]
        controls.append(
            {
                "id": control_id,
                "framework": control.framework,
                "standard": control.standard.label,
                "family": control.family,
                "title": control.title,
                "policies": names,
                "status": _worst(e["status"] for e in mine),
                "counts": dict(Counter(e["status"] for e in mine)),
                "evaluations": [e["id"] for e in mine],
            }
        )
    return controls


def lint_documents(graph: Graph) -> list[dict[str, Any]]:
    """Parliament findings for every policy document in the graph (inline ones included)."""
    documents = [(r, key, doc) for r, key, doc in graph.policy_documents()]
    for role in graph.of_type("aws:iam/role:Role"):
        for index, inline in enumerate(role.inputs.get("inlinePolicies") or []):
            if isinstance(inline.get("policy"), str):
                documents.append((role, f"inlinePolicies.{index}", json.loads(inline["policy"])))
    findings = []
    for resource, key, document in documents:
        for finding in lint_policy(document):
            findings.append(
                {
                    "resource": resource.name,
                    "type": resource.type,
                    "input": key,
                    "issue": finding.issue,
                    "severity": finding.severity,
                    "statement": finding.statement_sid,
                    "detail": finding.detail,
                }
            )
    return findings


def build_report(
    graph: Graph,
    waivers: WaiverSet | None = None,
    policies: Sequence[Policy] = POLICIES,
    today: date | None = None,
    generated_at: datetime | None = None,
    configs: Mapping[str, Mapping[str, Any]] | None = None,
    schema: DatasetSchema | None = None,
    source: Source | None = None,
) -> dict[str, Any]:
    """Run the pack and the IAM linter over `graph` and assemble the report document;
    `configs`: per-policy config (`engine.stack_configs` of the stack file); `schema`:
    the data the stack's models take (default: the shipped churn dataset's); `source`: what
    the graph was made from (default: the stack file rendered)."""
    today = today or date.today()
    findings = run_pack(graph, waivers, policies, configs, today=today)
    evaluations = [_evaluation(i, f, today) for i, f in enumerate(findings, start=1)]
    counts = Counter(e["status"] for e in evaluations)
    expired = [w for w in waivers.for_stack(graph.stack) if w.expired(today)] if waivers else []
    used = [f.waiver for f in findings if f.waiver is not None]
    stale = unused(waivers, graph.stack, used) if waivers else []
    controls = _controls(policies, evaluations)
    lint = lint_documents(graph)
    failed = failing(findings)
    source = source or Source("rendered")
    status = "fail" if failed or expired or source.missing else "pass"
    return {
        "schema_version": SCHEMA_VERSION,
        "report": "mlops compliance audit",
        "stack": graph.stack,
        "generated_at": (generated_at or datetime.now(UTC)).isoformat(timespec="seconds"),
        "source": source.to_json(),
        "pack": {"name": PACK_NAME, "version": PACK_VERSION, "policies": len(policies)},
        "frameworks": FRAMEWORKS,
        "standards": {
            prefix: {
                "standard": s.standard,
                "version": s.version,
                "source": " ".join(s.source.split()),
                "retrieved": s.retrieved.isoformat(),
            }
            for prefix, s in STANDARDS.items()
        },
        "summary": {
            "status": status,
            "resources": len(graph.resources),
            "policies": len(policies),
            "evaluations": len(evaluations),
            "passed": counts["pass"],
            "failed": counts["fail"],
            "advisories": counts["advisory"],
            "waived": counts["waived"],
            "expired_waivers": len(expired),
            "not_applicable": counts["not-applicable"],
            "controls": dict(Counter(c["status"] for c in controls)),
            "iam_lint_findings": len(lint),
            "failures": [
                f"{f.policy.name}: {message}" for f in failed for message in f.evaluation.violations
            ]
            + [
                f"waiver for {w.policy} on {w.resource} expired on {w.expiry.isoformat()} "
                "(renew it with a new review, or fix the finding)"
                for w in expired
            ]
            + [f"not deployed: {m}" for m in source.missing],
        },
        "controls": controls,
        "policies": [_policy(p, evaluations) for p in policies],
        "evaluations": evaluations,
        "waivers": [
            {**_waiver(w, today), "used": w in used}
            for w in (waivers.for_stack(graph.stack) if waivers else [])
        ],
        "unused_waivers": [f"{w.policy} / {w.resource}" for w in stale],
        "inventory": build_inventory(graph),
        "retention": retention_and_classification(graph, schema or _shipped_schema()),
        "iam_lint": lint,
    }


def _shipped_schema() -> DatasetSchema:
    from ml.data.generate import CHURN_SCHEMA

    return CHURN_SCHEMA


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=False, default=str) + "\n"


STATUS_LABELS = {
    "pass": "PASS",
    "fail": "FAIL",
    "advisory": "ADVISORY",
    "waived": "WAIVED",
    "expired-waiver": "EXPIRED WAIVER",
    "not-applicable": "N/A",
}


def source_text(report: dict[str, Any]) -> str:
    """What the report audited, in words (reports written before sources existed: rendered)."""
    source = report.get("source") or {"description": DESCRIPTIONS["rendered"], "detail": ""}
    detail = f" ({source['detail']})" if source.get("detail") else ""
    return f"{source['description']}{detail}"


def value_text(value: Any, limit: int | None = 160) -> str:
    """An evidence value as one line of text, shortened to `limit` characters."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    if limit is not None and len(text) > limit:
        return text[: limit - 1] + "…"
    return text


def evaluations_by_id(report: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {e["id"]: e for e in report["evaluations"]}
