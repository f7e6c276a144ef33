"""The dataset: a deterministic generator, its splits, its content hash, its files.

- `generate_churn(rows, seed, shift=None)`: the `churn-v1` table (20 features + label).
- `split(frame, schema, validation_fraction, reference_fraction, seed)`: train /
  validation / production-reference (features only) splits.
- `training_data_hash(frame)`: the one content hash every part uses to name data.
- `prepare_data(params.data, root)` / `write_channels(...)` / `read_channel(dir)`: the
  SageMaker channel layout on disk (`<root>/<channel>/<channel>.csv` + `schema.json`).
"""

from ml.data.generate import (
    CATEGORICAL,
    CHURN_SCHEMA,
    LABEL,
    NUMERIC,
    Splits,
    generate_churn,
    split,
)
from ml.data.hashing import training_data_hash
from ml.data.io import CHANNELS, DataSnapshot, prepare_data, read_channel, write_channels
from ml.data.schema import DatasetSchema, Feature

__all__ = [
    "CATEGORICAL",
    "CHANNELS",
    "CHURN_SCHEMA",
    "LABEL",
    "NUMERIC",
    "DataSnapshot",
    "DatasetSchema",
    "Feature",
    "Splits",
    "generate_churn",
    "prepare_data",
    "read_channel",
    "split",
    "training_data_hash",
    "write_channels",
]
