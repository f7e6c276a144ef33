"""Read-side helpers over a rendered resource graph (see `infra.offline`).

Tests, the policy harness, the audit and the demo all query the graph the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Inputs that hold IAM-style JSON policy documents, by resource type.
POLICY_INPUTS: dict[str, tuple[str, ...]] = {
    "aws:iam/role:Role": ("assumeRolePolicy",),
    "aws:iam/rolePolicy:RolePolicy": ("policy",),
    "aws:iam/policy:Policy": ("policy",),
    "aws:kms/key:Key": ("policy",),
    "aws:s3/bucketPolicy:BucketPolicy": ("policy",),
    "aws:sns/topicPolicy:TopicPolicy": ("policy",),
    "aws:ecr/repositoryPolicy:RepositoryPolicy": ("policy",),
}


@dataclass(frozen=True)
class Resource:
    urn: str
    type: str
    name: str
    parent: str | None
    inputs: dict[str, Any]
    id: str | None
    outputs: dict[str, Any]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Resource:
        return cls(
            urn=data["urn"],
            type=data["type"],
            name=data["name"],
            parent=data.get("parent"),
            inputs=data.get("inputs") or {},
            id=data.get("id"),
            outputs=data.get("outputs") or {},
        )

    def policy_documents(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(input key, parsed document) for every policy this resource carries."""
        for key in POLICY_INPUTS.get(self.type, ()):
            raw = self.inputs.get(key)
            if isinstance(raw, str) and raw:
                yield key, json.loads(raw)


@dataclass(frozen=True)
class Graph:
    stack: str
    resources: tuple[Resource, ...]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Graph:
        return cls(data["stack"], tuple(Resource.from_json(r) for r in data["resources"]))

    @classmethod
    def load(cls, path: Path) -> Graph:
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))

    def of_type(self, resource_type: str) -> list[Resource]:
        return [r for r in self.resources if r.type == resource_type]

    def named(self, name: str, resource_type: str | None = None) -> Resource:
        matches = [
            r
            for r in self.resources
            if r.name == name and (resource_type is None or r.type == resource_type)
        ]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named {name!r} in stack {self.stack}")
        return matches[0]

    def by_urn(self, urn: str) -> Resource:
        for resource in self.resources:
            if resource.urn == urn:
                return resource
        raise KeyError(urn)

    def children(self, parent: Resource, resource_type: str | None = None) -> list[Resource]:
        return [
            r
            for r in self.resources
            if r.parent == parent.urn and (resource_type is None or r.type == resource_type)
        ]

    def attached_to(self, resource_type: str, key: str, value: Any) -> list[Resource]:
        """Resources of a type whose input `key` equals `value` (e.g. configs of a bucket)."""
        return [r for r in self.of_type(resource_type) if r.inputs.get(key) == value]

    def policy_documents(self) -> Iterator[tuple[Resource, str, dict[str, Any]]]:
        for resource in self.resources:
            for key, document in resource.policy_documents():
                yield resource, key, document
