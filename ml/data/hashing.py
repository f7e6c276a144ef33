"""`training_data_hash`: one content hash of a table, used everywhere a dataset is named.

The hash is over a canonical byte form of the parsed table, not over file bytes, so the
same data hashes the same whether it was written as CSV with any float formatting, read
locally or inside a SageMaker job. The canonical form:

1. a header: UTF-8 JSON `{"format": "mlops-table/1", "rows": n, "columns": [[name, type], ...]}`
   with columns in table order and `type` one of `f64`, `i64`, `bool`, `str`;
2. then per column, in order: its null mask (one byte per row, 1 = null) and its values
   with nulls replaced by zero/empty: `f64`/`i64` as little-endian 8-byte values (floats
   normalised so -0.0 is 0.0 and every NaN is the same quiet NaN), `bool` as one byte,
   `str` as a little-endian 8-byte length then the UTF-8 bytes, per row.

Every integer type is widened to i64 and every float type to f64 first, so a column's
hash does not depend on how narrow a reader chose to parse it.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import polars as pl

from common.errors import MlopsError

HASH_PREFIX = "sha256:"


def _canonical_type(dtype: pl.DataType) -> str:
    if dtype.is_float():
        return "f64"
    if dtype.is_integer():
        return "i64"
    if dtype == pl.Boolean:
        return "bool"
    if dtype in (pl.String, pl.Categorical, pl.Enum):
        return "str"
    raise MlopsError(f"cannot hash a column of type {dtype}: use numbers, booleans or strings")


def _column_bytes(series: pl.Series, kind: str) -> tuple[bytes, bytes]:
    nulls = series.is_null().to_numpy().astype(np.uint8).tobytes()
    if kind == "f64":
        values = series.cast(pl.Float64).fill_null(0.0).to_numpy().astype("<f8", copy=True)
        values[values == 0.0] = 0.0  # -0.0 -> 0.0
        values[np.isnan(values)] = np.nan
        return nulls, values.tobytes()
    if kind == "i64":
        return nulls, series.cast(pl.Int64).fill_null(0).to_numpy().astype("<i8").tobytes()
    if kind == "bool":
        return nulls, series.fill_null(False).to_numpy().astype(np.uint8).tobytes()
    text = series.cast(pl.String).fill_null("")
    lengths = text.str.len_bytes().to_numpy().astype("<u8")
    encoded = [s.encode("utf-8") for s in text.to_list()]
    out = bytearray()
    for length, raw in zip(lengths.tolist(), encoded, strict=True):
        out += int(length).to_bytes(8, "little") + raw
    return nulls, bytes(out)


def training_data_hash(frame: pl.DataFrame) -> str:
    """`sha256:<hex>` of the table's canonical byte form (see the module docstring)."""
    kinds = [_canonical_type(dtype) for dtype in frame.dtypes]
    header = {
        "format": "mlops-table/1",
        "rows": frame.height,
        "columns": [[name, kind] for name, kind in zip(frame.columns, kinds, strict=True)],
    }
    digest = hashlib.sha256(json.dumps(header, separators=(",", ":")).encode("utf-8"))
    for name, kind in zip(frame.columns, kinds, strict=True):
        nulls, values = _column_bytes(frame.get_column(name), kind)
        digest.update(nulls)
        digest.update(values)
    return HASH_PREFIX + digest.hexdigest()
