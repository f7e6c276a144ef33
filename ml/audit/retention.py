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
from ml.reports import markdown as md
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


def _rows(section: dict[str, Any]) -> list[list[str]]:
    """One row per bucket: name, what it holds, current and old versions' expiry, lock."""
    return [
        [
            b["bucket"],
            b["holds"] or "—",
            _days_text(b["expires_after_days"], "never"),
            _days_text(b["old_versions_expire_after_days"], "never"),
            _days_text(b["locked_for_days"], "—"),
        ]
        for b in section["buckets"]
    ]


def markdown_section(section: dict[str, Any]) -> list[str]:
    lines = [
        "## Retention and classification",
        "",
        "How long each bucket keeps what it holds (lifecycle rules as declared), and which "
        "columns of the model's data are personal data (the dataset schema's marks).",
        "",
        md.table(
            ["Bucket", "Holds", "Current objects expire", "Old versions expire", "Object lock"],
            [[md.code(bucket), *rest] for bucket, *rest in _rows(section)],
        ),
    ]
    personal = ", ".join(md.code(c["column"]) for c in section["personal_data_columns"]) or "none"
    lines += [
        "",
        f"Personal-data columns: {personal}. Other features: "
        f"{', '.join(section['other_columns'])}; label `{section['label']}`.",
        "",
    ]
    return lines


def html_context(section: dict[str, Any]) -> dict[str, Any]:
    """What the audit page's retention section shows."""
    return {
        "rows": _rows(section),
        "personal": ", ".join(c["column"] for c in section["personal_data_columns"]),
        "label": section["label"],
    }
