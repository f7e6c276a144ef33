"""The release PR as a reviewer sees it: which resources change, and the PR comment. Pure.

`graph_changes` compares the offline graph of the stack file before and after the edit
(what `pulumi preview` shows against a deployed stack, minus the cloud): resources only
in one of them are created or deleted, resources whose inputs differ are updated, with
the top-level inputs that differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.graph import Graph
from ml.release.stackfile import StackEdit
from ml.release.verify import StackVerification
from ml.release.verify import markdown as verify_markdown
from ml.reports import markdown as md


@dataclass(frozen=True)
class Change:
    action: str
    """create, update or delete"""
    type: str
    name: str
    inputs: tuple[str, ...] = ()
    """Top-level inputs that differ (updates only)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "type": self.type,
            "name": self.name,
            "inputs": list(self.inputs),
        }


def graph_changes(before: Graph, after: Graph) -> list[Change]:
    old = {r.urn: r for r in before.resources}
    new = {r.urn: r for r in after.resources}
    changes: list[Change] = []
    for urn, resource in new.items():
        if urn not in old:
            changes.append(Change("create", resource.type, resource.name))
            continue
        previous = old[urn].inputs
        differ = sorted(
            key
            for key in previous.keys() | resource.inputs.keys()
            if previous.get(key) != resource.inputs.get(key)
        )
        if differ:
            changes.append(Change("update", resource.type, resource.name, tuple(differ)))
    changes.extend(
        Change("delete", resource.type, resource.name)
        for urn, resource in old.items()
        if urn not in new
    )
    return changes


def release_comment(
    stack: str,
    edit: StackEdit,
    verification: StackVerification,
    changes: list[Change],
    audit: dict[str, Any],
) -> str:
    """The model-release workflow's comment on the release PR, in one Markdown text."""
    summary = audit["summary"]
    rows = [
        [
            change.action,
            md.code(change.type),
            md.code(change.name),
            ", ".join(md.code(key) for key in change.inputs),
        ]
        for change in changes
    ]
    lines = [
        f"## Release plan for `{stack}`: {', '.join(str(c) for c in edit.changes)}",
        "",
        "### Stack file",
        "",
        "```diff",
        edit.diff().rstrip(),
        "```",
        "",
        verify_markdown(verification).rstrip(),
        "",
        f"### Resources that change ({len(changes)})",
        "",
        md.table(["action", "type", "name", "inputs that differ"], rows)
        if rows
        else "Nothing changes.",
        "",
        f"### Policy pack and audit: {summary['status'].upper()}",
        "",
        f"{summary['policies']} policies over {summary['resources']} resources: "
        f"{summary['passed']} passed, {summary['failed']} failed, {summary['advisories']} "
        f"advisory, {summary['waived']} waived, {summary['expired_waivers']} expired "
        f"waiver(s); {summary['iam_lint_findings']} IAM lint finding(s).",
    ]
    if summary["failures"]:
        lines += ["", *(f"- {failure}" for failure in summary["failures"])]
    return "\n".join(lines) + "\n"
