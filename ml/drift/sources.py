"""Where drift inputs live: local paths, or S3 (a reference object, a capture prefix).

S3 inputs are downloaded to a local working directory first (streamed to disk, never
held in memory), then read like local files. For a capture prefix every `.jsonl`,
`.json`, `.ndjson` and `.csv` object under it is fetched, optionally only those written
in the last `since_hours` (SageMaker writes capture files hourly under
`<prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/`), or only those after the monitor's
marker (`ml.drift.window`): listed from `StartAfter` the marker's key, so older captures
are neither listed nor read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.errors import MlopsError
from ml.data.schema import SCHEMA_FILE, DatasetSchema

if TYPE_CHECKING:
    from ml.drift.window import CaptureWindow

SUFFIXES = (".jsonl", ".json", ".ndjson", ".csv")


def is_s3(location: str) -> bool:
    return location.startswith("s3://")


def split_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket:
        raise MlopsError(f"{uri!r} is not an s3://<bucket>/<key> URI")
    return bucket, key


def materialize(
    location: str,
    workdir: Path,
    s3_client: Callable[[], Any],
    since_hours: float | None = None,
    window: CaptureWindow | None = None,
) -> Path:
    """A local path for `location`: itself, or the S3 object(s) downloaded under `workdir`;
    with `window` (an S3 prefix), only those after its marker, each recorded in it."""
    if not is_s3(location):
        path = Path(location)
        if not path.exists():
            raise MlopsError(f"{path}: file not found")
        return path
    from ml.artifacts import S3Object, download_file  # boto3: only for S3 inputs

    bucket, key = split_uri(location)
    s3 = s3_client()
    if key and not key.endswith("/") and key.endswith(SUFFIXES):
        target = workdir / Path(key).name
        return download_file(s3, S3Object(bucket, key), target)
    root = workdir / bucket
    for name in capture_keys(s3, location, since_hours, window):
        relative = name[len(key) :].lstrip("/") or Path(name).name
        download_file(s3, S3Object(bucket, name), root / relative)
    return root


def capture_keys(
    s3: Any, location: str, since_hours: float | None = None, window: CaptureWindow | None = None
) -> list[str]:
    """The data objects under the s3:// prefix `location` a run reads: written in the last
    `since_hours`, and after `window`'s marker (each recorded in it). None: bad input."""
    from ml.aws import aws_errors

    bucket, key = split_uri(location)
    cutoff = datetime.now(UTC) - timedelta(hours=since_hours) if since_hours else None
    keys: list[str] = []
    with aws_errors(f"listing {location}"):
        after = {"StartAfter": window.after} if window and window.after else {}
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key, **after)
        for page in pages:
            for item in page.get("Contents", []):
                name = item["Key"]
                if not name.endswith(SUFFIXES) or (cutoff and item["LastModified"] < cutoff):
                    continue
                if window is not None:
                    window.admit(name)
                keys.append(name)
    if not keys and window is not None and window.after:
        from ml.drift.window import NoNewCaptures

        raise NoNewCaptures(f"{location}: nothing captured after {window.after}")
    if not keys:
        recent = f" written in the last {since_hours:g} hours" if since_hours else ""
        raise MlopsError(f"{location}: no .jsonl or .csv objects{recent}")
    return keys


def materialize_stats(reference: str, local_reference: Path, s3_client: Callable[[], Any]) -> None:
    """For an S3 reference, fetch the statistics files stored beside it, if there are
    (`ml.drift.reference`); a local reference's sit beside it already."""
    if not is_s3(reference):
        return
    from botocore.exceptions import ClientError

    from ml.artifacts import S3Object, download_file
    from ml.drift.stats_files import STATS_SUFFIXES, stats_paths

    bucket, key = split_uri(reference)
    s3 = s3_client()
    for suffix, local in zip(STATS_SUFFIXES, stats_paths(local_reference), strict=True):
        source = S3Object(bucket, key + suffix)
        try:
            s3.head_object(Bucket=source.bucket, Key=source.key)
        except ClientError:
            # absent (404, or 403 without s3:ListBucket) or unreadable: the statistics
            # only save time, so the reference is read instead
            return
        download_file(s3, source, local)


def schema_categoricals(
    reference: str, local_reference: Path, s3_client: Callable[[], Any]
) -> list[str]:
    """Categorical columns the training data declares in `schema.json` beside the reference.

    Training writes each channel with its schema, so the scheduled monitor (which knows
    only the reference's location) compares category codes with chi-square, not KS.
    No schema beside the reference means none declared: an empty list.
    """
    directory = local_reference if local_reference.is_dir() else local_reference.parent
    schema_path = directory / SCHEMA_FILE
    if is_s3(reference) and not schema_path.exists():
        from botocore.exceptions import ClientError

        from ml.artifacts import S3Object, download_file
        from ml.aws import error_code

        bucket, key = split_uri(reference)
        folder = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
        source = S3Object(bucket, f"{folder}{SCHEMA_FILE}")
        s3 = s3_client()
        try:
            s3.head_object(Bucket=source.bucket, Key=source.key)
        except ClientError as error:
            if error_code(error) in {"404", "NoSuchKey", "NotFound"}:
                return []
            raise
        download_file(s3, source, schema_path)
    if not schema_path.exists():
        return []
    return DatasetSchema.read(directory).categorical
