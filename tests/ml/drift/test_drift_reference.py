"""Reference statistics stored once (`mlops drift --write-reference-stats`) and the current
data streamed in batches: the same reports, the same statistics as scipy, exit codes kept."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats

from ml.drift import readers
from ml.drift.reference import stats_paths
from tests.conftest import Cli, fresh_python


def _drift(cli: Cli, *argv: str) -> tuple[int, str]:
    code, _, err = cli("drift", *argv)
    return code, err


@pytest.fixture
def pair(tmp_path: Path) -> dict[str, Path]:
    """20,000 reference and 15,000 current rows: two numeric features (one shifted), a
    numeric code declared categorical, a text column."""
    rng = np.random.default_rng(5)

    def frame(rows: int, shift: float) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "age": np.round(rng.normal(40 + shift, 10, rows), 3),
                "spend": np.round(rng.lognormal(3, 1, rows), 3),
                "plan": rng.integers(0, 4, rows),
                "region": rng.choice(["north", "south", "east"], rows),
            }
        )

    paths = {"ref": tmp_path / "reference.csv", "cur": tmp_path / "current.csv"}
    frame(20_000, 0.0).write_csv(paths["ref"])
    frame(15_000, 1.5).write_csv(paths["cur"])
    return paths


def _report(cli: Cli, pair: dict[str, Path], out: Path) -> tuple[int, dict]:
    code, _ = _drift(
        cli, "-r", str(pair["ref"]), "-c", str(pair["cur"]), "-o", str(out), "--categorical", "plan"
    )
    report = json.loads((out / "drift.json").read_text())
    return code, report


def test_stored_reference_statistics_give_the_same_report_without_reading_the_reference(
    pair: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    # given a report computed from the reference CSV, and the reference's stored statistics
    fresh_code, fresh = _report(cli, pair, tmp_path / "fresh")
    code, _ = _drift(cli, "-r", str(pair["ref"]), "--write-reference-stats")
    assert code == 0 and all(p.is_file() for p in stats_paths(pair["ref"])), "stats written"

    # when drift runs again and parsing the reference CSV is made impossible
    def no_parsing(*args: object, **kwargs: object) -> None:
        raise AssertionError("the reference CSV was parsed although its statistics are stored")

    monkeypatch.setattr("ml.drift.monitor.read_reference", no_parsing)
    stored_code, stored = _report(cli, pair, tmp_path / "stored")
    # then the report is the same, number for number, with the same exit code
    assert (stored_code, fresh_code) == (1, 1), "age is shifted: drift, exit code 1"
    assert stored == fresh, "stored statistics must give exactly the fresh report"


def test_changed_reference_makes_stored_statistics_stale(
    pair: dict[str, Path], tmp_path: Path, cli: Cli
) -> None:
    # given statistics stored for the reference
    _drift(cli, "-r", str(pair["ref"]), "--write-reference-stats")
    # when an attacker (or a new training run) changes one value of the reference
    lines = pair["ref"].read_text().splitlines()
    lines[1] = "99.0," + lines[1].split(",", 1)[1]
    pair["ref"].write_text("\n".join(lines) + "\n")
    _, stored = _report(cli, pair, tmp_path / "after")
    # then the old statistics are not used: the report is that of the changed file
    for path in stats_paths(pair["ref"]):
        path.unlink()
    _, fresh = _report(cli, pair, tmp_path / "fresh")
    assert stored == fresh, "statistics of another file must not be used"


def test_stored_reference_statistics_match_scipy(
    pair: dict[str, Path], tmp_path: Path, cli: Cli
) -> None:
    # given stored statistics; when drift runs on them
    _drift(cli, "-r", str(pair["ref"]), "--write-reference-stats")
    _, report = _report(cli, pair, tmp_path / "out")
    # then KS is scipy's on the raw columns, and chi-square scipy's on the counts
    ref, cur = pl.read_csv(pair["ref"]), pl.read_csv(pair["cur"])
    for name in ("age", "spend"):
        oracle = stats.ks_2samp(ref[name].to_numpy(), cur[name].to_numpy())
        ours = report["features"][name]
        assert abs(ours["ks_statistic"] - oracle.statistic) <= 1e-9, name
        assert abs(ours["ks_pvalue"] - oracle.pvalue) <= 1e-9, name
    for name in ("plan", "region"):
        table = pl.concat(
            [ref.select(name).with_columns(side=0), cur.select(name).with_columns(side=1)]
        )
        counts = table.pivot(on="side", index=name, values="side", aggregate_function="len")
        oracle = stats.chi2_contingency(counts.select("0", "1").fill_null(0).to_numpy().T)
        assert abs(report["features"][name]["chi2_pvalue"] - oracle.pvalue) <= 1e-9, name


def test_streamed_current_file_gives_the_same_report(
    pair: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    # given the report of the current file read whole
    _, whole = _report(cli, pair, tmp_path / "whole")
    # when the file is streamed in batches of 1,000 rows
    monkeypatch.setattr(readers.CurrentBatches, "STREAM_ABOVE_BYTES", 0)
    monkeypatch.setattr(readers.CurrentBatches, "BATCH_ROWS", 1_000)
    _, streamed = _report(cli, pair, tmp_path / "streamed")
    # then nothing changes
    assert streamed == whole, "batching must not change a statistic"


def test_streamed_file_with_a_bad_value_late_exits_2_with_one_line(
    pair: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    # given a current file whose 14,000th row has text in a numeric column
    lines = pair["cur"].read_text().splitlines()
    lines[14_000] = "old," + lines[14_000].split(",", 1)[1]
    pair["cur"].write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(readers.CurrentBatches, "STREAM_ABOVE_BYTES", 0)
    monkeypatch.setattr(readers.CurrentBatches, "BATCH_ROWS", 1_000)
    # when drift streams it
    code, err = _drift(
        cli, "-r", str(pair["ref"]), "-c", str(pair["cur"]), "-o", str(tmp_path / "o")
    )
    # then it is bad input: exit code 2, one line naming the file
    assert code == 2 and err.count("\n") == 1, err
    assert "current.csv: malformed value" in err, err


def test_numeric_drift_command_loads_no_scipy_matplotlib_or_boto3(
    tmp_path: Path, repo_root: Path
) -> None:
    # given numeric CSV files of more than 10,000 rows (scipy's asymptotic KS), shifted
    # enough that the p-values come from the Smirnov sum (scipy.special.smirnov's range)
    rng = np.random.default_rng(9)
    for name, shift in (("ref", 0.0), ("cur", 0.5)):
        pl.DataFrame({f"x{j}": rng.normal(shift, 1, 12_000) for j in range(3)}).write_csv(
            tmp_path / f"{name}.csv"
        )
    script = (
        "import sys\nfrom ml.cli import main\n"
        f"argv = ['drift', '-r', {str(tmp_path / 'ref.csv')!r}, '-c', "
        f"{str(tmp_path / 'cur.csv')!r}, '-o', {str(tmp_path / 'out')!r}]\n"
        "try:\n    main(argv)\nexcept SystemExit as exited:\n    code = exited.code\n"
        "heavy = ('scipy', 'matplotlib', 'boto3', 'pandas')\n"
        "print(code, [m for m in heavy if m in sys.modules])\n"
    )
    # when `mlops drift` runs in a fresh interpreter
    run = fresh_python(script, repo_root, timeout=300)
    # then it finds the drift without loading what it does not need (seconds of imports)
    assert run.stdout.strip().splitlines()[-1] == "1 []", run.stdout + run.stderr[-2000:]
