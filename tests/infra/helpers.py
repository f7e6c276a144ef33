"""Small queries over a rendered graph that several infra tests share."""

from __future__ import annotations

import json
from typing import Any

from infra.graph import Graph, Resource


def secure_buckets(graph: Graph) -> list[Resource]:
    return graph.of_type("mlops:storage:SecureBucket")


def bucket_of(graph: Graph, component: Resource) -> Resource:
    (bucket,) = graph.children(component, "aws:s3/bucket:Bucket")
    return bucket


def config_of(graph: Graph, component: Resource, resource_type: str) -> Resource:
    """The per-bucket configuration resource (pulumi-aws 7 splits them out of Bucket)."""
    matches = graph.children(component, resource_type)
    assert len(matches) == 1, f"{component.name}: expected one {resource_type}, got {len(matches)}"
    return matches[0]


def policy_of(resource: Resource, key: str = "policy") -> dict[str, Any]:
    return json.loads(resource.inputs[key])


def statements(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {statement["Sid"]: statement for statement in document["Statement"]}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
