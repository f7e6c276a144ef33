"""The inventory: every key, bucket, role and endpoint, and who can do what with each key.

Read from the rendered graph alone. For each KMS key the key policy's Allow statements
become (principal, capability, actions, conditions) grants, principals resolved to the
roles of the stack where they are ours, and the resources encrypted with the key are
listed: an auditor sees a key's blast radius at a glance.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from common.iam_document import MalformedPolicy, is_account_root, parse_document
from infra.graph import Graph, Resource
from policies.core import noun, peek
from policies.reachability import POWERS, role_access
from policies.trust import attacker_subject

KEY = "aws:kms/key:Key"
ALIAS = "aws:kms/alias:Alias"
BUCKET = "aws:s3/bucket:Bucket"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ENDPOINT = "aws:sagemaker/endpoint:Endpoint"
ENDPOINT_CONFIG = "aws:sagemaker/endpointConfiguration:EndpointConfiguration"
MODEL = "aws:sagemaker/model:Model"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
SERVICE = "kubernetes:core/v1:Service"

# What a key-policy action lets a principal do, from the most to the least powerful.
CAPABILITIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("administer", ("kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:DisableKey")),
    ("sign", ("kms:Sign",)),
    ("decrypt", ("kms:Decrypt", "kms:ReEncryptFrom")),
    ("encrypt", ("kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptTo")),
    ("create grants", ("kms:CreateGrant",)),
    ("verify", ("kms:Verify",)),
    ("read public key", ("kms:GetPublicKey",)),
    ("describe", ("kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus")),
)


def _handles(resource: Resource) -> set[str]:
    values = {resource.id, resource.outputs.get("arn"), resource.outputs.get("keyId")}
    return {v for v in values if isinstance(v, str) and v}


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


class _Names:
    """ARN/id -> the logical name of the graph resource it belongs to."""

    def __init__(self, graph: Graph):
        self._by_handle: dict[str, Resource] = {}
        for resource in graph.resources:
            for handle in _handles(resource):
                self._by_handle.setdefault(handle, resource)

    def principal(self, principal: str) -> str:
        if principal == "*":
            return "everyone (*)"
        if is_account_root(principal):
            return f"account root ({principal})"
        resource = self._by_handle.get(principal)
        return f"{noun(resource.type)} {resource.name}" if resource is not None else principal

    def name(self, handle: str) -> str:
        resource = self._by_handle.get(handle)
        return resource.name if resource is not None else handle


def _capabilities(actions: tuple[str, ...], statement) -> list[str]:
    found = [name for name, examples in CAPABILITIES if any(statement.grants(a) for a in examples)]
    return found or list(actions)


def key_grants(key: Resource, names: _Names) -> list[dict[str, Any]]:
    raw = key.inputs.get("policy")
    if not raw:
        return [{"principal": "account root (AWS default key policy)", "capabilities": ["all"]}]
    try:
        statements = parse_document(raw)
    except MalformedPolicy as error:
        return [{"principal": "?", "capabilities": [f"unreadable key policy: {error}"]}]
    grants = []
    for statement in statements:
        if not statement.allows:
            continue
        conditions = {
            f"{op} {key}": list(values)
            for op, block in statement.conditions.items()
            for key, values in block.items()
        }
        for kind, principals in statement.principals.items():
            for principal in principals:
                label = (
                    names.principal(principal) if kind in ("AWS", "*") else f"{kind} {principal}"
                )
                grants.append(
                    {
                        "statement": statement.label,
                        "principal": label,
                        "capabilities": _capabilities(statement.actions, statement),
                        "actions": list(statement.actions),
                        "conditions": conditions,
                    }
                )
    return grants


def _protected_by(key: Resource, graph: Graph) -> list[dict[str, str]]:
    handles = _handles(key)
    used = []
    for resource in graph.resources:
        if resource is key or resource.type in (ALIAS, ROLE_POLICY, "aws:iam/policy:Policy"):
            continue
        if any(value in handles for value in _strings(resource.inputs)):
            used.append({"resource": resource.name, "type": resource.type})
    return used


def _bucket_settings(bucket: Resource, graph: Graph) -> dict[str, Any]:
    name = bucket.id

    def attached(kind: str) -> Resource | None:
        matches = graph.attached_to(f"aws:s3/{kind}", "bucket", name)
        return matches[0] if matches else None

    encryption = attached(
        "bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    )
    versioning = attached("bucketVersioning:BucketVersioning")
    logging = attached("bucketLogging:BucketLogging")
    lock = attached("bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    block = attached("bucketPublicAccessBlock:BucketPublicAccessBlock")
    default = (
        peek(encryption.inputs, "rules.0.applyServerSideEncryptionByDefault", {})
        if encryption
        else {}
    )
    names = _Names(graph)
    key = default.get("kmsMasterKeyId")
    return {
        "bucket": bucket.name,
        "physical_name": name,
        "encryption": default.get("sseAlgorithm", "none"),
        "kms_key": names.name(key) if key else None,
        "versioning": peek(versioning.inputs, "versioningConfiguration.status")
        if versioning
        else None,
        "public_access_blocked": bool(block)
        and all(
            block.inputs.get(k) is True
            for k in (
                "blockPublicAcls",
                "blockPublicPolicy",
                "ignorePublicAcls",
                "restrictPublicBuckets",
            )
        ),
        "access_logs_to": logging.inputs.get("targetBucket") if logging else None,
        "object_lock": peek(lock.inputs, "rule.defaultRetention") if lock else None,
    }


def _trust(role: Resource, names: _Names) -> list[dict[str, Any]]:
    try:
        statements = parse_document(role.inputs.get("assumeRolePolicy") or "{}")
    except MalformedPolicy:
        return []
    trusted = []
    for statement in statements:
        for kind, principals in statement.principals.items():
            for principal in principals:
                who = names.principal(principal) if kind == "AWS" else f"{kind} {principal}"
                conditions = {
                    key: list(values)
                    for block in statement.conditions.values()
                    for key, values in block.items()
                }
                trusted.append({"principal": who, "conditions": conditions})
    return trusted


def _permissions(role: Resource, graph: Graph) -> list[dict[str, Any]]:
    policies = graph.attached_to(ROLE_POLICY, "role", role.id)
    granted = []
    for policy in policies:
        try:
            statements = parse_document(policy.inputs.get("policy") or "{}")
        except MalformedPolicy:
            continue
        for statement in statements:
            granted.append(
                {
                    "policy": policy.name,
                    "statement": statement.label,
                    "effect": statement.effect,
                    "actions": list(statement.actions),
                    "resources": list(statement.resources),
                }
            )
    return granted


def _endpoints(graph: Graph) -> list[dict[str, Any]]:
    configs = {c.id: c for c in graph.of_type(ENDPOINT_CONFIG)}
    endpoints = []
    for endpoint in graph.of_type(ENDPOINT):
        config = configs.get(endpoint.inputs.get("endpointConfigName"))
        variants = config.inputs.get("productionVariants", []) if config else []
        routing = peek(
            endpoint.inputs,
            "deploymentConfig.blueGreenUpdatePolicy.trafficRoutingConfiguration.type",
        )
        alarms = peek(endpoint.inputs, "deploymentConfig.autoRollbackConfiguration.alarms") or []
        endpoints.append(
            {
                "endpoint": endpoint.name,
                "kind": "SageMaker endpoint",
                "physical_name": endpoint.id,
                "config": config.name if config else None,
                "instances": [
                    f"{v.get('initialInstanceCount', 0):g} x {v.get('instanceType')}"
                    for v in variants
                ],
                "traffic_shift": routing,
                "rollback_alarms": [a.get("alarmName") for a in alarms],
                "data_capture": peek(config.inputs, "dataCaptureConfig.enableCapture")
                if config
                else None,
            }
        )
    for deployment in graph.of_type(DEPLOYMENT):
        containers = peek(deployment.inputs, "spec.template.spec.containers") or []
        endpoints.append(
            {
                "endpoint": deployment.name,
                "kind": "Kubernetes Deployment",
                "physical_name": peek(deployment.inputs, "metadata.name"),
                "namespace": peek(deployment.inputs, "metadata.namespace"),
                "images": [c.get("image") for c in containers],
            }
        )
    return endpoints


def who_can_do_what(graph: Graph) -> list[dict[str, Any]]:
    """Per role: who may assume it, whether a pull request can, and its release powers
    (the analysis the trust policies judge, `policies.reachability`)."""
    from ml.audit.engine import subjects_of  # the engine imports the pack, which is heavier

    matrix = []
    for role in role_access(subjects_of(graph), graph.stack):
        matrix.append(
            {
                "role": role.name,
                "assumed_by": [*role.trust.oidc_subjects, *role.trust.principals]
                + (["any GitHub workflow (no sub condition)"] if role.trust.oidc_unpinned else []),
                "pull_request_subject": attacker_subject(role),
                "powers": {p: role.evidence[p] for p in POWERS if p in role.evidence},
            }
        )
    return matrix


def build_inventory(graph: Graph) -> dict[str, Any]:
    """The inventory section of the audit report, as plain data."""
    names = _Names(graph)
    aliases: dict[str, list[str]] = {}
    for alias in graph.of_type(ALIAS):
        aliases.setdefault(str(alias.inputs.get("targetKeyId")), []).append(
            alias.inputs.get("name")
        )
    keys = []
    for key in graph.of_type(KEY):
        keys.append(
            {
                "key": key.name,
                "arn": key.outputs.get("arn"),
                "aliases": sorted(a for h in _handles(key) for a in aliases.get(h, [])),
                "usage": key.inputs.get("keyUsage", "ENCRYPT_DECRYPT"),
                "spec": key.inputs.get("customerMasterKeySpec", "SYMMETRIC_DEFAULT"),
                "rotation": key.inputs.get("enableKeyRotation", False),
                "deletion_window_days": key.inputs.get("deletionWindowInDays", 30),
                "grants": key_grants(key, names),
                "protects": _protected_by(key, graph),
            }
        )
    roles = [
        {
            "role": role.name,
            "arn": role.outputs.get("arn"),
            "description": role.inputs.get("description"),
            "trusted_by": _trust(role, names),
            "permissions": _permissions(role, graph),
        }
        for role in graph.of_type(ROLE)
    ]
    return {
        "keys": keys,
        "buckets": [_bucket_settings(b, graph) for b in graph.of_type(BUCKET)],
        "roles": roles,
        "who_can_do_what": who_can_do_what(graph),
        "endpoints": _endpoints(graph),
        "repositories": [
            {
                "repository": r.name,
                "name": r.inputs.get("name"),
                "tags": r.inputs.get("imageTagMutability"),
                "scan_on_push": peek(r.inputs, "imageScanningConfiguration.scanOnPush"),
            }
            for r in graph.of_type("aws:ecr/repository:Repository")
        ],
        "other": [
            {"resource": r.name, "type": r.type}
            for r in graph.resources
            if r.type
            in (
                "aws:sns/topic:Topic",
                "aws:cloudwatch/logGroup:LogGroup",
                "aws:cloudtrail/trail:Trail",
                "aws:ec2/vpc:Vpc",
                "aws:sagemaker/modelPackageGroup:ModelPackageGroup",
                "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
                "kubernetes:core/v1:Namespace",
                SERVICE,
            )
        ],
    }
