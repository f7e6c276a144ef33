"""Publish a signed artifact and register it: what `mlops register` (and CI) does.

1. verify the signature through KMS with the stack's signing key (nothing unsigned or
   altered gets in), and that the signed statement is for this model, stack and group;
2. if the group already holds the artifact (same manifest digest), stop there;
3. refuse unless the group's next version is the one the statement was signed for;
4. upload `model.tar.gz` (signature inside) and the signature beside it under
   `models/<group>/<digest>/` in the artifact bucket, SSE-KMS with the data key, plus
   the validation report if there is one;
5. register a `PendingManualApproval` model package carrying the provenance and the
   caller's identity (`registered_by`).

Takes its boto3 clients as arguments; prints nothing (the caller reports the
`Publication`).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from common.errors import MlopsError
from common.files import read_json
from common.validation import dotted, one_line
from infra.contracts import VALIDATION_REPORT_FILE, model_prefix
from ml.artifacts import S3Object, upload_file
from ml.aws import aws_errors
from ml.provenance.archive import StoredArtifact, store_artifact
from ml.provenance.check import default_signature, kms_verifier, verify_artifact
from ml.provenance.statement import binding_problem
from ml.registry.identity import caller_arn
from ml.registry.packages import (
    ModelPackage,
    Registration,
    find_by_artifact,
    next_version,
    register_model_package,
)


def store_signed_model(
    s3: Any,
    kms: Any,
    group: str,
    bucket: str,
    kms_key_id: str,
    digest: str,
    *,
    artifact: Path,
    envelope: Path,
    workdir: Path,
) -> tuple[StoredArtifact, str, str]:
    """Upload a signed artifact and its envelope under `models/<group>/<digest>/` with the
    stack's data key (what `register` and `promote` both do): (stored, prefix, key ARN)."""
    with aws_errors(f"KMS key {kms_key_id}"):
        data_key_arn = kms.describe_key(KeyId=kms_key_id)["KeyMetadata"]["Arn"]
    prefix = model_prefix(group, digest)
    stored = store_artifact(
        s3,
        artifact=artifact,
        envelope=envelope,
        bucket=bucket,
        prefix=prefix,
        kms_key_arn=data_key_arn,
        workdir=workdir,
    )
    return stored, prefix, data_key_arn


@dataclass(frozen=True)
class RegistryTarget:
    """Where a signed artifact goes: the stack's registry, bucket and keys."""

    group: str
    """Model package group, `mlops-<stack>-<model>`."""
    owner: str
    """Accountable team, recorded on the package."""
    image: str
    """Inference image URI (ECR, by tag or digest)."""
    bucket: str
    """The stack's artifact bucket."""
    kms_key_id: str
    """The stack's data CMK (id, ARN or alias) for SSE-KMS on the uploads."""
    signing_key_id: str
    """KMS signing key the signature must verify with."""
    model: str | None = None
    """The model's name under `mlops:models`; the statement must name it (when given)."""
    stack: str | None = None
    """The stack; the statement must name it (when given)."""


@dataclass(frozen=True)
class ValidationReport:
    """A validation report file and its verdict (its top-level boolean `passed`)."""

    path: Path
    passed: bool

    @property
    def gates(self) -> str:
        return "passed" if self.passed else "failed"


@dataclass(frozen=True)
class Publication:
    package: ModelPackage
    artifact_digest: str
    """Manifest digest (hex) of the artifact, as verified."""
    created: bool
    """True when this call created the package."""
    stored: StoredArtifact | None
    """Where this call uploaded the model data and signature; None when the group
    already held the artifact and nothing was uploaded."""


def read_validation_report(path: Path) -> ValidationReport:
    """The report's verdict; a one-line `MlopsError` for a missing or malformed file."""
    data = read_json(path, f"validation report {path}")
    passed = data.get("passed") if isinstance(data, dict) else None
    if not isinstance(passed, bool):
        raise MlopsError(f"validation report {path}: no top-level boolean 'passed'")
    return ValidationReport(path, passed)


def publish_and_register(
    artifact: Path,
    target: RegistryTarget,
    *,
    kms: Any,
    s3: Any,
    sagemaker: Any,
    envelope: Path | None = None,
    validation: ValidationReport | None = None,
    training_minutes: float | None = None,
    spot_savings_percent: float | None = None,
    sts: Any = None,
    billable_minutes: float | None = None,
    tracking_run_id: str | None = None,
    tracking_uri: str | None = None,
) -> Publication:
    """Verify, upload (SSE-KMS) and register a signed artifact as PendingManualApproval.

    `envelope` defaults to the signature inside the artifact. Refuses (exit 1, or 2 for
    bad input) an artifact that does not verify with `target.signing_key_id`, whose
    statement is for another model, stack or group, or for another version than the
    registry assigns. `sts` tells who registers (`registered_by`); without it nothing is
    recorded and `mlops release verify` will refuse the version.
    """
    with tempfile.TemporaryDirectory(prefix="mlops-register-") as tmp:
        workdir = Path(tmp)
        signature = envelope or default_signature(artifact, workdir)
        verifier = kms_verifier(kms, target.signing_key_id)
        result = verify_artifact(artifact, signature, verifier)
        if not result.ok:
            raise MlopsError(f"refusing to register: {result.reason}", 2 if result.bad_input else 1)
        assert result.provenance is not None and result.artifact_digest is not None
        digest, provenance = result.artifact_digest, result.provenance
        problem = binding_problem(
            provenance, model=target.model, stack=target.stack, group=target.group
        )
        if problem:
            raise MlopsError(f"refusing to register in {target.group}: {problem}", 1)

        existing = find_by_artifact(sagemaker, target.group, digest)
        if existing is not None:
            return Publication(existing, digest, created=False, stored=None)
        upcoming = next_version(sagemaker, target.group)
        if provenance.version != upcoming:
            raise MlopsError(
                f"refusing to register in {target.group}: the registry will assign version "
                f"{upcoming} but the statement was signed for version {provenance.version}; "
                f"re-sign with `mlops sign --version {upcoming}` (or --stack to ask the registry)",
                1,
            )
        registered_by = caller_arn(sts) if sts is not None else None

        stored, prefix, data_key_arn = store_signed_model(
            s3, kms, target.group, target.bucket, target.kms_key_id, digest,
            artifact=artifact, envelope=signature, workdir=workdir,
        )  # fmt: skip
    report_uri = None
    if validation is not None:
        report_uri = upload_file(
            s3,
            validation.path,
            S3Object(target.bucket, f"{prefix}{VALIDATION_REPORT_FILE}"),
            data_key_arn,
        ).uri
    try:
        registration = Registration(
            group=target.group,
            image_uri=target.image,
            model_data_url=stored.model_data.uri,
            artifact_digest=digest,
            signature_s3_uri=stored.signature.uri,
            signing_key_arn=verifier.key.arn,
            signing_keyid=verifier.keyid,
            provenance=provenance,
            owner=target.owner,
            training_minutes=training_minutes,
            billable_minutes=billable_minutes,
            spot_savings_percent=spot_savings_percent,
            tracking_run_id=tracking_run_id,
            tracking_uri=tracking_uri,
            validation_gates=validation.gates if validation is not None else None,
            validation_report_s3_uri=report_uri,
            registered_by=registered_by,
        )
    except ValidationError as error:
        raise MlopsError(one_line(error, lambda where: f"registration {dotted(where)}")) from None
    outcome = register_model_package(sagemaker, registration)
    if outcome.created and outcome.package.version != provenance.version:
        raise MlopsError(
            f"registered {target.group} version {outcome.package.version}, but its statement "
            f"was signed for version {provenance.version} (another registration came first): "
            "that package will never verify; reject it, then sign and register again",
            1,
        )
    return Publication(outcome.package, digest, created=outcome.created, stored=stored)
