"""`mlops drift --on sagemaker`: the monitor's comparison as a SageMaker Processing job that
the embedded emulator really runs (ml/emulator/processing.py), as the monitor role, with
IAM enforced: the same reports as on a runner, only the new window read, the marker and
the metric after the job, and a failing job's one line."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.contracts import capture_prefix, dataset_prefix, monitor_marker_key
from ml.artifacts import sse_kms_arguments
from ml.data import CHURN_SCHEMA, generate_churn
from ml.drift.capture import write_capture_jsonl
from ml.drift.monitor import Inputs, run_drift
from ml.emulator import Emulator, bootstrap_stack, credentials_for, emulated_environment
from ml.emulator.server import environment
from tests.conftest import Cli
from tests.ml.training_support import make_snapshot

REGION = "eu-west-1"
ENDPOINT = "mlops-dev-churn-classifier"
CAPTURE = capture_prefix(ENDPOINT)
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops-dev-model-server@sha256:" + "a" * 64


@dataclass(frozen=True)
class Run:
    code: int
    said: str
    job: str | None
    downloaded: list[str]
    caller: str | None


@dataclass
class World:
    root: Path
    first: Run
    second: Run
    bad: Run
    marker: dict
    marker_after_bad: dict
    metrics: list[tuple[float, float]]
    monitor_role: str
    data_bucket: str
    capture_bucket: str
    reference_key: str
    captures: dict[str, Path]


def _upload(s3: Any, bucket: str, key: str, path: Path, key_arn: str) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes(), **sse_kms_arguments(key_arn))


def _drift(cli: Cli, emulator: Emulator, argv: list[str]) -> Run:
    before = set(emulator.processing._runs) if emulator.processing else set()  # type: ignore[union-attr]
    code, said, err = cli("drift", *argv)
    assert emulator.processing is not None
    new = sorted(set(emulator.processing._runs) - before)
    run = emulator.processing.wait(new[0], timeout=5) if new else None
    return Run(
        code,
        said + err,
        new[0] if new else None,
        list(run.downloaded) if run else [],
        run.caller_arn if run else None,
    )


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, graph_of: Callable[[str], Any], cli: Cli
) -> World:
    root = tmp_path_factory.mktemp("processing")
    reference = make_snapshot(root / "data", seed=1).channels["reference"]
    captures = {}
    for hour, seed, shift in (("00", 2, None), ("01", 3, {"age": 12.0})):
        frame = generate_churn(800, seed, shift).select(CHURN_SCHEMA.feature_names)
        captures[hour] = write_capture_jsonl(frame, root / f"{hour}.jsonl", rows_per_record=4)
    bad = root / "bad.jsonl"
    bad.write_text("{not json\n")
    graph = graph_of("dev")
    subnets = [str(r.id) for r in graph.of_type("aws:ec2/subnet:Subnet")
               if r.name.startswith("mlops-dev-private-")]  # fmt: skip
    groups = [str(r.id) for r in graph.of_type("aws:ec2/securityGroup:SecurityGroup")
              if r.name == "mlops-dev-training-sg"]  # fmt: skip
    with Emulator(region=REGION) as emulator, emulated_environment(emulator):
        admin = boto3.session.Session(region_name=REGION)
        clients = {name: admin.client(name) for name in ("kms", "s3", "sagemaker", "iam")}
        stack = bootstrap_stack(graph, **clients)
        s3 = clients["s3"]
        data, capture = stack.buckets["data"], stack.buckets["capture"]
        folder = dataset_prefix("churn-classifier", "abcdef0123456789", "reference")
        for path in sorted(p for p in reference.iterdir() if p.is_file()):  # + stats, schema
            _upload(s3, data, folder + path.name, path, stack.data_key_arn)
        key = f"{CAPTURE}2026/01/01/00/00-00-000-a.jsonl"
        _upload(s3, capture, key, captures["00"], stack.data_key_arn)
        monitor = credentials_for(stack, "monitor", admin.client("sts"))
        argv = ["--reference", f"s3://{data}/{folder}reference.csv",
                "--current", f"s3://{capture}/{CAPTURE}", "--new-only", "--publish-metrics",
                "--on", "sagemaker", "--role", monitor.role_arn, "--image", IMAGE,
                "--kms-key", stack.data_key_arn, "--job-prefix", "mlops-dev",
                *[a for s in subnets for a in ("--subnet", s)],
                *[a for g in groups for a in ("--security-group", g)]]  # fmt: skip
        with environment(monitor.environment()):
            first = _drift(cli, emulator, [*argv, "--out", str(root / "first")])
        _upload(s3, capture, f"{CAPTURE}2026/01/01/01/00-00-000-b.jsonl", captures["01"],
                stack.data_key_arn)  # fmt: skip
        with environment(monitor.environment()):
            second = _drift(cli, emulator, [*argv, "--out", str(root / "second")])
        marker_key = monitor_marker_key(CAPTURE)
        marker = json.loads(s3.get_object(Bucket=capture, Key=marker_key)["Body"].read())
        _upload(s3, capture, f"{CAPTURE}2026/01/01/02/00-00-000-c.jsonl", bad, stack.data_key_arn)
        with environment(monitor.environment()):
            failed = _drift(cli, emulator, [*argv, "--out", str(root / "bad")])
        after_bad = json.loads(s3.get_object(Bucket=capture, Key=marker_key)["Body"].read())
        stats = admin.client("cloudwatch").get_metric_statistics(
            Namespace="mlops/monitoring",
            MetricName="DriftedFeatures",
            Dimensions=[{"Name": "EndpointName", "Value": ENDPOINT}],
            StartTime="2000-01-01T00:00:00Z",
            EndTime="2100-01-01T00:00:00Z",
            Period=86400,
            Statistics=["SampleCount", "Sum"],
        )["Datapoints"]
    return World(
        root, first, second, failed, marker, after_bad,
        [(p["SampleCount"], p["Sum"]) for p in stats], monitor.role_arn, data, capture,
        f"{folder}reference.csv", captures,
    )  # fmt: skip


@pytest.mark.slow  # three processing jobs on the emulator
def test_the_job_runs_as_the_monitor_role(world: World) -> None:
    role = world.monitor_role.rsplit("/", 1)[1]
    assert world.first.caller == f"arn:aws:sts::123456789012:assumed-role/{role}/SageMaker"
    assert world.first.code == 0 and "no drift detected" in world.first.said, world.first.said


@pytest.mark.slow
def test_the_second_job_reads_only_the_new_capture(world: World) -> None:
    captured = [u for u in world.second.downloaded if f"/{CAPTURE}" in u]
    assert captured == [f"s3://{world.capture_bucket}/{CAPTURE}2026/01/01/01/00-00-000-b.jsonl"]
    assert world.marker["last_key"] == f"{CAPTURE}2026/01/01/01/00-00-000-b.jsonl"


@pytest.mark.slow
def test_the_job_writes_the_reports_a_runner_writes(world: World, tmp_path: Path) -> None:
    # oracle: the runner's comparison of the same reference and the same window, local files
    reference = make_snapshot(tmp_path / "data", seed=1).channels["reference"] / "reference.csv"
    local = run_drift(
        Inputs(str(reference), str(world.captures["01"])), tmp_path / "runner", lambda: None
    )
    on_sagemaker = json.loads((world.root / "second" / "drift.json").read_text())
    assert world.second.code == 1 and on_sagemaker["drifted_features"] == ["age"]
    assert on_sagemaker["features"] == local.result.to_json()["features"]
    assert {p.name for p in (world.root / "second").iterdir()} == {
        "drift.md", "drift.json", "drift.html"}  # fmt: skip


@pytest.mark.slow
def test_each_run_publishes_its_drifted_feature_count(world: World) -> None:
    # two judged windows (0 drifted, then 1); the failed job published nothing
    assert world.metrics == [(2.0, 1.0)], world.metrics


@pytest.mark.slow
def test_a_failing_job_is_one_line_and_leaves_the_marker(world: World) -> None:
    assert world.bad.code == 2 and "processing job" in world.bad.said, world.bad.said
    assert "Traceback" not in world.bad.said
    assert world.marker_after_bad == world.marker, "the bad window is read again next time"


def test_without_the_fix_moto_completes_a_processing_job_that_ran_nothing() -> None:
    # moto 5.2.5 on its own: Completed at once, ProcessingResources dropped (the gap the
    # emulator's processing fix closes)
    with mock_aws():
        sagemaker = boto3.client("sagemaker", region_name=REGION)
        sagemaker.create_processing_job(
            ProcessingJobName="j",
            RoleArn="arn:aws:iam::123456789012:role/r",
            AppSpecification={"ImageUri": IMAGE, "ContainerEntrypoint": ["false"]},
            ProcessingResources={"ClusterConfig": {"InstanceCount": 1,
                                 "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 1}},
        )  # fmt: skip
        described = sagemaker.describe_processing_job(ProcessingJobName="j")
    assert described["ProcessingJobStatus"] == "Completed"
    assert "ProcessingResources" not in described
