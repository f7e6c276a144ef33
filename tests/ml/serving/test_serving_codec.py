"""Request parsing, content negotiation and response encoding (pure, no server)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ml.serving import codec
from ml.serving.codec import BadRequest

FEATURES = ("a", "b", "c")


def refused(body: bytes, kind: str = codec.CSV) -> BadRequest:
    with pytest.raises(BadRequest) as caught:
        codec.parse(body, kind, FEATURES)
    return caught.value


def test_parse_csv_single_row_returns_floats_in_order() -> None:
    # given one CSV row with a trailing newline
    # when it is parsed
    parsed = codec.parse(b"1.5,-2,3e-3\n", codec.CSV, FEATURES)
    # then it is one row of floats, in column order
    assert parsed == [1.5, -2.0, 0.003], f"one row of floats expected, got {parsed!r}"


def test_parse_csv_batch_returns_array_and_skips_blank_lines() -> None:
    parsed = codec.parse(b"1,2,3\r\n\n4,5,6\n", codec.CSV, FEATURES)
    assert isinstance(parsed, np.ndarray), "several rows must come back as an array"
    assert parsed.tolist() == [[1, 2, 3], [4, 5, 6]], f"rows in order expected, got {parsed}"


def test_parse_csv_empty_field_is_a_missing_value() -> None:
    parsed = codec.parse(b"1,,nan\n", codec.CSV, FEATURES)
    assert parsed[0] == 1.0 and math.isnan(parsed[1]) and math.isnan(parsed[2]), (
        f"empty fields and nan must become NaN (missing), got {parsed!r}"
    )


def test_parse_csv_non_numeric_value_names_row_and_column() -> None:
    error = refused(b"1,2,3\n4,abc,6\n")
    assert error.status == 400, f"non-numeric input must be 400, got {error.status}"
    assert "row 2, column 2" in error.message and "'abc'" in error.message, error.message


def test_parse_csv_header_row_is_refused_with_a_hint() -> None:
    error = refused(b"a,b,c\n1,2,3\n")
    assert "header" in error.message, f"a header row should be explained: {error.message}"


def test_parse_csv_wrong_feature_count_says_what_is_expected() -> None:
    error = refused(b"1,2\n")
    assert error.status == 400 and "2 values" in error.message and "expects 3" in error.message, (
        error.message
    )


def test_parse_csv_infinity_is_refused() -> None:
    error = refused(b"1,inf,3\n")
    assert error.status == 400 and "column 2" in error.message, error.message


@pytest.mark.parametrize("body", [b"", b"  \n\n", b"\r\n"], ids=["empty", "blank", "crlf"])
def test_parse_empty_body_is_refused(body: bytes) -> None:
    error = refused(body)
    assert error.status == 400 and "empty body" in error.message, error.message


def test_parse_json_single_row_list() -> None:
    parsed = codec.parse(b"[1, 2.5, null]", codec.JSON, FEATURES)
    assert parsed[:2] == [1.0, 2.5] and math.isnan(parsed[2]), f"got {parsed!r}"


def test_parse_json_instances_by_feature_name_follow_model_order() -> None:
    body = json.dumps({"instances": [{"c": 3, "a": 1, "b": 2}, {"a": 4, "b": 5, "c": 6}]})
    parsed = codec.parse(body.encode(), codec.JSON, FEATURES)
    assert parsed.tolist() == [[1, 2, 3], [4, 5, 6]], f"model.json order expected, got {parsed}"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'[1, "2", 3]', "column 2"),
        (b"[1, true, 3]", "column 2"),
        (b"[1, NaN, 3]", "NaN"),
        (b"[1, 1e999, 3]", "out of range"),
        (b'{"rows": [[1, 2, 3]]}', "instances"),
        (b'{"instances": [{"a": 1, "b": 2}]}', "'c' is missing"),
        (b'{"instances": [{"a": 1, "b": 2, "c": 3, "d": 4}]}', "unknown feature 'd'"),
        (b"[1, 2", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b'"text"', "a JSON body must be"),
        (b"[" * 100_000, "nested too deeply"),
    ],
    ids=[
        "string",
        "bool",
        "nan",
        "overflow",
        "wrong-key",
        "missing",
        "unknown",
        "truncated",
        "not-utf8",
        "scalar",
        "deep",
    ],
)
def test_parse_json_bad_input_is_400_with_message(body: bytes, fragment: str) -> None:
    error = refused(body, codec.JSON)
    assert error.status == 400, f"{body!r} must be a 400, got {error.status}"
    assert fragment in error.message, f"{fragment!r} not in {error.message!r}"


@pytest.mark.parametrize(
    ("header", "expected"),
    [("text/csv", codec.CSV), ("Application/JSON; charset=utf-8", codec.JSON)],
)
def test_request_type_accepts_csv_and_json_with_parameters(header: str, expected: str) -> None:
    assert codec.request_type(header) == expected, f"{header!r} should parse as {expected}"


@pytest.mark.parametrize("header", [None, "", "text/plain", "application/x-www-form-urlencoded"])
def test_request_type_refuses_other_types_with_415(header: str | None) -> None:
    with pytest.raises(BadRequest) as caught:
        codec.request_type(header)
    assert caught.value.status == 415, f"{header!r} must be 415, got {caught.value.status}"
    assert "text/csv or application/json" in caught.value.message, caught.value.message


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, codec.CSV),
        ("*/*", codec.CSV),
        ("application/json", codec.JSON),
        ("text/csv;q=0.5, application/json;q=0.9", codec.JSON),
        ("text/html, text/*;q=0.1", codec.CSV),
        ("application/json;q=0, text/csv", codec.CSV),
    ],
)
def test_negotiate_honours_accept_and_q_values(accept: str | None, expected: str) -> None:
    # given a CSV request (the default answer type)
    chosen = codec.negotiate(accept, codec.CSV)
    assert chosen == expected, f"Accept {accept!r}: expected {expected}, got {chosen}"


def test_negotiate_unsupported_accept_is_406() -> None:
    with pytest.raises(BadRequest) as caught:
        codec.negotiate("text/html, application/xml", codec.JSON)
    assert caught.value.status == 406, f"expected 406, got {caught.value.status}"


def test_encode_round_trips_exact_doubles() -> None:
    values = [0.1 + 0.2, 1 / 3, 5e-324]
    csv_text = codec.encode(values, codec.CSV).decode()
    json_values = json.loads(codec.encode(values, codec.JSON))["predictions"]
    assert [float(line) for line in csv_text.split()] == values, f"CSV lost precision: {csv_text}"
    assert json_values == values, f"JSON lost precision: {json_values}"


def big_batch(rows: int = 200, missing: float = 0.05) -> tuple[np.ndarray, list[bytes]]:
    rng = np.random.default_rng(3)
    data = rng.normal(size=(rows, len(FEATURES))) * 10.0 ** rng.integers(-8, 8, size=(rows, 1))
    data[rng.random(size=data.shape) < missing] = np.nan
    lines = [
        ",".join("" if np.isnan(v) else repr(v) for v in row).encode() for row in data.tolist()
    ]
    return data, lines


def test_parse_csv_large_batch_reads_exact_doubles_and_missing_values() -> None:
    # given more rows than the fast path's threshold, values over 16 orders of magnitude
    data, lines = big_batch()
    # when parsed (by the batch reader)
    parsed = codec.parse(b"\n".join(lines) + b"\n", codec.CSV, FEATURES)
    # then every double is exactly the one written, and empty fields are NaN
    assert np.array_equal(parsed, data, equal_nan=True), "the batch reader changed a value"


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (lambda lines: lines.__setitem__(150, b"1,x,3"), "row 151, column 2"),
        (lambda lines: lines.__setitem__(150, b"1,2"), "row 151: 2 values"),
        (lambda lines: lines.__setitem__(150, b"1,2,-inf"), "row 151, column 3: infinity"),
        (lambda lines: lines.__setitem__(150, b"1,true,3"), "row 151, column 2: 'true'"),
        (lambda lines: lines.__setitem__(150, b"1,[2],3"), "row 151, column 2: '[2]'"),
        (lambda lines: lines.__setitem__(150, b"1,2,3e999"), "row 151, column 3: infinity"),
    ],
    ids=["non-numeric", "ragged", "infinity", "json-literal", "json-list", "overflow"],
)
def test_parse_csv_large_batch_bad_row_is_named(edit, fragment: str) -> None:
    _, lines = big_batch(missing=0.0)
    edit(lines)
    error = refused(b"\n".join(lines))
    assert error.status == 400 and fragment in error.message, error.message


def test_parse_csv_large_batch_with_crlf_line_ends_reads_exact_doubles() -> None:
    # given a batch with no missing values and CRLF line ends
    data, lines = big_batch(missing=0.0)
    # when parsed
    parsed = codec.parse(b"\r\n".join(lines) + b"\r\n", codec.CSV, FEATURES)
    # then every double is exactly the one written
    assert np.array_equal(parsed, data), "the batch reader changed a value"


def test_parse_csv_large_batch_skips_blank_lines() -> None:
    data, lines = big_batch(missing=0.0)
    parsed = codec.parse(b"\n".join([*lines[:100], b"", *lines[100:]]), codec.CSV, FEATURES)
    assert np.array_equal(parsed, data), "a blank line must be skipped, not read as a row"


def test_parse_csv_large_batch_short_row_balanced_by_long_row_is_refused() -> None:
    # given a short row and a long one whose commas add up to the right total
    _, lines = big_batch(missing=0.0)
    lines[150], lines[151] = b"1,2", b"1,2,3,4"
    # when parsed, then the short row is named (not read as a missing value)
    error = refused(b"\n".join(lines))
    assert error.status == 400 and "row 151: 2 values" in error.message, error.message


@pytest.mark.parametrize(
    "token",
    [
        "1.", ".5", "+1", "-0", "00.5", "1E+05", "nan", "NaN", "-nan", "4.9e-324",
        "2.4703282292062328e-324", "1e-400", "2.2250738585072011e-308",
        "1.7976931348623157e308", "9007199254740993", "0.1000000000000000055511151231257827",
        "123456789012345678901234567890", " 1.5", "1.5 ", "\t2", "1_000",
    ],
)  # fmt: skip
def test_parse_csv_large_batch_reads_each_number_as_python_float_does(token: str) -> None:
    # given a large batch with one unusual spelling of a number in row 101, column 2
    data, lines = big_batch(missing=0.0)
    lines[100] = b"1," + token.encode() + b",3"
    # when parsed
    parsed = codec.parse(b"\n".join(lines) + b"\n", codec.CSV, FEATURES)
    # then that value is exactly Python's float() of it (bits, sign of zero, NaN),
    # and every other value is untouched
    expected = np.float64(float(token))
    got = parsed[100, 1]
    same = (np.isnan(got) and np.isnan(expected)) or (
        got == expected and np.signbit(got) == np.signbit(expected)
    )
    assert same, f"{token!r} read as {got!r}, float() reads {expected!r}"
    data[100] = [1.0, expected, 3.0]
    assert np.array_equal(parsed, data, equal_nan=True), "the batch reader changed another value"


def test_batch_reader_reads_plain_batches_itself_and_leaves_the_rest_to_the_row_path() -> None:
    # given a plain batch with missing values, CRLF line ends and no final newline
    data, lines = big_batch()
    body = b"\r\n".join(lines)
    # then the compiled reader reads it exactly (the fast path is not silently skipped)
    parsed = codec.read_csv_batch(body, len(FEATURES))
    assert parsed is not None and np.array_equal(parsed, data, equal_nan=True), "not read exactly"
    # and gives up (None) on what only the row path can explain
    for bad in (b'1,"2",3', b"1,2", b"1,2,3,4", b"1,x,3", b"1,inf,3", b"1,2\r3,4"):
        edited = [*lines[:150], bad, *lines[150:]]
        assert codec.read_csv_batch(b"\n".join(edited), len(FEATURES)) is None, bad


def test_encode_large_csv_batch_round_trips_every_double() -> None:
    # given more predictions than the batch writer's threshold, some tiny, some near 1
    rng = np.random.default_rng(8)
    values = np.concatenate([rng.random(500), rng.random(500) * 1e-300, [5e-324, 1 - 1e-16]])
    # when they are written as CSV
    text = codec.encode(values, codec.CSV).decode()
    # then each line reads back as the exact double, in order
    assert [float(line) for line in text.split()] == values.tolist(), "a value changed"
