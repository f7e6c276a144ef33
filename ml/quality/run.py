"""`mlops quality` composed: inputs (local or S3), baseline, evaluation, reports, and the
published metric. AWS clients come from the caller, made only when an input needs them."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from common.errors import MlopsError
from infra.contracts import MONITORING_DIMENSION, MONITORING_NAMESPACE, MonitorMetric
from ml.drift.sources import is_s3, materialize
from ml.quality import baseline as baselines
from ml.quality.evaluate import QualityResult, Tolerances, evaluate
from ml.quality.inputs import capture_files, one_label_per_id, read_labels, read_predictions
from ml.quality.report import Window, write_quality_reports
from ml.reports import ReportPaths

DEFAULT_S3_WINDOW = timedelta(hours=24)
"""An S3 capture location is read over the last day by default (the daily schedule)."""


class Progress(Protocol):
    def start(self, total_bytes: int) -> None: ...
    def advance(self, done_bytes: int) -> None: ...


class _Silent:
    def start(self, total_bytes: int) -> None:
        pass

    def advance(self, done_bytes: int) -> None:
        pass


@dataclass(frozen=True)
class Inputs:
    captures: str
    labels: str
    since: datetime | None = None
    until: datetime | None = None
    baseline_file: Path | None = None
    endpoint: str | None = None
    tolerances: Tolerances = field(default_factory=Tolerances)
    publish: bool = False
    lag_hours: float = 0.0
    """The default S3 window ends this long ago: labels arrive after the predictions."""


def window_of(inputs: Inputs, now: datetime) -> Window:
    """The explicit window, else for S3 captures the day ending `lag_hours` ago, else
    everything."""
    since, until = inputs.since, inputs.until
    if inputs.lag_hours < 0:
        raise MlopsError(f"--lag-hours {inputs.lag_hours:g} is negative: how long ago to end")
    if since is not None and until is not None and since >= until:
        raise MlopsError(f"--since {since.isoformat()} is not before --until {until.isoformat()}")
    if since is None and until is None and is_s3(inputs.captures):
        end = now - timedelta(hours=inputs.lag_hours)
        return Window(end - DEFAULT_S3_WINDOW, end)
    return Window(since, until)


def _labels(path: Path) -> pl.DataFrame:
    if path.is_file():
        return read_labels(path)
    files = sorted(p for p in path.rglob("*") if p.suffix in (".csv", ".jsonl", ".ndjson", ".json"))
    if not files:
        raise MlopsError(f"{path}: no .csv or .jsonl label files")
    return one_label_per_id(pl.concat([read_labels(f) for f in files]), str(path))


def publish_regressions(cloudwatch: Any, endpoint: str, regressions: int) -> None:
    """One data point of `QualityRegressions` for the endpoint (the quality alarm's input)."""
    from ml.aws import aws_errors

    with aws_errors(f"publishing {MonitorMetric.QUALITY_REGRESSIONS} for {endpoint}"):
        cloudwatch.put_metric_data(
            Namespace=MONITORING_NAMESPACE,
            MetricData=[
                {
                    "MetricName": str(MonitorMetric.QUALITY_REGRESSIONS),
                    "Dimensions": [{"Name": MONITORING_DIMENSION, "Value": endpoint}],
                    "Value": float(regressions),
                    "Unit": "Count",
                }
            ],
        )


def run_quality(
    inputs: Inputs,
    out: Path,
    client: Callable[[str], Any],
    progress: Progress | None = None,
    now: datetime | None = None,
) -> tuple[QualityResult, ReportPaths, baselines.Baseline]:
    """Evaluate, write the reports, publish when asked; the caller decides the exit code."""
    if inputs.baseline_file is None and inputs.endpoint is None:
        raise MlopsError("no baseline: pass --endpoint (its registered model's) or --baseline")
    if inputs.publish and inputs.endpoint is None:
        raise MlopsError("--publish-metrics needs --endpoint (the metric's dimension)")
    window = window_of(inputs, now or datetime.now(UTC))
    progress = progress or _Silent()
    baseline = (
        baselines.from_file(inputs.baseline_file)
        if inputs.baseline_file is not None
        else baselines.from_registry(client("sagemaker"), inputs.endpoint or "")
    )
    with tempfile.TemporaryDirectory(prefix="mlops-quality-") as tmp:
        work = Path(tmp)
        since_hours = None  # S3: download only objects written since the window began
        if window.since is not None and window.since < datetime.now(UTC):
            since_hours = (datetime.now(UTC) - window.since).total_seconds() / 3600
        s3 = lambda: client("s3")  # noqa: E731 - made only for s3:// inputs
        captures = materialize(inputs.captures, work / "captures", s3, since_hours)
        labels = _labels(materialize(inputs.labels, work / "labels", s3))
        files = capture_files(captures)
        progress.start(sum(f.stat().st_size for f in files))
        predictions = read_predictions(files, window.since, window.until, progress.advance)
    result = evaluate(predictions, labels, baseline.metrics, inputs.tolerances)
    paths = write_quality_reports(out, result, window, baseline.source, inputs.endpoint or "")
    if inputs.publish and inputs.endpoint is not None:
        publish_regressions(client("cloudwatch"), inputs.endpoint, len(result.regressions))
    return result, paths, baseline
