"""Objects in S3: SSE-KMS uploads, downloads, `s3://` URIs (the archive: ml.provenance.archive).

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

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.errors import MlopsError
from ml.aws import aws_errors

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


def _content_type(path: Path) -> str:
    if path.name.endswith(".json"):
        return "application/json"
    if path.name.endswith((".tar.gz", ".tgz")):
        return "application/gzip"
    return "application/octet-stream"
