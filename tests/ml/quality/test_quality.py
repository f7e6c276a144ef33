"""`mlops quality`: captured predictions joined to ground truth, judged against a baseline.

Capture lines are written as AWS documents a SageMaker data-capture record (Input and
Output captured, `eventMetadata` with `eventId`, `inferenceId`, `inferenceTime`); expected
metrics are computed by hand or by scikit-learn, never by the code under test.
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

from ml.quality import baseline as baselines
from tests.conftest import Cli
from tests.ml.quality.cases import AWS_CAPTURE_LINE, ROWS

# The log loss of `ROWS`, by hand.
HAND_LOG_LOSS = (
    -(math.log(0.9) + math.log(0.8) + math.log(0.7) + math.log(0.4) + math.log(0.8) + math.log(0.4))
    / 6
)


def _record(key: str, score: float, minute: int, *, encoding: str = "CSV", json_out=False):
    record = json.loads(AWS_CAPTURE_LINE)
    output = record["captureData"]["endpointOutput"]
    if json_out:
        output["observedContentType"] = "application/json"
        output["data"] = json.dumps({"predictions": [score]})
    else:
        output["data"] = repr(score)
    if encoding == "BASE64":
        output["data"] = base64.b64encode(output["data"].encode()).decode()
        output["encoding"] = "BASE64"
    record["eventMetadata"].update(inferenceId=key, inferenceTime=f"2026-01-06T17:{minute:02d}:00Z")
    return json.dumps(record)


@pytest.fixture
def captures(tmp_path: Path) -> Path:
    """The six predictions, in hourly files as SageMaker writes them, in three encodings."""
    lines = [
        _record(key, score, i, encoding="BASE64" if i == 1 else "CSV", json_out=i == 2)
        for i, (key, score, _) in enumerate(ROWS)
    ]
    root = tmp_path / "datacapture" / "mlops-prod-churn" / "primary" / "2026" / "01" / "06"
    (root / "17").mkdir(parents=True)
    (root / "17" / "a.jsonl").write_text("\n".join(lines[:3]) + "\n")
    (root / "17" / "b.jsonl").write_text("\n".join(lines[3:]) + "\n")
    return tmp_path / "datacapture"


@pytest.fixture
def labels(tmp_path: Path) -> Path:
    path = tmp_path / "labels.csv"
    rows = "\n".join(f"{key},{label}" for key, _, label in ROWS)
    path.write_text(f"inference_id,label\n{rows}\nnot-captured,1\n")
    return path


def _baseline(tmp_path: Path, **metrics: float) -> Path:
    path = tmp_path / "baseline.json"
    path.write_text(json.dumps(metrics))
    return path


def test_quality_within_tolerance_exits_0_with_hand_computed_metrics(
    tmp_path: Path, captures: Path, labels: Path, cli: Cli
) -> None:
    # Given: a baseline whose accuracy 0.70 tolerates down to 0.665 (5% relative)
    baseline = _baseline(tmp_path, accuracy=0.70, roc_auc=0.90, log_loss=0.40)
    # When
    argv = ["-c", str(captures), "-l", str(labels), "--baseline", str(baseline)]
    code, out, err = cli("quality", *argv, "-o", str(tmp_path / "out"))
    # Then: 4/6 = 0.6667 >= 0.665 passes; the numbers are the hand-computed ones
    assert code == 0, f"exit {code}: {out} {err}"
    report = json.loads((tmp_path / "out" / "quality.json").read_text())
    assert report["metrics"]["accuracy"] == pytest.approx(4 / 6), report["metrics"]
    assert report["metrics"]["roc_auc"] == pytest.approx(8 / 9), report["metrics"]
    assert report["metrics"]["log_loss"] == pytest.approx(HAND_LOG_LOSS), report["metrics"]
    assert report["regressions"] == [], report["checks"]
    limits = {c["metric"]: c["limit"] for c in report["checks"]}
    assert limits == pytest.approx({"accuracy": 0.665, "roc_auc": 0.855, "log_loss": 0.5})
    assert report["counts"]["joined"] == 6 and report["counts"]["labels_unmatched"] == 1, report


def test_quality_accuracy_more_than_5_percent_below_baseline_exits_1(
    tmp_path: Path, captures: Path, labels: Path, cli: Cli
) -> None:
    # Given: accuracy 0.71 at baseline: 5% below is 0.6745, and the window has 0.6667
    baseline = _baseline(tmp_path, accuracy=0.71, roc_auc=0.90)
    out_dir = tmp_path / "out"
    # When
    argv = ["-c", str(captures), "-l", str(labels), "--baseline", str(baseline)]
    code, _, err = cli("quality", *argv, "-o", out_dir)
    # Then: exit 1, one line naming the metric, and reports an issue can carry
    assert code == 1, f"exit {code}: {err}"
    assert err.count("\n") == 1 and "accuracy" in err and "Traceback" not in err, err
    assert json.loads((out_dir / "quality.json").read_text())["regressions"] == ["accuracy"]
    markdown = (out_dir / "quality.md").read_text()
    assert "1 metric(s) worse than tolerated: accuracy" in markdown, markdown
    html = (out_dir / "quality.html").read_text()
    assert html.count("<svg") == 2 and "<script" not in html, "two inline plots, no script"


def test_quality_log_loss_is_judged_upwards(
    tmp_path: Path, captures: Path, labels: Path, cli: Cli
) -> None:
    # Given: log loss 0.4568 against a baseline of 0.30 (25% above is 0.375)
    baseline = _baseline(tmp_path, log_loss=0.30)
    argv = ["-c", str(captures), "-l", str(labels), "--baseline", str(baseline)]
    # When
    code, _, err = cli("quality", *argv, "-o", str(tmp_path / "o"))
    # Then
    assert code == 1 and "log_loss" in err, f"exit {code}: {err}"


def test_quality_window_leaves_out_predictions_outside_it(
    tmp_path: Path, captures: Path, labels: Path, cli: Cli
) -> None:
    # Given: the window [17:00, 17:04) holds a, b, c, d (captured at minutes 0-3):
    # accuracy 3/4 (d wrong), AUC 1 (both positives above both negatives)
    baseline = _baseline(tmp_path, accuracy=0.5)
    argv = ["-c", str(captures), "-l", str(labels), "--baseline", str(baseline)]
    window = ["--since", "2026-01-06T17:00:00Z", "--until", "2026-01-06T17:04:00Z"]
    # When
    code, out, err = cli("quality", *argv, *window, "-o", str(tmp_path / "o"))
    # Then
    assert code == 0, f"exit {code}: {out} {err}"
    report = json.loads((tmp_path / "o" / "quality.json").read_text())
    assert report["metrics"]["accuracy"] == pytest.approx(0.75), report["metrics"]
    assert report["metrics"]["roc_auc"] == pytest.approx(1.0), report["metrics"]
    assert report["counts"]["outside_window"] == 2, report["counts"]


def test_quality_metrics_match_scikit_learn_on_a_large_window(tmp_path: Path, cli: Cli) -> None:
    # Given: 2,000 captured predictions with ties, and labels for 1,500 of them
    rng = np.random.default_rng(7)
    scores = np.round(rng.uniform(0, 1, 2000), 2)
    truth = (rng.uniform(0, 1, 2000) < scores).astype(int)
    capture = tmp_path / "capture.jsonl"
    capture.write_text(
        "\n".join(_record(f"id-{i}", float(s), i % 60) for i, s in enumerate(scores)) + "\n"
    )
    labels = tmp_path / "labels.jsonl"
    labels.write_text(
        "\n".join(
            json.dumps({"inference_id": f"id-{i}", "label": int(truth[i])}) for i in range(1500)
        )
    )
    baseline = _baseline(tmp_path, accuracy=0.5)
    # When
    argv = ["-c", str(capture), "-l", str(labels), "--baseline", str(baseline)]
    code, out, err = cli("quality", *argv, "-o", str(tmp_path / "o"))
    # Then: the same numbers as scikit-learn on the 1,500 labelled rows
    assert code == 0, f"exit {code}: {out} {err}"
    got = json.loads((tmp_path / "o" / "quality.json").read_text())["metrics"]
    y, p = truth[:1500], scores[:1500]
    assert got["accuracy"] == pytest.approx(accuracy_score(y, p >= 0.5)), got
    assert got["roc_auc"] == pytest.approx(roc_auc_score(y, p)), got
    assert got["log_loss"] == pytest.approx(log_loss(y, p)), got


def test_quality_reads_sagemaker_ground_truth_records(
    tmp_path: Path, captures: Path, cli: Cli
) -> None:
    # Given: labels in the format SageMaker Model Monitor ingests ground truth in
    labels = tmp_path / "groundtruth.jsonl"
    labels.write_text(
        "\n".join(
            json.dumps(
                {
                    "groundTruthData": {"data": str(label), "encoding": "CSV"},
                    "eventMetadata": {"eventId": key},
                    "eventVersion": "0",
                }
            )
            for key, _, label in ROWS
        )
    )
    baseline = _baseline(tmp_path, accuracy=0.6)
    argv = ["-c", str(captures), "-l", str(labels), "--baseline", str(baseline)]
    # When
    code, out, err = cli("quality", *argv, "-o", str(tmp_path / "o"))
    # Then
    assert code == 0, f"exit {code}: {out} {err}"
    assert "scored 6 labelled predictions" in out, out


BAD_INPUTS = [
    ("labels.csv", "inference_id,label\nzzz,1\nyyy,0\n", [], "no inference id of the 6"),
    ("labels.csv", "id,label\na,1\n", [], "missing column(s) inference_id"),
    ("labels.csv", "inference_id,truth\na,1\n", [], "missing column(s) label"),
    ("labels.csv", "inference_id,label\na,yes\n", [], "label 'yes' is not 0 or 1"),
    ("labels.csv", "inference_id,label\na,1\na,0\n", [], "'a' has two different labels"),
    (
        "labels.csv",
        "inference_id,label\na,1\n",
        ["--since", "2027-01-01"],
        "no single-row predictions in the window",
    ),
    ("labels.csv", "inference_id,label\na,1\nb,1\n", [], "ROC AUC needs both classes"),
    ("labels.csv", "inference_id,label\na,1\n", ["--since", "yesterday"], "not an ISO 8601"),
    (
        "labels.csv",
        "inference_id,label\na,1\n",
        ["--since", "2026-01-07", "--until", "2026-01-06"],
        "is not before --until",
    ),
    ("labels.csv", "inference_id,label\na,1\n", ["--accuracy-tolerance", "2"], "tolerances"),
]


@pytest.mark.parametrize(("name", "text", "extra", "fragment"), BAD_INPUTS)
def test_quality_bad_input_is_one_line_and_exit_2(
    tmp_path: Path,
    captures: Path,
    cli: Cli,
    name: str,
    text: str,
    extra: list[str],
    fragment: str,
) -> None:
    # Given: one thing wrong with the input
    labels = tmp_path / name
    labels.write_text(text)
    baseline = _baseline(tmp_path, accuracy=0.5)
    argv = ["-c", str(captures), "-l", str(labels), "--baseline", str(baseline), *extra]
    # When
    code, _, err = cli("quality", *argv, "-o", str(tmp_path / "o"))
    # Then
    assert code == 2, f"exit {code}: {err}"
    assert err.count("\n") == 1 and "Traceback" not in err, f"not one line: {err!r}"
    assert fragment in err, err


def test_quality_without_baseline_or_endpoint_is_bad_input(
    tmp_path: Path, captures: Path, labels: Path, cli: Cli
) -> None:
    code, _, err = cli("quality", "-c", captures, "-l", labels, "-o", tmp_path)
    assert code == 2 and "--endpoint" in err and err.count("\n") == 1, err


def test_quality_capture_that_is_not_capture_json_is_bad_input(
    tmp_path: Path, labels: Path, cli: Cli
) -> None:
    # Given: a CSV renamed .jsonl
    bogus = tmp_path / "capture.jsonl"
    bogus.write_text("a,b,c\n1,2,3\n")
    baseline = _baseline(tmp_path, accuracy=0.5)
    argv = ["-c", str(bogus), "-l", str(labels), "--baseline", str(baseline)]
    code, _, err = cli("quality", *argv, "-o", str(tmp_path / "o"))
    assert code == 2 and "not SageMaker data-capture JSON lines" in err, err
    assert err.count("\n") == 1, err


@pytest.fixture
def fake_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)


def test_quality_reads_s3_and_publishes_regressions_to_cloudwatch(
    tmp_path: Path, captures: Path, labels: Path, fake_aws: None, cli: Cli
) -> None:
    import boto3
    from moto import mock_aws

    # Given: captures and labels in the capture bucket, a baseline the window misses
    baseline = _baseline(tmp_path, accuracy=0.71)
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(
            Bucket="capture", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        for path in captures.rglob("*.jsonl"):
            s3.upload_file(str(path), "capture", f"datacapture/{path.relative_to(captures)}")
        s3.upload_file(str(labels), "capture", "groundtruth/mlops-prod-churn/labels.csv")
        argv = [
            "-c", "s3://capture/datacapture/mlops-prod-churn/",
            "-l", "s3://capture/groundtruth/mlops-prod-churn/",
            "--since", "2026-01-06", "--until", "2026-01-07",
            "--baseline", str(baseline),
            "--endpoint", "mlops-prod-churn", "--publish-metrics",
        ]  # fmt: skip
        # When
        code, _, err = cli("quality", *argv, "-o", str(tmp_path / "o"))
        # Then: exit 1, and one data point of QualityRegressions = 1 for the endpoint
        cloudwatch = boto3.client("cloudwatch", region_name="eu-west-1")
        data = cloudwatch.get_metric_statistics(
            Namespace="mlops/monitoring",
            MetricName="QualityRegressions",
            Dimensions=[{"Name": "EndpointName", "Value": "mlops-prod-churn"}],
            StartTime="2000-01-01T00:00:00Z",
            EndTime="2100-01-01T00:00:00Z",
            Period=86400,
            Statistics=["Maximum", "SampleCount"],
        )["Datapoints"]
    assert code == 1, f"exit {code}: {err}"
    assert [(d["Maximum"], d["SampleCount"]) for d in data] == [(1.0, 1.0)], data


class _Registry:
    """A SageMaker client answering as AWS does for an endpoint serving package 3."""

    group = "mlops-prod-churn"

    def describe_endpoint(self, EndpointName: str) -> dict:
        return {"EndpointStatus": "InService", "EndpointConfigName": f"{EndpointName}-v3"}

    def describe_endpoint_config(self, EndpointConfigName: str) -> dict:
        return {"ProductionVariants": [{"VariantName": "primary", "ModelName": "m-v3"}]}

    def describe_model(self, ModelName: str) -> dict:
        arn = f"arn:aws:sagemaker:eu-west-1:123456789012:model-package/{self.group}/3"
        return {"ModelName": ModelName, "PrimaryContainer": {"ModelPackageName": arn}}

    def describe_model_package_group(self, ModelPackageGroupName: str) -> dict:
        arn = f"arn:aws:sagemaker:eu-west-1:123456789012:model-package-group/{self.group}"
        return {"ModelPackageGroupArn": arn}

    def describe_model_package(self, ModelPackageName: str) -> dict:
        return {
            "ModelPackageArn": ModelPackageName,
            "ModelPackageGroupName": self.group,
            "ModelPackageVersion": 3,
            "ModelApprovalStatus": "Approved",
            "CustomerMetadataProperties": {
                "metric.accuracy": "0.91",
                "metric.roc_auc": "0.95",
                "owner": "ml-team",
            },
        }


def test_baseline_is_the_served_packages_registered_metrics() -> None:
    # When: the baseline is taken from the registry for the endpoint
    found = baselines.from_registry(_Registry(), "mlops-prod-churn")
    # Then: version 3's metric.* metadata, named by its ARN
    assert found.metrics == {"accuracy": 0.91, "roc_auc": 0.95}, found
    assert found.source.endswith("model-package/mlops-prod-churn/3"), found.source


def test_default_s3_window_is_the_day_ending_lag_hours_ago() -> None:
    from datetime import UTC, datetime

    from ml.quality.run import Inputs, window_of

    # Given: S3 captures, no explicit window, labels arriving 48 hours late
    now = datetime(2026, 1, 10, 6, 0, tzinfo=UTC)
    inputs = Inputs(captures="s3://b/datacapture/e/", labels="l.csv", lag_hours=48)
    # When
    window = window_of(inputs, now)
    # Then: 2026-01-07 06:00 to 2026-01-08 06:00
    assert (window.since, window.until) == (
        datetime(2026, 1, 7, 6, 0, tzinfo=UTC),
        datetime(2026, 1, 8, 6, 0, tzinfo=UTC),
    ), window
    # and local captures are read whole
    local = window_of(Inputs(captures="capture.jsonl", labels="l.csv"), now)
    assert (local.since, local.until) == (None, None), local


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "pipe"])
def test_quality_shows_progress_on_a_terminal_only(
    tmp_path: Path,
    captures: Path,
    labels: Path,
    monkeypatch: pytest.MonkeyPatch,
    cli: Cli,
    terminal: bool,
) -> None:
    # Given stderr a terminal (rich honours FORCE_COLOR as one) or a pipe, as in CI
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    if terminal:
        monkeypatch.setenv("FORCE_COLOR", "1")
    baseline = _baseline(tmp_path, accuracy=0.5)
    argv = ["-c", str(captures), "-l", str(labels), "--baseline", str(baseline)]
    # When
    code, _, err = cli("quality", *argv, "-o", str(tmp_path / "o"))
    # Then a progress bar over the captures read is drawn only on the terminal
    assert code == 0, err
    assert ("reading captures" in err) is terminal, repr(err)


def test_quality_labels_split_over_files_may_not_disagree(
    tmp_path: Path, captures: Path, cli: Cli
) -> None:
    # Given two label files (two days of labelling) that label f both ways
    folder = tmp_path / "groundtruth"
    folder.mkdir()
    (folder / "day1.csv").write_text("inference_id,label\na,1\nf,1\n")
    (folder / "day2.csv").write_text("inference_id,label\nc,0\nf,0\n")
    baseline = _baseline(tmp_path, accuracy=0.5)
    argv = ["-c", str(captures), "-l", str(folder), "--baseline", str(baseline)]
    # When
    code, _, err = cli("quality", *argv, "-o", str(tmp_path / "o"))
    # Then one line names the id
    assert code == 2 and "'f' has two different labels" in err and err.count("\n") == 1, err
