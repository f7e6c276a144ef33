"""What the scheduled monitor has read: a marker per capture prefix, so a run reads only
the captures written since the last successful run.

SageMaker writes an endpoint variant's capture under
`datacapture/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm-ss-mmm-uuid>.jsonl`, so under one
variant's prefix key order is time order. The marker, `monitor_marker_key(prefix)` in the
capture bucket (`monitor-state/...`, the only prefix the monitor role may write), names
the last key a run read; the next run lists with `StartAfter` that key and downloads only
what follows. It is written after the reports (drift found or not), never after bad input,
encrypted with the key that encrypted the captures. A capture file written late into an
hour the marker has passed, with a name sorting before it, is not read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from common.errors import MlopsError
from infra.contracts import CAPTURE_PREFIX, monitor_marker_key

FORMAT = "mlops-drift-marker/1"
_HOURLY = re.compile(r"^\d{4}/\d{2}/\d{2}/\d{2}/")


class NoNewCaptures(MlopsError):
    """Nothing was captured after the marker: nothing to judge, the marker stays."""

    exit_code = 0


@dataclass
class CaptureWindow:
    """One run's captures under `s3://<bucket>/<prefix>`: those after `after`."""

    bucket: str
    prefix: str
    after: str | None = None
    """The last key the previous successful run read; None: no run yet, read everything."""
    read: list[str] = field(default_factory=list)
    """Keys this run downloaded, in key (time) order."""

    def __post_init__(self) -> None:
        if self.prefix and not self.prefix.endswith("/"):
            self.prefix += "/"

    @property
    def marker_key(self) -> str:
        return monitor_marker_key(self.prefix)

    @property
    def endpoint(self) -> str | None:
        """The endpoint whose capture this is, from `datacapture/<endpoint>/<variant>/`."""
        parts = self.prefix.removeprefix(CAPTURE_PREFIX).split("/")
        return parts[0] if self.prefix.startswith(CAPTURE_PREFIX) and parts[0] else None

    def admit(self, key: str) -> None:
        """Refuse a key whose order is not its time: the marker would skip newer files."""
        if not _HOURLY.match(key[len(self.prefix) :]):
            raise MlopsError(
                f"s3://{self.bucket}/{key}: not under <prefix>yyyy/mm/dd/hh/; --new-only needs "
                f"one endpoint variant's capture prefix, s3://<bucket>/{CAPTURE_PREFIX}<endpoint>/"
                "<variant>/"
            )
        self.read.append(key)


def open_window(s3: Any, bucket: str, prefix: str) -> CaptureWindow:
    """The window after the marker the last successful run left (none: from the start)."""
    from botocore.exceptions import ClientError

    from ml.aws import aws_errors, error_code

    window = CaptureWindow(bucket, prefix)
    try:
        stored = s3.get_object(Bucket=bucket, Key=window.marker_key)
    except ClientError as error:
        if error_code(error) in {"NoSuchKey", "404"}:
            return window
        with aws_errors(f"reading the marker s3://{bucket}/{window.marker_key}"):
            raise
    try:
        marker = json.loads(stored["Body"].read())
        if marker.get("format") != FORMAT or not marker["last_key"].startswith(window.prefix):
            raise ValueError(marker.get("format"))
        window.after = marker["last_key"]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise MlopsError(
            f"s3://{bucket}/{window.marker_key}: not a drift marker for {window.prefix}; delete it "
            "to read the whole capture again"
        ) from None
    return window


def close_window(s3: Any, window: CaptureWindow) -> str:
    """Advance the marker to the last key read; encrypted as that capture object is."""
    from ml.artifacts import sse_kms_arguments
    from ml.aws import aws_errors

    last = window.read[-1]
    with aws_errors(f"advancing the marker s3://{window.bucket}/{window.marker_key}"):
        key_arn = s3.head_object(Bucket=window.bucket, Key=last).get("SSEKMSKeyId")
        body = {
            "format": FORMAT,
            "prefix": window.prefix,
            "last_key": last,
            "objects_read": len(window.read),
            "previous_key": window.after,
            "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        s3.put_object(
            Bucket=window.bucket,
            Key=window.marker_key,
            Body=json.dumps(body, indent=2).encode("utf-8"),
            ContentType="application/json",
            **(sse_kms_arguments(key_arn) if key_arn else {}),
        )
    return window.marker_key
