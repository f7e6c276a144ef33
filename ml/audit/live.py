"""The live audit: what is deployed, read with read-only calls, as a resource graph.

The declared graph (the stack file rendered offline) says which resources the stack has
and how the pack names them; the stack's outputs (`pulumi stack output --json`) say what
they are called in the account. The declared outputs (the render records them) and the
deployed ones are paired value by value, so every declared bucket, key, role, topic and
trail gets its deployed name; each is then read with Get/List/Describe calls (the
auditor role holds exactly these, `infra/components/permissions.py`) and written back in
the render's format: the same types, URNs and camelCase inputs, with the deployed values.
A configuration the declaration has and the account lacks is simply absent, so the pack
fails on it as it would on a graph without it; a bucket, key, role, topic or trail the
outputs name that does not exist is reported missing and fails the audit.

What the reader covers (types below); everything else in the declared graph is left out
of the live graph and listed in the report's source notes. AWS does not report a few
Pulumi settings (`forceDestroy`, a key's deletion window): those are kept as declared and
named in the notes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from common.errors import MlopsError
from ml.aws import aws_errors, error_code

if TYPE_CHECKING:
    from ml.audit.sources import Source

BUCKET = "aws:s3/bucket:Bucket"
KEY = "aws:kms/key:Key"
ALIAS = "aws:kms/alias:Alias"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
TRAIL = "aws:cloudtrail/trail:Trail"
S3 = "aws:s3/"
BUCKET_PARTS = {
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": "public access block",
    "aws:s3/bucketServerSideEncryptionConfiguration:"
    "BucketServerSideEncryptionConfiguration": "default encryption",
    "aws:s3/bucketVersioning:BucketVersioning": "versioning",
    "aws:s3/bucketLogging:BucketLogging": "access logging",
    "aws:s3/bucketPolicy:BucketPolicy": "bucket policy",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": "ownership controls",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": "lifecycle rules",
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": "object lock",
}
READ_TYPES = (BUCKET, *BUCKET_PARTS, KEY, ALIAS, ROLE, ROLE_POLICY, TOPIC, TOPIC_POLICY, TRAIL)
DECLARED_ONLY = {BUCKET: ("forceDestroy",), KEY: ("deletionWindowInDays",)}
"""Inputs AWS does not report: kept from the declaration (the report says so)."""
# Error codes that mean "this configuration (or resource) does not exist".
ABSENT = frozenset(
    {
        "NoSuchBucket",
        "NoSuchBucketPolicy",
        "NoSuchPublicAccessBlockConfiguration",
        "ServerSideEncryptionConfigurationNotFoundError",
        "OwnershipControlsNotFoundError",
        "NoSuchLifecycleConfiguration",
        "ObjectLockConfigurationNotFoundError",
        "NoSuchTagSet",
        "NotFoundException",
        "NoSuchEntity",
        "NotFound",
        "TrailNotFoundException",
        "404",
    }
)
NO_CREDENTIALS = (
    "the live audit needs AWS credentials of the stack's auditor role: set AWS_PROFILE to a "
    "profile that assumes mlops-<stack>-auditor (with MFA), or export its session"
)


@dataclass(frozen=True)
class Clients:
    """boto3 clients of one session (the auditor's); `ml.aws.client` makes them."""

    sts: Any
    s3: Any
    kms: Any
    iam: Any
    sns: Any
    cloudtrail: Any

    @classmethod
    def of(cls, session: Any) -> Clients:
        from ml import aws

        return cls(*(aws.client(name, session) for name in cls.__dataclass_fields__))


@dataclass
class _Live:
    """The live graph being built, with what the report must say about it."""

    stack: str
    resources: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def add(
        self,
        declared: dict[str, Any] | None,
        kind: str,
        name: str,
        parent: str | None,
        inputs: dict[str, Any],
        resource_id: str,
        outputs: dict[str, Any] | None = None,
    ) -> None:
        """A live resource under the declared one's URN (or a new URN for one that exists
        only in the account, e.g. an inline policy added by hand)."""
        urn = declared["urn"] if declared else f"urn:pulumi:{self.stack}::mlops::{kind}::{name}"
        previous = declared["inputs"] if declared else {}
        kept = {k: previous[k] for k in DECLARED_ONLY.get(kind, ()) if k in previous}
        self.resources.append(
            {
                "urn": urn,
                "type": kind,
                "name": declared["name"] if declared else name,
                "parent": declared.get("parent") if declared else parent,
                "custom": True,
                "inputs": {**kept, **inputs},
                "id": resource_id,
                "outputs": {**(outputs or {}), **inputs},
            }
        )


def _pairs(declared: Any, deployed: Any) -> Iterator[tuple[str, str]]:
    """(declared value, deployed value) of every string output at the same place."""
    if isinstance(declared, dict) and isinstance(deployed, dict):
        for key in declared.keys() & deployed.keys():
            yield from _pairs(declared[key], deployed[key])
    elif isinstance(declared, list) and isinstance(deployed, list):
        for a, b in zip(declared, deployed, strict=False):
            yield from _pairs(a, b)
    elif isinstance(declared, str) and isinstance(deployed, str):
        yield declared, deployed


def deployed_names(declared_outputs: dict[str, Any], deployed_outputs: dict[str, Any]) -> dict:
    """Declared name or ARN -> deployed one, from the two sets of stack outputs; a key's id
    and a role's name follow from their ARNs."""
    names: dict[str, str] = {}
    for a, b in _pairs(declared_outputs, deployed_outputs):
        names[a] = b
        if ":key/" in a and ":key/" in b:
            names[a.rsplit("/", 1)[1]] = b.rsplit("/", 1)[1]
        if ":role/" in a and ":role/" in b:
            names[a.rsplit("/", 1)[1]] = b.rsplit("/", 1)[1]
    return names


def _read(action: str, call: Callable[[], Any]) -> Any | None:
    """The answer of one read call, None when AWS says the thing does not exist; any other
    error (access denied above all) is one line."""
    with aws_errors(f"live audit, {action}"):
        try:
            return call()
        except ClientError as error:
            if error_code(error) in ABSENT:
                return None
            raise
    return None  # pragma: no cover - aws_errors re-raises


def _tags(pairs: list[dict[str, str]] | None, key: str = "Key", value: str = "Value") -> dict:
    return {pair[key]: pair[value] for pair in pairs or []}


def _document(value: Any) -> str:
    """A policy document as the render holds it: JSON text (boto3 hands IAM's decoded)."""
    return value if isinstance(value, str) else json.dumps(value)


def _buckets(live: _Live, graph: dict, names: dict, c: Clients) -> None:
    parts = {kind: [r for r in graph["resources"] if r["type"] == kind] for kind in BUCKET_PARTS}
    for bucket in (r for r in graph["resources"] if r["type"] == BUCKET):
        name = names.get(str(bucket["id"]))
        if name is None:
            continue
        what = f"bucket {name}"
        if _read(f"{what}: HeadBucket", lambda n=name: c.s3.head_bucket(Bucket=n)) is None:
            live.missing.append(f"{bucket['name']}: bucket {name} is not deployed")
            continue
        lock = _read(
            f"{what}: GetObjectLockConfiguration",
            lambda n=name: c.s3.get_object_lock_configuration(Bucket=n),
        )
        lock_config = (lock or {}).get("ObjectLockConfiguration") or {}
        tags = _read(f"{what}: GetBucketTagging", lambda n=name: c.s3.get_bucket_tagging(Bucket=n))
        live.add(
            bucket,
            BUCKET,
            bucket["name"],
            None,
            {
                "objectLockEnabled": lock_config.get("ObjectLockEnabled") == "Enabled",
                "tags": _tags((tags or {}).get("TagSet")),
            },
            name,
            {"arn": f"arn:aws:s3:::{name}", "bucket": name},
        )
        for kind, inputs in _bucket_parts(name, lock_config, c):
            declared = next(
                (r for r in parts[kind] if names.get(str(r["inputs"].get("bucket"))) == name), None
            )
            live.add(
                declared,
                kind,
                f"{bucket['name']}-live-{kind.rsplit(':', 1)[1]}",
                bucket.get("parent"),
                {**inputs, "bucket": name},
                name,
            )


def _bucket_parts(name: str, lock: dict, c: Clients) -> Iterator[tuple[str, dict[str, Any]]]:
    """(type, inputs) of each configuration the bucket has, in the render's shape."""
    kinds = list(BUCKET_PARTS)
    block = _read(
        f"bucket {name}: GetPublicAccessBlock", lambda: c.s3.get_public_access_block(Bucket=name)
    )
    if block is not None:
        config = block["PublicAccessBlockConfiguration"]
        yield (
            kinds[0],
            {
                "blockPublicAcls": config.get("BlockPublicAcls", False),
                "blockPublicPolicy": config.get("BlockPublicPolicy", False),
                "ignorePublicAcls": config.get("IgnorePublicAcls", False),
                "restrictPublicBuckets": config.get("RestrictPublicBuckets", False),
            },
        )
    sse = _read(
        f"bucket {name}: GetBucketEncryption", lambda: c.s3.get_bucket_encryption(Bucket=name)
    )
    if sse is not None:
        rules = []
        for rule in sse["ServerSideEncryptionConfiguration"].get("Rules", []):
            default = rule.get("ApplyServerSideEncryptionByDefault", {})
            by_default = {"sseAlgorithm": default.get("SSEAlgorithm")}
            if default.get("KMSMasterKeyID"):
                by_default["kmsMasterKeyId"] = default["KMSMasterKeyID"]
            converted: dict[str, Any] = {"applyServerSideEncryptionByDefault": by_default}
            if "BucketKeyEnabled" in rule:
                converted["bucketKeyEnabled"] = rule["BucketKeyEnabled"]
            rules.append(converted)
        yield kinds[1], {"rules": rules}
    versioning = _read(
        f"bucket {name}: GetBucketVersioning", lambda: c.s3.get_bucket_versioning(Bucket=name)
    )
    if versioning is not None:
        status = {"status": versioning.get("Status", "Disabled")}
        if "MFADelete" in versioning:
            status["mfaDelete"] = versioning["MFADelete"]
        yield kinds[2], {"versioningConfiguration": status}
    logging = _read(
        f"bucket {name}: GetBucketLogging", lambda: c.s3.get_bucket_logging(Bucket=name)
    )
    if logging and logging.get("LoggingEnabled"):
        enabled = logging["LoggingEnabled"]
        yield (
            kinds[3],
            {
                "targetBucket": enabled["TargetBucket"],
                "targetPrefix": enabled.get("TargetPrefix", ""),
            },
        )
    policy = _read(f"bucket {name}: GetBucketPolicy", lambda: c.s3.get_bucket_policy(Bucket=name))
    if policy is not None:
        yield kinds[4], {"policy": policy["Policy"]}
    owner = _read(
        f"bucket {name}: GetBucketOwnershipControls",
        lambda: c.s3.get_bucket_ownership_controls(Bucket=name),
    )
    if owner is not None:
        rules = owner["OwnershipControls"].get("Rules") or [{}]
        yield kinds[5], {"rule": {"objectOwnership": rules[0].get("ObjectOwnership")}}
    lifecycle = _read(
        f"bucket {name}: GetBucketLifecycleConfiguration",
        lambda: c.s3.get_bucket_lifecycle_configuration(Bucket=name),
    )
    if lifecycle is not None:
        yield kinds[6], {"rules": [_lifecycle_rule(rule) for rule in lifecycle.get("Rules", [])]}
    if lock.get("ObjectLockEnabled") == "Enabled" and lock.get("Rule"):
        retention = lock["Rule"].get("DefaultRetention", {})
        rule = {k.lower(): v for k, v in retention.items()}
        yield kinds[7], {"objectLockEnabled": "Enabled", "rule": {"defaultRetention": rule}}


def _camel_key(key: str) -> str:
    return "id" if key == "ID" else key[:1].lower() + key[1:]


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A lifecycle rule in Pulumi's camelCase (the keys the render holds)."""

    def camel(value: Any) -> Any:
        if isinstance(value, dict):
            return {_camel_key(k): camel(v) for k, v in value.items()}
        if isinstance(value, list):
            return [camel(v) for v in value]
        return value

    return camel(rule)


def _keys(live: _Live, graph: dict, names: dict, c: Clients) -> None:
    for key in (r for r in graph["resources"] if r["type"] == KEY):
        arn = names.get(str(key["outputs"].get("arn")))
        if arn is None:
            continue
        what = f"key {arn}"
        described = _read(f"{what}: DescribeKey", lambda a=arn: c.kms.describe_key(KeyId=a))
        if described is None:
            live.missing.append(f"{key['name']}: key {arn} is not deployed")
            continue
        meta = described["KeyMetadata"]
        policy = _read(
            f"{what}: GetKeyPolicy",
            lambda a=arn: c.kms.get_key_policy(KeyId=a, PolicyName="default"),
        )
        rotation = (
            _read(
                f"{what}: GetKeyRotationStatus",
                lambda a=arn: c.kms.get_key_rotation_status(KeyId=a),
            )
            or {}
        )
        tags = _read(f"{what}: ListResourceTags", lambda a=arn: c.kms.list_resource_tags(KeyId=a))
        inputs: dict[str, Any] = {
            "description": meta.get("Description", ""),
            "customerMasterKeySpec": meta.get("KeySpec") or meta.get("CustomerMasterKeySpec"),
            "keyUsage": meta.get("KeyUsage"),
            "isEnabled": meta.get("KeyState") == "Enabled",
            "enableKeyRotation": bool(rotation.get("KeyRotationEnabled")),
            "policy": (policy or {}).get("Policy", ""),
            "tags": _tags((tags or {}).get("Tags"), "TagKey", "TagValue"),
        }
        if rotation.get("RotationPeriodInDays"):
            inputs["rotationPeriodInDays"] = rotation["RotationPeriodInDays"]
        live.add(
            key,
            KEY,
            key["name"],
            None,
            inputs,
            meta["KeyId"],
            {"arn": meta["Arn"], "keyId": meta["KeyId"]},
        )
    for alias in (r for r in graph["resources"] if r["type"] == ALIAS):
        if str(alias["inputs"].get("targetKeyId")) not in names:
            continue  # its key is not named by the outputs: neither is read
        name = alias["inputs"]["name"]
        described = _read(f"alias {name}: DescribeKey", lambda n=name: c.kms.describe_key(KeyId=n))
        if described is None:
            live.missing.append(f"{alias['name']}: alias {name} is not deployed")
            continue
        live.add(
            alias,
            ALIAS,
            alias["name"],
            None,
            {"name": name, "targetKeyId": described["KeyMetadata"]["KeyId"]},
            name,
        )


def _roles(live: _Live, graph: dict, names: dict, c: Clients) -> None:
    declared_policies = [r for r in graph["resources"] if r["type"] == ROLE_POLICY]
    for role in (r for r in graph["resources"] if r["type"] == ROLE):
        name = names.get(str(role["id"]))
        if name is None:
            continue
        what = f"role {name}"
        got = _read(f"{what}: GetRole", lambda n=name: c.iam.get_role(RoleName=n))
        if got is None:
            live.missing.append(f"{role['name']}: role {name} is not deployed")
            continue
        r = got["Role"]
        inputs = {
            "name": name,
            "assumeRolePolicy": _document(r["AssumeRolePolicyDocument"]),
            "description": r.get("Description", ""),
            "maxSessionDuration": r.get("MaxSessionDuration"),
            "tags": _tags(r.get("Tags")),
        }
        live.add(role, ROLE, role["name"], None, inputs, name, {"arn": r["Arn"], "name": name})
        listed = (
            _read(f"{what}: ListRolePolicies", lambda n=name: c.iam.list_role_policies(RoleName=n))
            or {}
        )
        for policy_name in listed.get("PolicyNames", []):
            document = _read(
                f"{what}: GetRolePolicy {policy_name}",
                lambda n=name, p=policy_name: c.iam.get_role_policy(RoleName=n, PolicyName=p),
            )
            if document is None:
                continue
            declared = next(
                (p for p in declared_policies if names.get(str(p["inputs"].get("role"))) == name),
                None,
            )
            live.add(
                declared,
                ROLE_POLICY,
                f"{role['name']}-live-{policy_name}",
                role.get("parent"),
                {
                    "role": name,
                    "name": policy_name,
                    "policy": _document(document["PolicyDocument"]),
                },
                f"{name}:{policy_name}",
            )
            declared_policies = [p for p in declared_policies if p is not declared]
        attached = (
            _read(
                f"{what}: ListAttachedRolePolicies",
                lambda n=name: c.iam.list_attached_role_policies(RoleName=n),
            )
            or {}
        )
        for policy in attached.get("AttachedPolicies", []):
            arn = policy["PolicyArn"]
            live.add(
                None,
                ATTACHMENT,
                f"{role['name']}-live-{policy['PolicyName']}",
                role.get("parent"),
                {"role": name, "policyArn": arn},
                f"{name}/{arn}",
            )


def _topics(live: _Live, graph: dict, names: dict, c: Clients) -> None:
    declared_policies = [r for r in graph["resources"] if r["type"] == TOPIC_POLICY]
    for topic in (r for r in graph["resources"] if r["type"] == TOPIC):
        arn = names.get(str(topic["outputs"].get("arn")))
        if arn is None:
            continue
        got = _read(
            f"topic {arn}: GetTopicAttributes", lambda a=arn: c.sns.get_topic_attributes(TopicArn=a)
        )
        if got is None:
            live.missing.append(f"{topic['name']}: topic {arn} is not deployed")
            continue
        attributes = got["Attributes"]
        tags = _read(
            f"topic {arn}: ListTagsForResource",
            lambda a=arn: c.sns.list_tags_for_resource(ResourceArn=a),
        )
        name = arn.rsplit(":", 1)[1]
        inputs = {
            "name": name,
            "displayName": attributes.get("DisplayName", ""),
            "tags": _tags((tags or {}).get("Tags")),
        }
        if attributes.get("KmsMasterKeyId"):
            inputs["kmsMasterKeyId"] = attributes["KmsMasterKeyId"]
        live.add(topic, TOPIC, topic["name"], None, inputs, arn, {"arn": arn, "name": name})
        if attributes.get("Policy"):
            declared = next(
                (p for p in declared_policies if names.get(str(p["inputs"].get("arn"))) == arn),
                None,
            )
            live.add(
                declared,
                TOPIC_POLICY,
                f"{topic['name']}-live-policy",
                topic.get("parent"),
                {"arn": arn, "policy": attributes["Policy"]},
                arn,
            )


def _trails(live: _Live, graph: dict, names: dict, c: Clients) -> None:
    for trail in (r for r in graph["resources"] if r["type"] == TRAIL):
        arn = names.get(str(trail["outputs"].get("arn")))
        if arn is None:
            continue
        got = _read(f"trail {arn}: GetTrail", lambda a=arn: c.cloudtrail.get_trail(Name=a))
        if got is None:
            live.missing.append(f"{trail['name']}: trail {arn} is not deployed")
            continue
        t = got["Trail"]
        status = (
            _read(
                f"trail {arn}: GetTrailStatus", lambda a=arn: c.cloudtrail.get_trail_status(Name=a)
            )
            or {}
        )
        selectors = (
            _read(
                f"trail {arn}: GetEventSelectors",
                lambda a=arn: c.cloudtrail.get_event_selectors(TrailName=a),
            )
            or {}
        )
        tags = (
            _read(
                f"trail {arn}: ListTags", lambda a=arn: c.cloudtrail.list_tags(ResourceIdList=[a])
            )
            or {}
        )
        tag_list = (tags.get("ResourceTagList") or [{}])[0].get("TagsList")
        inputs: dict[str, Any] = {
            "name": t["Name"],
            "s3BucketName": t.get("S3BucketName"),
            "s3KeyPrefix": t.get("S3KeyPrefix"),
            "includeGlobalServiceEvents": t.get("IncludeGlobalServiceEvents", False),
            "isMultiRegionTrail": t.get("IsMultiRegionTrail", False),
            "enableLogFileValidation": t.get("LogFileValidationEnabled", False),
            "enableLogging": bool(status.get("IsLogging")),
            "eventSelectors": [
                {
                    "includeManagementEvents": s.get("IncludeManagementEvents", False),
                    "readWriteType": s.get("ReadWriteType"),
                    "dataResources": [
                        {"type": d["Type"], "values": d.get("Values", [])}
                        for d in s.get("DataResources", [])
                    ],
                }
                for s in selectors.get("EventSelectors", [])
            ],
            "tags": _tags(tag_list),
        }
        for key, value in (
            ("kmsKeyId", "KmsKeyId"),
            ("cloudWatchLogsGroupArn", "CloudWatchLogsLogGroupArn"),
            ("cloudWatchLogsRoleArn", "CloudWatchLogsRoleArn"),
        ):
            if t.get(value):
                inputs[key] = t[value]
        live.add(
            trail,
            TRAIL,
            trail["name"],
            None,
            inputs,
            t["Name"],
            {"arn": t.get("TrailARN", arn), "name": t["Name"]},
        )


READERS = (_keys, _buckets, _roles, _topics, _trails)


def read_live(
    declared: dict[str, Any], deployed_outputs: dict[str, Any], clients: Clients
) -> tuple[dict[str, Any], Source]:
    """The deployed resources of the declared graph's stack as a graph, and its source."""
    from ml.audit.sources import Source

    stack = declared["stack"]
    environment = deployed_outputs.get("environment")
    if environment is not None and environment != stack:
        raise MlopsError(
            f"the stack outputs are of stack {environment!r}, not {stack!r}: export them "
            f"with `pulumi stack output --json --stack {stack}`"
        )
    with aws_errors(f"live audit of {stack}: who is calling (sts:GetCallerIdentity)"):
        caller = clients.sts.get_caller_identity()["Arn"]
    names = deployed_names(declared.get("outputs") or {}, deployed_outputs)
    live = _Live(stack)
    for reader in READERS:
        reader(live, declared, names, clients)
    if not live.resources and not live.missing:
        raise MlopsError(
            f"the stack outputs name none of stack {stack}'s declared resources: pass the "
            f"outputs of the deployed stack (`pulumi stack output --json --stack {stack}`)"
        )
    components = [r for r in declared["resources"] if r["type"].startswith("mlops:")]
    read = {r["urn"] for r in live.resources}
    unread = sorted(
        {
            r["type"]
            for r in declared["resources"]
            if not r["type"].startswith("mlops:") and r["urn"] not in read
        }
    )
    notes = [
        f"read {len(live.resources)} resources as {caller}, with Get/List/Describe calls only",
        *(f"missing: {m}" for m in live.missing),
        "kept as declared (AWS does not report them): "
        + "; ".join(f"{kind} {', '.join(keys)}" for kind, keys in DECLARED_ONLY.items()),
        "not read (declared, outside what the live audit reads or not named by the stack "
        "outputs): " + (", ".join(unread) or "nothing"),
    ]
    graph = {
        "stack": stack,
        "project": declared.get("project", "mlops"),
        "resources": components + live.resources,
        "outputs": deployed_outputs,
    }
    return graph, Source("live", caller, tuple(notes), tuple(live.missing))


def read_outputs(path: Path | None, stack: str) -> dict[str, Any]:
    """The deployed stack's outputs (`pulumi stack output --json`); one line when absent."""
    from ml.audit.sources import read_json

    if path is None:
        raise MlopsError(
            f"--live needs the deployed names: write them with `pulumi stack output --json "
            f"--stack {stack} > outputs.json` and pass --stack-outputs outputs.json"
        )
    outputs = read_json(path, "`pulumi stack output --json`")
    if not isinstance(outputs, dict) or not outputs:
        raise MlopsError(f"{path}: expected the JSON object `pulumi stack output --json` writes")
    return outputs


def live_graph(stack: str, root: Path, outputs_path: Path | None) -> tuple[dict[str, Any], Source]:
    """`mlops audit --live`: render the declaration, read what it names, as the caller."""
    from botocore.exceptions import NoCredentialsError

    from infra.config import load_stack
    from infra.offline import render_graph
    from ml import aws

    cfg = load_stack(stack, root)  # an unknown stack or a bad stack file: one line
    deployed = read_outputs(outputs_path, stack)
    session = aws.session(region=str(deployed.get("region") or cfg.region))
    if session.get_credentials() is None:  # before the render: fail fast
        raise MlopsError(NO_CREDENTIALS)
    declared = render_graph(stack, root)
    try:
        return read_live(declared, deployed, Clients.of(session))
    except NoCredentialsError:
        raise MlopsError(NO_CREDENTIALS) from None
