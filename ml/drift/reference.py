"""The reference side of drift, computed once: sorted numeric columns and category counts.

KS needs the reference's sorted values (its ECDF at the current sample's points), PSI its
quantile bin edges and counts, which come from the same sorted values, and chi-square its
category counts. Sorting a million-row reference on every scheduled run is most of a
monitor's work that does not depend on the new data, so it is done once and stored beside
the reference as two files (`stats_paths`): `<reference file name>.stats.npy`, every
numeric column sorted, as float64 (exact: KS, PSI and the histograms are the same to the
last bit), one column after another (a Fortran-order matrix), and
`<reference file name>.stats.json`, the column names, every text column's counts, and
the sha256 and size of the reference file they were computed from. `mlops drift` uses the file
when it is there and names the reference's sha256 (an S3 reference is still downloaded,
to hash it: reading and sorting it is what is saved), else it reads the reference as before.
The matrix is memory-mapped: a worker reads a column's pages when it compares that
feature, so memory holds the columns being compared, not the whole reference.

Written by `mlops drift --write-reference-stats` and by `ml.training.snapshot.prepare_snapshot` for
the reference channel, whose files training uploads beside the reference in S3.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from common.errors import MlopsError
from ml.drift.readers import float_columns
from ml.drift.stats_files import FORMAT, file_sha256, stats_paths


@dataclass(frozen=True)
class ReferenceColumns:
    """The reference's features: numeric columns (sorted when `presorted`) and text
    columns' category counts."""

    numeric: Mapping[str, np.ndarray | list[np.ndarray]]
    """Each column as one array (stored, sorted) or the chunks it was read in."""
    text: dict[str, dict[Any, int]]
    rows: int
    presorted: bool
    order: list[str] = field(default_factory=list)
    """Every feature in file order (numeric and text)."""

    def numeric_of(self, names: Sequence[str]) -> dict[str, np.ndarray | list[np.ndarray]]:
        return {name: self.numeric[name] for name in names}

    def counts(self, name: str) -> dict[Any, int]:
        """Category counts of a feature (a numeric one compared as categories, too)."""
        if name in self.text:
            return self.text[name]
        values, counts = np.unique(_joined(self.numeric[name]), return_counts=True)
        return dict(zip(values.tolist(), counts.tolist(), strict=True))


def _joined(values: np.ndarray | list[np.ndarray]) -> np.ndarray:
    return values if isinstance(values, np.ndarray) else np.concatenate(values)


def columns_of(frame: pl.DataFrame) -> ReferenceColumns:
    """The reference columns of a frame already typed (numeric as Float64, text as String)."""
    text = {}
    for name in frame.columns:
        series = frame.get_column(name)
        if series.dtype == pl.String:
            counts = series.value_counts()
            text[name] = dict(
                zip(
                    counts.get_column(name).to_list(),
                    counts.get_column("count").to_list(),
                    strict=True,
                )
            )
    numeric = float_columns(frame, [c for c in frame.columns if c not in text])
    return ReferenceColumns(numeric, text, frame.height, False, list(frame.columns))


def write_stats(reference: Path, frame: pl.DataFrame) -> tuple[Path, Path]:
    """Store the statistics of `frame` (the typed contents of the file `reference`)."""
    manifest_path, matrix_path = stats_paths(reference)
    columns = columns_of(frame)
    manifest = {
        "format": FORMAT,
        "reference": {
            "name": reference.name,
            "sha256": file_sha256(reference),
            "bytes": reference.stat().st_size,
        },
        "rows": columns.rows,
        "order": columns.order,
        "numeric": list(columns.numeric),
        "text": {
            name: [[k, v] for k, v in counts.items()] for name, counts in columns.text.items()
        },
    }
    try:
        matrix = np.lib.format.open_memmap(
            matrix_path, "w+", np.float64, (columns.rows, len(columns.numeric)), fortran_order=True
        )
        for index, values in enumerate(columns.numeric.values()):
            matrix[:, index] = np.sort(_joined(values))
        matrix.flush()
        del matrix
        manifest_path.write_text(json.dumps(manifest), encoding="utf-8")  # last: marks complete
    except OSError as error:
        raise MlopsError(f"cannot write {manifest_path}: {error.strerror}") from None
    return manifest_path, matrix_path


def matching_stats(
    reference: Path, sha256: Callable[[Path], str] = file_sha256
) -> ReferenceColumns | None:
    """The stored statistics, if there are some beside `reference` and they are those of
    exactly that file (same size and `sha256`, its digest); else None."""
    manifest_path, matrix_path = stats_paths(reference)
    if not (manifest_path.is_file() and matrix_path.is_file()):
        return None
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        recorded = manifest["reference"]
        if manifest.get("format") != FORMAT or recorded["bytes"] != reference.stat().st_size:
            return None
        if recorded["sha256"] != sha256(reference):
            return None
        matrix = np.load(matrix_path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if matrix.shape != (manifest["rows"], len(manifest["numeric"])):
        return None
    numeric = {name: matrix[:, index] for index, name in enumerate(manifest["numeric"])}
    text = {name: {k: v for k, v in pairs} for name, pairs in manifest["text"].items()}
    return ReferenceColumns(numeric, text, int(manifest["rows"]), True, manifest["order"])
