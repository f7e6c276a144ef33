"""Model artifacts in S3: deterministic tarballs, SSE-KMS uploads, downloads.

Takes a boto3 S3 client. Every upload names its encryption explicitly,
`ServerSideEncryption=aws:kms` and `SSEKMSKeyId=<CMK ARN>`, because the stack's bucket
policy denies any `PutObject` whose request does not carry both (bucket default
encryption does not satisfy a policy condition: S3 evaluates the request's headers).
The key must be given as a full key ARN: the policy compares ARNs, so an alias or a
bare key id would be denied.

Uploads are single `PutObject` calls (up to 5 GB): multipart uploads would need the
same headers on `CreateMultipartUpload`, and model artifacts here are far smaller.
"""

from __future__ import annotations

import gzip
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.contracts import MODEL_ARTIFACT_FILE, SIGNATURE_FILE
from ml.aws import aws_errors
from ml.errors import MlopsError
from ml.provenance.manifest import SIGNATURE_NAME, build_manifest, is_tarball

MAX_SINGLE_PUT = 5 * 1024**3
KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")
_S3_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>.+)$")


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str
    version_id: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class StoredArtifact:
    model_data: S3Object
    """The `model.tar.gz` SageMaker loads (signature inside at `signature.dsse.json`)."""
    signature: S3Object
    """The DSSE envelope on its own, for auditors."""


def sse_kms_arguments(kms_key_arn: str) -> dict[str, Any]:
    """The encryption arguments of every upload: SSE-KMS with the stack's CMK, bucket key on."""
    if not KMS_KEY_ARN.match(kms_key_arn):
        raise MlopsError(
            f"KMS key {kms_key_arn!r}: uploads need the CMK's full key ARN "
            "(arn:aws:kms:<region>:<account>:key/<id>), which the bucket policy compares"
        )
    return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_arn, "BucketKeyEnabled": True}


def parse_s3_uri(uri: str) -> S3Object:
    match = _S3_URI.match(uri)
    if not match:
        raise MlopsError(f"{uri!r} is not an s3://<bucket>/<key> URI")
    return S3Object(match["bucket"], match["key"])


def upload_file(s3: Any, path: Path, target: S3Object, kms_key_arn: str) -> S3Object:
    """PutObject with SSE-KMS under `kms_key_arn`; returns the object with its version."""
    arguments = sse_kms_arguments(kms_key_arn)
    size = path.stat().st_size
    if size > MAX_SINGLE_PUT:
        raise MlopsError(f"{path}: {size} bytes is more than one PutObject takes (5 GB)")
    with path.open("rb") as body, aws_errors(f"uploading {path.name} to {target.uri}"):
        response = s3.put_object(
            Bucket=target.bucket,
            Key=target.key,
            Body=body,
            ContentType=_content_type(path),
            **arguments,
        )
    return S3Object(target.bucket, target.key, response.get("VersionId"))


def download_file(s3: Any, source: S3Object, destination: Path) -> Path:
    destination.parent.mkdir(parents=True, exist_ok=True)
    arguments: dict[str, Any] = {"Bucket": source.bucket, "Key": source.key}
    if source.version_id:
        arguments["VersionId"] = source.version_id
    with aws_errors(f"downloading {source.uri}"):
        response = s3.get_object(**arguments)
        with destination.open("wb") as handle:
            for chunk in response["Body"].iter_chunks(1 << 20):
                handle.write(chunk)
    return destination


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


def _content_type(path: Path) -> str:
    if path.name.endswith(".json"):
        return "application/json"
    if path.name.endswith((".tar.gz", ".tgz")):
        return "application/gzip"
    return "application/octet-stream"
