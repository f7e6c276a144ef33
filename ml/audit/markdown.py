"""The audit report as Markdown: summary first, then controls by framework, inventory,
waivers, the IAM lint and the policy list. Long evidence values are shortened; the JSON
report carries them in full."""

from __future__ import annotations

from typing import Any

from ml.audit import retention
from ml.audit.report import STATUS_LABELS, evaluations_by_id, source_text, value_text
from ml.reports import markdown as md
from policies.reachability import PULL_REQUEST_FORBIDDEN, PULL_REQUEST_FORBIDDEN_IN_PROD

PROD_ONLY_FORBIDDEN = [p for p in PULL_REQUEST_FORBIDDEN_IN_PROD if p not in PULL_REQUEST_FORBIDDEN]


def _evidence(evaluation: dict[str, Any]) -> str:
    values = evaluation["values"].items()
    parts = [f"{md.code(k)} = {md.code(value_text(v, 120))}" for k, v in values]
    parts += [f"**{m}**" for m in evaluation["messages"]]
    if evaluation["waiver"]:
        w = evaluation["waiver"]
        parts.append(f"waived by {w['owner']} until {w['expiry']}: {w['justification']}")
    if evaluation["reason"]:
        parts.append(f"not applicable: {evaluation['reason']}")
    return md.cell("<br>".join(parts))


def _summary(report: dict[str, Any]) -> list[str]:
    s = report["summary"]
    lines = [
        "## Summary",
        "",
        "| Status | Resources | Policies | Passed | Failed | Advisories | Waived | Expired "
        "waivers | Not applicable | IAM lint findings |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| **{s['status'].upper()}** | {s['resources']} | {s['policies']} | {s['passed']} | "
        f"{s['failed']} | {s['advisories']} | {s['waived']} | {s['expired_waivers']} | "
        f"{s['not_applicable']} | {s['iam_lint_findings']} |",
        "",
        "Controls: "
        + ", ".join(f"{STATUS_LABELS[k]} {v}" for k, v in sorted(s["controls"].items())),
        "",
    ]
    if s["failures"]:
        lines += ["### Failures (these fail the audit)", ""]
        lines += [f"- {f}" for f in s["failures"]] + [""]
    advisories = [e for e in report["evaluations"] if e["status"] == "advisory"]
    if advisories:
        lines += ["### Advisories", ""]
        lines += [f"- {e['policy']}: {m}" for e in advisories for m in e["messages"]] + [""]
    waived = [e for e in report["evaluations"] if e["status"] == "waived"]
    if waived:
        lines += ["### Waived findings (still visible)", ""]
        lines += [
            f"- {e['policy']}: {m} — waived by {e['waiver']['owner']} until {e['waiver']['expiry']}"
            for e in waived
            for m in e["messages"]
        ] + [""]
    return lines


def _controls(report: dict[str, Any]) -> list[str]:
    by_id = evaluations_by_id(report)
    lines = ["## Controls", ""]
    for framework, title in report["frameworks"].items():
        controls = [c for c in report["controls"] if c["framework"] == framework]
        if not controls:
            continue
        lines += [f"### {title}", ""]
        source = report.get("standards", {}).get(framework)
        if source:
            lines += [f"Control list: {source['source']} (taken {source['retrieved']}).", ""]
        lines += ["| Control | Title | Status | Policies | Evaluations |"]
        lines += ["|---|---|---|---|---|"]
        for c in controls:
            counts = ", ".join(f"{STATUS_LABELS[k]} {v}" for k, v in sorted(c["counts"].items()))
            lines.append(
                f"| {c['id']} | {md.cell(c['title'])} | **{STATUS_LABELS[c['status']]}** | "
                f"{', '.join(md.code(p) for p in c['policies'])} | {counts or '—'} |"
            )
        lines.append("")
        for c in controls:
            lines += [
                f"#### {c['id']}: {c['title']} — {STATUS_LABELS[c['status']]}",
                "",
                "| Resource | Policy | Status | Evidence (exact inputs) |",
                "|---|---|---|---|",
            ]
            rows = [by_id[i] for i in c["evaluations"]]
            if not rows:
                lines.append("| — | — | N/A | no resource of this kind in the stack |")
            for e in rows:
                lines.append(
                    f"| {md.code(e['resource'])}<br>{e['type']} | {md.code(e['policy'])} | "
                    f"{STATUS_LABELS[e['status']]} | {_evidence(e)} |"
                )
            lines.append("")
    return lines


def _inventory(report: dict[str, Any]) -> list[str]:
    inv = report["inventory"]
    lines = ["## Inventory", "", "### Keys and who can do what with them (blast radius)", ""]
    for key in inv["keys"]:
        lines += [
            f"#### {md.code(key['key'])} {', '.join(key['aliases'])}",
            "",
            f"{key['usage']} / {key['spec']}, rotation {key['rotation']}, deletion window "
            f"{key['deletion_window_days']:g} days.",
            "",
            "| Principal | Can | Conditions | Statement |",
            "|---|---|---|---|",
        ]
        for g in key["grants"]:
            conditions = "; ".join(f"{k} {v}" for k, v in g.get("conditions", {}).items())
            lines.append(
                f"| {md.cell(g['principal'])} | {', '.join(g['capabilities'])} | "
                f"{md.cell(conditions) or '—'} | {g.get('statement', '')} |"
            )
        protects = ", ".join(f"{md.code(p['resource'])}" for p in key["protects"]) or "—"
        lines += ["", f"Encrypts or is used by: {protects}", ""]
    lines += [
        "### Buckets",
        "",
        "| Bucket | Encryption | Key | Versioning | Public access blocked | Access logs to | "
        "Object lock |",
        "|---|---|---|---|---|---|---|",
    ]
    for b in inv["buckets"]:
        lines.append(
            f"| {md.code(b['bucket'])} | {b['encryption']} | {b['kms_key'] or '—'} | "
            f"{b['versioning']} | {b['public_access_blocked']} | {b['access_logs_to'] or '—'} | "
            f"{value_text(b['object_lock']) if b['object_lock'] else '—'} |"
        )
    lines += ["", "### Roles", "", "| Role | Trusted by | Permissions |", "|---|---|---|"]
    for r in inv["roles"]:
        trusted = "<br>".join(
            f"{t['principal']} {value_text(t['conditions'], 200) if t['conditions'] else ''}"
            for t in r["trusted_by"]
        )
        perms = "<br>".join(
            f"{p['statement']}: {', '.join(p['actions'])} on {value_text(p['resources'], 120)}"
            for p in r["permissions"]
        )
        lines.append(f"| {md.code(r['role'])} | {md.cell(trusted)} | {md.cell(perms) or '—'} |")
    lines += [
        "",
        "### Who can do what (release powers)",
        "",
        "Powers are probed on this stack's own key, bucket prefixes and registry; a pull "
        f"request must reach none of {', '.join(PULL_REQUEST_FORBIDDEN)} (in prod also none "
        f"of {', '.join(PROD_ONLY_FORBIDDEN)}).",
        "",
        "| Role | Assumed by | Pull request can assume | Powers |",
        "|---|---|---|---|",
    ]
    for r in inv["who_can_do_what"]:
        lines.append(
            f"| {md.code(r['role'])} | {md.cell('<br>'.join(r['assumed_by'])) or '—'} | "
            f"{md.cell(r['pull_request_subject'] or 'no')} | "
            f"{md.cell(', '.join(r['powers'])) or '—'} |"
        )
    lines += ["", "### Endpoints", ""]
    for e in inv["endpoints"]:
        details = ", ".join(f"{k}: {value_text(v)}" for k, v in e.items() if k != "endpoint")
        lines.append(f"- {md.code(e['endpoint'])} ({details})")
    if not inv["endpoints"]:
        lines.append("- none declared")
    lines += ["", "### Registries and other resources", ""]
    lines += [
        f"- {md.code(r['repository'])}: tags {r['tags']}, scan on push {r['scan_on_push']}"
        for r in inv["repositories"]
    ]
    lines += [f"- {md.code(o['resource'])} ({o['type']})" for o in inv["other"]]
    return [*lines, ""]


def _waivers(report: dict[str, Any]) -> list[str]:
    lines = ["## Waivers", ""]
    if not report["waivers"]:
        return [*lines, "No waiver applies to this stack.", ""]
    lines += ["| Policy | Resource | Owner | Expiry | Used | Justification |"]
    lines += ["|---|---|---|---|---|---|"]
    for w in report["waivers"]:
        expiry = f"**expired {w['expiry']}**" if w["expired"] else w["expiry"]
        lines.append(
            f"| {md.code(w['policy'])} | {md.code(w['resource'])} | {w['owner']} | {expiry} | "
            f"{'yes' if w['used'] else 'no'} | {md.cell(w['justification'])} |"
        )
    return [*lines, ""]


def _lint(report: dict[str, Any]) -> list[str]:
    lines = ["## IAM policy lint (parliament)", ""]
    if not report["iam_lint"]:
        return [*lines, "Every policy document in the stack lints clean.", ""]
    lines += ["| Resource | Input | Issue | Severity | Statement | Detail |"]
    lines += ["|---|---|---|---|---|---|"]
    for f in report["iam_lint"]:
        lines.append(
            f"| {md.code(f['resource'])} | {f['input']} | {f['issue']} | {f['severity']} | "
            f"{f['statement'] or '—'} | {md.cell(value_text(f['detail'], 200))} |"
        )
    return [*lines, ""]


def _policies(report: dict[str, Any]) -> list[str]:
    lines = ["## Policies", "", "| Policy | Level | Severity | Controls | Status |"]
    lines += ["|---|---|---|---|---|"]
    for p in report["policies"]:
        lines.append(
            f"| {md.code(p['name'])} | {p['enforcement']} | {p['severity']} | "
            f"{', '.join(p['controls'])} | {STATUS_LABELS[p['status']]} |"
        )
    return [*lines, ""]


def render_markdown(report: dict[str, Any]) -> str:
    pack = report["pack"]
    head = [
        f"# Compliance audit: stack `{report['stack']}` — {report['summary']['status'].upper()}",
        "",
        f"Generated {report['generated_at']} by policy pack `{pack['name']}` {pack['version']} "
        f"({pack['policies']} policies). Audited: {source_text(report)}. Evidence values are "
        "the exact inputs each rule read; the JSON report has them in full.",
        "",
    ]
    notes = (report.get("source") or {}).get("notes", [])
    head += [*(f"- {note}" for note in notes), ""] if notes else []
    sections = _summary(report) + _controls(report) + _inventory(report)
    sections += retention.markdown_section(report["retention"]) if "retention" in report else []
    sections += _waivers(report) + _lint(report) + _policies(report)
    return "\n".join(head + sections)
