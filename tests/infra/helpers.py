"""Small queries over a rendered graph that several infra tests share."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from fnmatch import fnmatchcase
from typing import Any

import pulumi

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


def allows(document: dict[str, Any], action: str, arn: str) -> bool:
    """Whether an identity policy allows `action` on `arn`, as IAM matches `*` in ARNs.

    A tiny, independent matcher (fnmatch on the resource ARN): conditions are not
    evaluated, an unconditional Deny wins. Enough to check that the ARN a program builds
    falls under the prefix a policy grants.
    """

    def matches(statement: dict[str, Any]) -> bool:
        return action in as_list(statement["Action"]) and any(
            fnmatchcase(arn, pattern) for pattern in as_list(statement.get("Resource", []))
        )

    statements = document["Statement"]
    denied = any(s["Effect"] == "Deny" and "Condition" not in s and matches(s) for s in statements)
    return not denied and any(s["Effect"] == "Allow" and matches(s) for s in statements)


def role_policy(graph: Graph, purpose: str) -> dict[str, Any]:
    """The inline policy of a role by purpose (`training`, `build`, `train`, ...)."""
    return policy_of(graph.named(f"mlops-{graph.stack}-{purpose}", "aws:iam/rolePolicy:RolePolicy"))


def bucket_name(graph: Graph, role: str) -> str:
    """The rendered name of a stack bucket (`artifacts`, `data`, ...)."""
    return graph.named(f"mlops-{graph.stack}-{role}", "aws:s3/bucket:Bucket").id


def resolved(build: Callable[[], pulumi.Output]) -> tuple[Any, bool, bool, set[Any]]:
    """Build an Output on a fresh event loop and wait for it: its value, whether it is
    known, whether it is secret, and the resources it depends on."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        data = loop.run_until_complete(build()._data)
        return data.value, data.is_known, data.is_secret, data.resources
    finally:
        loop.close()
        asyncio.set_event_loop(None)


def made_by(resource: object, value: Any, known: bool = True) -> pulumi.Output:
    """An Output as a resource's property would be: `value`, depending on `resource`."""

    async def ready(result: Any) -> Any:
        return result

    return pulumi.Output({resource}, ready(value), ready(known))
