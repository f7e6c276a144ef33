"""Sign a model artifact: manifest -> in-toto statement -> DSSE envelope -> signature."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.errors import MlopsError
from ml.provenance.envelope import Envelope, new_envelope, write_envelope
from ml.provenance.manifest import (
    SIGNATURE_NAME,
    ArtifactError,
    Manifest,
    build_manifest,
    read_member,
)
from ml.provenance.statement import Provenance, build_statement, encode_statement

if TYPE_CHECKING:
    from securesystemslib.signer import Signer

MODEL_CARD = "model.json"


@dataclass(frozen=True)
class SignedArtifact:
    envelope: Envelope
    manifest: Manifest
    statement: dict[str, Any]

    @property
    def pae_size(self) -> int:
        return len(self.envelope.pae())


def sign_artifact(artifact: Path, provenance: Provenance, signer: Signer) -> SignedArtifact:
    """Hash every file, build the statement, and sign its PAE with `signer`."""
    manifest = build_manifest(artifact)
    statement = build_statement(manifest, provenance)
    envelope = new_envelope(encode_statement(statement))
    envelope.sign(signer)
    return SignedArtifact(envelope, manifest, statement)


def sign_to_file(
    artifact: Path, signer: Signer, out: Path, provenance: Provenance
) -> SignedArtifact:
    """Sign `artifact` with `signer` and write the DSSE envelope to `out`, which may be
    inside a directory artifact only at the reserved name `SIGNATURE_NAME`."""
    refuse_out_inside_artifact(artifact, out)
    signed = sign_artifact(artifact, provenance, signer)
    write_envelope(signed.envelope, out)
    return signed


def refuse_out_inside_artifact(artifact: Path, out: Path) -> None:
    """A one-line `MlopsError` if `out` would land inside a directory artifact under any
    name but `SIGNATURE_NAME`, where it would be an unsigned file that fails verification."""
    if not artifact.is_dir():
        return
    try:
        relative = out.resolve().relative_to(artifact.resolve())
    except ValueError:
        return
    if relative.as_posix() != SIGNATURE_NAME:
        raise MlopsError(
            f"--out {out} is inside the artifact, where it would become an unsigned file; "
            f"use {artifact / SIGNATURE_NAME} or a path outside it"
        )


def read_model_card(artifact: Path) -> dict[str, Any]:
    """The artifact's `model.json` (the trainer's contract), or {} if it has none."""
    raw = read_member(artifact, MODEL_CARD)
    if raw is None:
        return {}
    try:
        card = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ArtifactError(f"artifact {artifact}: {MODEL_CARD} is not valid JSON") from None
    if not isinstance(card, dict):
        raise ArtifactError(f"artifact {artifact}: {MODEL_CARD} is not a JSON object")
    return card
