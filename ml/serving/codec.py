"""Request parsing, content negotiation and response encoding: pure, no I/O.

Inputs (`Content-Type`, parameters such as `charset` ignored):

- `text/csv`: one row per line, values in the model's feature order, no header row.
  An empty field or `nan` is a missing value (LightGBM routes missing values itself);
  infinities are refused. Blank lines are skipped. No quoting: every field is a number.
- `application/json`: a single row `[v1, v2, ...]`, a batch `[[...], [...]]`, or
  `{"instances": [...]}` whose items are rows as lists or as objects keyed by feature
  name (`model.json`'s `features`). `null` is a missing value.

Outputs (`Accept`, default: the request's own content type): `text/csv` with one
probability per line, or `application/json` `{"predictions": [...]}`. Floats are
written in their shortest round-trip form, so a client reads back the exact double.

Explanations, only when asked for with `explain=contributions` in the
`X-Amzn-SageMaker-Custom-Attributes` header (the one request header SageMaker's
InvokeEndpoint passes to the container, as `CustomAttributes`): each CSV line is the
probability, then one TreeSHAP contribution per feature, then the bias; JSON adds
`"explanations": {"output": "log-odds", "features": [...], "contributions": [[...]],
"bias": [...]}` (docs/serving.md).

Every problem with a request raises `BadRequest(status, message)`: the message is one
line naming the row, the column and what was expected.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np
import orjson

CSV = "text/csv"
JSON = "application/json"
SUPPORTED = (CSV, JSON)
_INF = math.inf
_NINF = -math.inf
_NAN = math.nan
_HUGE = 1e308
_SHOWN = 40
BATCH_FAST_PATH_BYTES = 4096
"""Bodies longer than this are read by the batch reader first (`read_csv_batch`)."""
BATCH_ENCODE_ROWS = 64
"""Answers with more rows than this are written by orjson (shortest round-trip floats)."""
_NEWLINE, _COMMA = ord("\n"), ord(",")

Rows = list[float] | np.ndarray
"""One row as a list of floats (the fast path), or a float64 array of shape (n, features)."""


class BadRequest(Exception):
    """A request the server refuses; `status` is the 4xx code, `message` one line."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def media_type(header: str | None) -> str:
    """`text/CSV; charset=utf-8` -> `text/csv`; '' when absent."""
    if not header:
        return ""
    return header.split(";", 1)[0].strip().lower()


def request_type(header: str | None) -> str:
    """The request's media type, or 415 naming what the server accepts."""
    kind = media_type(header)
    if kind in SUPPORTED:
        return kind
    if not kind:
        raise BadRequest(415, "missing Content-Type: send text/csv or application/json")
    raise BadRequest(
        415, f"unsupported Content-Type {_show(kind)}: send text/csv or application/json"
    )


def negotiate(accept: str | None, default: str) -> str:
    """The response type from an `Accept` header (q-values honoured), or 406."""
    if not accept or not accept.strip():
        return default
    best, best_q = "", 0.0
    for part in accept.split(","):
        kind, *params = part.split(";")
        kind = kind.strip().lower()
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q <= 0:
            continue
        for offered in _offers(kind, default):
            if q > best_q:
                best, best_q = offered, q
    if not best:
        raise BadRequest(
            406,
            f"cannot answer in Accept {_show(accept)}: responses are text/csv or application/json",
        )
    return best


def _offers(kind: str, default: str) -> tuple[str, ...]:
    if kind in SUPPORTED:
        return (kind,)
    if kind == "*/*":
        return (default,)
    if kind == "text/*":
        return (CSV,)
    if kind == "application/*":
        return (JSON,)
    return ()


def parse(body: bytes, kind: str, features: Sequence[str]) -> Rows:
    """Rows from a request body of media type `kind` (already checked by `request_type`)."""
    if not body.strip():
        raise BadRequest(400, f"empty body: send one or more rows of {len(features)} features")
    if kind == CSV:
        return parse_csv(body, len(features))
    return parse_json(body, features)


def parse_csv(body: bytes, n_features: int) -> Rows:
    """CSV rows: one row -> list of floats, several -> (n, n_features) float64 array."""
    if len(body) > BATCH_FAST_PATH_BYTES:
        fast = read_csv_batch(body, n_features)
        if fast is not None:
            return fast[0].tolist() if len(fast) == 1 else fast
    lines = body.splitlines()
    if len(lines) == 1:
        return _csv_row(lines[0], 1, n_features)
    rows = [
        _csv_row(line, number, n_features)
        for number, line in enumerate(lines, start=1)
        if line and not line.isspace()
    ]
    if not rows:
        raise BadRequest(400, f"empty body: send one or more rows of {n_features} features")
    return rows[0] if len(rows) == 1 else np.array(rows, dtype=np.float64)


def read_csv_batch(body: bytes, n_features: int) -> np.ndarray | None:
    """Large batches in compiled code, with no Python per row or per value: numpy finds
    the delimiters and checks that every line has `n_features` fields; each field with
    the delimiter after it is one item of an Arrow binary array laid over the body
    (offsets only, no copy), Arrow drops that last byte of each (`binary_slice`) and
    casts them to doubles (fast_float: correctly rounded, as `float()`). An empty field
    is a null, hence a missing value (NaN).

    What this would read differently from the row-by-row path returns None, and the
    row-by-row path answers, with its precise message when the input is bad: a line
    with another number of fields, a blank line, a lone CR, any field the cast refuses
    (text, quotes, spaces, underscores: the row path's `float()` takes those last two),
    infinities. What the cast accepts, `float()` reads to the same double
    (tests/ml/serving/test_serving_codec.py compares them).

    CPU at 1,000 x 20, old and new interleaved in one process (docs/serving.md,
    "Batches"): 1.36 ms, against 2.3 ms for polars' CSV reader, used before (its Python
    layer, a query plan and a hand-off to its own thread on every call)."""
    if b"\r" in body:
        body = body.replace(b"\r\n", b"\n")
    if not body.endswith(b"\n"):
        body += b"\n"
    raw = np.frombuffer(body, dtype=np.uint8)
    newline = raw == _NEWLINE
    ends = np.flatnonzero(newline | (raw == _COMMA))
    count = len(ends)
    lines = count // n_features
    if not count or count % n_features or int(np.count_nonzero(newline)) != lines:
        return None
    if not bool((raw[ends[n_features - 1 :: n_features]] == _NEWLINE).all()):
        return None  # a newline in mid-row: some line has another number of fields
    offsets = np.empty(count + 1, dtype=np.int64)
    offsets[0] = 0
    np.add(ends, 1, out=offsets[1:])  # field i and its delimiter: body[offsets[i]:offsets[i+1]]
    pa, compute = _arrow()
    empty = np.diff(offsets) == 1
    validity = pa.py_buffer(np.packbits(~empty, bitorder="little")) if empty.any() else None
    fields = pa.Array.from_buffers(
        pa.large_binary(), count, [validity, pa.py_buffer(offsets), pa.py_buffer(raw)]
    )
    try:
        values = compute.cast(compute.binary_slice(fields, 0, -1), pa.float64())
    except pa.ArrowInvalid:  # a field that is not a number: the row path names it
        return None
    data = values.to_numpy(zero_copy_only=False).reshape(lines, n_features)
    return None if np.isinf(data).any() else data


def _arrow():
    """pyarrow and its compute module, imported on first use (a few hundred ms)."""
    import pyarrow
    import pyarrow.compute

    return pyarrow, pyarrow.compute


def warm_up() -> None:
    """Import the batch reader now (at model load) rather than on the first batch."""
    read_csv_batch(b"0,0\n0,0\n", 2)


def _csv_row(line: bytes, number: int, n_features: int) -> list[float]:
    fields = line.split(b",")
    if len(fields) != n_features:
        raise BadRequest(
            400, f"row {number}: {len(fields)} values, but the model expects {n_features} features"
        )
    try:
        values = [float(field) for field in fields]
    except ValueError:
        values = _csv_row_slowly(fields, number)
    if _INF in values or _NINF in values:
        column = next(i for i, v in enumerate(values, start=1) if math.isinf(v))
        raise BadRequest(400, f"row {number}, column {column}: infinity is not a valid value")
    return values


def _csv_row_slowly(fields: list[bytes], number: int) -> list[float]:
    """The same row again, field by field: empty fields are missing values, and the first
    field that is not a number is named in the error."""
    values: list[float] = []
    for column, field in enumerate(fields, start=1):
        text = field.strip()
        if not text:
            values.append(_NAN)
            continue
        try:
            values.append(float(text))
        except ValueError:
            hint = " (send CSV without a header row)" if number == 1 else ""
            shown = _show(text.decode("utf-8", errors="replace"))
            raise BadRequest(
                400, f"row {number}, column {column}: {shown} is not a number{hint}"
            ) from None
    return values


def parse_json(body: bytes, features: Sequence[str]) -> Rows:
    try:
        document = json.loads(body, parse_constant=_refuse_constant)
    except BadRequest:
        raise
    except (ValueError, UnicodeDecodeError) as error:
        raise BadRequest(400, f"body is not valid JSON: {str(error).splitlines()[0]}") from None
    except RecursionError:
        raise BadRequest(400, "body is not valid JSON: nested too deeply") from None
    if isinstance(document, dict):
        if set(document) != {"instances"}:
            raise BadRequest(400, 'a JSON object body must be {"instances": [row, ...]}')
        instances = document["instances"]
        if not isinstance(instances, list) or not instances:
            raise BadRequest(400, '"instances" must be a non-empty list of rows')
        rows = [_json_row(item, number, features) for number, item in enumerate(instances, 1)]
    elif isinstance(document, list) and document:
        if not isinstance(document[0], list | dict):
            return _json_row(document, 1, features)
        rows = [_json_row(item, number, features) for number, item in enumerate(document, 1)]
    else:
        raise BadRequest(
            400, 'a JSON body must be a row [v1, ...], a list of rows, or {"instances": [...]}'
        )
    return rows[0] if len(rows) == 1 else np.array(rows, dtype=np.float64)


def _json_row(item: object, number: int, features: Sequence[str]) -> list[float]:
    if isinstance(item, dict):
        unknown = sorted(set(item) - set(features))
        if unknown:
            raise BadRequest(400, f"row {number}: unknown feature {_show(unknown[0])}")
        missing = [name for name in features if name not in item]
        if missing:
            raise BadRequest(400, f"row {number}: feature {_show(missing[0])} is missing")
        item = [item[name] for name in features]
    if not isinstance(item, list):
        raise BadRequest(400, f"row {number}: expected a list of numbers or an object")
    if len(item) != len(features):
        raise BadRequest(
            400, f"row {number}: {len(item)} values, but the model expects {len(features)} features"
        )
    values: list[float] = []
    for column, value in enumerate(item, start=1):
        if value is None:
            values.append(_NAN)
        elif type(value) is float or type(value) is int:
            number_value = float(value) if abs(value) < _HUGE else _INF
            if math.isinf(number_value):
                raise BadRequest(
                    400, f"row {number}, column {column}: {_show(value)} is out of range"
                )
            values.append(number_value)
        else:
            raise BadRequest(400, f"row {number}, column {column}: {_show(value)} is not a number")
    return values


def _refuse_constant(name: str) -> float:
    raise BadRequest(400, f"{name} is not a valid value (use null for a missing value)")


EXPLAIN_HEADER = b"x-amzn-sagemaker-custom-attributes"
EXPLAIN_VALUES = ("contributions", "none")
MAX_EXPLAINED_ROWS = 1000
"""Rows one request may ask explanations for: TreeSHAP costs about a millisecond a row,
so a 6 MB batch (some 15,000 rows) would hold a worker's explainer for seconds."""


def explain_requested(attributes: str) -> bool:
    """Whether SageMaker custom attributes (`key=value` items separated by `,` or `;`) ask
    for contributions. Other keys pass untouched (the header is the client's: a trace id
    may travel in it); an `explain` value the server does not know is a 400."""
    asked = False
    for item in attributes.replace(";", ",").split(","):
        key, _, value = item.partition("=")
        if key.strip().lower() != "explain":
            continue
        value = value.strip().lower()
        if value not in EXPLAIN_VALUES:
            raise BadRequest(
                400,
                f"unknown explain={_show(value)} in X-Amzn-SageMaker-Custom-Attributes: "
                "use explain=contributions (or explain=none)",
            )
        asked = value == "contributions"
    return asked


def check_explainable(rows: int) -> None:
    """400 when a request asks explanations for more rows than `MAX_EXPLAINED_ROWS`."""
    if rows > MAX_EXPLAINED_ROWS:
        raise BadRequest(
            400,
            f"explanations are limited to {MAX_EXPLAINED_ROWS:,} rows a request ({rows:,} "
            "sent): split the batch, or leave out explain=contributions",
        )


def encode_explained(
    predictions: Sequence[float] | np.ndarray,
    contributions: np.ndarray,
    features: Sequence[str],
    kind: str,
) -> bytes:
    """Probabilities with their contributions (`(n, features + 1)`, bias last)."""
    if isinstance(predictions, np.ndarray):
        predictions = predictions.tolist()
    if kind == CSV:
        pairs = zip(predictions, contributions.tolist(), strict=True)
        lines = (",".join(map(repr, [p, *row])) for p, row in pairs)
        return ("\n".join(lines) + "\n").encode("ascii")
    return json.dumps(
        {
            "predictions": list(predictions),
            "explanations": {
                "output": "log-odds",
                "features": list(features),
                "contributions": contributions[:, :-1].tolist(),
                "bias": contributions[:, -1].tolist(),
            },
        }
    ).encode("ascii")


def encode(predictions: Sequence[float] | np.ndarray, kind: str) -> bytes:
    """Probabilities as CSV lines or `{"predictions": [...]}`, in round-trip precision."""
    if kind == CSV and len(predictions) > BATCH_ENCODE_ROWS:  # a twentieth of repr()'s CPU
        values = np.asarray(predictions, dtype=np.float64)
        return (
            orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].replace(b",", b"\n")
            + b"\n"
        )
    values = predictions.tolist() if isinstance(predictions, np.ndarray) else list(predictions)
    if kind == CSV:
        return ("\n".join(map(repr, values)) + "\n").encode("ascii")
    return json.dumps({"predictions": values}).encode("ascii")


def error_body(message: str) -> bytes:
    return json.dumps({"error": message}).encode("utf-8")


def _show(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    if len(text) > _SHOWN:
        text = text[: _SHOWN - 3] + "..."
    return repr(text)
