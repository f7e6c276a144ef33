"""Drift: KS / PSI / chi-square against scipy, readers for CSV and SageMaker data capture,
and `mlops drift` exit codes and reports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import boto3
import numpy as np
import polars as pl
import pytest
from moto import mock_aws
from scipy import stats

from common.errors import MlopsError
from ml.cli.drift import resolve_thresholds
from ml.data import CHURN_SCHEMA, generate_churn
from ml.drift.capture import write_capture_jsonl
from ml.drift.detect import detect_drift, detect_drift_frames
from ml.drift.readers import load_pair, read_capture
from ml.drift.stats import chi_square, ks_2samp_sorted, ks_asymptotic_pvalue, psi_sorted
from ml.params import DEFAULT_PARAMS, DriftParams
from tests.conftest import Cli, ReportRun, run_reporting

TOLERANCE = 1e-9


def _samples(kind: str, n1: int, n2: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    if kind == "normal-shifted":
        return rng.standard_normal(n1), rng.standard_normal(n2) + 0.1
    if kind == "discrete-ties":
        return rng.poisson(3, n1).astype(float), rng.poisson(3.2, n2).astype(float)
    if kind == "rounded-scaled":
        return np.round(rng.exponential(1, n1), 1), np.round(rng.exponential(1.15, n2), 1)
    if kind == "identical":
        a = rng.standard_normal(n1)
        return a, a[:n2].copy()
    raise ValueError(kind)


KINDS = ["normal-shifted", "discrete-ties", "rounded-scaled", "identical"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("n1", "n2"), [(50, 80), (1_000, 999), (3_000, 3_000)])
def test_ks_matches_scipy_exact_method_on_small_samples(kind: str, n1: int, n2: int) -> None:
    a, b = _samples(kind, n1, n2, n1 + n2)
    ours = ks_2samp_sorted(np.sort(a), np.sort(b))
    ref = stats.ks_2samp(a, b)
    assert ours.method == "exact", "scipy's auto method is exact up to 10,000 values"
    assert abs(ours.statistic - ref.statistic) <= TOLERANCE, (ours, ref)
    assert abs(ours.pvalue - ref.pvalue) <= TOLERANCE, (ours, ref)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("n1", "n2"), [(12_000, 30_000), (60_000, 50_001)])
def test_ks_matches_scipy_asymptotic_method_on_large_samples(kind: str, n1: int, n2: int) -> None:
    a, b = _samples(kind, n1, n2, n1 ^ n2)
    ours = ks_2samp_sorted(np.sort(a), np.sort(b))
    ref = stats.ks_2samp(a, b)
    assert ours.method == "asymp", "above 10,000 values scipy uses the asymptotic distribution"
    assert abs(ours.statistic - ref.statistic) <= TOLERANCE, (ours, ref)
    assert abs(ours.pvalue - ref.pvalue) <= TOLERANCE, (ours, ref)


@pytest.mark.parametrize("n_x_squared", [2.3, 5.0, 14.0, 60.0, 300.0])
def test_ks_pvalue_matches_scipy_where_scipy_sums_the_smirnov_series(n_x_squared: float) -> None:
    # given a statistic in the range where scipy computes 2 * special.smirnov(n, d)
    n1, n2 = 40_000, 60_000
    en = round(n1 * n2 / (n1 + n2))
    d = float(np.sqrt(n_x_squared / en))
    # then our p-value equals scipy's, absolutely and relatively
    ours, ref = ks_asymptotic_pvalue(d, n1, n2), float(stats.kstwo.sf(d, en))
    assert abs(ours - ref) <= TOLERANCE, (ours, ref)
    assert ours == pytest.approx(ref, rel=1e-8), (ours, ref)


@pytest.mark.parametrize("n_x_squared", [0.01, 0.1, 0.5, 1.0, 1.7, 2.19])
@pytest.mark.parametrize(("n1", "n2"), [(300_000, 300_000), (1_000_000, 250_000)])
def test_ks_pvalue_matches_scipy_where_scipy_sums_the_pelz_good_series(
    n_x_squared: float, n1: int, n2: int
) -> None:
    # given a statistic of large samples where scipy evaluates Pelz and Good's series
    en = round(n1 * n2 / (n1 + n2))
    d = float(np.sqrt(n_x_squared / en))
    # then our p-value (computed without importing scipy.stats) is scipy's
    ours, ref = ks_asymptotic_pvalue(d, n1, n2), float(stats.kstwo.sf(d, en))
    assert abs(ours - ref) <= TOLERANCE and ours == pytest.approx(ref, rel=1e-12), (ours, ref)


def test_psi_equals_the_textbook_formula_on_decile_bins() -> None:
    # given reference deciles and a shifted current sample
    rng = np.random.default_rng(4)
    ref, cur = np.sort(rng.standard_normal(10_000)), np.sort(rng.standard_normal(8_000) + 0.3)
    # when PSI is computed
    psi, bins = psi_sorted(ref, cur, 10)
    # then it is sum((c - r) * ln(c / r)) over the bins (-inf, q10], (q10, q20], ..., (q90, inf)
    inner = np.quantile(ref, np.arange(1, 10) / 10, method="inverted_cdf")
    r = np.bincount((ref[:, None] > inner[None, :]).sum(axis=1), minlength=10) / ref.size
    c = np.bincount((cur[:, None] > inner[None, :]).sum(axis=1), minlength=10) / cur.size
    assert bins.reference == [1_000] * 10, "deciles hold a tenth of the reference each"
    assert psi == pytest.approx(float(np.sum((c - r) * np.log(c / r))), rel=1e-12), "PSI formula"


def test_chi_square_matches_scipy_contingency() -> None:
    ref, cur = {"a": 500, "b": 300, "c": 200}, {"a": 420, "b": 330, "c": 240, "d": 10}
    ours = chi_square(ref, cur)
    expected = stats.chi2_contingency(np.array([[500, 300, 200, 0], [420, 330, 240, 10]]))
    assert ours.categories == ["a", "b", "c", "d"], "categories seen in either sample"
    assert ours.statistic == pytest.approx(expected.statistic, abs=TOLERANCE), (
        "chi-square statistic"
    )
    assert ours.pvalue == pytest.approx(expected.pvalue, abs=TOLERANCE), "chi-square p-value"


def test_detect_flags_only_the_shifted_feature() -> None:
    # given two samples of the same customers' world, one with monthly charges 15 higher
    ref = generate_churn(6_000, 1).select(CHURN_SCHEMA.feature_names)
    cur = generate_churn(6_000, 2, shift={"monthly_charges": 15.0}).select(
        CHURN_SCHEMA.feature_names
    )
    # when drift is detected
    result = detect_drift_frames(ref, cur, CHURN_SCHEMA.categorical)
    # then exactly that feature drifts, with its reasons
    assert result.drifted == ["monthly_charges"], result.drifted
    assert any("PSI" in r for r in result.features["monthly_charges"].reasons), "says why"
    assert result.features["plan"].kind == "categorical", "codes compared as categories"


def test_bonferroni_divides_the_pvalue_threshold_by_the_number_of_tests() -> None:
    rng = np.random.default_rng(0)
    columns = {f"x{i}": rng.standard_normal(500) for i in range(4)}
    corrected = detect_drift(columns, columns, thresholds=DriftParams())
    raw = detect_drift(columns, columns, thresholds=DriftParams(correction="none"))
    assert corrected.ks_pvalue_threshold == pytest.approx(0.0125), "0.05 / 4 tests"
    assert raw.ks_pvalue_threshold == 0.05, "as written"


def test_detect_refuses_nan_values() -> None:
    values = np.array([1.0, np.nan, 2.0])
    with pytest.raises(MlopsError, match="column 'x' has NaN values in the current data"):
        detect_drift({"x": np.array([1.0, 2.0, 3.0])}, {"x": values})


# --- readers -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def frames() -> tuple[pl.DataFrame, pl.DataFrame]:
    ref = generate_churn(3_000, 1).select(CHURN_SCHEMA.feature_names)
    cur = generate_churn(2_000, 2, shift={"age": 12.0}).select(CHURN_SCHEMA.feature_names)
    return ref, cur


@pytest.mark.parametrize(
    ("encoding", "rows_per_record"), [("CSV", 1), ("CSV", 7), ("BASE64", 3), ("JSON", 4)]
)
def test_capture_reader_recovers_the_rows(
    tmp_path: Path, frames: tuple[pl.DataFrame, pl.DataFrame], encoding: str, rows_per_record: int
) -> None:
    # given rows written as SageMaker data capture
    _, cur = frames
    path = write_capture_jsonl(cur, tmp_path / "capture.jsonl", encoding, rows_per_record)  # type: ignore[arg-type]
    # when they are read back with the reference's feature names
    dtypes = {name: pl.Float64() for name in cur.columns}
    read = read_capture(path, cur.columns, dtypes)
    # then every value is there, in order
    assert read.height == cur.height, "all rows"
    assert read.equals(cur.cast(pl.Float64)), "values round-trip"


def test_capture_reader_in_small_chunks_gives_the_same_rows(
    tmp_path: Path, frames: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    _, cur = frames
    path = write_capture_jsonl(cur, tmp_path / "capture.jsonl")
    dtypes = {name: pl.Float64() for name in cur.columns}
    whole = read_capture(path, cur.columns, dtypes)
    chunked = read_capture(path, cur.columns, dtypes, chunk_bytes=10_000)
    assert chunked.equals(whole), "chunking must not change the rows"


def test_capture_and_csv_give_the_same_drift(
    tmp_path: Path, frames: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    ref, cur = frames
    ref.write_csv(tmp_path / "ref.csv")
    cur.write_csv(tmp_path / "cur.csv")
    write_capture_jsonl(cur, tmp_path / "capture" / "part-1.jsonl", rows_per_record=5)
    from_csv = load_pair(tmp_path / "ref.csv", tmp_path / "cur.csv", CHURN_SCHEMA.categorical)
    from_capture = load_pair(tmp_path / "ref.csv", tmp_path / "capture", CHURN_SCHEMA.categorical)
    assert from_capture.current.equals(from_csv.current), "same rows from both formats"


# --- mlops drift ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(
    tmp_path_factory: pytest.TempPathFactory, frames: tuple[pl.DataFrame, pl.DataFrame]
) -> dict[str, Path]:
    ref, cur = frames
    root = tmp_path_factory.mktemp("drift-files")
    paths = {
        "ref": root / "ref.csv",
        "same": root / "same.csv",
        "cur": root / "cur.csv",
        "root": root,
    }
    ref.write_csv(paths["ref"])
    generate_churn(2_500, 3).select(CHURN_SCHEMA.feature_names).write_csv(paths["same"])
    cur.write_csv(paths["cur"])
    return paths


def _run(cli: Cli, argv: list[str], out: Path) -> ReportRun:
    return run_reporting(cli, "drift", argv, out, "drift.json")


@pytest.fixture(scope="module")
def clean(files: dict[str, Path], cli: Cli) -> ReportRun:
    """Another sample of the reference's world: nothing drifts."""
    return _run(
        cli,
        ["--reference", str(files["ref"]), "--current", str(files["same"])],
        files["root"] / "clean",
    )


@pytest.fixture(scope="module")
def drifted(files: dict[str, Path], cli: Cli) -> ReportRun:
    """Customers 12 years older, categorical codes compared as categories."""
    categorical = [
        "--categorical",
        "plan",
        "--categorical",
        "region",
        "--categorical",
        "contract_type",
    ]
    argv = ["--reference", str(files["ref"]), "--current", str(files["cur"]), *categorical]
    return _run(cli, argv, files["root"] / "drifted")


def test_drift_cli_exits_0_when_nothing_drifts(clean: ReportRun) -> None:
    report = clean.json()
    assert clean.code == 0 and report["drift_detected"] is False, report["drifted_features"]


def test_drift_cli_writes_markdown_json_and_html(clean: ReportRun) -> None:
    assert {p.name for p in clean.out.iterdir()} == {"drift.md", "drift.json", "drift.html"}


def test_drift_cli_exits_1_when_a_feature_drifts(drifted: ReportRun) -> None:
    report = drifted.json()
    assert drifted.code == 1, "drift found is exit code 1"
    assert report["drifted_features"] == ["age"], report["drifted_features"]
    assert "drift detected in 1 of 20 features: age" in drifted.err, drifted.err


def test_drift_json_holds_the_statistics_of_every_feature(drifted: ReportRun) -> None:
    features = drifted.json()["features"]
    age, plan = features["age"], features["plan"]
    assert len(features) == 20, "every feature"
    assert {"ks_statistic", "ks_pvalue", "psi", "drifted"} <= set(age) and age["drifted"] is True, (
        age
    )
    assert {"chi2_statistic", "chi2_pvalue", "psi", "drifted"} <= set(plan), plan


def test_drift_markdown_lists_the_drifted_feature_with_reasons(drifted: ReportRun) -> None:
    markdown = (drifted.out / "drift.md").read_text()
    assert "❌ drift in 1 of 20 features" in markdown, markdown[:300]
    assert "| `age` | numeric |" in markdown and "KS p-value" in markdown, markdown[:1500]


def test_directory_of_captures_reads_every_file(
    files: dict[str, Path], tmp_path: Path, frames: tuple[pl.DataFrame, pl.DataFrame]
) -> None:
    _, cur = frames
    write_capture_jsonl(
        cur.head(1_000), tmp_path / "capture" / "2026" / "01" / "a.jsonl", rows_per_record=2
    )
    write_capture_jsonl(cur.tail(1_000), tmp_path / "capture" / "2026" / "01" / "b.jsonl", "BASE64")
    pair = load_pair(files["ref"], tmp_path / "capture")
    assert pair.current.height == 2_000, "rows of both files"
    assert pair.current.equals(pair.current.head(1_000).vstack(pair.current.tail(1_000))), (
        "in order"
    )


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.drop("age"), r"schema mismatch: missing column\(s\) age"),
        (
            lambda f: f.with_columns(pl.lit("x").alias("age")),
            r"column 'age' is numeric in the reference but String",
        ),
        (lambda f: f.head(0), r"no rows to compare"),
        (
            lambda f: f.with_columns(
                pl.when(pl.int_range(pl.len()) == 1)
                .then(None)
                .otherwise(pl.col("age"))
                .alias("age")
            ),
            r"column 'age' has 1 missing or NaN values",
        ),
    ],
    ids=["missing-column", "wrong-type", "empty", "missing-value"],
)
def test_drift_cli_bad_current_data_exits_2_with_one_line(
    files: dict[str, Path], tmp_path: Path, cli: Cli, mutate, message: str
) -> None:
    bad = tmp_path / "bad.csv"
    mutate(pl.read_csv(files["cur"])).write_csv(bad)
    code, _, err = cli(
        "drift", "--reference", str(files["ref"]), "--current", bad, "--out", str(tmp_path / "r")
    )
    assert code == 2, "bad input is exit code 2"
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert re.search(message, err), err


def test_drift_cli_missing_reference_exits_2(tmp_path: Path, cli: Cli) -> None:
    code, _, err = cli(
        "drift", "--reference", tmp_path / "absent.csv", "--current", tmp_path, "--out", tmp_path
    )
    assert code == 2 and "file not found" in err, "missing file"


def test_drift_cli_malformed_capture_exits_2(
    files: dict[str, Path], tmp_path: Path, cli: Cli
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"captureData": {"endpointInput": {"data": "1,2", "encoding": "CSV"}}}\nnot json\n'
    )
    code, _, err = cli(
        "drift", "--reference", str(files["ref"]), "--current", bad, "--out", str(tmp_path / "r")
    )
    assert code == 2 and err.count("\n") == 1, err


def test_thresholds_options_override_the_defaults() -> None:
    thresholds = resolve_thresholds(None, {"psi": 0.1, "correction": "none", "ks_pvalue": None})
    assert (thresholds.psi, thresholds.correction, thresholds.ks_pvalue) == (0.1, "none", 0.05), (
        thresholds
    )


def test_thresholds_come_from_the_params_files_drift_section(tmp_path: Path) -> None:
    # given the shipped params.yaml with its drift section edited away from the defaults
    text = DEFAULT_PARAMS.read_text()
    shipped = "  psi: 0.2\n  chi2_pvalue: 0.05\n  psi_bins: 10\n"
    assert shipped in text, "ml/params.yaml's drift section changed: update this test"
    edited = tmp_path / "params.yaml"
    edited.write_text(text.replace(shipped, "  psi: 0.35\n  chi2_pvalue: 0.01\n  psi_bins: 20\n"))
    # when the thresholds are resolved from it, with one option on top
    thresholds = resolve_thresholds(edited, {"ks_statistic": 0.3})
    # then the file's values hold, the option wins, and the rest are as the file says
    got = thresholds.model_dump()
    assert got == {"ks_pvalue": 0.05, "ks_statistic": 0.3, "psi": 0.35, "chi2_pvalue": 0.01,
                   "psi_bins": 20, "correction": "bonferroni"}, got  # fmt: skip


def test_drift_cli_invalid_threshold_exits_2(
    files: dict[str, Path], tmp_path: Path, cli: Cli
) -> None:
    code, _, err = cli(
        "drift", "--reference", files["ref"], "--current", files["same"], "--out", tmp_path,
        "--ks-pvalue", "2",
    )  # fmt: skip
    assert code == 2 and "ks_pvalue: invalid value 2" in err, err


def test_drift_cli_reads_reference_and_captures_from_s3(
    tmp_path: Path,
    frames: tuple[pl.DataFrame, pl.DataFrame],
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> None:
    # given the reference and a day of captures in S3, as the scheduled job finds them
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    ref, cur = frames
    ref.write_csv(tmp_path / "reference.csv")
    write_capture_jsonl(cur, tmp_path / "capture.jsonl", rows_per_record=4)
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        for bucket in ("data", "capture"):
            s3.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
            )
        s3.upload_file(
            str(tmp_path / "reference.csv"), "data", "datasets/m/abc/reference/reference.csv"
        )
        s3.upload_file(
            str(tmp_path / "capture.jsonl"), "capture", "ep/AllTraffic/2026/01/01/00/a.jsonl"
        )
        s3.put_object(
            Bucket="capture", Key="ep/AllTraffic/2026/01/01/00/readme.txt", Body=b"skip me"
        )
        # when `mlops drift` is pointed at them
        code = cli(
            "drift",
            "--reference",
            "s3://data/datasets/m/abc/reference/reference.csv",
            "--current",
            "s3://capture/ep/",
            "--since-hours",
            "24",
            "--out",
            str(tmp_path / "r"),
        ).exit_code
    # then it reads them like local files
    report = json.loads((tmp_path / "r" / "drift.json").read_text())
    assert code == 1 and report["drifted_features"] == ["age"], report["drifted_features"]
    assert report["summary"]["current_rows"] == cur.height, "every captured row"
    assert report["current"] == "s3://capture/ep/", "the report names where the data came from"


def test_drift_cli_takes_categoricals_from_the_schema_beside_the_reference(
    files: dict[str, Path], tmp_path: Path, cli: Cli
) -> None:
    # given a reference written as training writes its channel: CSV plus schema.json
    channel = tmp_path / "reference"
    channel.mkdir()
    (channel / "reference.csv").write_bytes(files["ref"].read_bytes())
    CHURN_SCHEMA.write(channel)
    # when drift runs with no --categorical, as the scheduled monitor does
    run = _run(
        cli,
        ["--reference", str(channel / "reference.csv"), "--current", str(files["same"])],
        tmp_path / "out",
    )
    # then the declared category codes get chi-square, the numeric columns KS
    features = run.json()["features"]
    for name in CHURN_SCHEMA.categorical:
        assert features[name]["kind"] == "categorical", f"{name}: {features[name]}"
    assert features["age"]["kind"] == "numeric", features["age"]


def test_drift_cli_reads_the_schema_beside_an_s3_reference(
    tmp_path: Path,
    frames: tuple[pl.DataFrame, pl.DataFrame],
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
) -> None:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "eu-west-1"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    ref, cur = frames
    ref.write_csv(tmp_path / "reference.csv")
    cur.write_csv(tmp_path / "current.csv")
    CHURN_SCHEMA.write(tmp_path)
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(
            Bucket="data", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        for name in ("reference.csv", "schema.json", "current.csv"):
            s3.upload_file(str(tmp_path / name), "data", f"ds/reference/{name}")
        run = _run(
            cli,
            ["--reference", "s3://data/ds/reference/reference.csv",
             "--current", "s3://data/ds/reference/current.csv"],
            tmp_path / "out",
        )  # fmt: skip
    kinds = {name: f["kind"] for name, f in run.json()["features"].items()}
    assert [n for n, k in kinds.items() if k == "categorical"] == CHURN_SCHEMA.categorical, kinds
