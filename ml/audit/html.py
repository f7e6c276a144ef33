"""The audit report as one self-contained HTML page (`ml/reports/templates/audit.html`,
its stylesheet `audit.css` and filter script `audit.js`; no network).

Summary on top (status, counts, failures, advisories, waived findings), then filters by
status, framework and free text, then the controls grouped by framework and control
family with each resource's evidence, then the inventory, retention, waivers, IAM lint
and policies. Here the report is only grouped for the page; the template lays it out.
"""

from __future__ import annotations

from typing import Any

from ml.audit import retention
from ml.audit.report import STATUS_LABELS, evaluations_by_id, source_text, value_text
from ml.reports.html import render

CARDS = (
    ("Resources", "resources"),
    ("Policies", "policies"),
    ("Passed", "passed"),
    ("Failed", "failed"),
    ("Advisories", "advisories"),
    ("Waived", "waived"),
    ("Expired waivers", "expired_waivers"),
    ("Not applicable", "not_applicable"),
    ("IAM lint findings", "iam_lint_findings"),
)
"""The summary's count cards: label, and the summary field it shows."""


def _frameworks(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The frameworks with controls in this report, their controls grouped by family."""
    frameworks = []
    for framework, title in report["frameworks"].items():
        families: dict[str, list[dict[str, Any]]] = {}
        for control in report["controls"]:
            if control["framework"] == framework:
                families.setdefault(control["family"], []).append(control)
        if families:
            frameworks.append({"id": framework, "title": title, "families": families.items()})
    return frameworks


def render_html(report: dict[str, Any]) -> str:
    summary = report["summary"]
    evaluations = report["evaluations"]
    section = report.get("retention")
    return render(
        "audit.html",
        title=f"Compliance audit: stack {report['stack']} — {summary['status'].upper()}",
        subtitle="",
        report=report,
        source=source_text(report),
        notes=(report.get("source") or {}).get("notes", []),
        cards=[(label, summary[field]) for label, field in CARDS],
        findings=[
            (title, [e for e in evaluations if e["status"] == status])
            for status, title in (("advisory", "Advisories"), ("waived", "Waived findings"))
        ],
        statuses=[s for s in STATUS_LABELS if any(c["status"] == s for c in report["controls"])],
        frameworks=_frameworks(report),
        evaluations=evaluations_by_id(report),
        retention=retention.html_context(section) if section else None,
        labels=STATUS_LABELS,
        value_text=value_text,
    )
