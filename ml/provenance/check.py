"""The provenance check that signing, release and serving all call.

- `verify_artifact(artifact, envelope, verifier)`: is this artifact (directory or
  tarball) exactly what the trusted key signed? Never raises; returns a
  `VerificationResult` whose `reason` is one line naming the check (and file) that
  failed. `default_signature(artifact, scratch)`: where its envelope is when none is
  named (the reserved file inside the directory, or extracted from the tarball).
- `offline_verifier(public_key_pem)`: the auditor's path, the exported public key only
  (no AWS, no network). `kms_verifier(kms_client, key_id)`: the KMS Verify API.
- The check of a registered version (signature, binding, approval, gates) builds on these:
  `ml.registry.check.check_model_package`.

Order of checks in `verify_artifact`: the signature over the envelope's payload is
checked first, so nothing in an unverified statement is trusted; then the statement;
then every file against the signed subjects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from common.errors import MlopsError
from ml.provenance.envelope import (
    Envelope,
    EnvelopeError,
    key_id,
    load_envelope,
    public_key_from_pem,
    signature_bytes,
)
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
    parse_statement,
)

if TYPE_CHECKING:
    from ml.provenance.kms import KmsVerifier

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
        self.keyid = key_id(public_key)
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
    from ml.provenance.kms import KmsVerifier, resolve_signing_key  # botocore: KMS only

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

    if verifier.keyid not in dsse.signatures:
        others = ", ".join(sorted(keyid[:16] for keyid in dsse.signatures))
        return _fail(
            CHECK_SIGNATURE,
            f"signature: made by another key (keyid {others}), not the trusted "
            f"{verifier.description} (keyid {verifier.keyid[:16]})",
        )
    try:
        valid = signed_by(dsse, verifier)
    except MlopsError as error:
        return _fail(CHECK_VERIFIER, str(error))
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


def signed_by(envelope: Envelope, verifier: Verifier) -> bool:
    """Whether the envelope's signature by the verifier's key verifies over its PAE: the one
    signature check of model and image verification. MlopsError if the verifier cannot run."""
    signature = envelope.signatures.get(verifier.keyid)
    if signature is None:
        return False
    try:
        return verifier.verify(envelope.pae(), signature_bytes(signature))
    except ValueError:
        return False  # a signature that is not even hex


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
