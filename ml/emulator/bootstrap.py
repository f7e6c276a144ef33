"""Create a stack's keys, buckets and model registry in the emulator, from its graph.

The rendered resource graph (`mlops infra render`) is what `pulumi up` would create;
`bootstrap_stack` creates the parts the release pipeline touches, as the graph
declares them:

- the data CMK (`SYMMETRIC_DEFAULT`) and the signing key (the graph's key spec, e.g.
  `ECC_NIST_P256`), with the graph's key policies and aliases;
- every bucket under the graph's name, with versioning, public access block, default
  SSE-KMS under the data CMK, object lock where the graph has it, and the graph's
  bucket policy (which the emulator evaluates on each object request, see
  `ml.emulator.patches`);
- every model package group.

Resource ids in the graph are the offline mocks' (e.g. a made-up key id); the emulator
assigns its own key ids, so key ARNs and ids inside policies are rewritten to the
emulator's. Running it twice against the same emulator reuses what exists.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from infra.graph import Graph, Resource
from ml.aws import error_code

KEY = "aws:kms/key:Key"
ALIAS = "aws:kms/alias:Alias"
BUCKET = "aws:s3/bucket:Bucket"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
PUBLIC_ACCESS = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OBJECT_LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
PACKAGE_GROUP = "aws:sagemaker/modelPackageGroup:ModelPackageGroup"


@dataclass(frozen=True)
class EmulatedStack:
    """What the bootstrap created, named like the stack's Pulumi outputs."""

    stack: str
    region: str
    data_key_arn: str
    data_key_alias: str
    signing_key_arn: str
    signing_key_alias: str
    buckets: dict[str, str]
    """Bucket role (data, artifacts, capture, logs) -> bucket name."""
    model_package_groups: tuple[str, ...]
    key_arns: dict[str, str] = field(default_factory=dict)
    """Graph key ARN -> emulator key ARN."""

    @property
    def artifact_bucket(self) -> str:
        return self.buckets["artifacts"]

    def outputs(self) -> dict[str, str]:
        """The same names `infra/program.py` exports, for commands that read stack outputs."""
        outputs = {
            "environment": self.stack,
            "region": self.region,
            "dataKeyArn": self.data_key_arn,
            "signingKeyArn": self.signing_key_arn,
            "signingKeyAlias": self.signing_key_alias,
        }
        singular = {"logs": "log", "artifacts": "artifact"}
        for role, name in self.buckets.items():
            outputs[f"{singular.get(role, role)}Bucket"] = name
        return outputs


def bootstrap_stack(graph: Graph, *, kms: Any, s3: Any, sagemaker: Any) -> EmulatedStack:
    """Create the graph's keys, buckets (with policies) and model package groups."""
    region = s3.meta.region_name
    key_map: dict[str, str] = {}  # graph key ARN or id -> emulator key ARN or id
    aliases: dict[str, tuple[str, str]] = {}  # role -> (alias, emulator key ARN)
    for alias in graph.of_type(ALIAS):
        name = alias.inputs["name"]
        graph_key = _key_for(graph, alias.inputs["targetKeyId"])
        arn, key_id = _ensure_key(kms, graph_key, name)
        key_map[str(graph_key.outputs.get("arn"))] = arn
        key_map[str(graph_key.id)] = key_id
        role = name.rsplit("-", 1)[-1]
        aliases[role] = (name, arn)

    def remap(text: str) -> str:
        for graph_value, emulator_value in sorted(key_map.items(), key=lambda kv: -len(kv[0])):
            text = text.replace(graph_value, emulator_value)
        return text

    prefix = f"mlops-{graph.stack}-"
    buckets: dict[str, str] = {}
    for bucket in graph.of_type(BUCKET):
        name = str(bucket.id)
        _ensure_bucket(s3, name, region, bool(bucket.inputs.get("objectLockEnabled")))
        buckets[bucket.name.removeprefix(prefix)] = name
        for resource in graph.attached_to(PUBLIC_ACCESS, "bucket", name):
            s3.put_public_access_block(
                Bucket=name,
                PublicAccessBlockConfiguration={
                    "BlockPublicAcls": bool(resource.inputs.get("blockPublicAcls")),
                    "IgnorePublicAcls": bool(resource.inputs.get("ignorePublicAcls")),
                    "BlockPublicPolicy": bool(resource.inputs.get("blockPublicPolicy")),
                    "RestrictPublicBuckets": bool(resource.inputs.get("restrictPublicBuckets")),
                },
            )
        for resource in graph.attached_to(VERSIONING, "bucket", name):
            status = resource.inputs["versioningConfiguration"]["status"]
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": status})
        for resource in graph.attached_to(ENCRYPTION, "bucket", name):
            s3.put_bucket_encryption(
                Bucket=name,
                ServerSideEncryptionConfiguration={
                    "Rules": [_encryption_rule(rule, remap) for rule in resource.inputs["rules"]]
                },
            )
        for resource in graph.attached_to(OBJECT_LOCK, "bucket", name):
            retention = resource.inputs["rule"]["defaultRetention"]
            s3.put_object_lock_configuration(
                Bucket=name,
                ObjectLockConfiguration={
                    "ObjectLockEnabled": "Enabled",
                    "Rule": {
                        "DefaultRetention": {
                            "Mode": retention["mode"],
                            "Days": int(retention["days"]),
                        }
                    },
                },
            )
        for resource in graph.attached_to(BUCKET_POLICY, "bucket", name):
            s3.put_bucket_policy(Bucket=name, Policy=remap(resource.inputs["policy"]))

    groups: list[str] = []
    for group in graph.of_type(PACKAGE_GROUP):
        group_name = group.inputs["modelPackageGroupName"]
        _ensure_group(sagemaker, group_name, group.inputs.get("modelPackageGroupDescription", ""))
        groups.append(group_name)

    data_alias, data_arn = aliases["data"]
    signing_alias, signing_arn = aliases["signing"]
    return EmulatedStack(
        stack=graph.stack,
        region=region,
        data_key_arn=data_arn,
        data_key_alias=data_alias,
        signing_key_arn=signing_arn,
        signing_key_alias=signing_alias,
        buckets=buckets,
        model_package_groups=tuple(groups),
        key_arns={k: v for k, v in key_map.items() if k.startswith("arn:")},
    )


def _key_for(graph: Graph, key_id: str) -> Resource:
    for key in graph.of_type(KEY):
        if key.id == key_id or key.outputs.get("arn") == key_id:
            return key
    raise KeyError(f"graph of stack {graph.stack}: no KMS key {key_id}")


def _ensure_key(kms: Any, key: Resource, alias: str) -> tuple[str, str]:
    try:
        metadata = kms.describe_key(KeyId=alias)["KeyMetadata"]
        return metadata["Arn"], metadata["KeyId"]
    except ClientError as error:
        if error_code(error) != "NotFoundException":
            raise
    spec = key.inputs.get("customerMasterKeySpec", "SYMMETRIC_DEFAULT")
    usage = key.inputs.get("keyUsage") or (
        "ENCRYPT_DECRYPT" if spec == "SYMMETRIC_DEFAULT" else "SIGN_VERIFY"
    )
    request: dict[str, Any] = {
        "Description": key.inputs.get("description", ""),
        "KeyUsage": usage,
        "KeySpec": spec,
        "Tags": [{"TagKey": k, "TagValue": v} for k, v in (key.inputs.get("tags") or {}).items()],
    }
    if key.inputs.get("policy"):
        request["Policy"] = key.inputs["policy"]
    metadata = kms.create_key(**request)["KeyMetadata"]
    if key.inputs.get("enableKeyRotation"):
        kms.enable_key_rotation(KeyId=metadata["KeyId"])
    kms.create_alias(AliasName=alias, TargetKeyId=metadata["KeyId"])
    return metadata["Arn"], metadata["KeyId"]


def _ensure_bucket(s3: Any, name: str, region: str, object_lock: bool) -> None:
    request: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":
        request["CreateBucketConfiguration"] = {"LocationConstraint": region}
    if object_lock:
        request["ObjectLockEnabledForBucket"] = True
    try:
        s3.create_bucket(**request)
    except ClientError as error:
        if error_code(error) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise


def _ensure_group(sagemaker: Any, name: str, description: str) -> None:
    try:
        sagemaker.describe_model_package_group(ModelPackageGroupName=name)
        return
    except ClientError as error:
        if error_code(error) != "ValidationException":
            raise
    sagemaker.create_model_package_group(
        ModelPackageGroupName=name, ModelPackageGroupDescription=description
    )


def _encryption_rule(rule: dict[str, Any], remap: Any) -> dict[str, Any]:
    default = rule["applyServerSideEncryptionByDefault"]
    converted: dict[str, Any] = {
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": default["sseAlgorithm"]}
    }
    if default.get("kmsMasterKeyId"):
        converted["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] = remap(
            default["kmsMasterKeyId"]
        )
    if "bucketKeyEnabled" in rule:
        converted["BucketKeyEnabled"] = bool(rule["bucketKeyEnabled"])
    return converted


def policy_document(graph: Graph, bucket_name: str, stack: EmulatedStack) -> dict[str, Any]:
    """The bucket policy the emulator holds for `bucket_name` (graph policy, keys remapped)."""
    for resource in graph.attached_to(BUCKET_POLICY, "bucket", bucket_name):
        text = resource.inputs["policy"]
        for graph_arn, arn in stack.key_arns.items():
            text = text.replace(graph_arn, arn)
        return json.loads(text)
    raise KeyError(f"graph of stack {graph.stack}: no bucket policy for {bucket_name}")
