"""The provenance check that signing, release and serving all call.

- `verify_artifact(artifact, envelope, verifier)`: is this artifact (directory or
  tarball) exactly what the trusted key signed? Never raises; returns a
  `VerificationResult` whose `reason` is one line naming the check (and file) that
  failed. `default_signature(artifact, scratch)`: where its envelope is when none is
  named (the reserved file inside the directory, or extracted from the tarball).
- `offline_verifier(public_key_pem)`: the auditor's path, the exported public key only
  (no AWS, no network). `kms_verifier(kms_client, key_id)`: the KMS Verify API.
- `check_model_package(...)`: for a registered model version, the signature, what the
  signed statement is for (this group and version), the approval by an identity other
  than the one that registered or signed it, and the validation gates together, as one
  structured `PackageCheck`; `registry_only=True` checks the registry's record alone.

Order of checks in `verify_artifact`: the signature over the envelope's payload is
checked first, so nothing in an unverified statement is trusted; then the statement;
then every file against the signed subjects.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from infra.contracts import MODELS_PREFIX, s3_uri
from ml.artifacts import download_file, parse_s3_uri
from ml.errors import MlopsError
from ml.provenance.envelope import (
    EnvelopeError,
    load_envelope,
    public_key_from_pem,
    signature_bytes,
    sslib_key,
)
from ml.provenance.kms import KmsVerifier, resolve_signing_key
from ml.provenance.manifest import (
    SIGNATURE_NAME,
    ArtifactError,
    FileEntry,
    Manifest,
    build_manifest,
    is_tarball,
    read_member,
)
from ml.provenance.statement import (
    Provenance,
    StatementError,
    binding_problem,
    parse_statement,
)
from ml.registry.packages import (
    APPROVED,
    ModelPackage,
    PackageNotFound,
    find_package,
    separation_problem,
)

# Values of `VerificationResult.check` / `PackageCheck.failed`.
CHECK_ARTIFACT = "artifact"  # the artifact is missing or unfit
CHECK_ENVELOPE = "envelope"  # the signature file is missing or not a DSSE envelope
CHECK_SIGNATURE = "signature"  # not signed by the trusted key, or altered since
CHECK_STATEMENT = "statement"  # the signed payload is not our in-toto statement
CHECK_FILE_CHANGED = "file-changed"
CHECK_FILE_ADDED = "file-added"
CHECK_FILE_REMOVED = "file-removed"
CHECK_FILE_RENAMED = "file-renamed"
CHECK_VERIFIER = "verifier"  # the verifier could not run (e.g. KMS access denied)
INPUT_CHECKS = frozenset({CHECK_ARTIFACT, CHECK_ENVELOPE, CHECK_VERIFIER})
"""Failures that mean bad input or environment (exit 2), not a failed verification (1)."""


class Verifier(Protocol):
    """Checks a signature over DSSE PAE bytes with one trusted key."""

    keyid: str
    """securesystemslib key id of the trusted public key."""
    description: str

    def verify(self, data: bytes, signature: bytes) -> bool:
        """True if `signature` is the trusted key's over `data`; raise MlopsError if unable."""
        ...


class OfflineVerifier:
    """ECDSA verification with the exported public key alone (`cryptography`)."""

    def __init__(self, public_key: ec.EllipticCurvePublicKey):
        self.public_key = public_key
        self.keyid = sslib_key(public_key).keyid
        self.description = f"public key {self.keyid[:16]}"
        self._hash = hashes.SHA256() if public_key.curve.key_size == 256 else hashes.SHA384()

    def verify(self, data: bytes, signature: bytes) -> bool:
        try:
            self.public_key.verify(signature, data, ec.ECDSA(self._hash))
        except (InvalidSignature, ValueError):
            return False
        return True


def offline_verifier(public_key_pem: bytes) -> OfflineVerifier:
    """A verifier from a PEM public key (`mlops keys export-public`); KeyTypeError if unfit."""
    return OfflineVerifier(public_key_from_pem(public_key_pem, "public key"))


def kms_verifier(kms_client: Any, key_id: str) -> KmsVerifier:
    """A verifier calling KMS Verify; resolves the key now (MlopsError if unusable)."""
    return KmsVerifier(kms_client, resolve_signing_key(kms_client, key_id))


def trusted_verifier(
    public_key: Path | None, key_id: str, kms_client: Callable[[], Any]
) -> OfflineVerifier | KmsVerifier:
    """The exported public key when one is given (offline, the auditor's path), else KMS
    Verify with `key_id`; `kms_client` is only called when KMS is needed."""
    if public_key is None:
        return kms_verifier(kms_client(), key_id)
    try:
        pem = public_key.read_bytes()
    except OSError as error:
        raise MlopsError(f"public key {public_key}: cannot read ({error.strerror})") from None
    return offline_verifier(pem)


@dataclass(frozen=True)
class VerificationResult:
    ok: bool
    reason: str
    """One line: what was verified, or which check (and file) failed and how."""
    check: str | None = None
    """Which check failed (one of the CHECK_* values); None when ok."""
    file: str | None = None
    """The artifact file the failure is about, if any."""
    statement: dict[str, Any] | None = None
    """The signed in-toto statement, once its signature verified (also when files differ)."""
    keyid: str | None = None
    artifact_digest: str | None = None
    """Manifest digest of the artifact as found (hex), once it could be read."""
    problems: tuple[str, ...] = ()
    """Every file-level problem found, one line each (reason shows the first)."""

    @property
    def provenance(self) -> Provenance | None:
        if self.statement is None:
            return None
        return Provenance.from_predicate(self.statement["predicate"])

    @property
    def bad_input(self) -> bool:
        return self.check in INPUT_CHECKS


def verify_artifact(artifact: Path, envelope: Path, verifier: Verifier) -> VerificationResult:
    """Verify an artifact against a DSSE signature with one trusted key; never raises."""
    if not artifact.exists():
        return _fail(CHECK_ARTIFACT, f"artifact {artifact}: not found")
    try:
        dsse = load_envelope(envelope)
    except EnvelopeError as error:
        return _fail(CHECK_ENVELOPE, str(error))

    candidates = [sig for sig in dsse.signatures.values() if sig.keyid == verifier.keyid]
    if not candidates:
        others = ", ".join(sorted(keyid[:16] for keyid in dsse.signatures))
        return _fail(
            CHECK_SIGNATURE,
            f"signature: made by another key (keyid {others}), not the trusted "
            f"{verifier.description} (keyid {verifier.keyid[:16]})",
        )
    pae = dsse.pae()
    try:
        valid = any(verifier.verify(pae, signature_bytes(sig)) for sig in candidates)
    except MlopsError as error:
        return _fail(CHECK_VERIFIER, str(error))
    except ValueError:
        valid = False  # a signature that is not even hex
    if not valid:
        return _fail(
            CHECK_SIGNATURE,
            f"signature: does not verify with the trusted {verifier.description}; the signed "
            "statement or the signature was altered after signing",
        )

    try:
        statement, signed = parse_statement(dsse.payload)
        Provenance.from_predicate(statement["predicate"])
    except StatementError as error:
        return _fail(CHECK_STATEMENT, str(error), keyid=verifier.keyid)

    try:
        actual = build_manifest(artifact)
    except ArtifactError as error:
        return _fail(CHECK_ARTIFACT, str(error), keyid=verifier.keyid)

    problems = compare_manifests(signed, actual)
    if problems:
        check, path, first = problems[0]
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        return VerificationResult(
            ok=False,
            reason=f"{first}{more}",
            check=check,
            file=path,
            statement=statement,
            keyid=verifier.keyid,
            artifact_digest=actual.digest(),
            problems=tuple(message for _, _, message in problems),
        )
    return VerificationResult(
        ok=True,
        reason=(
            f"verified: {len(actual.files)} file(s) match the statement signed by the "
            f"trusted {verifier.description}"
        ),
        statement=statement,
        keyid=verifier.keyid,
        artifact_digest=actual.digest(),
    )


def default_signature(artifact: Path, scratch: Path) -> Path:
    """The reserved signature inside a directory or a tarball (extracted to `scratch`)."""
    if artifact.is_dir() or not artifact.exists():
        return artifact / SIGNATURE_NAME
    inside = read_member(artifact, SIGNATURE_NAME) if is_tarball(artifact) else None
    if inside is None:
        raise MlopsError(f"artifact {artifact} holds no {SIGNATURE_NAME}: pass --signature")
    path = scratch / SIGNATURE_NAME
    path.write_bytes(inside)
    return path


def compare_manifests(signed: Manifest, actual: Manifest) -> list[tuple[str, str, str]]:
    """(check, file, one-line message) for every difference, most telling first."""
    want, have = signed.by_path(), actual.by_path()
    problems: list[tuple[str, str, str]] = []
    for path in sorted(want.keys() & have.keys()):
        if want[path].sha256 != have[path].sha256:
            problems.append((CHECK_FILE_CHANGED, path, _changed(want[path], have[path])))
    removed = {path: want[path] for path in sorted(want.keys() - have.keys())}
    added = {path: have[path] for path in sorted(have.keys() - want.keys())}
    for old in list(removed):
        new = next((p for p, entry in added.items() if entry.sha256 == removed[old].sha256), None)
        if new is not None:
            problems.append(
                (
                    CHECK_FILE_RENAMED,
                    old,
                    f"file {_show(old)}: renamed to {_show(new)} (same "
                    "content, different path than signed)",
                )
            )
            del removed[old], added[new]
    for path in removed:
        problems.append((CHECK_FILE_REMOVED, path, f"file {_show(path)}: signed but missing"))
    for path in added:
        problems.append((CHECK_FILE_ADDED, path, f"file {_show(path)}: present but not signed"))
    return problems


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


def _fail(check: str, reason: str, keyid: str | None = None) -> VerificationResult:
    return VerificationResult(ok=False, reason=_one_line(reason), check=check, keyid=keyid)


def _changed(signed: FileEntry, found: FileEntry) -> str:
    sizes = f", {signed.size} -> {found.size} bytes" if signed.size not in (-1, found.size) else ""
    return (
        f"file {_show(signed.path)}: content changed (SHA-256 signed {signed.sha256[:12]}, "
        f"found {found.sha256[:12]}{sizes})"
    )


def _show(path: str) -> str:
    """A path safe to print on one line (control characters escaped)."""
    return path if path.isprintable() else repr(path)


def _one_line(text: str) -> str:
    return " ".join(text.split())
