"""SageMaker model registry adapter: register, find, approve and reject model packages.

Takes a boto3 SageMaker client. A registered package carries what an auditor or a
release manager needs, in `CustomerMetadataProperties` (see `METADATA_KEYS`) plus the
native `MetadataProperties` (commit, repository, builder).

Who did what: `register` records `registered_by` (its caller) and `signed_by` (the
signer the verified statement names); `approve` records `approved_by` (its caller) and
the reason as the approval description. These are claims written into metadata that
the approver's UpdateModelPackage could rewrite; where SageMaker returns its own record
(`CreatedBy`/`LastModifiedBy.IamIdentity.Arn`), `separation_problem` checks that too,
and a full `mlops release verify` also checks the signer named in the signed statement.

Idempotency: a package's identity is its artifact digest (`Manifest.digest()`, the
same for a directory and its tarball), written into the package description, which
`ListModelPackages` returns, and into the metadata. Registering an artifact that a
package of the group already holds returns that package. The create call also sends
a `ClientToken` derived from group and digest, so two concurrent registrations of the
same artifact collapse into one on AWS.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from common.errors import MlopsError
from ml.aws import aws_errors, error_code
from ml.provenance.statement import Provenance
from ml.registry.identity import principal_of, recordable

PENDING = "PendingManualApproval"
APPROVED = "Approved"
REJECTED = "Rejected"
CONTENT_TYPES = ("text/csv", "application/json")
DESCRIPTION_PREFIX = "artifact sha256:"

# CustomerMetadataProperties limits (SageMaker API reference): 50 entries, keys of 1-128
# and values of 1-256 characters, both from this character set.
_METADATA_PATTERN = re.compile(r"^[\w .:/=+\-@]*$")
_METADATA_MAX_ENTRIES = 50
METADATA_KEYS = {
    "artifact_digest": "sha256:<hex> of the canonical file manifest (Manifest.digest)",
    "training_data_hash": "sha256:<hex> of the training data snapshot",
    "git_commit": "commit that trained the model",
    "training_job_name": "SageMaker training job (or local run) name",
    "training_minutes": "wall-clock training time in minutes",
    "billable_minutes": "billed training time in minutes (SageMaker BillableTimeInSeconds)",
    "spot_savings_percent": "managed spot savings, 0-100",
    "tracking_run_id": "MLflow run of the training (docs/tracking.md)",
    "tracking_uri": "MLflow tracking URI holding that run (the stack's tracking server ARN)",
    "owner": "team accountable for the model",
    "signature_s3_uri": "where the DSSE signature is stored",
    "signing_key_arn": "KMS key that signed it",
    "signing_keyid": "securesystemslib key id of the signing public key",
    "builder_id": "who ran the build",
    "signed_by": "AWS identity that signed (from the signed statement)",
    "registered_by": "AWS identity that registered the package (its caller)",
    "approved_by": "AWS identity that approved it (set by mlops approve)",
    "rejected_by": "AWS identity that rejected it (set by mlops reject)",
    "validation_gates": "passed or failed: the validation step's verdict",
    "validation_report_s3_uri": "where the validation report is stored",
    "metric.<name>": "one entry per metric",
    "source_package_arn": "promoted packages: the package of the source stack it copies",
    "source_account": "promoted packages: the AWS account of the source stack",
    "source_artifact_digest": "promoted packages: sha256:<hex> the source package records",
}


class PromotedFrom(BaseModel):
    """Where a promoted package came from: the source stack's package, as verified."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    package_arn: Annotated[
        str, Field(pattern=r"^arn:aws[a-z-]*:sagemaker:[^:]+:\d{12}:model-package/[^/]+/\d+$")
    ]
    account: Annotated[str, Field(pattern=r"^\d{12}$")]
    artifact_digest: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]

    @property
    def group(self) -> str:
        return self.package_arn.rsplit("/", 2)[-2]

    @property
    def version(self) -> int:
        return int(self.package_arn.rsplit("/", 1)[-1])


class PackageNotFound(MlopsError):
    """No such model package group or version."""


class Registration(BaseModel):
    """Everything `register_model_package` writes; validated before any AWS call."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    group: Annotated[str, Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")]
    image_uri: Annotated[str, Field(min_length=1, max_length=255)]
    model_data_url: Annotated[str, Field(pattern=r"^s3://[^/]+/.+")]
    artifact_digest: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    signature_s3_uri: Annotated[str, Field(pattern=r"^s3://[^/]+/.+")]
    signing_key_arn: Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:kms:")]
    signing_keyid: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    provenance: Provenance
    owner: Annotated[str, Field(min_length=1, max_length=128)]
    training_minutes: Annotated[float, Field(ge=0)] | None = None
    billable_minutes: Annotated[float, Field(ge=0)] | None = None
    spot_savings_percent: Annotated[float, Field(ge=0, le=100)] | None = None
    tracking_run_id: Annotated[str, Field(pattern=r"^[0-9a-zA-Z_-]{1,64}$")] | None = None
    tracking_uri: Annotated[str, Field(min_length=1, max_length=256)] | None = None
    validation_gates: Literal["passed", "failed"] | None = None
    validation_report_s3_uri: str | None = None
    registered_by: Annotated[str, Field(min_length=1)] | None = None
    """The caller's ARN (STS GetCallerIdentity) at registration."""
    tags: dict[str, str] = Field(default_factory=dict)
    promoted_from: PromotedFrom | None = None
    """Set by `mlops promote`: the source package this one copies."""

    def customer_metadata(self) -> dict[str, str]:
        p = self.provenance
        values: dict[str, Any] = {
            "artifact_digest": f"sha256:{self.artifact_digest}",
            "training_data_hash": p.training_data_hash,
            "git_commit": p.git_commit,
            "training_job_name": p.training_job_name,
            "training_minutes": _number(self.training_minutes),
            "billable_minutes": _number(self.billable_minutes),
            "spot_savings_percent": _number(self.spot_savings_percent),
            "tracking_run_id": self.tracking_run_id,
            "tracking_uri": self.tracking_uri,
            "owner": self.owner,
            "signature_s3_uri": self.signature_s3_uri,
            "signing_key_arn": self.signing_key_arn,
            "signing_keyid": self.signing_keyid,
            "builder_id": p.builder_id,
            "signed_by": recordable(p.signed_by) if p.signed_by else None,
            "registered_by": recordable(self.registered_by) if self.registered_by else None,
            "validation_gates": self.validation_gates,
            "validation_report_s3_uri": self.validation_report_s3_uri,
        }
        if self.promoted_from is not None:
            values["source_package_arn"] = self.promoted_from.package_arn
            values["source_account"] = self.promoted_from.account
            values["source_artifact_digest"] = f"sha256:{self.promoted_from.artifact_digest}"
        for name, value in sorted(p.metrics.items()):
            values[f"metric.{name}"] = _number(value)
        metadata = {key: str(value) for key, value in values.items() if value not in (None, "")}
        _check_metadata(metadata)
        return metadata


@dataclass(frozen=True)
class ModelPackage:
    arn: str
    group: str
    version: int
    approval_status: str
    model_data_url: str | None
    image_uri: str | None
    description: str
    approval_description: str | None
    metadata: dict[str, str]
    created: datetime | None
    created_by_arn: str | None = None
    """SageMaker's own record of who created it (`CreatedBy.IamIdentity.Arn`), if given."""
    modified_by_arn: str | None = None
    """SageMaker's record of who last updated it, e.g. approved (`LastModifiedBy`)."""

    @property
    def registered_by(self) -> str | None:
        return self.metadata.get("registered_by")

    @property
    def signed_by(self) -> str | None:
        return self.metadata.get("signed_by")

    @property
    def approved_by(self) -> str | None:
        return self.metadata.get("approved_by")

    @property
    def artifact_digest(self) -> str | None:
        value = self.metadata.get("artifact_digest", "")
        return value.removeprefix("sha256:") or None

    @property
    def gates_passed(self) -> bool | None:
        verdict = self.metadata.get("validation_gates")
        return None if verdict is None else verdict == "passed"

    @property
    def signature_s3_uri(self) -> str | None:
        return self.metadata.get("signature_s3_uri")

    @property
    def promoted_from(self) -> PromotedFrom | None:
        """The source package, for a package `mlops promote` registered; None otherwise
        (or when the recorded values are malformed, which a check then reports)."""
        arn = self.metadata.get("source_package_arn")
        if arn is None:
            return None
        try:
            return PromotedFrom(
                package_arn=arn,
                account=self.metadata.get("source_account", ""),
                artifact_digest=self.metadata.get("source_artifact_digest", "").removeprefix(
                    "sha256:"
                ),
            )
        except ValueError:
            return None

    @property
    def metrics(self) -> dict[str, float]:
        found: dict[str, float] = {}
        for key, value in self.metadata.items():
            if key.startswith("metric."):
                try:
                    found[key.removeprefix("metric.")] = float(value)
                except ValueError:
                    continue
        return found

    @classmethod
    def from_description(cls, data: dict[str, Any]) -> ModelPackage:
        containers = (data.get("InferenceSpecification") or {}).get("Containers") or [{}]
        return cls(
            arn=data["ModelPackageArn"],
            group=data.get("ModelPackageGroupName", ""),
            version=int(data.get("ModelPackageVersion") or 0),
            approval_status=data.get("ModelApprovalStatus", ""),
            model_data_url=containers[0].get("ModelDataUrl"),
            image_uri=containers[0].get("Image"),
            description=data.get("ModelPackageDescription", ""),
            approval_description=data.get("ApprovalDescription"),
            metadata=dict(data.get("CustomerMetadataProperties") or {}),
            created=data.get("CreationTime"),
            created_by_arn=_iam_identity(data.get("CreatedBy")),
            modified_by_arn=_iam_identity(data.get("LastModifiedBy")),
        )


@dataclass(frozen=True)
class RegistrationOutcome:
    package: ModelPackage
    created: bool
    """False when the artifact was already registered in the group."""


def register_model_package(sagemaker: Any, registration: Registration) -> RegistrationOutcome:
    """Create a `PendingManualApproval` package, or return the one holding this artifact."""
    describe_group(sagemaker, registration.group)  # a missing group is a one-line error
    existing = find_by_artifact(sagemaker, registration.group, registration.artifact_digest)
    if existing is not None:
        return RegistrationOutcome(existing, created=False)
    p = registration.provenance
    metadata_properties = {"CommitId": p.git_commit, "GeneratedBy": p.builder_id[:1024]}
    if p.repository:
        metadata_properties["Repository"] = p.repository[:1024]
    request: dict[str, Any] = {
        "ModelPackageGroupName": registration.group,
        "ModelPackageDescription": (
            f"{DESCRIPTION_PREFIX}{registration.artifact_digest} from commit {p.git_commit[:12]}"
        ),
        "InferenceSpecification": {
            "Containers": [
                {"Image": registration.image_uri, "ModelDataUrl": registration.model_data_url}
            ],
            "SupportedContentTypes": list(CONTENT_TYPES),
            "SupportedResponseMIMETypes": list(CONTENT_TYPES),
        },
        "ModelApprovalStatus": PENDING,
        "MetadataProperties": metadata_properties,
        "CustomerMetadataProperties": registration.customer_metadata(),
        "ClientToken": _client_token(registration.group, registration.artifact_digest),
    }
    if registration.tags:
        request["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(registration.tags.items())]
    with aws_errors(f"registering a model package in group {registration.group}"):
        arn = sagemaker.create_model_package(**request)["ModelPackageArn"]
    return RegistrationOutcome(describe_package(sagemaker, arn), created=True)


def describe_group(sagemaker: Any, group: str) -> str:
    """The group's ARN; `PackageNotFound` if the group does not exist."""
    try:
        return sagemaker.describe_model_package_group(ModelPackageGroupName=group)[
            "ModelPackageGroupArn"
        ]
    except ClientError as error:
        if error_code(error) in ("ValidationException", "ResourceNotFound"):
            raise PackageNotFound(
                f"model package group {group} not found (is the stack deployed, the name right?)"
            ) from None
        with aws_errors(f"reading model package group {group}"):
            raise


def package_arn(group_arn: str, version: int) -> str:
    """`...:model-package-group/<g>` -> `...:model-package/<g>/<version>`."""
    return group_arn.replace(":model-package-group/", ":model-package/", 1) + f"/{version}"


def describe_package(sagemaker: Any, arn: str) -> ModelPackage:
    try:
        data = sagemaker.describe_model_package(ModelPackageName=arn)
    except ClientError as error:
        if error_code(error) in ("ValidationException", "ResourceNotFound"):
            raise PackageNotFound(f"model package {arn} not found") from None
        with aws_errors(f"reading model package {arn}"):
            raise
    return ModelPackage.from_description(data)


def find_package(sagemaker: Any, group: str, version: int) -> ModelPackage:
    """The package `version` of `group`; `PackageNotFound` (one line) if there is none."""
    group_arn = describe_group(sagemaker, group)
    try:
        return describe_package(sagemaker, package_arn(group_arn, version))
    except PackageNotFound:
        raise PackageNotFound(f"model package group {group} has no version {version}") from None


def list_packages(sagemaker: Any, group: str) -> list[dict[str, Any]]:
    """Every package summary of a group, oldest first."""
    summaries: list[dict[str, Any]] = []
    with aws_errors(f"listing model packages of group {group}"):
        paginator = sagemaker.get_paginator("list_model_packages")
        for page in paginator.paginate(
            ModelPackageGroupName=group, SortBy="CreationTime", SortOrder="Ascending"
        ):
            summaries.extend(page.get("ModelPackageSummaryList", []))
    return summaries


def next_version(sagemaker: Any, group: str) -> int:
    """The version SageMaker gives the group's next package: one above the highest."""
    describe_group(sagemaker, group)
    versions = [int(s.get("ModelPackageVersion") or 0) for s in list_packages(sagemaker, group)]
    return max(versions, default=0) + 1


def find_by_artifact(sagemaker: Any, group: str, artifact_digest: str) -> ModelPackage | None:
    """The group's package that holds this artifact, confirmed from its metadata."""
    marker = f"{DESCRIPTION_PREFIX}{artifact_digest}"
    for summary in list_packages(sagemaker, group):
        if not summary.get("ModelPackageDescription", "").startswith(marker):
            continue
        package = describe_package(sagemaker, summary["ModelPackageArn"])
        if package.artifact_digest == artifact_digest:
            return package
    return None


def set_approval(
    sagemaker: Any,
    group: str,
    version: int,
    status: str,
    reason: str,
    *,
    decided_by: str | None = None,
) -> ModelPackage:
    """Approve or reject a package with a reason, recording `decided_by` (the caller's
    ARN) as `approved_by` / `rejected_by`; the rest of the metadata is kept. Refuses to
    approve for the identity that registered or signed the package."""
    if status not in (APPROVED, REJECTED, PENDING):
        raise MlopsError(f"approval status {status!r}: choose {APPROVED}, {REJECTED} or {PENDING}")
    reason = " ".join(reason.split())
    if not reason:
        raise MlopsError("a reason is required to change a model package's approval status")
    if len(reason) > 1024:
        raise MlopsError(f"reason is {len(reason)} characters; SageMaker accepts at most 1024")
    package = find_package(sagemaker, group, version)
    request: dict[str, Any] = {
        "ModelPackageArn": package.arn,
        "ModelApprovalStatus": status,
        "ApprovalDescription": reason,
    }
    key = {APPROVED: "approved_by", REJECTED: "rejected_by"}.get(status)
    if decided_by is not None and key is not None:
        if status == APPROVED:
            problem = _same_as_maker(package, decided_by)
            if problem:
                raise MlopsError(f"refusing to approve {group}/{version}: {problem}", 1)
        metadata = {**package.metadata, key: recordable(decided_by)}
        _check_metadata(metadata)
        request["CustomerMetadataProperties"] = metadata
    with aws_errors(f"updating model package {package.arn}"):
        sagemaker.update_model_package(**request)
    return describe_package(sagemaker, package.arn)


def separation_problem(package: ModelPackage, statement_signer: str | None = None) -> str | None:
    """None when an identity other than the one that registered or signed the package
    approved it; else one line. `statement_signer` is `signedBy` from the verified
    statement, when the caller has it (it cannot be rewritten, unlike metadata)."""
    if not package.approved_by:
        return "approval: no approver recorded (approved_by); approve it with `mlops approve`"
    if not package.registered_by:
        return (
            "approval: no registering identity recorded (registered_by); register it with "
            "`mlops register`"
        )
    try:
        for approver in filter(None, (package.approved_by, package.modified_by_arn)):
            problem = _same_as_maker(package, approver, statement_signer)
            if problem:
                return problem
    except MlopsError as error:
        return f"approval: a recorded {error}"
    return None


def _same_as_maker(
    package: ModelPackage, approver: str, statement_signer: str | None = None
) -> str | None:
    """One line if `approver` is the principal that registered or signed `package`."""
    makers = (
        ("registered", package.registered_by),
        ("registered", package.created_by_arn),
        ("signed", package.signed_by),
        ("signed", statement_signer),
    )
    who = principal_of(approver)
    for duty, arn in makers:
        if arn and principal_of(arn) == who:
            return (
                f"separation of duties: approved by {who}, the identity that also {duty} it; "
                "approval must come from the approver role (gh-approve) or a named approver"
            )
    return None


def approve(
    sagemaker: Any, group: str, version: int, reason: str, *, approved_by: str | None = None
) -> ModelPackage:
    return set_approval(sagemaker, group, version, APPROVED, reason, decided_by=approved_by)


def reject(
    sagemaker: Any, group: str, version: int, reason: str, *, rejected_by: str | None = None
) -> ModelPackage:
    return set_approval(sagemaker, group, version, REJECTED, reason, decided_by=rejected_by)


def _iam_identity(context: Any) -> str | None:
    """`UserContext.IamIdentity.Arn`, which SageMaker records on model packages."""
    if not isinstance(context, dict):
        return None
    identity = context.get("IamIdentity")
    arn = identity.get("Arn") if isinstance(identity, dict) else None
    return arn if isinstance(arn, str) and arn else None


def _client_token(group: str, digest: str) -> str:
    return hashlib.sha256(f"{group}/{digest}".encode()).hexdigest()[:36]


def _number(value: float | None) -> str | None:
    if value is None:
        return None
    return f"{value:.6g}"


def _check_metadata(metadata: dict[str, str]) -> None:
    if len(metadata) > _METADATA_MAX_ENTRIES:
        raise MlopsError(
            f"model package metadata has {len(metadata)} entries; SageMaker allows "
            f"{_METADATA_MAX_ENTRIES} (report fewer metrics)"
        )
    for key, value in metadata.items():
        if not 1 <= len(key) <= 128 or not _METADATA_PATTERN.match(key):
            raise MlopsError(f"model package metadata key {key!r} is not allowed by SageMaker")
        if len(value) > 256 or not _METADATA_PATTERN.match(value):
            raise MlopsError(
                f"model package metadata {key}: value {value[:60]!r} is too long or has "
                "characters SageMaker rejects"
            )
