"""IAM enforcement in the emulator: every call authorised on action, resource and conditions.

moto's own enforcement (`INITIAL_NO_AUTH_ACTION_COUNT`, `moto.iam.access_control`) checks
the action only for most services: it is handed `*` as the resource, ignores
`NotResource`, resource policies and most conditions, and treats an Allow whose condition
fails as a Deny. With enforcement on, the emulator keeps moto's authentication (the access
key's session, the SigV4 signature) and replaces the decision: per call it works out what
AWS would authorise, the `Authorization`s (the IAM action, the ARN it targets, the condition
keys the request carries, and the resource policy that governs it), and asks
`policies.evaluation`, the project's one IAM evaluator, with the caller role's inline
policies and that resource policy.

Modelled per service (the ones the release uses):

- S3: the object or bucket ARN (and the bucket's encryption, public access block,
  ownership and object lock settings under their own IAM actions, which moto's action
  map lacks); `aws:SecureTransport` (the loopback endpoint counts as
  TLS), `s3:x-amz-server-side-encryption[-aws-kms-key-id]`, `s3:prefix`; the bucket policy.
  What S3 does with the caller's rights on AWS is authorised too: `kms:GenerateDataKey` for
  an SSE-KMS upload and `kms:Decrypt` for reading an SSE-KMS object, on the key, with
  `kms:ViaService = s3.<region>.amazonaws.com` and the encryption context S3 sends
  (`kms:EncryptionContext:aws:s3:arn`: the bucket ARN with S3 Bucket Keys).
- KMS: the key ARN (key ids, aliases and alias ARNs resolved); `kms:SigningAlgorithm`,
  `kms:MessageType`, `kms:RequestAlias`, `kms:CallerAccount`; the key policy, which must
  allow the call itself or delegate to IAM by naming the account root.
- SageMaker: the model package, group, training or processing job, model, endpoint
  (config) ARN named in the request; `sagemaker:ModelApprovalStatus`, `NetworkIsolation`,
  `InterContainerTrafficEncryption`, `VolumeKmsKey`, `OutputKmsKey`, `VpcSubnets`,
  `VpcSecurityGroupIds`, `aws:TagKeys`/`aws:RequestTag/*`; creating with tags also needs
  `sagemaker:AddTags`; a `RoleArn`/`ExecutionRoleArn` needs `iam:PassRole` on that role
  with `iam:PassedToService = sagemaker.amazonaws.com`.
- CloudWatch (signed as `monitoring`): `cloudwatch:<Action>` on `*`; PutMetricData with
  `cloudwatch:namespace`.
- STS: `AssumeRole` on the role ARN, which the role's trust policy must allow;
  `GetCallerIdentity` needs no permission (as on AWS).
- IAM: a call that names a role (`RoleName`: `GetRole`, `GetRolePolicy`, ...) targets
  that role's ARN.
- Anything else: the action, on the resource moto names (usually `*`).

The emulator's administrator (its fixed access key: the bootstrap, standing in for
`pulumi up`) is the account root and is not checked. Every authorised call of a role is
recorded in `LEDGER` with the statements that allowed it; every denial too, so the demo
can name the first one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlparse

from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import JsonRESTError, _RESTError
from moto.iam.access_control import AssumedRoleAccessKey, IAMRequestBase
from moto.iam.exceptions import NotFoundException as IamNotFound
from moto.iam.models import iam_backends
from moto.kms.exceptions import NotFoundException as KmsNotFound
from moto.kms.models import kms_backends
from moto.s3.exceptions import S3ClientError
from moto.s3.models import s3_backends
from moto.sagemaker.models import sagemaker_backends
from moto.utilities.utils import get_partition

from common.iam_document import MalformedPolicy, parse_document
from ml.emulator.server import ADMINISTRATOR_KEY
from policies.evaluation import Outcome, Policy, Request, UnsupportedPolicy, evaluate


@dataclass(frozen=True)
class Authorization:
    """One permission a call needs, as IAM checks it."""

    action: str
    resource: str
    context: dict[str, list[str]] = field(default_factory=dict)
    resource_policy: Policy | None = None
    resource_required: bool = False
    """KMS keys and role trust: the resource policy must allow (or delegate to IAM)."""
    resource_account: str | None = None
    """The account owning the resource, when known: another account's resource needs its
    policy to allow the caller too (cross-account access)."""


@dataclass(frozen=True)
class AuthorisedCall:
    principal: str
    role: str
    action: str
    resource: str
    statements: tuple[tuple[str, str], ...]
    """(policy name, Sid) of every Allow statement that matched."""


@dataclass(frozen=True)
class Denial:
    principal: str
    action: str
    resource: str
    reason: str

    def line(self) -> str:
        return f"denied: {self.principal} may not {self.action} on {self.resource} ({self.reason})"


class Ledger:
    """What enforcement decided, in order; thread-safe (the server is threaded)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[AuthorisedCall] = []
        self.denials: list[Denial] = []
        self.administrator_calls = 0

    def record(self, call: AuthorisedCall) -> None:
        with self._lock:
            self.calls.append(call)

    def deny(self, denial: Denial) -> None:
        with self._lock:
            self.denials.append(denial)

    def administrator(self) -> None:
        with self._lock:
            self.administrator_calls += 1

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()
            self.denials.clear()
            self.administrator_calls = 0

    def identities(self) -> set[str]:
        return {call.role for call in self.calls}


LEDGER = Ledger()
_ENFORCING = {"on": False}


def enforcing() -> bool:
    return _ENFORCING["on"]


def set_enforcing(on: bool) -> None:
    """Turn enforcement on or off for this process (the emulator server's)."""
    _ENFORCING["on"] = on


@contextmanager
def enforced(on: bool = True) -> Iterator[Ledger]:
    """Enforcement on (or off) for the block, with an empty ledger; restored after."""
    before = enforcing()
    set_enforcing(on)
    LEDGER.clear()
    try:
        yield LEDGER
    finally:
        set_enforcing(before)


class AccessDenied(_RESTError):
    code = 403

    def __init__(self, message: str):
        super().__init__("AccessDenied", message)


# ---- the patch --------------------------------------------------------------------------


def authorize_with_evaluator(original: Callable[..., None]) -> Callable[..., None]:
    """Wraps `ActionAuthenticatorMixin._authenticate_and_authorize_action`."""

    def authorize(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        if not enforcing():
            return original(self, iam_request_cls, resource)
        authorization = self.headers.get("Authorization", "")
        key_id = authorization.partition("Credential=")[2].partition("/")[0]
        if key_id == ADMINISTRATOR_KEY:
            LEDGER.administrator()
            return None
        if not authorization:
            raise _denied(self, "anonymous", "*", resource, "the request is not signed")
        path = self.raw_path + (f"?{urlparse(self.uri).query}" if urlparse(self.uri).query else "")
        request: IAMRequestBase = iam_request_cls(
            account_id=self.current_account,
            method=self.method,
            path=path,
            data=self.data,
            body=self.raw_body,
            headers=self.headers,
            action=self._get_action(),
        )
        request.check_signature()
        access_key = request._access_key
        principal = access_key.arn
        if request._action == "sts:GetCallerIdentity":
            return None  # needs no permission on AWS either
        if not isinstance(access_key, AssumedRoleAccessKey):
            raise _denied(self, principal, request._action, resource, "only roles are modelled")
        # The caller's own account (its session's), which cross-account routing of the
        # request (patches "cross-account-arns") does not change.
        account, partition = principal.split(":")[4], get_partition(request._region)
        role_name = access_key._owner_role_name
        role_arn = f"arn:{partition}:iam::{account}:role/{role_name}"
        identity = _inline_policies(account, partition, role_name)
        needs = _authorizations(self, request, resource)
        for need in needs:
            ask = Request(principal, need.action, need.resource, need.context, (role_arn,))
            try:
                outcome = evaluate(
                    ask,
                    identity,
                    [need.resource_policy] if need.resource_policy else [],
                    resource_required=need.resource_required,
                    resource_account=need.resource_account,
                )
            except UnsupportedPolicy as error:
                outcome = Outcome("implicit-deny", (), f"emulator cannot evaluate: {error}")
            if not outcome.allowed:
                raise _denied(self, principal, need.action, need.resource, outcome.reason)
            LEDGER.record(
                AuthorisedCall(
                    principal,
                    role_name,
                    need.action,
                    need.resource,
                    tuple((m.policy, m.statement.label) for m in outcome.matches),
                )
            )
        return None

    return authorize


def _denied(response: Any, principal: str, action: str, resource: str, reason: str) -> Exception:
    LEDGER.deny(Denial(principal, action, resource, reason))
    message = f"User: {principal} is not authorized to perform: {action} on resource: {resource} "
    message += f"because {reason}"
    service = getattr(response, "service_name", "")
    if service == "s3":
        return S3ClientError("AccessDenied", message)
    if (response.headers.get("Content-Type") or "").startswith("application/x-amz-json"):
        return JsonRESTError("AccessDeniedException", message)
    return AccessDenied(message)


def _inline_policies(account: str, partition: str, role_name: str) -> list[Policy]:
    backend = iam_backends[account][partition]
    policies = []
    for name in backend.list_role_policies(role_name):
        _, document = backend.get_role_policy(role_name, name)
        policies.append(Policy(f"{role_name}/{name}", _statements(document)))
    return policies


def _statements(document: Any) -> list[Any]:
    try:
        return parse_document(document)
    except MalformedPolicy as error:
        raise UnsupportedPolicy(f"malformed policy: {error}") from None


# ---- what each call needs ---------------------------------------------------------------


def _authorizations(response: Any, request: IAMRequestBase, resource: str) -> list[Authorization]:
    service = request._service
    caller = request._access_key.arn.split(":")[4]
    scope = _Scope(caller, request._region)
    if service == "s3":
        return _s3(response, request, resource, scope)
    body = _json_body(response)
    if service == "kms":
        return _kms(request._action, body, scope)
    if service == "sagemaker":
        return _sagemaker(request._action, body, scope)
    if service == "sts":
        return _sts(request._action, _query(response), scope)
    if service == "monitoring":
        return [_cloudwatch(response, request._action, scope)]
    if service == "iam":
        return _iam(request._action, _query(response), scope)
    return [Authorization(request._action, resource)]


@dataclass(frozen=True)
class _Scope:
    account: str
    region: str

    @property
    def partition(self) -> str:
        return get_partition(self.region)

    def arn(self, service: str, resource: str, region: bool = True) -> str:
        where = self.region if region else ""
        return f"arn:{self.partition}:{service}:{where}:{self.account}:{resource}"

    def common(self) -> dict[str, list[str]]:
        return {"aws:securetransport": ["true"], "aws:requestedregion": [self.region]}


def _json_body(response: Any) -> dict[str, Any]:
    raw = response.body
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    try:
        parsed = json.loads(raw or "{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _query(response: Any) -> dict[str, str]:
    return {k: v[0] for k, v in (response.querystring or {}).items() if v}


# CloudWatch ---------------------------------------------------------------------------------


def _cloudwatch(response: Any, action: str, scope: _Scope) -> Authorization:
    """Signed as `monitoring`, authorised as `cloudwatch:`; PutMetricData has no resource
    and carries `cloudwatch:namespace`, what the monitoring roles are scoped by."""
    name = "cloudwatch:" + action.partition(":")[2]
    context = scope.common()
    if name == "cloudwatch:PutMetricData":
        context["cloudwatch:namespace"] = [str(response._get_param("Namespace"))]
    return Authorization(name, "*", context)


# S3 ----------------------------------------------------------------------------------------

_S3_ACTIONS = {"HeadBucket": "ListBucket"}
# Bucket subresources moto's action map lacks (it names their GETs ListBucket and their
# PUTs CreateBucket): subresource -> (IAM action to read, IAM action to change).
_S3_SUBRESOURCES = {
    "encryption": ("GetEncryptionConfiguration", "PutEncryptionConfiguration"),
    "publicAccessBlock": ("GetBucketPublicAccessBlock", "PutBucketPublicAccessBlock"),
    "ownershipControls": ("GetBucketOwnershipControls", "PutBucketOwnershipControls"),
    "object-lock": ("GetBucketObjectLockConfiguration", "PutBucketObjectLockConfiguration"),
}


def _s3_action(moto_action: str, method: str, query: dict[str, list[str]], key: bool) -> str:
    """The IAM action of an S3 request (moto's, corrected for the subresources above)."""
    if not key:
        for subresource, (read, change) in _S3_SUBRESOURCES.items():
            if subresource in query:
                return "s3:" + (read if method in ("GET", "HEAD") else change)
    return "s3:" + _S3_ACTIONS.get(moto_action, moto_action)


def _s3(response: Any, request: IAMRequestBase, resource: str, scope: _Scope) -> list[Any]:
    query = parse_qs(urlparse(response.uri).query, keep_blank_values=True)
    is_object = ":::" in resource and "/" in resource.split(":::", 1)[1]
    action = _s3_action(request._action[3:], str(response.method), query, is_object)
    headers = {str(k).lower(): str(v) for k, v in dict(response.headers).items()}
    context = scope.common()
    for header in ("x-amz-server-side-encryption", "x-amz-server-side-encryption-aws-kms-key-id"):
        if header in headers:
            context[f"s3:{header}"] = [headers[header]]
    if action == "s3:ListBucket" and "prefix" in query:
        context["s3:prefix"] = query["prefix"][:1]
    bucket_name = resource.split(":::", 1)[1].split("/", 1)[0] if ":::" in resource else ""
    # Bucket names are global: the bucket may be another account's.
    _, owner = s3_backends.bucket_accounts.get(bucket_name, (scope.partition, scope.account))
    bucket = s3_backends[owner][scope.partition].buckets.get(bucket_name)
    policy = None
    if bucket is not None and bucket.policy:
        text = bucket.policy.decode() if isinstance(bucket.policy, bytes) else bucket.policy
        policy = Policy(f"bucket policy of {bucket_name}", _statements(text))
    context["s3:resourceaccount"] = [owner]
    needs: list[Authorization] = [
        Authorization(action, resource, context, policy, resource_account=owner)
    ]
    key_arn = _s3_kms_key(response, action, headers, bucket, resource, _Scope(owner, scope.region))
    if key_arn is not None:
        kms_action = "kms:GenerateDataKey" if action == "s3:PutObject" else "kms:Decrypt"
        via = {
            **scope.common(),
            "kms:viaservice": [f"s3.{scope.region}.amazonaws.com"],
            "kms:calleraccount": [scope.account],
            "kms:encryptioncontext:aws:s3:arn": [_s3_context(bucket, resource, scope)],
        }
        needs.append(_kms_need(kms_action, key_arn, via, scope))
    return needs


def _s3_context(bucket: Any, resource: str, scope: _Scope) -> str:
    """The encryption context S3 sends KMS: the bucket's ARN with S3 Bucket Keys (every
    bucket of this project), else the object's."""
    rule = (getattr(bucket, "encryption", None) or {}).get("Rule") or {}
    rules = rule if isinstance(rule, list) else [rule]
    if any(str(r.get("BucketKeyEnabled", "")).lower() == "true" for r in rules):
        return resource.split("/", 1)[0]
    return resource


def _s3_kms_key(
    response: Any, action: str, headers: dict[str, str], bucket: Any, resource: str, scope: _Scope
) -> str | None:
    """The KMS key S3 uses for the caller: the upload's (or bucket default's) SSE-KMS
    key when writing a new object, the stored object's key when reading it."""
    if bucket is None:
        return None
    query = parse_qs(urlparse(response.uri).query, keep_blank_values=True)
    if action == "s3:PutObject" and "uploadId" not in query:
        if headers.get("x-amz-server-side-encryption") == "aws:kms":
            key = headers.get("x-amz-server-side-encryption-aws-kms-key-id")
            return _resolve_key(key or "alias/aws/s3", scope)
        default = _find(bucket.encryption, "KMSMasterKeyID")
        return _resolve_key(default, scope) if default else None
    if action in ("s3:GetObject", "s3:GetObjectVersion") and "/" in resource.split(":::", 1)[1]:
        key_name = resource.split(":::", 1)[1].split("/", 1)[1]
        stored = bucket.keys.get(key_name)
        if stored is not None and stored.encryption == "aws:kms" and stored.kms_key_id:
            return _resolve_key(stored.kms_key_id, scope)
    return None


def _find(value: Any, name: str) -> str | None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if key == name and isinstance(item, str):
                return item
            found = _find(item, name)
            if found:
                return found
    if isinstance(value, list):
        for item in value:
            found = _find(item, name)
            if found:
                return found
    return None


# KMS ---------------------------------------------------------------------------------------

_KMS_ACCOUNT_WIDE = {"kms:CreateKey", "kms:ListAliases", "kms:ListKeys", "kms:GenerateRandom"}


def _resolve_key(key_id: str | None, scope: _Scope) -> str:
    """A key id, key ARN, alias name or alias ARN -> the key's ARN (unknown: as given); an
    ARN is looked up in the account it names."""
    if not key_id:
        return "*"
    backend = kms_backends[_arn_account(key_id) or scope.account][scope.region]
    try:
        return str(backend.describe_key(key_id).arn)
    except (KeyError, KmsNotFound):  # the service answers the unknown key itself
        return key_id


def _kms_need(action: str, key_arn: str, context: dict[str, list[str]], scope: _Scope) -> Any:
    owner = _arn_account(key_arn) or scope.account
    backend = kms_backends[owner][scope.region]
    key = backend.keys.get(key_arn.split(":key/")[-1])
    policy = Policy(f"key policy of {key_arn}", _statements(key.policy)) if key else None
    return Authorization(
        action, key_arn, context, policy, resource_required=key is not None, resource_account=owner
    )


def _arn_account(value: str) -> str | None:
    parts = value.split(":")
    return parts[4] if value.startswith("arn:") and len(parts) > 5 and parts[4] else None


def _kms(action: str, body: dict[str, Any], scope: _Scope) -> list[Any]:
    if action in _KMS_ACCOUNT_WIDE or "KeyId" not in body:
        return [Authorization(action, "*", scope.common())]
    key_id = str(body["KeyId"])
    context = {**scope.common(), "kms:calleraccount": [scope.account]}
    for key, param in (("kms:signingalgorithm", "SigningAlgorithm"),
                       ("kms:messagetype", "MessageType")):  # fmt: skip
        if param in body:
            context[key] = [str(body[param])]
    if "alias/" in key_id:
        context["kms:requestalias"] = ["alias/" + key_id.split("alias/", 1)[1]]
    if action == "kms:CreateGrant":
        context["kms:grantisforawsresource"] = ["false"]
    return [_kms_need(action, _resolve_key(key_id, scope), context, scope)]


# SageMaker ---------------------------------------------------------------------------------

_SAGEMAKER_NAMES = (
    ("ModelPackageGroupName", "model-package-group"),
    ("TrainingJobName", "training-job"),
    ("ProcessingJobName", "processing-job"),
    ("EndpointConfigName", "endpoint-config"),
    ("EndpointName", "endpoint"),
    ("ModelName", "model"),
)


def _sagemaker(action: str, body: dict[str, Any], scope: _Scope) -> list[Any]:
    resource = _sagemaker_resource(action, body, scope)
    context = scope.common()
    status = body.get("ModelApprovalStatus")
    if status is not None:
        context["sagemaker:modelapprovalstatus"] = [str(status)]
    for key, value in _sagemaker_settings(body).items():
        context[key] = value
    tags = body.get("Tags") or []
    if tags:
        context["aws:tagkeys"] = [str(tag["Key"]) for tag in tags]
        for tag in tags:
            context[f"aws:requesttag/{str(tag['Key']).lower()}"] = [str(tag["Value"])]
    owner = _arn_account(resource)
    policy = None
    if owner is not None and owner != scope.account:
        # Another account's registry: its group's resource policy must allow the caller.
        group = resource.split(":", 5)[5].split("/")[1] if "/" in resource else ""
        text = _group_policy(owner, scope.region, group)
        policy = Policy(f"resource policy of group {group}", _statements(text) if text else [])
    needs: list[Any] = [
        Authorization(action, resource, context, policy, resource_account=owner or scope.account)
    ]
    if tags and action.startswith("sagemaker:Create"):
        needs.append(Authorization("sagemaker:AddTags", resource, context))
    role = body.get("RoleArn") or body.get("ExecutionRoleArn")
    if role:
        passed = {**scope.common(), "iam:passedtoservice": ["sagemaker.amazonaws.com"]}
        needs.append(Authorization("iam:PassRole", str(role), passed))
    return needs


def _group_policy(account: str, region: str, group: str) -> str | None:
    found = sagemaker_backends[account][region].model_package_groups.get(group)
    return getattr(found, "resource_policy", None) if found is not None else None


def _sagemaker_resource(action: str, body: dict[str, Any], scope: _Scope) -> str:
    if "ResourceArn" in body:
        return str(body["ResourceArn"])
    package = body.get("ModelPackageName") or body.get("ModelPackageArn")
    if package and action != "sagemaker:CreateModelPackage":
        name = str(package)
        return name if name.startswith("arn:") else scope.arn("sagemaker", f"model-package/{name}")
    group = body.get("ModelPackageGroupName")
    if action == "sagemaker:CreateModelPackage" and group:
        version = _next_version(str(group), scope)
        return scope.arn("sagemaker", f"model-package/{str(group).lower()}/{version}")
    for param, kind in _SAGEMAKER_NAMES:
        if param in body:
            name = str(body[param])
            return name if name.startswith("arn:") else scope.arn("sagemaker", f"{kind}/{name}")
    return "*"


def _next_version(group: str, scope: _Scope) -> int:
    backend = sagemaker_backends[scope.account][scope.region]
    versions = [
        package.model_package_version or 0
        for package in backend.model_packages.values()
        if package.model_package_group_name == group
    ]
    return max(versions, default=0) + 1


def _sagemaker_settings(body: dict[str, Any]) -> dict[str, list[str]]:
    """Condition keys SageMaker derives from a create request's settings."""
    found: dict[str, list[str]] = {}
    network = body.get("NetworkConfig") or {}  # a processing job's
    body = {**network, **body}
    flags = (
        ("EnableNetworkIsolation", "sagemaker:networkisolation"),
        ("EnableInterContainerTrafficEncryption", "sagemaker:intercontainertrafficencryption"),
    )
    for param, key in flags:
        if param in body:
            found[key] = [str(bool(body[param])).lower()]
    cluster = (body.get("ProcessingResources") or {}).get("ClusterConfig") or {}
    volume = (
        (body.get("ResourceConfig") or {}).get("VolumeKmsKeyId")
        or cluster.get("VolumeKmsKeyId")
        or body.get("KmsKeyId")
    )
    if volume:
        found["sagemaker:volumekmskey"] = [str(volume)]
    output = (body.get("OutputDataConfig") or body.get("ProcessingOutputConfig") or {}).get(
        "KmsKeyId"
    )
    if output:
        found["sagemaker:outputkmskey"] = [str(output)]
    vpc = body.get("VpcConfig") or {}
    if vpc.get("Subnets"):
        found["sagemaker:vpcsubnets"] = [str(s) for s in vpc["Subnets"]]
    if vpc.get("SecurityGroupIds"):
        found["sagemaker:vpcsecuritygroupids"] = [str(s) for s in vpc["SecurityGroupIds"]]
    return found


# STS ---------------------------------------------------------------------------------------


def _iam(action: str, query: dict[str, str], scope: _Scope) -> list[Any]:
    """IAM: the role a call names (`RoleName`: the live audit's reads); else moto's `*`."""
    if "RoleName" not in query:
        return [Authorization(action, "*", scope.common())]
    role = scope.arn("iam", f"role/{query['RoleName']}", region=False)
    return [Authorization(action, role, scope.common())]


def _sts(action: str, query: dict[str, str], scope: _Scope) -> list[Any]:
    if action != "sts:AssumeRole" or "RoleArn" not in query:
        return [Authorization(action, "*", scope.common())]
    role_arn = query["RoleArn"]
    context = {**scope.common(), "sts:rolesessionname": [query.get("RoleSessionName", "")]}
    backend = iam_backends[_arn_account(role_arn) or scope.account][scope.partition]
    try:
        trust = backend.get_role_by_arn(role_arn).assume_role_policy_document
    except IamNotFound:  # an unknown role: nothing trusts the caller
        return [Authorization(action, role_arn, context, Policy("no such role", []), True)]
    policy = Policy(f"trust policy of {role_arn}", _statements(trust))
    return [Authorization(action, role_arn, context, policy, resource_required=True)]


TARGET = (ActionAuthenticatorMixin, "_authenticate_and_authorize_action", authorize_with_evaluator)
"""The patch `ml.emulator.patches` installs."""
