"""The released archive: `model.tar.gz` with the signature inside, stored beside its signature.

`pack_artifact` writes the tarball SageMaker extracts (deterministic bytes, files at the
root, the DSSE envelope at the reserved `signature.dsse.json` where the serving container
finds it); `store_artifact` uploads it and the signature on its own (for auditors) with
SSE-KMS through `ml.artifacts`.
"""

from __future__ import annotations

import gzip
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.errors import MlopsError
from infra.contracts import MODEL_ARTIFACT_FILE, SIGNATURE_FILE
from ml.artifacts import S3Object, upload_file
from ml.provenance.manifest import SIGNATURE_NAME, build_manifest, is_tarball


@dataclass(frozen=True)
class StoredArtifact:
    model_data: S3Object
    """The `model.tar.gz` SageMaker loads (signature inside at `signature.dsse.json`)."""
    signature: S3Object
    """The DSSE envelope on its own, for auditors."""


def pack_artifact(artifact: Path, envelope: Path | None, out: Path) -> Path:
    """Write `model.tar.gz` as SageMaker expects: files at the root, deterministic bytes.

    With `envelope`, the signature goes in at the reserved `signature.dsse.json`, where
    the serving container finds it after SageMaker extracts the tarball. A tarball given
    as the artifact is copied as is (its signature, if any, stays as it was).
    """
    manifest = build_manifest(artifact)  # refuses symlinks, escapes, empty artifacts
    out.parent.mkdir(parents=True, exist_ok=True)
    if is_tarball(artifact):
        if envelope is not None:
            raise MlopsError(
                f"artifact {artifact} is already a tarball; pack the directory to add a signature"
            )
        out.write_bytes(artifact.read_bytes())
        return out
    members = [(entry.path, artifact / entry.path) for entry in manifest.files]
    if envelope is None and (artifact / SIGNATURE_NAME).is_file():
        envelope = artifact / SIGNATURE_NAME
    if envelope is not None:
        members.append((SIGNATURE_NAME, envelope))
    with (
        out.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name, source in sorted(members, key=lambda member: member[0].encode("utf-8")):
            info = tarfile.TarInfo(name)
            info.size = source.stat().st_size
            info.mode = 0o644
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with source.open("rb") as handle:
                tar.addfile(info, handle)
    return out


def store_artifact(
    s3: Any,
    *,
    artifact: Path,
    envelope: Path,
    bucket: str,
    prefix: str,
    kms_key_arn: str,
    workdir: Path,
) -> StoredArtifact:
    """Upload `model.tar.gz` (signature inside) and the signature beside it, SSE-KMS."""
    prefix = prefix.strip("/")
    tarball = pack_artifact(
        artifact, None if is_tarball(artifact) else envelope, workdir / MODEL_ARTIFACT_FILE
    )
    model_data = upload_file(
        s3, tarball, S3Object(bucket, f"{prefix}/{MODEL_ARTIFACT_FILE}"), kms_key_arn
    )
    signature = upload_file(
        s3, envelope, S3Object(bucket, f"{prefix}/{SIGNATURE_FILE}"), kms_key_arn
    )
    return StoredArtifact(model_data, signature)
