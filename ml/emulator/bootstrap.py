"""Create a stack's keys, buckets and model registry in the emulator, from its graph.

The rendered resource graph (`mlops infra render`) is what `pulumi up` would create;
`bootstrap_stack` creates the parts the release pipeline touches, as the graph
declares them:

- the data CMK (`SYMMETRIC_DEFAULT`) and the signing key (the graph's key spec, e.g.
  `ECC_NIST_P256`), with the graph's key policies and aliases;
- every bucket under the graph's name, with versioning, public access block, default
  SSE-KMS under the data CMK, object lock where the graph has it, its tags, ownership
  controls and lifecycle rules, and the graph's bucket policy (which the emulator
  evaluates on each object request, see `ml.emulator.patches`). Not access logging:
  moto's PutBucketLogging fails on the log bucket's policy (it reads a statement's
  `Principal: "*"` as a mapping), so a live audit in the emulator finds none;
- every model package group;
- every IAM role under the graph's (physical) name, with its trust policy and its inline
  policies (`aws:iam/rolePolicy:RolePolicy`), when given an IAM client.

Resource ids in the graph are the offline mocks' (e.g. a made-up key id); the emulator
assigns its own key ids and has its own account id, so the mock key ARNs and ids, bucket
names and account id inside every policy are rewritten to the emulator's by one
`ArnRewrite`. Running it twice against the same emulator reuses what exists.

The bootstrap runs as the emulator's administrator, which IAM enforcement never checks;
the roles' documents are what enforcement then holds every role session to
(`ml.emulator.iam`, docs/emulator.md "IAM enforcement").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from infra.contracts import StackOutput
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
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
PACKAGE_GROUP = "aws:sagemaker/modelPackageGroup:ModelPackageGroup"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
GROUP_POLICY = "aws:sagemaker/modelPackageGroupPolicy:ModelPackageGroupPolicy"
ACCOUNT_HEADER = "x-moto-account-id"
"""The emulator acts in the account this request header names (moto), for the administrator."""


def in_account(client: Any, account_id: str) -> Any:
    """`client` (the administrator's) acting in `account_id`: each request names the account,
    as `pulumi up` with that account's credentials would act in it. Returns the client."""

    def name_account(request: Any, **_: Any) -> None:
        request.headers[ACCOUNT_HEADER] = account_id

    client.meta.events.register("before-sign.*.*", name_account)
    return client


@dataclass
class ArnRewrite:
    """Mock ids and ARNs of the rendered graph -> the emulator's, applied to policy text.

    In one pass, longest first, so a key ARN is replaced whole before its key id inside it
    and a replaced value is never replaced again (prod's graph maps its own mock account to
    prod's and staging's configured account to the mock one). An account id is replaced
    where it stands as an ARN field (`:123456789012:`) or as a whole JSON string (a
    condition value)."""

    values: dict[str, str] = field(default_factory=dict)

    def add(self, graph_value: str, emulator_value: str) -> None:
        if graph_value and graph_value != emulator_value:
            self.values[graph_value] = emulator_value

    def add_account(self, graph_arn: str, emulator_arn: str) -> None:
        """The account field of two ARNs of the same resource (graph, emulator)."""
        self.add_account_id(_account_of(graph_arn), _account_of(emulator_arn))

    def add_account_id(self, graph_account: str, emulator_account: str) -> None:
        self.add(f":{graph_account}:", f":{emulator_account}:")
        self.add(f'"{graph_account}"', f'"{emulator_account}"')

    def __call__(self, text: str) -> str:
        if not self.values:
            return text
        ordered = sorted(self.values, key=len, reverse=True)
        pattern = re.compile("|".join(re.escape(value) for value in ordered))
        return pattern.sub(lambda match: self.values[match.group(0)], text)


@dataclass(frozen=True)
class EmulatedStack:
    """What the bootstrap created, named like the stack's Pulumi outputs."""

    stack: str
    account_id: str
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
    roles: dict[str, str] = field(default_factory=dict)
    """Role name without `mlops-<stack>-` (gh-release, auditor, ...) -> emulator role ARN."""
    rewrites: dict[str, str] = field(default_factory=dict)
    """Every graph value rewritten in the emulator's policies -> what replaced it."""

    def rewrite(self) -> ArnRewrite:
        """The rewrite the bootstrap applied, for reading the graph's policies as held."""
        return ArnRewrite(dict(self.rewrites))

    @property
    def artifact_bucket(self) -> str:
        return self.buckets["artifacts"]

    def outputs(self) -> dict[str, str]:
        """The same names `infra/program.py` exports, for commands that read stack outputs."""
        outputs: dict[str, str] = {
            StackOutput.ENVIRONMENT: self.stack,
            StackOutput.REGION: self.region,
            StackOutput.DATA_KEY_ARN: self.data_key_arn,
            StackOutput.SIGNING_KEY_ARN: self.signing_key_arn,
            StackOutput.SIGNING_KEY_ALIAS: self.signing_key_alias,
        }
        for role, name in self.buckets.items():
            if role in _BUCKET_OUTPUTS:
                outputs[_BUCKET_OUTPUTS[role]] = name
        return outputs


# Bucket role (the graph's name suffix) -> its stack output.
_BUCKET_OUTPUTS = {
    "data": StackOutput.DATA_BUCKET,
    "artifacts": StackOutput.ARTIFACT_BUCKET,
    "capture": StackOutput.CAPTURE_BUCKET,
    "logs": StackOutput.LOG_BUCKET,
    "trail": StackOutput.TRAIL_BUCKET,
}


def bootstrap_stack(
    graph: Graph,
    *,
    kms: Any,
    s3: Any,
    sagemaker: Any,
    iam: Any | None = None,
    peers: Mapping[str, str] | None = None,
) -> EmulatedStack:
    """Create the graph's keys, buckets (with policies), model package groups (with their
    policies) and, given an IAM client, its roles with their trust and inline policies.

    The stack lands in the account the clients act in (`in_account`). `peers` maps values
    the stack file names in another stack's account (its account id as `:<id>:`-free
    digits, a trusted key ARN) to that stack's emulator values (`promotion_peers`)."""
    region = s3.meta.region_name
    remap = ArnRewrite()
    for graph_value, emulator_value in (peers or {}).items():
        if graph_value.isdigit():
            remap.add_account_id(graph_value, emulator_value)
        else:
            remap.add(graph_value, emulator_value)
    key_arns: dict[str, str] = {}  # graph key ARN -> emulator key ARN
    aliases: dict[str, tuple[str, str]] = {}  # role -> (alias, emulator key ARN)
    for alias in graph.of_type(ALIAS):
        name = alias.inputs["name"]
        graph_key = _key_for(graph, alias.inputs["targetKeyId"])
        arn, key_id = _ensure_key(kms, graph_key, name)
        graph_arn = str(graph_key.outputs.get("arn"))
        key_arns[graph_arn] = arn
        remap.add(graph_arn, arn)
        remap.add(str(graph_key.id), key_id)
        remap.add_account(graph_arn, arn)
        role = name.rsplit("-", 1)[-1]
        aliases[role] = (name, arn)
    # Key policies name the stack's roles and account: put them once every id is known (a
    # stack in another account than the graph's mock one needs them rewritten).
    for graph_arn, arn in key_arns.items():
        graph_key = _key_for(graph, graph_arn)
        if graph_key.inputs.get("policy"):
            kms.put_key_policy(
                KeyId=arn, PolicyName="default", Policy=remap(graph_key.inputs["policy"])
            )

    prefix = f"mlops-{graph.stack}-"
    buckets: dict[str, str] = {}
    for bucket in graph.of_type(BUCKET):
        name = str(bucket.id)
        _ensure_bucket(s3, name, region, bool(bucket.inputs.get("objectLockEnabled")))
        buckets[bucket.name.removeprefix(prefix)] = name
        remap.add(str(bucket.id), name)  # the emulator keeps the graph's bucket names
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
        _configure_bucket(s3, graph, bucket)

    groups: list[str] = []
    for group in graph.of_type(PACKAGE_GROUP):
        group_name = group.inputs["modelPackageGroupName"]
        _ensure_group(sagemaker, group_name, group.inputs.get("modelPackageGroupDescription", ""))
        groups.append(group_name)
    for policy in graph.of_type(GROUP_POLICY):
        sagemaker.put_model_package_group_policy(
            ModelPackageGroupName=policy.inputs["modelPackageGroupName"],
            ResourcePolicy=remap(policy.inputs["resourcePolicy"]),
        )

    roles = _create_roles(graph, iam, remap) if iam is not None else {}

    data_alias, data_arn = aliases["data"]
    signing_alias, signing_arn = aliases["signing"]
    return EmulatedStack(
        stack=graph.stack,
        account_id=_account_of(signing_arn),
        region=region,
        data_key_arn=data_arn,
        data_key_alias=data_alias,
        signing_key_arn=signing_arn,
        signing_key_alias=signing_alias,
        buckets=buckets,
        model_package_groups=tuple(groups),
        key_arns=key_arns,
        roles={name.removeprefix(prefix): arn for name, arn in roles.items()},
        rewrites=dict(remap.values),
    )


def _create_roles(graph: Graph, iam: Any, remap: ArnRewrite) -> dict[str, str]:
    """Every role of the graph under its graph id (the name `pulumi up` gives it), then
    every inline policy on it; returns the role's resource name -> emulator ARN."""
    arns: dict[str, str] = {}
    for role in graph.of_type(ROLE):
        arns[role.name] = _ensure_role(iam, role, remap)
    for policy in graph.of_type(ROLE_POLICY):
        iam.put_role_policy(
            RoleName=remap(str(policy.inputs["role"])),
            PolicyName=str(policy.id),
            PolicyDocument=remap(policy.inputs["policy"]),
        )
    return arns


def _ensure_role(iam: Any, role: Resource, remap: ArnRewrite) -> str:
    name = str(role.id)
    try:
        return str(iam.get_role(RoleName=name)["Role"]["Arn"])
    except ClientError as error:
        if error_code(error) != "NoSuchEntity":
            raise
    request: dict[str, Any] = {
        "RoleName": name,
        "AssumeRolePolicyDocument": remap(role.inputs["assumeRolePolicy"]),
        "Description": role.inputs.get("description", ""),
        "Tags": [{"Key": k, "Value": v} for k, v in (role.inputs.get("tags") or {}).items()],
    }
    if role.inputs.get("maxSessionDuration"):
        request["MaxSessionDuration"] = int(role.inputs["maxSessionDuration"])
    return str(iam.create_role(**request)["Role"]["Arn"])


def _account_of(arn: str) -> str:
    parts = arn.split(":")
    if len(parts) < 6 or not parts[0] == "arn":
        raise ValueError(f"not an ARN: {arn!r}")
    return parts[4]


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


def _configure_bucket(s3: Any, graph: Graph, bucket: Resource) -> None:
    """The bucket's tags, ownership controls and lifecycle rules, as the graph declares them."""
    name = str(bucket.id)
    tags = bucket.inputs.get("tags") or {}
    if tags:
        s3.put_bucket_tagging(
            Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}
        )
    for resource in graph.attached_to(OWNERSHIP, "bucket", name):
        ownership = resource.inputs["rule"]["objectOwnership"]
        s3.put_bucket_ownership_controls(
            Bucket=name, OwnershipControls={"Rules": [{"ObjectOwnership": ownership}]}
        )
    for resource in graph.attached_to(LIFECYCLE, "bucket", name):
        rules = [_aws_case(rule) for rule in resource.inputs["rules"]]
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": rules})


def _aws_case(value: Any) -> Any:
    """Pulumi's camelCase inputs in the S3 API's PascalCase (`id` is `ID`); whole numbers,
    which the engine carries as floats, as integers."""
    if isinstance(value, dict):
        return {
            ("ID" if key == "id" else key[:1].upper() + key[1:]): _aws_case(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_aws_case(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


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


def promotion_peers(target: Any, source: EmulatedStack) -> dict[str, str]:
    """What the target stack's file (`StackConfig`) names in the source stack's account, ->
    the source's emulator values: its account id and its trusted signing key ARNs."""
    promotion = target.promotion
    if promotion is None or promotion.from_stack != source.stack:
        return {}
    peers = {promotion.source_account_id: source.account_id}
    for arn in promotion.trusted_signing_key_arns:
        peers[arn] = source.signing_key_arn
    return peers
