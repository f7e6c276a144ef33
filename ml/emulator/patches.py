"""Every fix the embedded emulator carries for a moto gap, in one place (moto 5.2.5).

The product code does what real AWS needs; where moto behaves differently, the fix
lives here and nowhere else. Each patch names the gap and how AWS behaves, and
tests/ml/emulator/test_emulator.py has, per patch, a test that runs moto *without* it and fails
once moto itself behaves like AWS, so the patch can be dropped.

Patches wrap moto's classes in this process: `apply()` for the lifetime of the
process (the emulator server), `patched()` for a block (tests with `mock_aws()`),
`unpatched(name)` to run a block with one patch taken out (the upstream-gap tests).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, urlparse

import botocore.session
from botocore.exceptions import DataNotFoundError, UnknownServiceError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from moto.core.exceptions import JsonRESTError
from moto.iam.access_control import IAMRequest, PermissionResult
from moto.kms.exceptions import ValidationException
from moto.kms.models import kms_backends
from moto.kms.responses import KmsResponse
from moto.s3.exceptions import S3ClientError
from moto.s3.models import FakeBucket
from moto.s3.responses import S3Response
from moto.sagemaker.exceptions import ValidationError as SageMakerValidationError
from moto.sagemaker.models import SageMakerModelBackend, sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse

from common.iam_document import MalformedPolicy, parse_document
from ml.emulator import deployments, iam
from policies.evaluation import Policy, Request, UnsupportedPolicy, evaluate


@dataclass(frozen=True)
class Patch:
    name: str
    gap: str
    """What moto does, and what AWS does instead."""
    targets: tuple[tuple[type, str, Callable[[Any], Any]], ...]
    """(class, attribute, wrap): `wrap(moto's attribute)` returns the replacement; an
    attribute moto lacks (an operation it does not implement) is added, wrap getting None."""


# --- KMS: MessageType=DIGEST ------------------------------------------------------------

_DIGEST_HASHES: dict[str, hashes.HashAlgorithm] = {
    "ECDSA_SHA_256": hashes.SHA256(),
    "ECDSA_SHA_384": hashes.SHA384(),
    "ECDSA_SHA_512": hashes.SHA512(),
}


def _ecdsa_digest_key(
    response: KmsResponse,
) -> tuple[Any, ec.EllipticCurvePrivateKey, str, bytes] | None:
    """(key, private key, algorithm, digest) when this is a DIGEST request on an ECC key."""
    if response._get_param("MessageType") != "DIGEST":
        return None
    key_id = response._get_param("KeyId")
    algorithm = response._get_param("SigningAlgorithm")
    response._validate_key_id(key_id)
    key = response.kms_backend.describe_key(key_id)
    private = getattr(getattr(key, "private_key", None), "private_key", None)
    if (
        key.key_usage != "SIGN_VERIFY"
        or not isinstance(private, ec.EllipticCurvePrivateKey)
        or algorithm not in key.signing_algorithms
        or algorithm not in _DIGEST_HASHES
    ):
        return None  # moto's own handler raises the right validation error
    digest = response._get_param("Message") or b""
    if len(digest) != _DIGEST_HASHES[algorithm].digest_size:
        raise ValidationException(f"Digest is invalid length for algorithm {algorithm}.")
    return key, private, algorithm, digest


def _kms_sign(original: Callable[[KmsResponse], str]) -> Callable[[KmsResponse], str]:
    def sign(self: KmsResponse) -> str:
        found = _ecdsa_digest_key(self)
        if found is None:
            return original(self)
        key, private, algorithm, digest = found
        signature = private.sign(digest, ec.ECDSA(Prehashed(_DIGEST_HASHES[algorithm])))
        return json.dumps(
            {
                "KeyId": key.arn,
                "Signature": base64.b64encode(signature).decode("ascii"),
                "SigningAlgorithm": algorithm,
            }
        )

    return sign


def _kms_verify_digest(original: Callable[[KmsResponse], str]) -> Callable[[KmsResponse], str]:
    def verify(self: KmsResponse) -> str:
        found = _ecdsa_digest_key(self)
        if found is None:
            return original(self)
        key, private, algorithm, digest = found
        signature = self._get_param("Signature")
        if isinstance(signature, str):
            signature = base64.b64decode(signature)
        try:
            private.public_key().verify(
                signature, digest, ec.ECDSA(Prehashed(_DIGEST_HASHES[algorithm]))
            )
            valid = True
        except (InvalidSignature, ValueError):
            valid = False
        return json.dumps(
            {"KeyId": key.arn, "SignatureValid": valid, "SigningAlgorithm": algorithm}
        )

    return verify


# --- KMS: an invalid signature is an error ---------------------------------------------


def _kms_verify_raises(original: Callable[[KmsResponse], str]) -> Callable[[KmsResponse], str]:
    def verify(self: KmsResponse) -> str:
        body = original(self)
        if json.loads(body).get("SignatureValid") is False:
            raise JsonRESTError("KMSInvalidSignatureException", "")
        return body

    return verify


# --- IAM enforcement: JSON services answer in JSON ----------------------------------------


@lru_cache(maxsize=64)
def _protocol(service: str) -> str:
    try:
        return str(botocore.session.get_session().get_service_model(service).metadata["protocol"])
    except (UnknownServiceError, DataNotFoundError):  # unknown to botocore: keep moto's
        return ""


def _access_denied_as_json(original: Callable[[IAMRequest], None]) -> Callable[[IAMRequest], None]:
    def raise_access_denied(self: IAMRequest) -> None:
        if _protocol(self._service) == "json":
            raise JsonRESTError(
                "AccessDeniedException",
                f"User: {self._access_key.arn} is not authorized to perform: {self._action}",
            )
        original(self)

    return raise_access_denied


# --- SageMaker -------------------------------------------------------------------------


def _update_keeps_metadata(original: Callable[..., str]) -> Callable[..., str]:
    def update_model_package(
        self: SageMakerModelBackend, model_package_arn: str, *args: Any, **kwargs: Any
    ) -> str:
        arn = self.model_package_name_mapping.get(model_package_arn, model_package_arn)
        package = self.model_packages.get(arn)
        before = dict(package.customer_metadata_properties or {}) if package else {}
        result = original(self, model_package_arn, *args, **kwargs)
        if package is not None:
            given = kwargs.get("customer_metadata_properties")
            removed = set(kwargs.get("customer_metadata_properties_to_remove") or ())
            merged = {**before, **(given or {})}
            package.customer_metadata_properties = {
                key: value for key, value in merged.items() if key not in removed
            } or None
        return result

    return update_model_package


def _tags_on_versioned_packages(original: Callable[..., Any]) -> Callable[..., Any]:
    def get_resource_from_arn(self: SageMakerModelBackend, arn: str) -> Any:
        if ":model-package/" in arn:
            package = self.model_packages.get(self.model_package_name_mapping.get(arn, arn))
            if package is None:
                raise SageMakerValidationError(message=f"Could not find model-package {arn}")
            if package.tags is None:
                package.tags = []
            return package
        return original(self, arn)

    return get_resource_from_arn


# --- S3: bucket policies evaluated on the request ---------------------------------------


class PolicyEvaluationError(S3ClientError):
    """A bucket policy the emulator cannot evaluate faithfully: fail loudly, never allow."""

    def __init__(self, detail: str):
        super().__init__("NotImplemented", f"emulator cannot evaluate this bucket policy: {detail}")


@dataclass(frozen=True)
class S3RequestContext:
    method: str
    url: str
    headers: dict[str, str]

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlparse(self.url).query, keep_blank_values=True)

    @property
    def secure_transport(self) -> bool:
        """TLS, or the loopback emulator, which stands in for AWS's TLS-only endpoints."""
        parsed = urlparse(self.url)
        if parsed.scheme == "https":
            return True
        host = parsed.hostname or ""
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def condition_values(self) -> dict[str, str]:
        values = {"aws:securetransport": "true" if self.secure_transport else "false"}
        for header in (
            "x-amz-server-side-encryption",
            "x-amz-server-side-encryption-aws-kms-key-id",
        ):
            if header in self.headers:
                values[f"s3:{header}"] = self.headers[header]
        return values

    def action(self, moto_action: str) -> str | None:
        """The IAM action S3 authorises; None for requests S3 does not re-evaluate here."""
        query = self.query
        if "uploadId" in query:
            return None  # parts and completion: S3 evaluated CreateMultipartUpload
        if self.method == "HEAD":
            return "s3:GetObject"
        if self.method == "POST" and "uploads" in query:
            return "s3:PutObject"
        return moto_action


_REQUEST = threading.local()


def evaluate_bucket_policy(
    policy: dict[str, Any], action: str, resource: str, context: dict[str, str]
) -> tuple[PermissionResult, str | None]:
    """AWS's resource-policy logic for statements that speak to everyone: (result, Sid).

    `policies.evaluation` (the project's one IAM evaluator) decides, for a caller no
    statement names: an explicit Deny that matches wins; else an Allow for everyone
    permits; else neutral. Statements for named principals are for the identity-aware
    check (`ml.emulator.iam`, with IAM enforcement on).
    """
    try:
        statements = parse_document(policy)
    except MalformedPolicy as error:
        raise PolicyEvaluationError(str(error)) from None
    if any(statement.not_principals for statement in statements):
        raise PolicyEvaluationError("NotPrincipal")
    request = Request("anonymous", action, resource, {k: [v] for k, v in context.items()})
    try:
        outcome = evaluate(request, [], [Policy("bucket policy", statements)])
    except UnsupportedPolicy as error:
        raise PolicyEvaluationError(str(error)) from None
    sid = outcome.matches[0].statement.sid if outcome.matches else None
    if outcome.decision == "explicit-deny":
        return PermissionResult.DENIED, sid
    if outcome.allowed:
        return PermissionResult.PERMITTED, sid
    return PermissionResult.NEUTRAL, None


def _remember_s3_request(original: Callable[..., Any]) -> Callable[..., Any]:
    def key_response(self: S3Response, request: Any, full_url: str) -> Any:
        headers = {str(k).lower(): str(v) for k, v in dict(request.headers).items()}
        _REQUEST.context = S3RequestContext(str(request.method).upper(), full_url, headers)
        try:
            return original(self, request, full_url)
        finally:
            _REQUEST.context = None

    return key_response


def _bucket_policy_on_request(original: Callable[..., Any]) -> Callable[..., Any]:
    def get_permission(self: FakeBucket, action: str, resource: str) -> Any:
        context: S3RequestContext | None = getattr(_REQUEST, "context", None)
        if self.policy is None or context is None:
            return original(self, action, resource)
        iam_action = context.action(action)
        if iam_action is None:
            return PermissionResult.NEUTRAL
        policy = json.loads(self.policy.decode() if isinstance(self.policy, bytes) else self.policy)
        result, sid = evaluate_bucket_policy(
            policy, iam_action, resource, context.condition_values()
        )
        if result == PermissionResult.DENIED:
            raise S3ClientError(
                "AccessDenied",
                f"Access Denied: {iam_action} on {resource} with an explicit deny in the "
                f"bucket policy (statement {sid or 'without Sid'})",
            )
        return result

    return get_permission


# --- Cross-account resources -----------------------------------------------------------


def arn_account(value: Any) -> str | None:
    """The account field of an ARN (`arn:aws:kms:<region>:<account>:key/...`), else None."""
    if not isinstance(value, str) or not value.startswith("arn:"):
        return None
    parts = value.split(":")
    return parts[4] if len(parts) > 5 and parts[4].isdigit() else None


_SAGEMAKER_ARN_PARAMS = ("ModelPackageName", "ModelPackageArn", "ModelPackageGroupName")


def _routed(backends: Any, params: tuple[str, ...]) -> Callable[[property], property]:
    """A backend property that picks the account a request's resource ARN names."""

    def wrap(original: property) -> property:
        def backend(self: Any) -> Any:
            for param in params:
                account = arn_account(self._get_param(param))
                if account is not None and account != self.current_account:
                    return backends[account][self.region]
            return original.fget(self)  # type: ignore[misc]

        return property(backend)

    return wrap


def _put_group_policy(_: Any) -> Callable[[SageMakerResponse], str]:
    def put_model_package_group_policy(self: SageMakerResponse) -> str:
        group = self.sagemaker_backend.describe_model_package_group(
            self._get_param("ModelPackageGroupName")
        )
        group.resource_policy = self._get_param("ResourcePolicy")
        return json.dumps({"ModelPackageGroupArn": group.arn})

    return put_model_package_group_policy


def _get_group_policy(_: Any) -> Callable[[SageMakerResponse], str]:
    def get_model_package_group_policy(self: SageMakerResponse) -> str:
        group = self.sagemaker_backend.describe_model_package_group(
            self._get_param("ModelPackageGroupName")
        )
        policy = getattr(group, "resource_policy", None)
        if policy is None:
            raise SageMakerValidationError(f"ModelPackageGroup {group.arn} has no resource policy")
        return json.dumps({"ResourcePolicy": policy})

    return get_model_package_group_policy


PATCHES: tuple[Patch, ...] = (
    Patch(
        "kms-digest-message-type",
        "KMS Sign and Verify ignore MessageType=DIGEST and hash the digest again, so a "
        "signature made that way does not verify against GetPublicKey; AWS signs and "
        "verifies the given digest as is (getmoto/moto PR #10202, open). ECC keys only.",
        ((KmsResponse, "sign", _kms_sign), (KmsResponse, "verify", _kms_verify_digest)),
    ),
    Patch(
        "kms-verify-invalid-raises",
        "KMS Verify answers an invalid signature with SignatureValid=false; AWS raises "
        "KMSInvalidSignatureException.",
        ((KmsResponse, "verify", _kms_verify_raises),),
    ),
    Patch(
        "iam-access-denied-json",
        "With IAM enforcement on (INITIAL_NO_AUTH_ACTION_COUNT), a denial on a JSON-protocol "
        "service such as KMS comes back as an XML ErrorResponse with HTTP 403, so boto3 "
        "reports error code '403'; AWS answers AccessDeniedException in JSON.",
        ((IAMRequest, "_raise_access_denied", _access_denied_as_json),),
    ),
    Patch(
        "sagemaker-update-keeps-metadata",
        "UpdateModelPackage without CustomerMetadataProperties (e.g. only the approval "
        "status) wipes the package's customer metadata; AWS keeps it and merges new keys.",
        ((SageMakerModelBackend, "update_model_package", _update_keeps_metadata),),
    ),
    Patch(
        "sagemaker-tags-versioned-package",
        "ListTags/AddTags on a versioned model-package ARN (.../model-package/group/1) "
        "fail with a server error; AWS tags model packages like any resource.",
        ((SageMakerModelBackend, "_get_resource_from_arn", _tags_on_versioned_packages),),
    ),
    Patch(
        "s3-bucket-policy-conditions",
        "Bucket-policy statements with a Condition are evaluated without the request's "
        "condition keys, and a statement whose condition does not hold counts as a Deny: "
        "every object request to a bucket with such a policy gets 403. AWS evaluates the "
        "conditions (aws:SecureTransport, s3:x-amz-server-side-encryption, "
        "s3:x-amz-server-side-encryption-aws-kms-key-id) on the request. The fix keeps "
        "each object request's headers and evaluates the policy on them; it treats the "
        "loopback endpoint as TLS and evaluates only statements whose principal is '*'.",
        (
            (S3Response, "_key_response", _remember_s3_request),
            (FakeBucket, "get_permission", _bucket_policy_on_request),
        ),
    ),
    Patch(
        "sagemaker-update-endpoint",
        "UpdateEndpoint is not implemented, CreateEndpoint drops DeploymentConfig and "
        "DescribeEndpoint reports neither LastDeploymentConfig nor PendingDeploymentSummary; "
        "AWS deploys the new configuration blue/green (ALL_AT_ONCE, CANARY, LINEAR) and rolls "
        "back by itself when a rollback alarm is in ALARM (ml.emulator.deployments).",
        deployments.TARGETS,
    ),
    Patch(
        "iam-resources-and-conditions",
        "With IAM enforcement on, moto hands most services' checks the resource '*', so a "
        "grant scoped to an ARN (kms:Sign on one key) never matches and the call is denied, "
        "while an unscoped grant allows any resource; it ignores NotResource, resource "
        "policies (key, bucket, trust) and most conditions, and counts an Allow whose "
        "condition fails as a Deny. AWS authorises the action on the ARN the call targets "
        "with the request's condition keys and the resource's policy. The fix keeps moto's "
        "authentication and decides with policies.evaluation (ml.emulator.iam); it takes "
        "effect only while enforcement is on (ml.emulator.iam.set_enforcing).",
        (iam.TARGET,),
    ),
    Patch(
        "cross-account-arns",
        "KMS and SageMaker look a key or model package up in the caller's account even when "
        "the request names it by an ARN of another account, so a cross-account Verify or "
        "DescribeModelPackage answers not found; AWS acts on the resource in the account the "
        "ARN names (when that account's key or group policy allows the caller).",
        (
            (KmsResponse, "kms_backend", _routed(kms_backends, ("KeyId",))),
            (
                SageMakerResponse,
                "sagemaker_backend",
                _routed(sagemaker_backends, _SAGEMAKER_ARN_PARAMS),
            ),
        ),
    ),
    Patch(
        "sagemaker-group-policy",
        "PutModelPackageGroupPolicy and GetModelPackageGroupPolicy are not implemented (moto "
        "answers not implemented); AWS keeps a resource policy on a model package group, "
        "which is how another account may describe its packages.",
        (
            (SageMakerResponse, "put_model_package_group_policy", _put_group_policy),
            (SageMakerResponse, "get_model_package_group_policy", _get_group_policy),
        ),
    ),
)
NAMES = tuple(patch.name for patch in PATCHES)

_LOCK = threading.RLock()
_ABSENT = object()
_ORIGINALS: dict[tuple[type, str], Any] = {}
_ABSENT = object()
"""Marks an attribute moto does not have: restoring removes it."""
_ACTIVE: list[str] = []


def apply(names: tuple[str, ...] = NAMES) -> None:
    """Install the named patches (default: all) in this process; idempotent."""
    with _LOCK:
        _restore()
        for patch in PATCHES:
            if patch.name not in names:
                continue
            for owner, attribute, wrap in patch.targets:
                # A method moto lacks altogether is added, and removed again on restore.
                _ORIGINALS.setdefault((owner, attribute), owner.__dict__.get(attribute, _ABSENT))
                current = owner.__dict__.get(attribute, getattr(owner, attribute, None))
                setattr(owner, attribute, wrap(current))
            _ACTIVE.append(patch.name)


def active() -> tuple[str, ...]:
    return tuple(_ACTIVE)


@contextmanager
def patched() -> Iterator[None]:
    """All patches for the duration of the block, then moto as it was."""
    with _LOCK:
        before = active()
        apply()
    try:
        yield
    finally:
        _reinstate(before)


@contextmanager
def unpatched(name: str) -> Iterator[None]:
    """Every active patch except `name`, for a test that shows moto's own behaviour."""
    if name not in NAMES:
        raise KeyError(f"no emulator patch named {name!r}; known: {', '.join(NAMES)}")
    with _LOCK:
        before = active()
        apply(tuple(n for n in before if n != name))
    try:
        yield
    finally:
        _reinstate(before)


def _reinstate(names: tuple[str, ...]) -> None:
    with _LOCK:
        if names:
            apply(names)
        else:
            _restore()


def _restore() -> None:
    for (owner, attribute), original in _ORIGINALS.items():
        if original is _ABSENT:
            if attribute in owner.__dict__:
                delattr(owner, attribute)
        else:
            setattr(owner, attribute, original)
    _ACTIVE.clear()
