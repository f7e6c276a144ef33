"""The audit report as SARIF 2.1.0, for GitHub code scanning.

One rule per policy; one result per failure, advisory or waived finding (waived ones carry
an accepted external suppression, so code scanning shows them as dismissed). Each result
points at the infra component that declares the resource (found by its type token) and
names the resource's URN as a logical location. Validated against the official schema
(`ml/audit/schemas/sarif-schema-2.1.0.json`) by the tests.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from ml.audit.report import PACK_VERSION, evaluations_by_id

SCHEMA_PATH = Path(__file__).with_name("schemas") / "sarif-schema-2.1.0.json"
SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
_COMPONENT = re.compile(r'super\(\).__init__\(\s*"(?P<token>[a-z]+:[a-z]+:[A-Za-z]+)"')
_LEVELS = {"mandatory": "error", "advisory": "warning"}
# GitHub ranks security alerts by this property (0.1-10).
_SECURITY_SEVERITY = {"low": "3.0", "medium": "5.5", "high": "8.0", "critical": "9.5"}


@cache
def component_sources(root: Path) -> dict[str, tuple[str, int]]:
    """Component type token -> (repo-relative file, line of its `super().__init__`)."""
    sources: dict[str, tuple[str, int]] = {}
    for path in sorted((root / "infra").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for match in _COMPONENT.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            sources[match.group("token")] = (path.relative_to(root).as_posix(), line)
    return sources


def _location(urn: str, stack: str, root: Path) -> tuple[str, int]:
    """Where a resource is declared: its innermost component, else the stack file."""
    chain = urn.split("::")[2] if urn.count("::") >= 3 else ""
    sources = component_sources(root)
    for token in reversed(chain.split("$")):
        if token in sources:
            return sources[token]
    return f"Pulumi.{stack}.yaml", 1


def _rule(policy: dict[str, Any]) -> dict[str, Any]:
    help_text = (
        f"{policy['description']} Controls: {', '.join(policy['controls'])}. "
        f"Enforcement: {policy['enforcement']}."
    )
    return {
        "id": policy["name"],
        "name": "".join(part.title() for part in policy["name"].split("-")),
        "shortDescription": {"text": policy["description"]},
        "fullDescription": {"text": policy["description"]},
        "help": {"text": help_text, "markdown": help_text},
        "defaultConfiguration": {"level": _LEVELS[policy["enforcement"]]},
        "properties": {
            "tags": ["security", "compliance", *policy["controls"]],
            "security-severity": _SECURITY_SEVERITY[policy["severity"]],
            "precision": "very-high",
            "controls": policy["controls"],
        },
    }


def _result(
    evaluation: dict[str, Any], message: str, index: int, level: str, stack: str, root: Path
) -> dict[str, Any]:
    uri, line = _location(evaluation["urn"], stack, root)
    fingerprint = hashlib.sha256(
        f"{evaluation['policy']}|{evaluation['urn']}|{message}".encode()
    ).hexdigest()
    result: dict[str, Any] = {
        "ruleId": evaluation["policy"],
        "ruleIndex": index,
        "level": level,
        "message": {"text": message},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": line},
                },
                "logicalLocations": [
                    {
                        "name": evaluation["resource"],
                        "fullyQualifiedName": evaluation["urn"],
                        "kind": "resource",
                    }
                ],
            }
        ],
        "partialFingerprints": {"mlopsFinding/v1": fingerprint},
        "properties": {
            "stack": stack,
            "resourceType": evaluation["type"],
            "status": evaluation["status"],
            "evidence": evaluation["values"],
        },
    }
    waiver = evaluation["waiver"]
    if waiver and not waiver["expired"]:
        result["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": f"{waiver['justification']} (owner {waiver['owner']}, "
                f"expires {waiver['expiry']})",
            }
        ]
    return result


def render_sarif(report: dict[str, Any], root: Path) -> str:
    """SARIF 2.1.0 for `report`; `root` is the repository (artifact URIs are relative)."""
    policies = report["policies"]
    index = {p["name"]: i for i, p in enumerate(policies)}
    levels = {p["name"]: _LEVELS[p["enforcement"]] for p in policies}
    results = []
    for evaluation in evaluations_by_id(report).values():
        if evaluation["status"] in ("pass", "not-applicable"):
            continue
        level = (
            "error" if evaluation["status"] == "expired-waiver" else levels[evaluation["policy"]]
        )
        for message in evaluation["messages"]:
            results.append(
                _result(
                    evaluation, message, index[evaluation["policy"]], level, report["stack"], root
                )
            )
    document = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "mlops-audit",
                        "fullName": f"{report['pack']['name']} policy pack (mlops audit)",
                        "semanticVersion": PACK_VERSION,
                        "rules": [_rule(p) for p in policies],
                    }
                },
                "automationDetails": {"id": f"mlops-audit/{report['stack']}/"},
                "results": results,
                "properties": {
                    "stack": report["stack"],
                    "source": report.get("source"),
                    "summary": report["summary"],
                },
            }
        ],
    }
    return json.dumps(document, indent=2, default=str) + "\n"
