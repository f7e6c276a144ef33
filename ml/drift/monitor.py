"""`mlops drift` end to end, the same on a runner and in a SageMaker Processing job.

Fetch the inputs (`ml.drift.sources`), take the reference's statistics from the stats file
beside it when that names the reference's sha256 (`ml.drift.reference`) or else read the
reference, stream the current data in batches into per-feature chunks and category counts
(`CurrentColumns`), compare (`ml.drift.detect`) and write the reports. Memory holds the
current window's numeric values once (exact KS needs them all) and a few sorted columns;
neither the CSV text nor a whole reference is held.
"""

from __future__ import annotations

import importlib
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from common.errors import MlopsError
from infra.contracts import CAPTURE_PREFIX
from ml.drift.detect import DriftResult, detect_drift
from ml.drift.readers import (
    CurrentBatches,
    Features,
    features_of,
    float_columns,
    read_reference,
)
from ml.drift.reference import (
    ReferenceColumns,
    columns_of,
    matching_stats,
    write_stats,
)
from ml.drift.report import prepare_page, write_drift_reports
from ml.drift.sources import (
    is_s3,
    materialize,
    materialize_stats,
    schema_categoricals,
    split_uri,
)
from ml.drift.stats_files import file_sha256
from ml.drift.window import CaptureWindow, close_window, open_window
from ml.params import DriftParams
from ml.reports import ReportPaths

if TYPE_CHECKING:
    from ml.drift.prefetch import Prefetch


class CurrentColumns:
    """The current data of every feature, gathered batch by batch: numeric features as
    the float64 chunks they were read in, categorical ones as counts per category."""

    def __init__(self, features: Features):
        self.features = features
        self.chunks: dict[str, list[np.ndarray]] = {
            c: [] for c in features.names if c not in features.categorical
        }
        self.counts: dict[str, dict[Any, int]] = {c: {} for c in features.categorical}
        self.missing = dict.fromkeys(features.names, 0)
        self.rows = 0

    def add(self, batch: pl.DataFrame) -> None:
        self.rows += batch.height
        for name, missing in _missing(batch).items():
            self.missing[name] += missing
        for name, chunks in float_columns(batch, list(self.chunks)).items():
            self.chunks[name].extend(chunks)
        for name, total in self.counts.items():
            counted = batch.get_column(name).drop_nulls().value_counts()
            for value, count in counted.iter_rows():
                total[value] = total.get(value, 0) + count

    def check(self, source: str) -> None:
        """One line for what `load_pair` refuses: no rows, or a missing or NaN value."""
        if self.rows == 0:
            raise MlopsError(f"{source}: no rows to compare")
        for name, missing in self.missing.items():
            if missing:
                raise MlopsError(f"{source}: column {name!r} has {missing} missing or NaN values")


@dataclass(frozen=True)
class Inputs:
    """Where a drift run reads from, and how it judges."""

    reference: str
    current: str
    categorical: Sequence[str] = ()
    exclude: Sequence[str] = ()
    since_hours: float | None = None
    thresholds: DriftParams = field(default_factory=DriftParams)
    new_only: bool = False
    """Read only the captures after the marker, and advance it (`ml.drift.window`)."""
    publish: bool = False
    """Publish the drifted-feature count for the capture's endpoint (`ml.drift.metrics`)."""


@dataclass(frozen=True)
class DriftRun:
    result: DriftResult
    paths: ReportPaths
    window: CaptureWindow | None
    """What a `new_only` run read, and after which key."""


def _reference(
    local: Path, categorical: Sequence[str], exclude: Sequence[str], prefetch: Prefetch | None
) -> tuple[ReferenceColumns, Features]:
    digest = prefetch.sha256 if prefetch is not None else file_sha256
    stored = matching_stats(local, digest) if local.is_file() else None
    if stored is not None:
        schema = {
            name: pl.Float64() if name in stored.numeric else pl.String() for name in stored.order
        }
        return stored, features_of(schema, local, categorical, exclude)
    read = prefetch.reference_frame(local) if prefetch is not None else None
    frame, features = read_reference(local, categorical, exclude, read)
    _check(frame, str(local))
    return columns_of(frame), features


def _missing(frame: pl.DataFrame) -> dict[str, int]:
    """Missing or NaN values per column, in one pass of polars over the frame."""
    counts = frame.select(
        (pl.col(c).null_count() + pl.col(c).is_nan().sum())
        if t.is_float()
        else pl.col(c).null_count()
        for c, t in frame.schema.items()
    )
    return dict(zip(counts.columns, counts.row(0), strict=True))


def _check(frame: pl.DataFrame, source: str) -> None:
    for name, missing in _missing(frame).items():
        if missing:
            raise MlopsError(f"{source}: column {name!r} has {missing} missing or NaN values")


def open_inputs_window(inputs: Inputs, s3_client: Callable[[], Any]) -> CaptureWindow | None:
    if not (inputs.new_only or inputs.publish):
        return None
    if not is_s3(inputs.current):
        raise MlopsError(
            f"{inputs.current}: --new-only and --publish-metrics need the capture's s3:// prefix"
        )
    bucket, key = split_uri(inputs.current)
    window = CaptureWindow(bucket, key)
    if inputs.new_only:
        window = open_window(s3_client(), bucket, key)
    if inputs.publish and window.endpoint is None:
        raise MlopsError(
            f"{inputs.current}: --publish-metrics needs an endpoint's capture prefix, "
            f"s3://<bucket>/{CAPTURE_PREFIX}<endpoint>/..., to name the endpoint"
        )
    return window


def finish(
    inputs: Inputs,
    window: CaptureWindow | None,
    drifted: int,
    s3_client: Callable[[], Any],
    cloudwatch_client: Callable[[], Any] | None,
) -> None:
    """After the reports: advance the marker (`new_only`), publish the metric (`publish`)."""
    if window is not None and inputs.new_only:
        close_window(s3_client(), window)
    if window is not None and inputs.publish:
        from infra.contracts import MonitorMetric
        from ml.drift.metrics import publish

        assert cloudwatch_client is not None and window.endpoint is not None
        publish(cloudwatch_client(), MonitorMetric.DRIFTED_FEATURES, window.endpoint, drifted)


def run_drift(
    inputs: Inputs,
    out: Path,
    s3_client: Callable[[], Any],
    cloudwatch_client: Callable[[], Any] | None = None,
    prefetch: Prefetch | None = None,
) -> DriftRun:
    """Compare, write drift.md / drift.json / drift.html into `out`; then advance the
    marker (`new_only`) and publish the metric (`publish`). `prefetch`: the local inputs
    as far as they were read already (`ml.drift.prefetch`)."""
    window = open_inputs_window(inputs, s3_client)
    with tempfile.TemporaryDirectory(prefix="mlops-drift-") as work:
        reference_path = materialize(inputs.reference, Path(work, "reference"), s3_client)
        materialize_stats(inputs.reference, reference_path, s3_client)
        current_path = materialize(
            inputs.current,
            Path(work, "current"),
            s3_client,
            inputs.since_hours,
            window if inputs.new_only else None,
        )
        declared = schema_categoricals(inputs.reference, reference_path, s3_client)
        categories = sorted({*inputs.categorical, *declared})
        reference, features = _reference(reference_path, categories, inputs.exclude, prefetch)
        if features.categorical:
            # chi-square needs scipy.stats, a second to import: done while polars reads the
            # current data (its reader runs outside the GIL). Large numeric samples do not
            # need it (`ml.drift.stats.ks_asymptotic_pvalue`).
            threading.Thread(
                target=importlib.import_module, args=("scipy.stats",), daemon=True
            ).start()
        read = None
        if prefetch is not None:
            prepare_page()  # while the current file is still being read
            read = prefetch.current_batches(current_path, features)
        batches = read if read is not None else CurrentBatches(current_path, features)
        current = CurrentColumns(features)
        for batch in batches:
            current.add(batch)
        current.check(str(current_path))
        numeric = [c for c in features.names if c not in features.categorical]
        result = detect_drift(
            reference.numeric_of(numeric),
            {c: current.chunks[c] for c in numeric},
            {c: (reference.counts(c), current.counts[c]) for c in features.categorical},
            inputs.thresholds,
            ignored_columns=sorted(batches.ignored),
            reference_sorted=reference.presorted,
            reference_rows=reference.rows,
        )
    described = inputs.current
    if window is not None and inputs.new_only:
        since = f"after {window.after}" if window.after else "no marker yet"
        described += f" ({len(window.read)} new object(s), {since})"
    paths = write_drift_reports(out, result, inputs.reference, described)
    finish(inputs, window, len(result.drifted), s3_client, cloudwatch_client)
    return DriftRun(result, paths, window)


def write_reference_stats(reference: Path) -> Path:
    """Compute and store the statistics of the local reference file `reference`."""
    frame, _ = read_reference(reference)
    _check(frame, str(reference))
    return write_stats(reference, frame)


def raise_on_drift(drifted: Sequence[str], features: int, markdown: Path) -> None:
    """The monitor's verdict, the same for `mlops drift` (on a runner or SageMaker) and the
    demo: exit 1 with one line naming the drifted features when any drifted."""
    if drifted:
        raise MlopsError(
            f"drift detected in {len(drifted)} of {features} features: "
            f"{', '.join(drifted)} (see {markdown})",
            exit_code=1,
        )
