"""`mlops drift --on sagemaker`: the same comparison as a SageMaker Processing job, for a
window that outgrows a runner.

The runner (the monitor role) does what needs AWS: it reads the marker and lists the new
captures (`ml.drift.window`, `capture_keys`), writes a manifest naming exactly those
objects under the monitor's state prefix, and creates the job with the same image, the
monitor role as the job's role, network isolation and inter-container encryption, the
stack's key for the volume and the output, and the stack's subnets and security group
where it has a VPC (what `training_job_conditions`-like grants require). SageMaker
downloads the reference channel and the manifest's objects, runs `python -m
ml.drift.job` (no AWS call: isolated), and uploads the reports beside the manifest. The
runner then downloads them into `--out`, and only then advances the marker and publishes
the metric (`ml.drift.monitor.finish`): the same reports, the same exit codes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common.errors import MlopsError
from infra.contracts import monitor_state_prefix, s3_uri
from ml.drift.monitor import Inputs, finish, open_inputs_window
from ml.drift.sources import capture_keys, is_s3, split_uri
from ml.drift.window import CaptureWindow

PROCESSING = "/opt/ml/processing"
REFERENCE_DIR = f"{PROCESSING}/input/reference"
CURRENT_DIR = f"{PROCESSING}/input/current"
REPORT_DIR = f"{PROCESSING}/output/report"
REPORTS = ("drift.md", "drift.json", "drift.html")
JOB_COMMAND = ["python", "-m", "ml.drift.job"]
"""The image's interpreter and the job's module: what the container runs."""


@dataclass(frozen=True)
class ProcessingSpec:
    """Where and how the job runs: the stack's role, image, key and network."""

    job_prefix: str
    """`mlops-<stack>`: job names start with it (the monitor may create only those)."""
    role_arn: str
    image: str
    kms_key_arn: str
    instance_type: str = "ml.m5.xlarge"
    volume_gb: int = 30
    max_runtime_seconds: int = 3600
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProcessingRun:
    job_name: str
    drifted: list[str]
    features: int
    reference_rows: int
    current_rows: int
    objects: int
    """Capture objects the job read (the manifest's)."""
    out: Path


def job_name(prefix: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S%f")
    return f"{prefix}-drift-{stamp}"


def processing_request(
    spec: ProcessingSpec,
    name: str,
    inputs: Inputs,
    manifest_uri: str,
    report_uri: str,
) -> dict[str, Any]:
    """The CreateProcessingJob request (the monitor role's grant checks each setting)."""
    reference_folder, _, reference_name = inputs.reference.rpartition("/")
    network: dict[str, Any] = {
        "EnableNetworkIsolation": True,
        "EnableInterContainerTrafficEncryption": True,
    }
    if spec.subnet_ids:
        network["VpcConfig"] = {
            "Subnets": list(spec.subnet_ids),
            "SecurityGroupIds": list(spec.security_group_ids),
        }

    def s3_input(input_name: str, uri: str, kind: str, local: str) -> dict[str, Any]:
        return {
            "InputName": input_name,
            "S3Input": {
                "S3Uri": uri,
                "LocalPath": local,
                "S3DataType": kind,
                "S3InputMode": "File",
                "S3DataDistributionType": "FullyReplicated",
            },
        }

    arguments = [
        f"{REFERENCE_DIR}/{reference_name}",
        CURRENT_DIR,
        REPORT_DIR,
        inputs.thresholds.model_dump_json(),
        ",".join(inputs.categorical),
        ",".join(inputs.exclude),
    ]
    return {
        "ProcessingJobName": name,
        "RoleArn": spec.role_arn,
        "AppSpecification": {
            "ImageUri": spec.image,
            "ContainerEntrypoint": JOB_COMMAND,
            "ContainerArguments": arguments,
        },
        "ProcessingInputs": [
            s3_input("reference", reference_folder + "/", "S3Prefix", REFERENCE_DIR),
            s3_input("current", manifest_uri, "ManifestFile", CURRENT_DIR),
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "report",
                    "S3Output": {
                        "S3Uri": report_uri,
                        "LocalPath": REPORT_DIR,
                        "S3UploadMode": "EndOfJob",
                    },
                }
            ],
            "KmsKeyId": spec.kms_key_arn,
        },
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": spec.instance_type,
                "VolumeSizeInGB": spec.volume_gb,
                "VolumeKmsKeyId": spec.kms_key_arn,
            }
        },
        "NetworkConfig": network,
        "StoppingCondition": {"MaxRuntimeInSeconds": spec.max_runtime_seconds},
    }


def run_on_sagemaker(
    inputs: Inputs,
    out: Path,
    spec: ProcessingSpec,
    clients: Callable[[str], Any],
    poll_seconds: float = 5.0,
    timeout_seconds: float | None = None,
) -> ProcessingRun:
    """Launch, wait, fetch the reports, then advance the marker and publish the metric."""
    from ml.artifacts import S3Object, download_file, sse_kms_arguments
    from ml.aws import aws_errors

    if not (is_s3(inputs.reference) and is_s3(inputs.current)):
        raise MlopsError("--on sagemaker reads from S3: --reference and --current need s3:// URIs")
    if inputs.current.endswith(".csv") or inputs.current.endswith(".jsonl"):
        raise MlopsError(f"{inputs.current}: --on sagemaker takes the capture's s3:// prefix")
    s3 = clients("s3")
    bucket, key = split_uri(inputs.current)
    window = open_inputs_window(inputs, lambda: s3) or CaptureWindow(bucket, key)
    keys = capture_keys(s3, inputs.current, inputs.since_hours, window if inputs.new_only else None)
    name = job_name(spec.job_prefix)
    state = monitor_state_prefix(key) + f"jobs/{name}/"
    common = window.prefix  # the capture prefix, with its trailing /
    manifest = [{"prefix": s3_uri(bucket, common)}, *(k[len(common) :] for k in keys)]
    with aws_errors(f"writing the job's manifest s3://{bucket}/{state}manifest.json"):
        s3.put_object(
            Bucket=bucket,
            Key=f"{state}manifest.json",
            Body=json.dumps(manifest).encode("utf-8"),
            **sse_kms_arguments(spec.kms_key_arn),
        )
    report_uri = s3_uri(bucket, f"{state}report/")
    request = processing_request(
        spec, name, inputs, s3_uri(bucket, f"{state}manifest.json"), report_uri
    )
    sagemaker = clients("sagemaker")
    with aws_errors(f"creating processing job {name}"):
        sagemaker.create_processing_job(**request)
    described = _wait(sagemaker, name, poll_seconds, timeout_seconds or spec.max_runtime_seconds)
    if described["ProcessingJobStatus"] != "Completed":
        why = described.get("ExitMessage") or described.get("FailureReason") or "no reason given"
        raise MlopsError(f"processing job {name} {described['ProcessingJobStatus'].lower()}: {why}")
    out.mkdir(parents=True, exist_ok=True)
    for report in REPORTS:
        download_file(s3, S3Object(bucket, f"{state}report/{report}"), out / report)
    data = json.loads((out / "drift.json").read_text(encoding="utf-8"))
    drifted = list(data["drifted_features"])
    finish(inputs, window, len(drifted), lambda: s3, lambda: clients("cloudwatch"))
    return ProcessingRun(
        name,
        drifted,
        len(data["features"]),
        int(data["summary"]["reference_rows"]),
        int(data["summary"]["current_rows"]),
        len(keys),
        out,
    )


def _wait(sagemaker: Any, name: str, poll_seconds: float, timeout: float) -> dict[str, Any]:
    from ml.aws import aws_errors

    deadline = time.monotonic() + timeout
    while True:
        with aws_errors(f"describing processing job {name}"):
            described = sagemaker.describe_processing_job(ProcessingJobName=name)
        if described["ProcessingJobStatus"] in ("Completed", "Failed", "Stopped"):
            return described
        if time.monotonic() > deadline:
            raise MlopsError(f"processing job {name} still running after {timeout:g}s")
        time.sleep(poll_seconds)
