"""Sign and verify a container image by digest: a DSSE envelope over an in-toto statement.

The same envelope, key and KMS signer as a model signature (docs/provenance.md), with
its own predicate type, so neither kind of signature can stand in for the other: a model
verification refuses this predicate type, and `verify_image` refuses the model's.

- `subject`: one ResourceDescriptor, `{"name": <repository URL>, "digest": {"sha256": <hex>}}`:
  the image manifest digest the registry stores (what `<repo>@sha256:<hex>` pulls).
- `predicate`: the stack the image is released to, the commit it was built from, who built
  and who signed it.

Pure logic except the signer and verifier passed in (KMS or an exported public key).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.errors import MlopsError
from ml.provenance.check import Verifier, signed_by
from ml.provenance.envelope import EnvelopeError, load_envelope, new_envelope, write_envelope
from ml.provenance.statement import PAYLOAD_TYPE, STATEMENT_TYPE, encode_statement

if TYPE_CHECKING:
    from securesystemslib.signer import Signer

IMAGE_PREDICATE_TYPE = "urn:mlops-gitops:predicate:image-release:v1"
"""What an image signature says: this digest is released to this stack from this commit."""
DIGEST = re.compile(r"^sha256:(?P<hex>[0-9a-f]{64})$")
COMMIT = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


@dataclass(frozen=True)
class ImageRelease:
    """What the signature binds: one image digest, for one stack, from one commit."""

    repository: str
    """The registry repository URL, `<account>.dkr.ecr.<region>.amazonaws.com/<name>`."""
    digest: str
    """`sha256:<64 hex>`, the image manifest digest the registry stores."""
    stack: str
    git_commit: str
    builder_id: str
    signed_by: str

    def __post_init__(self) -> None:
        if not DIGEST.match(self.digest):
            raise MlopsError(f"--digest {self.digest!r}: expected sha256:<64 lowercase hex>")
        if not COMMIT.match(self.git_commit):
            raise MlopsError(f"--git-commit {self.git_commit!r}: expected a full commit id")

    def statement(self) -> dict[str, Any]:
        return {
            "_type": STATEMENT_TYPE,
            "subject": [{"name": self.repository, "digest": {"sha256": self.digest[7:]}}],
            "predicateType": IMAGE_PREDICATE_TYPE,
            "predicate": {
                "stack": self.stack,
                "gitCommit": self.git_commit,
                "builderId": self.builder_id,
                "signedBy": self.signed_by,
            },
        }


def sign_image(release: ImageRelease, signer: Signer, out: Path) -> None:
    """Sign the release's statement with `signer` (KMS) and write the DSSE envelope."""
    envelope = new_envelope(encode_statement(release.statement()))
    envelope.sign(signer)
    write_envelope(envelope, out)


@dataclass(frozen=True)
class ImageVerification:
    ok: bool
    reason: str
    """One line: what verified, or the first check that failed."""
    predicate: dict[str, Any] | None = None


def verify_image(
    envelope_path: Path,
    digest: str,
    verifier: Verifier,
    *,
    stack: str | None = None,
    repository: str | None = None,
) -> ImageVerification:
    """Whether `envelope_path` is the trusted key's signature releasing `digest` (to
    `stack`, from `repository`, when given); never raises for a bad signature."""
    if not DIGEST.match(digest):
        return ImageVerification(False, f"digest {digest!r}: expected sha256:<64 lowercase hex>")
    try:
        envelope = load_envelope(envelope_path)
    except EnvelopeError as error:
        return ImageVerification(False, str(error))
    if envelope.payload_type != PAYLOAD_TYPE:
        return ImageVerification(False, f"signature: payloadType is not {PAYLOAD_TYPE}")
    if not signed_by(envelope, verifier):
        return ImageVerification(
            False, f"signature: does not verify with the trusted {verifier.description}"
        )
    try:
        statement = json.loads(envelope.payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return ImageVerification(False, "statement: payload is not JSON")
    if not isinstance(statement, dict) or statement.get("predicateType") != IMAGE_PREDICATE_TYPE:
        found = statement.get("predicateType") if isinstance(statement, dict) else None
        return ImageVerification(
            False, f"statement: predicateType {found!r} is not an image release"
        )
    subjects = statement.get("subject") or []
    signed = [(s.get("name"), (s.get("digest") or {}).get("sha256")) for s in subjects]
    if len(signed) != 1 or f"sha256:{signed[0][1]}" != digest:
        return ImageVerification(
            False, f"statement: signed for another image (subjects {signed}), not {digest}"
        )
    predicate = statement.get("predicate") or {}
    if repository is not None and signed[0][0] != repository:
        return ImageVerification(
            False, f"statement: signed for repository {signed[0][0]!r}, not {repository!r}"
        )
    if stack is not None and predicate.get("stack") != stack:
        return ImageVerification(
            False, f"statement: released to stack {predicate.get('stack')!r}, not {stack!r}"
        )
    return ImageVerification(
        True,
        f"verified: {signed[0][0]}@{digest} released to stack {predicate.get('stack')} from "
        f"commit {predicate.get('gitCommit')}, signed by {predicate.get('signedBy')} "
        f"(trusted {verifier.description})",
        predicate,
    )
