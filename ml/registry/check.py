"""Whether a registered model version may be released or served: `check_model_package`.

For a registered version: the signature (`ml.provenance.check.verify_artifact` over the
model data and signature the package records), what the signed statement is for (this
group and version, or the source package of a promotion), the approval by an identity
other than the one that registered or signed it, and the validation gates, together as
one structured `PackageCheck`; `registry_only=True` checks the registry's record alone.
Release, promotion, `mlops model fetch` and the demo call it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.errors import MlopsError
from infra.contracts import MODELS_PREFIX, s3_uri
from ml.artifacts import download_file, parse_s3_uri
from ml.provenance.check import VerificationResult, Verifier, verify_artifact
from ml.provenance.statement import Provenance, binding_problem
from ml.registry.packages import (
    APPROVED,
    ModelPackage,
    PackageNotFound,
    find_package,
    separation_problem,
)


@dataclass(frozen=True)
class TrustedSource:
    """The stack this one takes packages from by promotion (`mlops:promotion`): a promoted
    package must come from its account and verify with one of its trusted keys, and its
    statement is bound to the source package (stack, group, version), not to this one."""

    stack: str
    account_id: str
    key_arns: tuple[str, ...]
    verifier_for: Callable[[str], Verifier]
    """A verifier for one of `key_arns` (KMS Verify in the source account)."""


@dataclass(frozen=True)
class PackageCheck:
    """Whether a registered model version may be released or served, and why not."""

    ok: bool
    reason: str
    """One line: all checks passed, or the first that failed."""
    group: str
    version: int
    package_arn: str | None = None
    approval_status: str | None = None
    gates_passed: bool | None = None
    signature: VerificationResult | None = None
    failed: tuple[str, ...] = ()
    """Names of failed checks: package, approval, separation, gates, model-data,
    signature, binding, artifact-digest."""
    problems: tuple[str, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)


def check_model_package(
    sagemaker: Any,
    s3: Any,
    verifier: Verifier | None,
    *,
    group: str,
    version: int,
    artifact: Path | None = None,
    envelope: Path | None = None,
    require_approved: bool = True,
    registry_only: bool = False,
    artifact_bucket: str | None = None,
    source: TrustedSource | None = None,
) -> PackageCheck:
    """Signature valid and signed for this group and version, package approved by another
    identity than registered or signed it, validation gates passed: all, or why not.

    By default the model data (`model.tar.gz`) and the signature are downloaded from
    the locations the package records; pass `artifact` and `envelope` to check local
    copies instead. `registry_only` downloads nothing and checks no signature (a
    metadata-only role's view). With `artifact_bucket`, the model data must lie under
    its `models/` prefix. A missing package is a failed check, not an exception; AWS
    errors other than "not found" raise `MlopsError`. A package `mlops promote` registered
    is checked against `source` (see `TrustedSource`), and fails without one.
    """
    try:
        package = find_package(sagemaker, group, version)
    except PackageNotFound as error:
        return PackageCheck(False, str(error), group, version, failed=("package",))

    failed: list[str] = []
    problems: list[str] = []
    if require_approved and package.approval_status != APPROVED:
        failed.append("approval")
        problems.append(f"approval: status is {package.approval_status}, not {APPROVED}")
    if package.gates_passed is not True:
        failed.append("gates")
        problems.append(
            "gates: validation gates failed"
            if package.gates_passed is False
            else "gates: no validation verdict recorded on the package"
        )
    if artifact_bucket is not None:
        released = s3_uri(artifact_bucket, MODELS_PREFIX)
        if not (package.model_data_url or "").startswith(released):
            failed.append("model-data")
            problems.append(
                f"model-data: {package.model_data_url or 'no model data URL'} is not under "
                f"{released}, where only the release role writes"
            )

    bound_to: dict[str, Any] = {"group": group, "version": version}
    if "source_package_arn" in package.metadata:
        promoted = _promotion_problem(package, source)
        if isinstance(promoted, str):
            failed.append("promotion")
            problems.append(promoted)
            registry_only = True  # nothing this stack trusts can verify it
        else:
            bound_to = promoted
            assert source is not None
            if not registry_only:
                verifier = source.verifier_for(package.metadata["signing_key_arn"])

    signature: VerificationResult | None = None
    signed: Provenance | None = None
    if not registry_only:
        if verifier is None:
            raise MlopsError("a verifier is needed unless the check is registry-only")
        signature = _check_signature(s3, verifier, package, artifact, envelope, failed, problems)
        signed = signature.provenance if signature is not None and signature.ok else None
    if signed is not None:
        bound = binding_problem(signed, **bound_to)
        if bound:
            failed.append("binding")
            problems.append(f"binding: {bound}")
    if require_approved and package.approval_status == APPROVED:
        duty = separation_problem(package, signed.signed_by if signed else None)
        if duty:
            failed.append("separation")
            problems.append(duty)

    name = f"model package {group}/{version}"
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        reason = f"{name}: {problems[0]}{more}"
    elif registry_only:
        approval = f"approved by {package.approved_by}, " if require_approved else ""
        reason = (
            f"{name}: {approval}gates passed, model data under the release prefix "
            "(registry only: artifact and signature not checked)"
        )
    else:
        assert verifier is not None
        approval = f"approved by {package.approved_by}, " if require_approved else ""
        reason = f"{name}: {approval}gates passed, signature valid ({verifier.description})"
    return PackageCheck(
        ok=not problems,
        reason=reason,
        group=group,
        version=version,
        package_arn=package.arn,
        approval_status=package.approval_status,
        gates_passed=package.gates_passed,
        signature=signature,
        failed=tuple(failed),
        problems=tuple(problems),
        metadata=dict(package.metadata),
    )


def _promotion_problem(package: ModelPackage, source: TrustedSource | None) -> dict[str, Any] | str:
    """What a promoted package's statement must be bound to, or one line why it cannot be
    trusted: no promotion configured, another account, a key not trusted."""
    origin = package.promoted_from
    if origin is None:
        return "promotion: the package's source_package_arn, source_account or digest is malformed"
    if source is None:
        return (
            f"promotion: promoted from {origin.package_arn}, but this stack takes no promotions "
            "(mlops:promotion)"
        )
    if origin.account != source.account_id or f":{source.account_id}:" not in origin.package_arn:
        return (
            f"promotion: promoted from account {origin.account}, not the trusted source "
            f"{source.account_id}"
        )
    key = package.metadata.get("signing_key_arn", "")
    if key not in source.key_arns:
        return (
            f"promotion: signed by key {key or '(none recorded)'}, not one of "
            "mlops:promotion.trustedSigningKeyArns"
        )
    if origin.artifact_digest != package.artifact_digest:
        return "promotion: the package's artifact is not the source package's"
    return {"stack": source.stack, "group": origin.group, "version": origin.version}


def _check_signature(
    s3: Any,
    verifier: Verifier,
    package: ModelPackage,
    artifact: Path | None,
    envelope: Path | None,
    failed: list[str],
    problems: list[str],
) -> VerificationResult | None:
    """Fetch (unless given) and verify the artifact; record what fails."""
    with tempfile.TemporaryDirectory(prefix="mlops-check-") as tmp:
        local_artifact, local_envelope = artifact, envelope
        fetch_problem = None
        if local_artifact is None or local_envelope is None:
            try:
                if local_artifact is None:
                    if not package.model_data_url:
                        raise MlopsError("the package records no model data URL")
                    local_artifact = download_file(
                        s3, parse_s3_uri(package.model_data_url), Path(tmp, "model.tar.gz")
                    )
                if local_envelope is None:
                    if not package.signature_s3_uri:
                        raise MlopsError("the package records no signature location")
                    local_envelope = download_file(
                        s3, parse_s3_uri(package.signature_s3_uri), Path(tmp, "signature.json")
                    )
            except MlopsError as error:
                fetch_problem = f"signature: cannot fetch the artifact or signature ({error})"
        signature: VerificationResult | None = None
        if fetch_problem is not None:
            failed.append("signature")
            problems.append(fetch_problem)
            return None
        assert local_artifact is not None and local_envelope is not None
        signature = verify_artifact(local_artifact, local_envelope, verifier)
        if not signature.ok:
            failed.append("signature")
            problems.append(signature.reason)
        elif package.artifact_digest and signature.artifact_digest != package.artifact_digest:
            failed.append("artifact-digest")
            problems.append(
                f"artifact-digest: model data holds artifact {signature.artifact_digest[:16]}, "
                f"the package records {package.artifact_digest[:16]}"
            )
        return signature
