"""Reading what was predicted (data capture) and what turned out true (labels).

Predictions come from SageMaker data-capture JSON lines, one record per request, as an
endpoint with `DataCaptureConfig` writes them (Input and Output captured):

    {"captureData": {"endpointInput": {...},
                     "endpointOutput": {"observedContentType": "text/csv", "mode": "OUTPUT",
                                        "data": "0.0254181120544672", "encoding": "CSV"}},
     "eventMetadata": {"eventId": "a5a4...", "inferenceId": "order-1841",
                       "inferenceTime": "2026-01-06T17:39:37Z"},
     "eventVersion": "0"}

A record's id is `eventMetadata.inferenceId` (what the caller passed to InvokeEndpoint as
`InferenceId`), else its `eventId`, the rule SageMaker Model Monitor merges ground truth
by. The response is the server's: one probability per line (`text/csv`) or
`{"predictions": [...]}` (`application/json`), possibly BASE64-encoded. A record that
answers several rows has one id for several predictions: it cannot be joined to
per-inference labels and is counted, not scored.

Labels are CSV (header) or JSON lines with the columns `inference_id` and `label` (0 or
1), or SageMaker's own ground-truth JSON lines
(`{"groundTruthData": {"data": "1", "encoding": "CSV"}, "eventMetadata": {"eventId": ...}}`).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl

from common.errors import MlopsError
from ml.drift.readers import CAPTURE_SUFFIXES, line_chunks

ID = "inference_id"
LABEL = "label"
SCORE = "score"
TIME = "time"
_ISO_8601 = "%Y-%m-%dT%H:%M:%S%.f%#z"
"""SageMaker writes `2026-01-06T17:39:37Z`; other offsets are converted to UTC."""
_CHUNK_BYTES = 64 * 1024 * 1024
_FIELD = pl.Struct({"observedContentType": pl.String, "data": pl.String, "encoding": pl.String})
_CAPTURE_SCHEMA = {
    "captureData": pl.Struct({"endpointOutput": _FIELD}),
    "eventMetadata": pl.Struct(
        {"eventId": pl.String, "inferenceId": pl.String, "inferenceTime": pl.String}
    ),
}
_GROUND_TRUTH_SCHEMA = {
    "groundTruthData": pl.Struct({"data": pl.String, "encoding": pl.String}),
    "eventMetadata": pl.Struct({"eventId": pl.String}),
}


@dataclass(frozen=True)
class Predictions:
    """Scored predictions in the window, one per inference id, and what was left out."""

    frame: pl.DataFrame
    """Columns `inference_id`, `time` (UTC), `score`."""
    records: int
    """Capture records read, in the window or not."""
    outside_window: int
    multi_row: int
    """Records answering several rows (one id, several predictions): not joinable."""
    no_output: int
    """Records without a captured response (capture of Input only)."""


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:300] if lines else type(error).__name__


def capture_files(path: Path) -> list[Path]:
    """`path` itself, or every JSON-lines file under a directory, in name order."""
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in CAPTURE_SUFFIXES)
    if not files:
        raise MlopsError(f"{path}: no .jsonl capture files in the directory")
    return files


def _decode(text: str | None, encoding: str | None) -> str | None:
    if text is None or (encoding or "").upper() != "BASE64":
        return text
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def _scores(text: str, content_type: str) -> list[float] | None:
    """The probabilities of one response; None when it is not a response of the server."""
    try:
        if "json" in content_type:
            document = json.loads(text)
            values = document.get("predictions") if isinstance(document, dict) else document
            values = values if isinstance(values, list) else [values]
        else:
            values = [v for line in text.strip().splitlines() for v in line.split(",")]
        return [float(v) for v in values]
    except (ValueError, TypeError, AttributeError):
        return None


def read_predictions(
    files: Sequence[Path],
    since: datetime | None,
    until: datetime | None,
    progress: Callable[[int], None] = lambda _: None,
) -> Predictions:
    """The single-row predictions captured in [since, until), from `files`.

    `progress` is called with each file's size in bytes once it is read."""
    ids: list[str] = []
    times: list[datetime] = []
    scores: list[float] = []
    records = outside = multi = no_output = 0
    for path in files:
        for chunk in line_chunks(path, _CHUNK_BYTES):
            try:
                frame = pl.read_ndjson(io.BytesIO(chunk), schema=_CAPTURE_SCHEMA)
            except pl.exceptions.PolarsError as error:
                raise MlopsError(
                    f"{path}: not SageMaker data-capture JSON lines: {_first_line(error)}"
                ) from None
            frame = frame.select(
                pl.col("eventMetadata").struct.field("inferenceId"),
                pl.col("eventMetadata").struct.field("eventId"),
                pl.col("eventMetadata")
                .struct.field("inferenceTime")
                .str.to_datetime(_ISO_8601, time_unit="us", time_zone="UTC", strict=False)
                .alias(TIME),
                pl.col("captureData").struct.field("endpointOutput").struct.unnest(),
            )
            records += frame.height
            if frame.get_column(TIME).null_count():
                raise MlopsError(
                    f"{path}: a record has no readable eventMetadata.inferenceTime "
                    "(ISO 8601, e.g. 2026-01-06T17:39:37Z)"
                )
            window = pl.lit(True)
            if since is not None:
                window &= pl.col(TIME) >= since
            if until is not None:
                window &= pl.col(TIME) < until
            inside = frame.filter(window)
            outside += frame.height - inside.height
            for row in inside.iter_rows(named=True):
                key = row["inferenceId"] or row["eventId"]
                if not key:
                    raise MlopsError(f"{path}: a record has neither inferenceId nor eventId")
                text = _decode(row["data"], row["encoding"])
                if text is None:
                    no_output += 1
                    continue
                values = _scores(text, (row["observedContentType"] or "text/csv").lower())
                if values is None:
                    raise MlopsError(
                        f"{path}: record {key}: the response is not probabilities "
                        f"({text[:60]!r}); is this the model server's capture?"
                    )
                if len(values) != 1:
                    multi += 1
                    continue
                ids.append(key)
                times.append(row[TIME])
                scores.append(values[0])
        progress(path.stat().st_size)
    frame = pl.DataFrame(
        {ID: ids, TIME: times, SCORE: scores},
        schema={ID: pl.String, TIME: pl.Datetime("us", "UTC"), SCORE: pl.Float64},
    )
    return Predictions(frame, records, outside, multi, no_output)


def read_labels(path: Path) -> pl.DataFrame:
    """Labels as columns `inference_id` (text) and `label` (0 or 1), from a CSV file, JSON
    lines with those columns, or SageMaker ground-truth JSON lines."""
    try:
        if path.suffix == ".csv":
            frame = pl.read_csv(path, infer_schema_length=0)  # all text: ids stay ids
        else:
            frame = pl.read_ndjson(path, infer_schema_length=1000)
            if "groundTruthData" in frame.columns:
                frame = pl.read_ndjson(path, schema=_GROUND_TRUTH_SCHEMA).select(
                    pl.col("eventMetadata").struct.field("eventId").alias(ID),
                    pl.col("groundTruthData").struct.field("data").alias(LABEL),
                )
    except FileNotFoundError:
        raise MlopsError(f"{path}: file not found") from None
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as error:
        raise MlopsError(f"{path}: not a readable labels file: {_first_line(error)}") from None
    missing = [c for c in (ID, LABEL) if c not in frame.columns]
    if missing:
        raise MlopsError(
            f"{path}: missing column(s) {', '.join(missing)} (labels need inference_id and "
            "label; see docs/quality.md)"
        )
    frame = frame.select(
        pl.col(ID).cast(pl.String), pl.col(LABEL).cast(pl.String).str.strip_chars()
    )
    labels = frame.get_column(LABEL)
    bad = labels.filter(~labels.is_in(["0", "1", "0.0", "1.0", "true", "false"]))
    if frame.get_column(ID).null_count():
        raise MlopsError(f"{path}: a row has no inference_id")
    if bad.len():
        raise MlopsError(f"{path}: label {bad[0]!r} is not 0 or 1 (binary labels only)")
    frame = frame.with_columns(pl.col(LABEL).is_in(["1", "1.0", "true"]).cast(pl.Int64))
    return one_label_per_id(frame, str(path))


def one_label_per_id(frame: pl.DataFrame, source: str) -> pl.DataFrame:
    """Each id once: repeats of the same label collapse, two different labels are refused."""
    duplicated = frame.filter(pl.col(ID).is_duplicated())
    if duplicated.height:
        conflicting = (
            duplicated.group_by(ID).agg(pl.col(LABEL).n_unique()).filter(pl.col(LABEL) > 1)
        )
        if conflicting.height:
            raise MlopsError(
                f"{source}: inference id {conflicting.get_column(ID)[0]!r} has two different labels"
            )
        frame = frame.unique(ID, keep="first", maintain_order=True)
    return frame
