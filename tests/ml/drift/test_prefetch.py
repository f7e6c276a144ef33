"""`ml.drift.prefetch`: the local inputs read while the command starts give exactly the
run of reading them in order: the same report, the same error, and nothing read for
columns the run does not compare."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from common.errors import MlopsError
from ml.drift import monitor
from ml.drift.monitor import Inputs, run_drift, write_reference_stats
from ml.drift.prefetch import Prefetch


def _frame(rows: int, shift: float, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "age": np.round(rng.normal(40 + shift, 10, rows), 3),
            "spend": np.round(rng.lognormal(3, 1, rows), 3),
            "plan": rng.integers(0, 4, rows),
            "region": rng.choice(["north", "south", "east"], rows),
        }
    )


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    """20,000 reference rows and 15,000 current rows (more than the 10,000 rows the
    reader types a file by), `age` shifted."""
    reference, current = tmp_path / "reference.csv", tmp_path / "current.csv"
    _frame(20_000, 0.0, 1).write_csv(reference)
    _frame(15_000, 1.5, 2).write_csv(current)
    return reference, current


def _report(reference: Path, current: Path, out: Path, prefetched: bool) -> dict:
    inputs = Inputs(str(reference), str(current), categorical=["plan"])
    prefetch = Prefetch.start(str(reference), str(current), []) if prefetched else None
    run_drift(inputs, out, lambda: None, prefetch=prefetch)
    report = json.loads((out / "drift.json").read_text())
    report.pop("reference", None), report.pop("current", None)
    return report


def _no_reading_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the current file was read again although it was prefetched")

    monkeypatch.setattr(monitor, "CurrentBatches", refuse)


@pytest.mark.parametrize("stored", [False, True], ids=["reference-csv", "stored-statistics"])
def test_prefetched_run_gives_the_report_of_reading_in_order(
    files: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stored: bool
) -> None:
    # given a reference (with or without its stored statistics) and a current file
    reference, current = files
    if stored:
        write_reference_stats(reference)
    in_order = _report(reference, current, tmp_path / "in-order", prefetched=False)
    # when the run takes the files as the prefetch read them (reading again is refused)
    _no_reading_in_order(monkeypatch)
    prefetched = _report(reference, current, tmp_path / "prefetched", prefetched=True)
    # then the report is the same, number for number
    assert in_order["drifted_features"] == ["age"], "the shifted feature drifts"
    assert prefetched == in_order, "a prefetched run must report exactly what reading in order does"


def test_statistics_naming_other_columns_make_the_run_read_again(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    # given statistics stored for a reference that has since lost a column (stale: the
    # prefetch guessed the current file's columns from them)
    reference, current = files
    write_reference_stats(reference)
    pl.read_csv(reference).drop("spend").write_csv(reference)
    # when drift runs with the prefetch
    prefetched = _report(reference, current, tmp_path / "prefetched", prefetched=True)
    # then it compares the reference's columns as they are now
    assert sorted(prefetched["features"]) == ["age", "plan", "region"], (
        "the stale statistics' columns must not decide what is compared"
    )
    assert prefetched == _report(reference, current, tmp_path / "in-order", prefetched=False)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (0, "current.csv: schema mismatch: column 'age' is numeric in the reference but String "
         "in the current data"),
        (12_000, "current.csv: malformed value: "),
    ],
    ids=["text-in-first-rows", "text-after-first-rows"],
)  # fmt: skip
def test_bad_current_file_gives_the_message_of_reading_in_order(
    files: tuple[Path, Path], tmp_path: Path, row: int, message: str
) -> None:
    # given a current file whose numeric `age` holds a word in one row
    reference, current = files
    lines = current.read_text().splitlines()
    lines[1 + row] = "forty," + lines[1 + row].split(",", 1)[1]
    current.write_text("\n".join(lines) + "\n")
    # when drift runs with and without the prefetch
    errors = []
    for prefetched in (True, False):
        with pytest.raises(MlopsError) as raised:
            _report(reference, current, tmp_path / str(prefetched), prefetched)
        errors.append(str(raised.value))
    # then both runs stop with the same one line
    assert message in errors[0], f"expected {message!r}, got {errors[0]!r}"
    assert errors[0] == errors[1], "the prefetch must not change the error"
