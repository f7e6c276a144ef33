"""The scheduled monitor reads only what it has not read: the marker, two runs, bad input,
and the drifted-feature metric it publishes per endpoint."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import polars as pl
import pytest
from moto import mock_aws

from ml import aws
from ml.data import CHURN_SCHEMA, generate_churn
from ml.drift.capture import write_capture_jsonl
from tests.conftest import Cli

REGION = "eu-west-1"
CAPTURE = "datacapture/mlops-dev-churn/primary/"
MARKER = "monitor-state/datacapture/mlops-dev-churn/primary/marker.json"
REFERENCE = "s3://data/datasets/churn/abc/reference/reference.csv"


class Recording:
    """A boto3 client that remembers every object it read (GetObject keys)."""

    def __init__(self, client: Any, reads: list[str]):
        self._client, self.reads = client, reads

    def get_object(self, **kwargs: Any) -> Any:
        self.reads.append(f"{kwargs['Bucket']}/{kwargs['Key']}")
        return self._client.get_object(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[Any, list[str]]]:
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    reads: list[str] = []
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        for bucket in ("data", "capture"):
            client.create_bucket(
                Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
            )
        reference = tmp_path / "reference.csv"
        generate_churn(3_000, 1).select(CHURN_SCHEMA.feature_names).write_csv(reference)
        client.upload_file(str(reference), "data", REFERENCE.removeprefix("s3://data/"))
        real = aws.client
        monkeypatch.setattr(
            aws,
            "client",
            lambda service, session=None: (
                Recording(real(service), reads) if service == "s3" else real(service)
            ),
        )
        yield client, reads


def _capture(s3: Any, tmp_path: Path, hour: str, seed: int, shift: float = 0.0) -> str:
    rows = generate_churn(800, seed, shift={"age": shift} if shift else None)
    path = write_capture_jsonl(
        rows.select(CHURN_SCHEMA.feature_names), tmp_path / f"{hour}.jsonl", rows_per_record=4
    )
    key = f"{CAPTURE}2026/01/01/{hour}/00-00-000-{seed}.jsonl"
    s3.upload_file(str(path), "capture", key)
    return key


def _monitor(cli: Cli, tmp_path: Path, name: str, *extra: str) -> tuple[int, str]:
    code, out, err = cli(
        "drift", "--reference", REFERENCE, "--current", f"s3://capture/{CAPTURE}",
        "--out", tmp_path / name, "--new-only", *extra,
    )  # fmt: skip
    return code, err + out


def _captures_read(reads: list[str]) -> list[str]:
    return [r.removeprefix("capture/") for r in reads if r.startswith(f"capture/{CAPTURE}")]


def test_second_run_reads_only_the_capture_written_since_the_first(
    s3: tuple[Any, list[str]], tmp_path: Path, cli: Cli
) -> None:
    client, reads = s3
    # given a first run over the first hour's capture
    first = _capture(client, tmp_path, "00", 2)
    code, err = _monitor(cli, tmp_path, "run1")
    assert code == 0, err
    assert _captures_read(reads) == [first]
    # when a second hour is captured (older customers) and the monitor runs again
    reads.clear()
    second = _capture(client, tmp_path, "01", 3, shift=12.0)
    code, err = _monitor(cli, tmp_path, "run2")
    # then it read that one file only, judged it alone, and moved the marker to it
    assert _captures_read(reads) == [second], reads
    report = json.loads((tmp_path / "run2" / "drift.json").read_text())
    assert code == 1 and report["drifted_features"] == ["age"], (code, err)
    assert report["summary"]["current_rows"] == 800
    marker = json.loads(client.get_object(Bucket="capture", Key=MARKER)["Body"].read())
    assert (marker["last_key"], marker["previous_key"]) == (second, first)


def test_a_run_with_nothing_new_exits_0_and_leaves_the_marker(
    s3: tuple[Any, list[str]], tmp_path: Path, cli: Cli
) -> None:
    client, reads = s3
    only = _capture(client, tmp_path, "00", 2)
    assert _monitor(cli, tmp_path, "run1")[0] == 0
    before = client.get_object(Bucket="capture", Key=MARKER)["Body"].read()
    reads.clear()
    code, err = _monitor(cli, tmp_path, "run2")
    assert code == 0 and f"nothing captured after {only}" in err, err
    assert _captures_read(reads) == [], "no capture object read"
    assert client.get_object(Bucket="capture", Key=MARKER)["Body"].read() == before
    assert not (tmp_path / "run2" / "drift.json").exists()


def test_bad_input_does_not_advance_the_marker(
    s3: tuple[Any, list[str]], tmp_path: Path, cli: Cli
) -> None:
    client, _ = s3
    first = _capture(client, tmp_path, "00", 2)
    assert _monitor(cli, tmp_path, "run1")[0] == 0
    # when the next hour's capture is not JSON lines at all
    client.put_object(Bucket="capture", Key=f"{CAPTURE}2026/01/01/01/bad.jsonl", Body=b"{not")
    code, err = _monitor(cli, tmp_path, "run2")
    assert code == 2 and "Traceback" not in err, err
    marker = json.loads(client.get_object(Bucket="capture", Key=MARKER)["Body"].read())
    assert marker["last_key"] == first, "the failed run must be read again"


def test_new_only_refuses_a_prefix_whose_keys_are_not_hourly(
    s3: tuple[Any, list[str]], tmp_path: Path, cli: Cli
) -> None:
    client, _ = s3
    client.put_object(Bucket="capture", Key="datacapture/x.jsonl", Body=b"{}")
    code, _, err = cli(
        "drift", "--reference", REFERENCE, "--current", "s3://capture/datacapture/",
        "--out", tmp_path / "o", "--new-only",
    )  # fmt: skip
    assert code == 2 and "one endpoint variant's capture prefix" in err, err


def test_new_only_needs_an_s3_capture(tmp_path: Path, cli: Cli) -> None:
    local = tmp_path / "c.csv"
    pl.DataFrame({"age": [1.0]}).write_csv(local)
    code, _, err = cli(
        "drift", "--reference", local, "--current", local, "--out", tmp_path / "o", "--new-only"
    )
    assert code == 2 and "need the capture's s3:// prefix" in err, err


def test_each_run_publishes_the_drifted_feature_count_of_its_endpoint(
    s3: tuple[Any, list[str]], tmp_path: Path, cli: Cli
) -> None:
    client, _ = s3
    _capture(client, tmp_path, "00", 3, shift=12.0)
    code, err = _monitor(cli, tmp_path, "run1", "--publish-metrics")
    assert code == 1, err
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    (metric,) = cloudwatch.list_metrics(Namespace="mlops/monitoring")["Metrics"]
    assert metric["MetricName"] == "DriftedFeatures"
    assert metric["Dimensions"] == [{"Name": "EndpointName", "Value": "mlops-dev-churn"}]
    stats = cloudwatch.get_metric_statistics(
        Namespace="mlops/monitoring",
        MetricName="DriftedFeatures",
        Dimensions=metric["Dimensions"],
        StartTime="2000-01-01T00:00:00Z",
        EndTime="2100-01-01T00:00:00Z",
        Period=86400 * 365,
        Statistics=["Maximum"],
    )["Datapoints"]
    assert [p["Maximum"] for p in stats] == [1.0], stats
