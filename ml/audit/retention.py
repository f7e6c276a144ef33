"""Retention and classification: how long each bucket keeps data, and which columns of the
data the models take are personal data (evidence for GDPR/CCPA-minded reviewers).

Retention is read from each bucket's declared lifecycle rules (whole-bucket, enabled):
current objects expire after `expiration.days`, old versions `noncurrent_days` after they
stop being current; object lock is the opposite promise (kept at least so long).
Classification is the dataset schema's `personal_data` marks (ml/data/schema.py).
"""

from __future__ import annotations

from typing import Any

from infra.graph import Graph
from ml.data.schema import DatasetSchema
from policies.core import peek

BUCKET = "aws:s3/bucket:Bucket"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
OBJECT_LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
HOLDS = {
    "capture": "every request and response the endpoints captured, and their ground-truth labels",
    "data": "training, validation and reference datasets",
    "artifacts": "signed model artifacts and their validation reports",
    "logs": "S3 server access logs",
    "trail": "CloudTrail logs",
}


def _days(rules: list[dict[str, Any]], path: str) -> float | None:
    found = [peek(r, path) for r in rules if r.get("status") == "Enabled" and not r.get("filter")]
    found = [d for d in found if isinstance(d, int | float)]
    return min(found) if found else None


def bucket_retention(graph: Graph) -> list[dict[str, Any]]:
    rows = []
    for bucket in graph.of_type(BUCKET):
        rules = [
            rule
            for config in graph.attached_to(LIFECYCLE, "bucket", bucket.id)
            for rule in config.inputs.get("rules") or []
        ]
        locks = graph.attached_to(OBJECT_LOCK, "bucket", bucket.id)
        role = bucket.name.rsplit("-", 1)[-1]
        rows.append(
            {
                "bucket": bucket.name,
                "holds": HOLDS.get(role, ""),
                "expires_after_days": _days(rules, "expiration.days"),
                "old_versions_expire_after_days": _days(
                    rules, "noncurrentVersionExpiration.noncurrentDays"
                ),
                "locked_for_days": peek(locks[0].inputs, "rule.defaultRetention.days")
                if locks
                else None,
            }
        )
    return rows


def retention_and_classification(graph: Graph, schema: DatasetSchema) -> dict[str, Any]:
    return {
        "buckets": bucket_retention(graph),
        "personal_data_columns": [
            {"column": f.name, "kind": f.kind} for f in schema.features if f.personal_data
        ],
        "other_columns": [f.name for f in schema.features if not f.personal_data],
        "label": schema.label,
    }


def _days_text(value: float | None, never: str) -> str:
    if value is None:
        return never
    return f"{value:g} day" if value == 1 else f"{value:g} days"


def markdown_section(section: dict[str, Any]) -> list[str]:
    lines = [
        "## Retention and classification",
        "",
        "How long each bucket keeps what it holds (lifecycle rules as declared), and which "
        "columns of the model's data are personal data (the dataset schema's marks).",
        "",
        "| Bucket | Holds | Current objects expire | Old versions expire | Object lock |",
        "|---|---|---|---|---|",
    ]
    for b in section["buckets"]:
        lines.append(
            f"| `{b['bucket']}` | {b['holds'] or '—'} | "
            f"{_days_text(b['expires_after_days'], 'never')} | "
            f"{_days_text(b['old_versions_expire_after_days'], 'never')} | "
            f"{_days_text(b['locked_for_days'], '—')} |"
        )
    personal = ", ".join(f"`{c['column']}`" for c in section["personal_data_columns"]) or "none"
    lines += [
        "",
        f"Personal-data columns: {personal}. Other features: "
        f"{', '.join(section['other_columns'])}; label `{section['label']}`.",
        "",
    ]
    return lines


def html_section(section: dict[str, Any]) -> str:
    from html import escape

    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{escape(str(c))}</td>"
            for c in (
                b["bucket"],
                b["holds"] or "—",
                _days_text(b["expires_after_days"], "never"),
                _days_text(b["old_versions_expire_after_days"], "never"),
                _days_text(b["locked_for_days"], "—"),
            )
        )
        + "</tr>"
        for b in section["buckets"]
    )
    personal = ", ".join(c["column"] for c in section["personal_data_columns"]) or "none"
    return (
        '<section id="retention"><h2>Retention and classification</h2>'
        "<table><tr><th>Bucket</th><th>Holds</th><th>Current objects expire</th>"
        f"<th>Old versions expire</th><th>Object lock</th></tr>{rows}</table>"
        f"<p>Personal-data columns: {escape(personal)}. Label: "
        f"<code>{escape(section['label'])}</code>.</p></section>"
    )
