"""Dataset files on disk, laid out as SageMaker channels.

`write_channels` writes `<root>/<channel>/<channel>.csv` plus `schema.json` for the
channels `train`, `validation` and `reference` (and, for the reference, the drift
monitor's stored statistics, `reference.csv.stats.json` and `.stats.npy`): exactly what
a training job finds under `/opt/ml/input/data/<channel>/`, so the local run and the
SageMaker job read the same layout. `read_channel` reads every `*.csv` of a channel
directory (SageMaker may deliver several) in name order, typed by the schema, and refuses
anything malformed with one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from common.errors import MlopsError
from ml.data.generate import CHURN_SCHEMA, Splits, generate_churn, split
from ml.data.hashing import training_data_hash
from ml.data.schema import DatasetSchema
from ml.params import DataParams

CHANNELS = ("train", "validation", "reference")


@dataclass(frozen=True)
class DataSnapshot:
    """Channel directories of one snapshot and the hash of its training split."""

    root: Path
    channels: dict[str, Path]
    schema: DatasetSchema
    training_data_hash: str
    rows: dict[str, int]


def write_channels(splits: Splits, schema: DatasetSchema, root: Path) -> DataSnapshot:
    """Write the three splits as channel directories under `root`."""
    channels: dict[str, Path] = {}
    rows: dict[str, int] = {}
    for name in CHANNELS:
        frame: pl.DataFrame = getattr(splits, name)
        directory = root / name
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.csv"):
            stale.unlink()
        frame.write_csv(directory / f"{name}.csv")
        schema.write(directory)
        channels[name] = directory
        rows[name] = frame.height
    return DataSnapshot(root, channels, schema, training_data_hash(splits.train), rows)


def prepare_data(params: DataParams, root: Path) -> DataSnapshot:
    """Generate the snapshot `params` names and write its channels under `root`."""
    frame = generate_churn(params.rows, params.seed)
    splits = split(
        frame, CHURN_SCHEMA, params.validation_fraction, params.reference_fraction, params.seed
    )
    return write_channels(splits, CHURN_SCHEMA, root)


def snapshot_of(root: Path) -> DataSnapshot:
    """The snapshot already written under `root` (channels as `write_channels` lays out)."""
    frame, schema = read_channel(root / "train")
    channels = {name: root / name for name in CHANNELS if (root / name).is_dir()}
    if "validation" not in channels:
        raise MlopsError(f"{root}: no validation/ channel directory (see ml/data/io.py)")
    return DataSnapshot(root, channels, schema, training_data_hash(frame), {"train": frame.height})


def read_channel(directory: Path, with_label: bool = True) -> tuple[pl.DataFrame, DatasetSchema]:
    """The channel's rows typed by its `schema.json`; one-line errors for bad files."""
    if not directory.is_dir():
        raise MlopsError(f"{directory}: data channel directory not found")
    schema = DatasetSchema.read(directory)
    files = sorted(directory.glob("*.csv"))
    if not files:
        raise MlopsError(f"{directory}: no *.csv files in the data channel")
    expected = schema.feature_names + ([schema.label] if with_label else [])
    frames = [read_table_csv(path, schema.dtypes(with_label), expected) for path in files]
    frame = pl.concat(frames, how="vertical") if len(frames) > 1 else frames[0]
    if frame.height == 0:
        raise MlopsError(f"{directory}: the data channel has no rows")
    if with_label:
        bad = frame.filter(~pl.col(schema.label).is_in([0, 1])).height
        if bad:
            raise MlopsError(
                f"{directory}: label {schema.label!r} must be 0 or 1 ({bad} rows are not)"
            )
    return frame, schema


def read_table_csv(path: Path, dtypes: dict[str, pl.DataType], expected: list[str]) -> pl.DataFrame:
    """One CSV with a header, columns exactly `expected` (any order), cast to `dtypes`."""
    try:
        header = pl.read_csv(path, n_rows=0).columns
    except FileNotFoundError:
        raise MlopsError(f"{path}: file not found") from None
    except (pl.exceptions.PolarsError, OSError) as error:
        raise MlopsError(f"{path}: not a readable CSV file: {_first_line(error)}") from None
    missing = [c for c in expected if c not in header]
    extra = [c for c in header if c not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if extra:
            parts.append(f"unexpected column(s) {', '.join(extra)}")
        raise MlopsError(f"{path}: schema mismatch: {'; '.join(parts)}")
    try:
        frame = pl.read_csv(path, schema_overrides=dtypes, columns=expected)
    except pl.exceptions.PolarsError as error:
        raise MlopsError(f"{path}: malformed value: {_first_line(error)}") from None
    frame = frame.select(expected)
    for name in expected:
        column = frame.get_column(name)
        missing_values = column.null_count() + (
            int(column.is_nan().sum()) if column.dtype.is_float() else 0
        )
        if missing_values:
            raise MlopsError(
                f"{path}: column {name!r} has {missing_values} missing or NaN values; "
                "training data must be complete"
            )
    return frame


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:300] if text else type(error).__name__
