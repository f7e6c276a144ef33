"""Writing rows in SageMaker's data-capture format (what an endpoint's capture writes).

Used to rehearse monitoring without an endpoint (the demo, tests): each record holds
`rows_per_record` rows as a `text/csv` request with encoding `CSV` or `BASE64`, or as an
`application/json` request `{"instances": [[...], ...]}`, and a response of one
probability per row when `predictions` are given.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import polars as pl


def write_capture_jsonl(
    frame: pl.DataFrame,
    path: Path,
    encoding: Literal["CSV", "BASE64", "JSON"] = "CSV",
    rows_per_record: int = 1,
    predictions: Sequence[float] | None = None,
    start: datetime | None = None,
) -> Path:
    """Write `frame`'s rows (columns in model order, no header) as capture JSON lines."""
    start = start or datetime(2026, 1, 1, tzinfo=UTC)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = frame.rows()
    with path.open("w", encoding="utf-8") as out:
        for index in range(0, len(rows), rows_per_record):
            batch = rows[index : index + rows_per_record]
            if encoding == "JSON":
                content_type, data = "application/json", json.dumps({"instances": batch})
            else:
                content_type = "text/csv"
                data = "\n".join(
                    ",".join(repr(v) if isinstance(v, float) else str(v) for v in row)
                    for row in batch
                )
                if encoding == "BASE64":
                    data = base64.b64encode(data.encode("utf-8")).decode("ascii")
            record = {
                "captureData": {
                    "endpointInput": {
                        "observedContentType": content_type,
                        "mode": "INPUT",
                        "data": data,
                        "encoding": encoding,
                    }
                },
                "eventMetadata": {
                    "eventId": str(uuid.UUID(int=index)),
                    "inferenceTime": (start + timedelta(seconds=index))
                    .isoformat()
                    .replace("+00:00", "Z"),
                },
                "eventVersion": "0",
            }
            if predictions is not None:
                answer = "\n".join(f"{p:.6f}" for p in predictions[index : index + rows_per_record])
                record["captureData"]["endpointOutput"] = {
                    "observedContentType": "text/csv",
                    "mode": "OUTPUT",
                    "data": answer,
                    "encoding": "CSV",
                }
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
    return path
