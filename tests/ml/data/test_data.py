"""The dataset: deterministic generation, splits, the content hash, channel files."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from common.errors import MlopsError
from ml.data import CHURN_SCHEMA, generate_churn, read_channel, split, training_data_hash
from ml.data.schema import DatasetSchema
from tests.ml.training_support import make_snapshot


def test_generate_same_seed_gives_same_hash() -> None:
    # given two generations with one seed
    first, second = generate_churn(2_000, 5), generate_churn(2_000, 5)
    # then the content hash is the same
    assert training_data_hash(first) == training_data_hash(second), (
        "generation must be deterministic"
    )


def test_generate_other_seed_gives_other_hash() -> None:
    assert training_data_hash(generate_churn(2_000, 5)) != training_data_hash(
        generate_churn(2_000, 6)
    ), "a different seed must name different data"


def test_generate_has_twenty_features_and_both_classes() -> None:
    frame = generate_churn(5_000, 1)
    rate = frame.get_column("churned").mean()
    assert frame.columns == [*CHURN_SCHEMA.feature_names, "churned"], "columns in model order"
    assert len(CHURN_SCHEMA.feature_names) == 20, "the model takes 20 features"
    assert 0.1 < rate < 0.5, f"churn rate {rate} should be a realistic minority class"


def test_hash_survives_csv_round_trip(tmp_path: Path) -> None:
    # given a snapshot written as channel files
    snapshot = make_snapshot(tmp_path)
    # when the train channel is read back
    frame, _ = read_channel(snapshot.channels["train"])
    # then the hash of what was read equals the hash of what was written
    assert training_data_hash(frame) == snapshot.training_data_hash, "CSV must round-trip exactly"


def test_hash_changes_when_one_value_changes() -> None:
    frame = generate_churn(1_000, 3)
    changed = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 500)
        .then(pl.col("age") + 1)
        .otherwise(pl.col("age"))
        .alias("age")
    )
    assert training_data_hash(frame) != training_data_hash(changed), (
        "one changed value must change the hash"
    )


def test_hash_does_not_depend_on_integer_width() -> None:
    frame = generate_churn(1_000, 3)
    narrow = frame.with_columns(pl.col("plan").cast(pl.Int8))
    assert training_data_hash(frame) == training_data_hash(narrow), (
        "i8 and i64 codes are the same data"
    )


def test_split_is_disjoint_and_reference_has_no_label() -> None:
    # given a table with a row id
    frame = generate_churn(3_000, 2).with_row_index("row")
    schema = CHURN_SCHEMA
    # when it is split
    parts = split(frame, schema, 0.2, 0.15, 2)
    # then the three parts are disjoint and cover the table, and the reference is features only
    assert parts.reference.columns == schema.feature_names, "reference: features only"
    ids = [set(parts.train["row"]), set(parts.validation["row"])]
    assert not ids[0] & ids[1], "train and validation must not share rows"
    assert parts.train.height + parts.validation.height + parts.reference.height == 3_000, (
        "all rows used"
    )


def test_read_channel_missing_column_is_one_line_error(tmp_path: Path) -> None:
    snapshot = make_snapshot(tmp_path)
    path = snapshot.channels["train"] / "train.csv"
    pl.read_csv(path).drop("age").write_csv(path)
    with pytest.raises(MlopsError, match=r"schema mismatch: missing column\(s\) age") as raised:
        read_channel(snapshot.channels["train"])
    assert "\n" not in str(raised.value), "one line"


def test_read_channel_nan_value_is_refused(tmp_path: Path) -> None:
    snapshot = make_snapshot(tmp_path)
    path = snapshot.channels["train"] / "train.csv"
    frame = pl.read_csv(path)
    frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise(pl.col("age")).alias("age")
    ).write_csv(path)
    with pytest.raises(MlopsError, match=r"column 'age' has 1 missing or NaN values"):
        read_channel(snapshot.channels["train"])


def test_read_channel_malformed_value_is_refused(tmp_path: Path) -> None:
    snapshot = make_snapshot(tmp_path)
    path = snapshot.channels["train"] / "train.csv"
    lines = path.read_text().splitlines()
    lines[2] = "abc" + lines[2][lines[2].index(",") :]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(MlopsError, match="malformed value"):
        read_channel(snapshot.channels["train"])


def test_read_channel_empty_file_is_refused(tmp_path: Path) -> None:
    snapshot = make_snapshot(tmp_path)
    path = snapshot.channels["train"] / "train.csv"
    path.write_text(path.read_text().splitlines()[0] + "\n")
    with pytest.raises(MlopsError, match="has no rows"):
        read_channel(snapshot.channels["train"])


def test_read_channel_without_schema_is_refused(tmp_path: Path) -> None:
    snapshot = make_snapshot(tmp_path)
    (snapshot.channels["train"] / "schema.json").unlink()
    with pytest.raises(MlopsError, match="dataset schema not found"):
        read_channel(snapshot.channels["train"])


def test_schema_marks_personal_data_and_reads_schemas_written_before_the_mark(tmp_path) -> None:
    # Given the shipped schema written as training writes it beside each channel
    CHURN_SCHEMA.write(tmp_path)
    written = json.loads((tmp_path / "schema.json").read_text())
    marked = sorted(f["name"] for f in written["features"] if f["personal_data"])
    # Then the file itself says which columns are personal data
    assert marked == ["age", "late_payments_12m", "payment_failures_12m", "region"], marked
    # and a schema.json from before the mark still reads, with nothing marked
    for feature in written["features"]:
        del feature["personal_data"]
    (tmp_path / "schema.json").write_text(json.dumps(written))
    assert DatasetSchema.read(tmp_path).personal_data == [], "unmarked means not personal"
