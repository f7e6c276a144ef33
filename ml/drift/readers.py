"""Reading drift inputs: CSV with a header, and SageMaker data-capture JSON lines.

Both readers are columnar and bounded in memory: current CSV files are streamed in
batches of typed columns by polars' multi-threaded reader (`CurrentBatches`), and
data-capture files are read in chunks of lines, each chunk's payloads parsed into
columns, so the raw text is never held, let alone twice.

Data capture (what an endpoint with `DataCaptureConfig` writes, one JSON object per
line): `captureData.endpointInput` carries the request, with `encoding` `CSV` (the
payload as text), `BASE64` (bytes, base64) or `JSON`, and `observedContentType`.
`text/csv` payloads may hold several rows (one per line), without a header: columns
are named after the reference's features, in order. `application/json` payloads may be
`{"instances": [...]}`, `{"inputs": [...]}`, `{"features": [...]}`, a list of rows or a
single row; a row is a list (positional) or an object (by feature name).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from common.errors import MlopsError
from ml.drift.background import Background

if TYPE_CHECKING:
    import numpy as np  # polars hands over numpy arrays; importing numpy is left to it

CAPTURE_SUFFIXES = (".jsonl", ".ndjson", ".json")
_CHUNK_BYTES = 64 * 1024 * 1024
_INFER_ROWS = 10_000
_CAPTURE_SCHEMA = {
    "captureData": pl.Struct(
        {
            "endpointInput": pl.Struct(
                {"observedContentType": pl.String, "data": pl.String, "encoding": pl.String}
            )
        }
    )
}


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:300] if lines else type(error).__name__


def input_files(path: Path) -> list[Path]:
    """`path` itself, or every CSV / JSON-lines file under a directory, in name order."""
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(
            p for p in path.rglob("*") if p.is_file() and p.suffix in (".csv", *CAPTURE_SUFFIXES)
        )
        if not files:
            raise MlopsError(f"{path}: no .csv or .jsonl files in the directory")
        return files
    raise MlopsError(f"{path}: file not found")


def is_capture(path: Path) -> bool:
    return path.suffix in CAPTURE_SUFFIXES


def read_csv(
    path: Path,
    dtypes: dict[str, pl.DataType] | None = None,
    n_rows: int | None = None,
    schema: Mapping[str, pl.DataType] | None = None,
) -> pl.DataFrame:
    """A CSV with a header; with `dtypes`, only those columns, cast to those types; with
    `n_rows`, only the first rows; with `schema` (every column's type, as the first rows
    give them: `head_schema`), the whole file without reading its first rows again."""
    try:
        header = pl.read_csv(path, n_rows=0).columns
    except FileNotFoundError:
        raise MlopsError(f"{path}: file not found") from None
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as error:
        raise MlopsError(f"{path}: not a readable CSV file: {_first_line(error)}") from None
    if not header:
        raise MlopsError(f"{path}: empty file (a CSV header is required)")
    if dtypes is not None:
        missing = [c for c in dtypes if c not in header]
        if missing:
            raise MlopsError(f"{path}: schema mismatch: missing column(s) {', '.join(missing)}")
    try:
        # projecting columns slows polars' reader down: only when some are left out
        columns = list(dtypes) if dtypes is not None and len(dtypes) < len(header) else None
        if n_rows is None:
            # The whole file, typed as its first rows are: polars infers from those rows
            # either way, and given the schema its reader spends a quarter less CPU.
            if schema is None:
                head = pl.read_csv(
                    path,
                    schema_overrides=dtypes,
                    infer_schema_length=_INFER_ROWS,
                    n_rows=_INFER_ROWS,
                )
                schema = head.schema
            frame = pl.read_csv(path, columns=columns, schema=dict(schema))
        else:
            frame = pl.read_csv(
                path,
                columns=columns,
                schema_overrides=dtypes,
                infer_schema_length=_INFER_ROWS,
                n_rows=n_rows,
            )
    except pl.exceptions.PolarsError as error:
        raise MlopsError(f"{path}: malformed value: {_first_line(error)}") from None
    return frame


def first_rows(path: Path) -> pl.DataFrame:
    """The first rows of the CSV file `path`, every column typed as polars infers from them."""
    return read_csv(path, n_rows=_INFER_ROWS)


def head_schema(path: Path) -> dict[str, pl.DataType]:
    """The types of every column of the CSV file `path`, as its first rows give them:
    what `read_csv(path)` types the whole file with."""
    return dict(first_rows(path).schema)


def float_columns(frame: pl.DataFrame, names: Sequence[str]) -> dict[str, list[np.ndarray]]:
    """The Float64 columns `names` of `frame`, each as the numpy views of the chunks
    polars read it in (no copy: the comparison sorts a copy of every column anyway, so
    joining the chunks first would only touch the memory twice)."""
    return {
        name: [chunk.to_numpy() for chunk in frame.get_column(name).get_chunks()] for name in names
    }


def line_chunks(path: Path, chunk_bytes: int) -> Iterator[bytes]:
    with path.open("rb") as handle:
        rest = b""
        while True:
            block = handle.read(chunk_bytes)
            if not block:
                if rest.strip():
                    yield rest
                return
            block = rest + block
            cut = block.rfind(b"\n")
            if cut < 0:
                rest = block
                continue
            rest = block[cut + 1 :]
            yield block[: cut + 1]


def read_capture(
    path: Path,
    names: Sequence[str],
    dtypes: dict[str, pl.DataType],
    chunk_bytes: int = _CHUNK_BYTES,
) -> pl.DataFrame:
    """The request rows of a SageMaker data-capture file, columns `names` typed `dtypes`."""
    frames: list[pl.DataFrame] = []
    for chunk in line_chunks(path, chunk_bytes):
        try:
            records = pl.read_ndjson(io.BytesIO(chunk), schema=_CAPTURE_SCHEMA)
        except pl.exceptions.PolarsError as error:
            raise MlopsError(
                f"{path}: not SageMaker data-capture JSON lines: {_first_line(error)}"
            ) from None
        inputs = records.select(pl.col("captureData").struct.field("endpointInput").struct.unnest())
        if inputs.get_column("data").null_count():
            raise MlopsError(f"{path}: a record has no captureData.endpointInput.data")
        inputs = inputs.with_columns(
            pl.when(pl.col("encoding").str.to_uppercase() == "BASE64")
            .then(pl.col("data").str.decode("base64").cast(pl.String, strict=False))
            .otherwise(pl.col("data"))
            .alias("data"),
            pl.col("observedContentType").fill_null("text/csv").str.to_lowercase().alias("type"),
        )
        if inputs.get_column("data").null_count():
            raise MlopsError(f"{path}: a BASE64 payload does not decode to UTF-8 text")
        is_json = pl.col("type").str.contains("json")
        csv_rows = inputs.filter(~is_json).get_column("data")
        if csv_rows.len():
            frames.append(_parse_csv_payloads(path, csv_rows, names, dtypes))
        json_rows = inputs.filter(is_json).get_column("data")
        if json_rows.len():
            frames.append(_parse_json_payloads(path, json_rows.to_list(), names, dtypes))
    if not frames:
        return pl.DataFrame(schema=dtypes)
    return pl.concat(frames, how="vertical", rechunk=False)


def _parse_csv_payloads(
    path: Path, payloads: pl.Series, names: Sequence[str], dtypes: dict[str, pl.DataType]
) -> pl.DataFrame:
    text = "\n".join(p.strip("\r\n") for p in payloads.to_list() if p.strip())
    if not text:
        return pl.DataFrame(schema=dtypes)
    try:
        frame = pl.read_csv(
            io.StringIO(text),
            has_header=False,
            new_columns=list(names),
            schema_overrides=dtypes,
            truncate_ragged_lines=False,
        )
    except pl.exceptions.PolarsError as error:
        raise MlopsError(
            f"{path}: captured CSV payloads do not match the reference's {len(names)} "
            f"features: {_first_line(error)}"
        ) from None
    if frame.width != len(names):
        raise MlopsError(
            f"{path}: captured rows have {frame.width} values, the reference has {len(names)} "
            "features (exclude extra reference columns with --exclude)"
        )
    return frame


def _json_rows(document: Any) -> list[Any]:
    if isinstance(document, dict):
        for key in ("instances", "inputs", "features", "data"):
            if key in document:
                return _json_rows(document[key])
        return [document]
    if isinstance(document, list):
        if document and all(not isinstance(item, list | dict) for item in document):
            return [document]  # one row given as a flat list
        return document
    raise ValueError("a JSON payload must be an object or a list")


def _parse_json_payloads(
    path: Path, payloads: Iterable[str], names: Sequence[str], dtypes: dict[str, pl.DataType]
) -> pl.DataFrame:
    columns: dict[str, list[Any]] = {name: [] for name in names}
    for payload in payloads:
        try:
            rows = _json_rows(json.loads(payload))
        except (json.JSONDecodeError, ValueError) as error:
            raise MlopsError(f"{path}: malformed JSON payload: {_first_line(error)}") from None
        for row in rows:
            values = [row.get(n) for n in names] if isinstance(row, dict) else row
            if not isinstance(values, list) or len(values) != len(names):
                width = len(values) if isinstance(values, list) else "no"
                raise MlopsError(
                    f"{path}: a captured JSON row has {width} values, the reference has "
                    f"{len(names)} features"
                )
            for name, value in zip(names, values, strict=True):
                columns[name].append(value)
    try:
        return pl.DataFrame(columns, schema=dtypes, strict=False)
    except (pl.exceptions.PolarsError, TypeError, ValueError) as error:
        raise MlopsError(
            f"{path}: captured JSON values do not fit the reference: {_first_line(error)}"
        ) from None


@dataclass(frozen=True)
class Aligned:
    """Reference and current with the same columns, typed alike, and the column kinds."""

    reference: pl.DataFrame
    current: pl.DataFrame
    categorical: list[str]
    ignored: list[str]


def _kind(dtype: pl.DataType) -> str:
    if dtype.is_numeric():
        return "numeric"
    if dtype in (pl.String, pl.Categorical, pl.Boolean, pl.Enum):
        return "text"
    return "other"


@dataclass(frozen=True)
class Features:
    """What the reference defines: the features in order, each one's kind ("numeric" or
    "text") and type for reading (Float64 or String), and those compared as categories."""

    names: list[str]
    kinds: dict[str, str]
    dtypes: dict[str, pl.DataType]
    categorical: list[str]


def features_of(
    schema: Mapping[str, pl.DataType],
    reference_path: Path,
    categorical: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> Features:
    """The features of a reference with columns `schema` (its columns minus `exclude`)."""
    features = [c for c in schema if c not in set(exclude)]
    unknown = sorted((set(categorical) | set(exclude)) - set(schema))
    if unknown:
        raise MlopsError(f"{reference_path}: no column(s) {', '.join(unknown)} in the reference")
    if not features:
        raise MlopsError(f"{reference_path}: no feature columns left to compare")
    kinds = {c: _kind(schema[c]) for c in features}
    bad = [c for c, k in kinds.items() if k == "other"]
    if bad:
        raise MlopsError(
            f"{reference_path}: column(s) {', '.join(bad)} are neither numbers nor text"
        )
    categorical_set = set(categorical) | {c for c, k in kinds.items() if k == "text"}
    dtypes: dict[str, pl.DataType] = {
        c: (pl.Float64() if kinds[c] == "numeric" else pl.String()) for c in features
    }
    return Features(features, kinds, dtypes, [c for c in features if c in categorical_set])


def read_reference(
    reference_path: Path,
    categorical: Sequence[str] = (),
    exclude: Sequence[str] = (),
    frame: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, Features]:
    """The reference's feature columns, typed, and its features (from `frame`, the file
    as `read_reference_frame` reads it, when that was read already)."""
    reference = read_reference_frame(reference_path) if frame is None else frame
    if reference.height == 0:
        raise MlopsError(f"{reference_path}: no rows to compare")
    features = features_of(reference.schema, reference_path, categorical, exclude)
    reference = reference.select(pl.col(c).cast(t) for c, t in features.dtypes.items())
    return reference, features


class CurrentBatches:
    """The current data as typed batches of the features' columns, file after file.

    CSV files above `STREAM_ABOVE_BYTES` are streamed, `BATCH_ROWS` rows at a time (the
    first rows of every file are read first to check its columns and their types, with the
    messages `load_pair` has always given); capture files are read in chunks by
    `read_capture`. Columns the reference does not have are left out and named in
    `ignored` once the batches are consumed.
    """

    BATCH_ROWS = 250_000
    STREAM_ABOVE_BYTES = 256 * 1024 * 1024
    """Smaller files are read whole, which costs a third less CPU than batches."""

    def __init__(
        self,
        current_path: Path,
        features: Features,
        head: Callable[[], pl.DataFrame] | None = None,
    ):
        """`head`: the first rows of the CSV file `current_path` (`first_rows`), when they
        are being read already."""
        self.files = input_files(current_path)
        self.features = features
        self.ignored: set[str] = set()
        self._head = {current_path: head} if head is not None else {}

    def __iter__(self) -> Iterator[pl.DataFrame]:
        for file in self.files:
            if is_capture(file):
                yield read_capture(file, self.features.names, self.features.dtypes)
            else:
                yield from self._csv(file)

    def _csv(self, file: Path) -> Iterator[pl.DataFrame]:
        names, kinds, dtypes = self.features.names, self.features.kinds, self.features.dtypes
        whole = file.stat().st_size <= self.STREAM_ABOVE_BYTES  # one read: a third less CPU
        early = self._whole_read_now(file) if whole else None
        head = self._head.get(file, lambda: first_rows(file))()
        missing = [c for c in names if c not in head.columns]
        if head.height == 0 and not missing:  # a header alone: nothing to type-check
            yield pl.DataFrame(schema=dtypes)
            return
        if missing:
            raise MlopsError(f"{file}: schema mismatch: missing column(s) {', '.join(missing)}")
        for c in names:
            if kinds[c] == "numeric" and _kind(head.schema[c]) != "numeric":
                raise MlopsError(
                    f"{file}: schema mismatch: column {c!r} is numeric in the reference but "
                    f"{head.schema[c]} in the current data"
                )
        self.ignored |= set(head.columns) - set(names)
        if head.height < _INFER_ROWS:  # the whole file is read already
            yield head.select(pl.col(c).cast(t) for c, t in dtypes.items())
            return
        if whole:
            # typed as `read_csv(file, dtypes)` would infer from the same first rows, which
            # `head` holds already (inferring them again cost a sixth of the read)
            schema = {c: dtypes.get(c, t) for c, t in head.schema.items()}
            frame = early.result() if early is not None else read_csv(file, dtypes, schema=schema)
            yield frame.select(pl.col(c).cast(t) for c, t in dtypes.items())
            return
        scan = pl.scan_csv(file, schema_overrides=dtypes, infer_schema_length=_INFER_ROWS).select(
            names
        )
        try:
            yield from scan.collect_batches(chunk_size=self.BATCH_ROWS)
        except pl.exceptions.PolarsError as error:
            raise MlopsError(f"{file}: malformed value: {_first_line(error)}") from None

    def _whole_read_now(self, file: Path) -> Background[pl.DataFrame] | None:
        """The read of the whole file, started now, beside the read of its first rows,
        when its header names exactly the features: every column is then read as its
        feature's type whatever the first rows say, so the call is the one `_csv` makes
        after checking them (taken only if they pass). Else None: read after the check."""
        try:
            header = pl.read_csv(file, n_rows=0).columns
        except Exception:  # the first rows' read gives the error, in order
            return None
        dtypes = self.features.dtypes
        if len(header) != len(dtypes) or set(header) != set(dtypes):
            return None
        schema = {c: dtypes[c] for c in header}
        return Background(lambda: read_csv(file, dtypes, schema=schema))


def load_pair(
    reference_path: Path,
    current_path: Path,
    categorical: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> Aligned:
    """Read reference and current, check they agree, and type them alike.

    The reference defines the features (its columns minus `exclude`); numeric columns are
    compared as float64, text and boolean columns and those named in `categorical` as
    categories. The current data must have every feature with a compatible type; its
    extra columns are ignored (and listed).
    """
    reference, features = read_reference(reference_path, categorical, exclude)
    batches = CurrentBatches(current_path, features)
    frames = list(batches)
    current = pl.concat(frames, how="vertical", rechunk=False) if len(frames) > 1 else frames[0]
    _check_complete(reference, reference_path)
    _check_complete(current, current_path)
    return Aligned(reference, current, features.categorical, sorted(batches.ignored))


def read_reference_frame(
    path: Path, schema: Mapping[str, pl.DataType] | None = None
) -> pl.DataFrame:
    """The reference file as it is (every column, typed as its first rows are, or as
    `schema`: its `head_schema`)."""
    if path.is_dir() or is_capture(path):
        raise MlopsError(f"{path}: the reference must be one CSV file with a header")
    return read_csv(path, schema=schema)


def _check_complete(frame: pl.DataFrame, source: Path) -> None:
    if frame.height == 0:
        raise MlopsError(f"{source}: no rows to compare")
    for name in frame.columns:
        column = frame.get_column(name)
        missing = column.null_count()
        if column.dtype.is_float():
            missing += int(column.is_nan().sum())
        if missing:
            raise MlopsError(f"{source}: column {name!r} has {missing} missing or NaN values")
