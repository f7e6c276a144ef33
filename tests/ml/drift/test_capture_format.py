"""The capture readers on data capture as AWS documents it, not as our writer writes it.

`fixtures/sagemaker-data-capture.jsonl` follows the record of the SageMaker developer guide
("Capture data", `model-monitor-data-capture.md`): `captureData.endpointInput` and
`endpointOutput` with `observedContentType`, `mode`, `data` and `encoding`, then
`eventMetadata` (`eventId`, `inferenceTime`, and `inferenceId` when the caller passed one
to InvokeEndpoint, as "Ingest Ground Truth labels" describes) and `eventVersion` "0".
Its four records: CSV as captured with `CsvContentTypes` set, the same BASE64-encoded (what
an endpoint without `CaptureContentTypeHeader` writes), JSON with `JsonContentTypes`, and
JSON BASE64-encoded. The expected values below are read off the file by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from ml.drift.readers import read_capture
from ml.quality.inputs import read_predictions

CAPTURE = Path(__file__).parent / "fixtures" / "sagemaker-data-capture.jsonl"
FEATURES = ["a", "b", "c"]


def test_drift_reader_takes_each_request_row_whatever_its_encoding() -> None:
    # given the four documented records (CSV, CSV in BASE64, JSON, JSON in BASE64)
    dtypes = {name: pl.Float64() for name in FEATURES}
    # when the drift reader reads their requests with three features
    rows = read_capture(CAPTURE, FEATURES, dtypes)
    # then each request is one row, in the file's order
    assert rows.rows() == [
        (69.0, 0.0, 153.7),
        (94.0, 23.0, 197.1),
        (50.0, 0.0, 188.9),
        (12.5, 1.0, 0.0),
    ], rows


def test_quality_reader_takes_each_response_by_inference_id_else_event_id() -> None:
    # given the same records, when the quality reader reads their responses
    read = read_predictions([CAPTURE], since=None, until=None)
    # then each record is one scored prediction, keyed as Model Monitor merges ground truth
    frame = read.frame
    assert frame.get_column("inference_id").to_list() == [
        "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "bbbbbbbb-cccc-dddd-eeee-ffffffffffff",
        "order-1841",
        "order-1842",
    ], frame
    assert frame.get_column("score").to_list() == [
        0.0254181120544672,
        0.07675473392009735,
        0.023190177977085114,
        0.5,
    ], frame
    first = datetime(2022, 2, 14, 17, 25, 49, tzinfo=UTC)
    assert frame.get_column("time").to_list()[0] == first, frame
    assert (read.records, read.outside_window, read.multi_row, read.no_output) == (4, 0, 0, 0)
