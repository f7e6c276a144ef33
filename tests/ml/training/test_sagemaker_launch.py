"""`mlops train --sagemaker`: the CreateTrainingJob request that reaches the SageMaker API
(through the sagemaker SDK v3, against moto), the training record, and jobs the embedded
emulator really runs (ml/emulator/training.py) as the stack's training role.

The request is captured with a botocore `provide-client-params` hook on the boto3 session
the launcher is given, so every field is asserted as AWS would receive it. The emulated
jobs' oracle is an uninterrupted local run of the same entry point on the same data.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from common.errors import MlopsError
from ml.artifacts import parse_s3_uri
from ml.data.io import snapshot_of
from ml.emulator import Emulator, bootstrap_stack, credentials_for, emulated_environment
from ml.emulator.server import environment
from ml.training.record import TrainingRecord, spot_savings_percent
from ml.training.sagemaker import (
    LaunchResult,
    SpotJobSpec,
    StackOutputs,
    describe_record,
    launch,
    train_on_sagemaker,
    upload_channels,
)
from tests.conftest import Cli
from tests.infra.helpers import allows, bucket_name, role_policy
from tests.ml.training_support import make_snapshot, small_params, train_in_process

REGION = "eu-west-1"
ACCOUNT = "123456789012"
ROLE = "arn:aws:iam::123456789012:role/mlops-dev-training"
PR_ROLE = "arn:aws:iam::123456789012:role/mlops-dev-training-pr"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/mlops-dev-model-server:train-1"
# The SDK's ModelTrainer imports its own deprecated `sagemaker.train.configs` shim.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:sagemaker.train.model_trainer")


@dataclass
class Launched:
    """What one launch against moto left behind, collected before the mock stops."""

    request: dict[str, Any]
    result: LaunchResult
    stack: StackOutputs
    uploads: dict[str, dict[str, Any]]
    record: TrainingRecord


def _fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def _stack(session: boto3.session.Session) -> StackOutputs:
    key = session.client("kms").create_key(Description="data CMK")["KeyMetadata"]["Arn"]
    s3 = session.client("s3")
    for bucket in ("mlops-dev-artifacts", "mlops-dev-data"):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    return StackOutputs(
        artifact_bucket="mlops-dev-artifacts",
        data_bucket="mlops-dev-data",
        data_key_arn=key,
        training_role_arn=ROLE,
        training_pr_role_arn=PR_ROLE,
        environment="dev",
        region=REGION,
        subnet_ids=("subnet-0a", "subnet-0b"),
        security_group_ids=("sg-0train",),
    )


def _launch(tmp_path_factory: pytest.TempPathFactory, pull_request: int | None) -> Launched:
    """Launch against moto; for a pull request, a main build has staged the data first."""
    with pytest.MonkeyPatch.context() as monkeypatch, mock_aws():
        _fake_credentials(monkeypatch)
        session = boto3.session.Session(region_name=REGION)
        captured: list[dict[str, Any]] = []
        session.events.register(
            "provide-client-params.sagemaker.CreateTrainingJob",
            lambda params, **_: captured.append(json.loads(json.dumps(params, default=str))),
        )
        stack = _stack(session)
        snapshot = make_snapshot(tmp_path_factory.mktemp("data"))
        s3 = session.client("s3")
        if pull_request is not None:
            upload_channels(s3, snapshot, stack, small_params().model)
        staged = {
            item["Key"] for item in s3.list_objects_v2(Bucket=stack.data_bucket).get("Contents", [])
        }
        spec = SpotJobSpec(
            image_uri=IMAGE,
            max_run_seconds=1800,
            max_wait_seconds=3600,
            extra_tags={"team": "churn"},
        )
        result = launch(
            boto_session=session,
            params=small_params(),
            spec=spec,
            stack=stack,
            snapshot=snapshot,
            pull_request=pull_request,
        )
        assert len(captured) == 1, "exactly one CreateTrainingJob call"
        uploads = {
            item["Key"]: s3.head_object(Bucket=stack.data_bucket, Key=item["Key"])
            for item in s3.list_objects_v2(Bucket=stack.data_bucket)["Contents"]
            if item["Key"] not in staged
        }
        record = describe_record(session.client("sagemaker"), result, "churn-classifier")
    return Launched(captured[0], result, stack, uploads, record)


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory) -> Launched:
    """A main build's launch."""
    return _launch(tmp_path_factory, None)


@pytest.fixture(scope="module")
def launched_pr(tmp_path_factory: pytest.TempPathFactory) -> Launched:
    """Pull request 7's launch."""
    return _launch(tmp_path_factory, 7)


def test_launch_uses_managed_spot_with_wait_at_least_runtime(launched: Launched) -> None:
    request = launched.request
    stopping = request["StoppingCondition"]
    assert request["EnableManagedSpotTraining"] is True, "spot must be on"
    assert stopping == {"MaxRuntimeInSeconds": 1800, "MaxWaitTimeInSeconds": 3600}, stopping
    assert stopping["MaxWaitTimeInSeconds"] >= stopping["MaxRuntimeInSeconds"], "SageMaker's rule"


def test_launch_checkpoints_under_the_artifact_bucket_checkpoints_prefix(
    launched: Launched,
) -> None:
    checkpoint = launched.request["CheckpointConfig"]
    assert checkpoint["S3Uri"].startswith(
        "s3://mlops-dev-artifacts/checkpoints/main/churn-classifier/"
    ), checkpoint
    assert checkpoint["LocalPath"] == "/opt/ml/checkpoints", "where the entry point checkpoints"
    assert checkpoint["S3Uri"] == launched.result.checkpoint_uri, "the record names the same URI"


def test_launch_encrypts_volume_and_output_with_the_stack_key(launched: Launched) -> None:
    request = launched.request
    key = launched.stack.data_key_arn
    assert request["ResourceConfig"]["VolumeKmsKeyId"] == key, "training volume under the CMK"
    assert request["OutputDataConfig"]["KmsKeyId"] == key, "model output under the CMK"
    assert (
        request["OutputDataConfig"]["S3OutputPath"]
        == "s3://mlops-dev-artifacts/training-output/main/churn-classifier/"
    )


def test_launch_runs_as_the_training_role_isolated_in_the_stack_vpc(launched: Launched) -> None:
    request = launched.request
    assert request["RoleArn"] == ROLE, "the stack's training execution role"
    assert request["EnableNetworkIsolation"] is True, "no network for the container"
    assert request["EnableInterContainerTrafficEncryption"] is True, "IAM demands it"
    assert request["VpcConfig"] == {
        "SecurityGroupIds": ["sg-0train"],
        "Subnets": ["subnet-0a", "subnet-0b"],
    }


def test_launch_tags_the_job(launched: Launched) -> None:
    tags = {tag["Key"]: tag["Value"] for tag in launched.request["Tags"]}
    params = small_params().train
    assert tags["project"] == "mlops" and tags["environment"] == "dev", tags
    assert tags["model"] == "churn-classifier" and tags["team"] == "churn", tags
    assert tags["params-hash"] == params.params_hash(), "hyperparameters named by hash"
    assert tags["training-data-hash"] == launched.result.identity.data_hash, "data named by hash"


def test_launch_passes_image_hyperparameters_and_channels(launched: Launched) -> None:
    request = launched.request
    channels = {
        c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"]
        for c in request["InputDataConfig"]
    }
    assert request["AlgorithmSpecification"]["TrainingImage"] == IMAGE, "the training image"
    assert request["HyperParameters"] == small_params().train.as_hyperparameters(), (
        "params as strings"
    )
    assert set(channels) == {"train", "validation"}, channels
    assert all(
        uri.startswith("s3://mlops-dev-data/datasets/churn-classifier/")
        for uri in channels.values()
    )
    assert request["ResourceConfig"]["InstanceCount"] == 1, "one instance"


def test_launch_uploads_channels_encrypted_with_the_stack_key(launched: Launched) -> None:
    names = sorted(
        key.rsplit("/", 2)[-2] + "/" + key.rsplit("/", 1)[-1] for key in launched.uploads
    )
    assert names == [
        "reference/reference.csv",
        "reference/reference.csv.stats.json",
        "reference/reference.csv.stats.npy",
        "reference/schema.json",
        "train/schema.json",
        "train/train.csv",
        "validation/schema.json",
        "validation/validation.csv",
    ], names
    for key, head in launched.uploads.items():
        assert head["ServerSideEncryption"] == "aws:kms", f"{key}: SSE-KMS"
        assert head["SSEKMSKeyId"] == launched.stack.data_key_arn, f"{key}: the stack's CMK"


def test_record_reports_unknown_savings_when_billable_time_is_missing(launched: Launched) -> None:
    # moto's jobs complete at once and report no TrainingTimeInSeconds/BillableTimeInSeconds
    record = launched.record
    assert record.status == "Completed" and record.managed_spot, record
    assert record.spot_savings_percent is None, "unknown, never guessed"
    assert record.artifact.endswith(f"{launched.result.job_name}/output/model.tar.gz"), (
        record.artifact
    )


def test_spot_savings_from_billable_and_training_time() -> None:
    assert spot_savings_percent(1000, 300) == 70.0, "70% of the time was not billed"
    assert spot_savings_percent(None, 300) is None and spot_savings_percent(0, 0) is None, "unknown"


def test_spec_refuses_max_wait_below_max_run() -> None:
    with pytest.raises(MlopsError, match=r"max wait \(600s\) must be at least max run \(3600s\)"):
        SpotJobSpec(image_uri=IMAGE, max_run_seconds=3600, max_wait_seconds=600).check()


def test_stack_outputs_read_from_pulumi_json(tmp_path: Path) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(
        json.dumps(
            {
                "artifactBucket": "a",
                "dataBucket": "d",
                "dataKeyArn": "arn:aws:kms:eu-west-1:1:key/k",
                "roles": {"training": ROLE},
                "repositoryUrl": "r.ecr/x",
                "environment": "dev",
                "privateSubnetIds": ["s1"],
                "trainingSecurityGroupId": "sg1",
            }
        )
    )
    stack = StackOutputs.from_pulumi_json(path)
    assert (stack.artifact_bucket, stack.training_role_arn, stack.subnet_ids) == (
        "a",
        ROLE,
        ("s1",),
    ), stack
    assert stack.security_group_ids == ("sg1",), "the training security group"


def test_stack_outputs_missing_keys_are_named(tmp_path: Path) -> None:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"artifactBucket": "a"}))
    with pytest.raises(
        MlopsError, match=r"missing stack output\(s\) dataBucket, dataKeyArn, roles.training"
    ):
        StackOutputs.from_pulumi_json(path)


def test_pull_request_launch_writes_under_its_prefixes_as_the_pr_role(
    launched_pr: Launched,
) -> None:
    request = launched_pr.request
    assert request["RoleArn"] == PR_ROLE, "a PR job runs as training-pr, never as training"
    assert request["OutputDataConfig"]["S3OutputPath"] == (
        "s3://mlops-dev-artifacts/training-output/pull-requests/7/churn-classifier/"
    )
    assert request["CheckpointConfig"]["S3Uri"].startswith(
        "s3://mlops-dev-artifacts/checkpoints/pull-requests/7/churn-classifier/"
    ), request["CheckpointConfig"]
    assert launched_pr.uploads == {}, "a PR uploads no datasets (its role reads them only)"


def test_pull_request_launch_without_staged_data_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_credentials(monkeypatch)
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        stack = _stack(session)
        with pytest.raises(MlopsError) as raised:
            launch(
                boto_session=session,
                params=small_params(),
                spec=SpotJobSpec(image_uri=IMAGE),
                stack=stack,
                snapshot=make_snapshot(tmp_path),
                pull_request=7,
            )
    message = str(raised.value)
    assert "\n" not in message and message.startswith("s3://mlops-dev-data/datasets/"), message
    assert "is not staged" in message, message


def test_pull_request_launch_on_a_stack_without_pr_role_is_refused(tmp_path: Path) -> None:
    stack = StackOutputs("a", "d", "arn:aws:kms:eu-west-1:1:key/k", ROLE)
    with pytest.raises(MlopsError, match=r"no pull-request training role \(stack output"):
        launch(
            boto_session=None,
            params=small_params(),
            spec=SpotJobSpec(image_uri=IMAGE),
            stack=stack,
            snapshot=make_snapshot(tmp_path),
            pull_request=7,
        )


def _arn(graph: Any, uri: str, bucket_role: str) -> str:
    """The S3 object ARN of a launcher URI's key, in the rendered stack's bucket."""
    key = uri.removeprefix("s3://").partition("/")[2]
    return f"arn:aws:s3:::{bucket_name(graph, bucket_role)}/{key}"


@pytest.mark.parametrize(
    ("scope", "execution", "launcher", "other_execution"),
    [("main", "training", "build", "training-pr"), ("pr", "training-pr", "train", "training")],
)
def test_launcher_uris_are_allowed_by_the_rendered_role_policies(
    graph_of: Any,
    request: pytest.FixtureRequest,
    scope: str,
    execution: str,
    launcher: str,
    other_execution: str,
) -> None:
    # given the URIs the launcher really built and the dev stack's rendered policies
    launched = request.getfixturevalue("launched" if scope == "main" else "launched_pr")
    graph = graph_of("dev")
    job = launched.request
    output = (
        f"{job['OutputDataConfig']['S3OutputPath']}{job['TrainingJobName']}/output/model.tar.gz"
    )
    checkpoint = f"{job['CheckpointConfig']['S3Uri']}checkpoint-5.json"
    channels = [c["DataSource"]["S3DataSource"]["S3Uri"] for c in job["InputDataConfig"]]
    # then the job's execution role may write its model and checkpoints and read its data,
    runs_as = role_policy(graph, execution)
    for uri in (output, checkpoint):
        assert allows(runs_as, "s3:PutObject", _arn(graph, uri, "artifacts")), f"{execution}: {uri}"
    for uri in channels:
        assert allows(runs_as, "s3:GetObject", _arn(graph, f"{uri}train.csv", "data")), uri
    # the CI role that launched it may read the model back and (main only) stage datasets,
    ci = role_policy(graph, launcher)
    assert allows(ci, "s3:GetObject", _arn(graph, output, "artifacts")), f"{launcher}: {output}"
    for key in launched.uploads:
        assert allows(ci, "s3:PutObject", _arn(graph, f"s3://d/{key}", "data")), key
    # and the other scope's execution role may not write here.
    other = role_policy(graph, other_execution)
    assert not allows(other, "s3:PutObject", _arn(graph, output, "artifacts")), other_execution
    assert not allows(other, "s3:PutObject", _arn(graph, checkpoint, "artifacts")), other_execution


# --- jobs the emulator runs: launched by the real launcher as gh-build -------------------

JOB_PARAMS = small_params(num_boost_round=100, checkpoint_every=5)
"""Long enough that a spot interruption after the first checkpoint lands mid-run."""


@dataclass
class EmulatedJob:
    record: TrainingRecord
    described: dict[str, Any]
    run: Any
    """The emulator's `JobRun`: attempts, interruptions, the caller its S3 calls used."""
    tarball: bytes
    error: str | None = None


@dataclass
class EmulatedJobs:
    local: dict[str, str]
    """sha256 of model.txt and model.json of an uninterrupted local run."""
    training_role: str
    whole: EmulatedJob
    """Launched by `mlops train --sagemaker` itself."""
    interrupted: EmulatedJob
    failing: EmulatedJob
    cli_exit: int
    cli_record: dict[str, Any]
    cli_output: str


def _digests(directory: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def _tar_digests(tarball: bytes) -> dict[str, str]:
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        return {
            member.name: hashlib.sha256(archive.extractfile(member).read()).hexdigest()
            for member in sorted(archive.getmembers(), key=lambda m: m.name)
        }


def _launcher(
    session: boto3.session.Session, stack: StackOutputs, data: Path
) -> Callable[[Path], TrainingRecord]:
    """`train_on_sagemaker` (what `mlops train --sagemaker` runs) with the job's params."""

    def train(out: Path) -> TrainingRecord:
        return train_on_sagemaker(
            boto_session=session,
            params=JOB_PARAMS,
            spec=SpotJobSpec(image_uri=IMAGE),
            stack=stack,
            snapshot=snapshot_of(data),
            out=out,
            poll_seconds=0.2,
        )

    return train


def _emulated_job(
    emulator: Emulator,
    session: boto3.session.Session,
    out: Path,
    train: Callable[[Path], object],
) -> EmulatedJob:
    """Run `train(out)` against the emulator; what the job left, as AWS shows it."""
    error = None
    try:
        train(out)
    except MlopsError as failed:
        error = str(failed)
    record = TrainingRecord.read(out / "training.json")
    assert emulator.training is not None and record.job_name is not None
    run = emulator.training.wait(record.job_name, timeout=5)
    described = session.client("sagemaker").describe_training_job(TrainingJobName=record.job_name)
    tarball = b""
    if described["TrainingJobStatus"] == "Completed":
        target = parse_s3_uri(described["ModelArtifacts"]["S3ModelArtifacts"])
        tarball = session.client("s3").get_object(Bucket=target.bucket, Key=target.key)["Body"]
        tarball = tarball.read()
    return EmulatedJob(record, described, run, tarball, error)


def _command(cli: Cli, argv: list[str]) -> Callable[[Path], object]:
    """`mlops <argv> --out <out>`; its exit code and what it printed go to `said`."""

    def run(out: Path) -> None:
        code, said, _ = cli(*argv, "--out", out)
        (out / "said.txt").write_text(f"{code}\n{said}")

    return run


@pytest.fixture(scope="module")
def emulated(
    tmp_path_factory: pytest.TempPathFactory, graph_of: Callable[[str], Any], cli: Cli
) -> EmulatedJobs:
    """Three jobs on the emulator with the dev stack bootstrapped, launched as gh-build:
    `mlops train --sagemaker` itself, a job interrupted after its first checkpoint, and
    one whose entry point fails."""
    root = tmp_path_factory.mktemp("emulated")
    data = make_snapshot(root / "data").root
    local = _digests(train_in_process(root / "local", data, JOB_PARAMS))
    broken = make_snapshot(root / "broken", seed=2).root
    schema = json.loads((broken / "validation" / "schema.json").read_text())
    schema["label"] = "no_such_column"
    (broken / "validation" / "schema.json").write_text(json.dumps(schema))
    params_file = root / "params.yaml"
    params_file.write_text(yaml.safe_dump(JOB_PARAMS.model_dump(mode="json"), sort_keys=False))
    with Emulator(region=REGION) as emulator, emulated_environment(emulator):
        admin = boto3.session.Session(region_name=REGION)
        clients = {name: admin.client(name) for name in ("kms", "s3", "sagemaker", "iam")}
        emulated_stack = bootstrap_stack(graph_of("dev"), **clients)
        stack = StackOutputs(
            artifact_bucket=emulated_stack.artifact_bucket,
            data_bucket=emulated_stack.buckets["data"],
            data_key_arn=emulated_stack.data_key_arn,
            training_role_arn=emulated_stack.roles["training"],
            repository_url=IMAGE.split(":")[0],
            environment="dev",
            region=REGION,
        )
        outputs = root / "outputs.json"
        outputs.write_text(
            json.dumps(
                {
                    **emulated_stack.outputs(),
                    "roles": {"training": stack.training_role_arn},
                    "repositoryUrl": stack.repository_url,
                }
            )
        )
        build = credentials_for(emulated_stack, "build", admin.client("sts"))
        with environment(build.environment()):
            session = boto3.session.Session(region_name=REGION)
            argv = ["train", "--sagemaker", "--stack-outputs", str(outputs), "--image-tag",
                    "train-1", "--params", str(params_file), "--data", str(data),
                    "--poll-seconds", "0.2"]  # fmt: skip
            whole = _emulated_job(emulator, session, root / "whole", _command(cli, argv))
            assert emulator.training is not None
            emulator.training.interrupt_next_job(capacity_wait_seconds=1.0)
            train = _launcher(session, stack, data)
            interrupted = _emulated_job(emulator, session, root / "interrupted", train)
            failing = _launcher(session, stack, broken)
            failed = _emulated_job(emulator, session, root / "failing", failing)
    code, said = (root / "whole" / "said.txt").read_text().split("\n", 1)
    return EmulatedJobs(
        local=local,
        training_role=stack.training_role_arn,
        whole=whole,
        interrupted=interrupted,
        failing=failed,
        cli_exit=int(code),
        cli_record=json.loads((root / "whole" / "training.json").read_text()),
        cli_output=said,
    )


@pytest.mark.slow  # three jobs, six training processes
def test_emulated_job_writes_the_bytes_of_an_uninterrupted_local_run(
    emulated: EmulatedJobs,
) -> None:
    job = emulated.whole
    assert job.described["TrainingJobStatus"] == "Completed", job.described.get("FailureReason")
    assert _tar_digests(job.tarball) == emulated.local, "model.tar.gz holds the local run's files"
    assert job.record.resumed_from_iteration is None, "it ran through"


@pytest.mark.slow  # three jobs, six training processes
def test_emulated_job_reports_times_and_bills_all_of_an_uninterrupted_run(
    emulated: EmulatedJobs,
) -> None:
    described = emulated.whole.described
    assert described["TrainingStartTime"] <= described["TrainingEndTime"], described
    assert described["TrainingTimeInSeconds"] >= 1, "whole seconds, rounded up"
    assert described["BillableTimeInSeconds"] == described["TrainingTimeInSeconds"], (
        "no interruption: every second ran on an instance"
    )
    record = emulated.whole.record
    assert record.spot_savings_percent == 0.0, record


@pytest.mark.slow  # three jobs, six training processes
def test_interrupted_job_resumes_from_its_s3_checkpoints_to_the_same_bytes(
    emulated: EmulatedJobs,
) -> None:
    # given a job interrupted (SIGTERM) once its first checkpoint was in S3
    job = emulated.interrupted
    assert (job.run.attempts, job.run.interruptions) == (2, 1), job.run
    statuses = [t["Status"] for t in job.described["SecondaryStatusTransitions"]]
    assert statuses.count("Training") == 2 and "Interrupted" in statuses, statuses
    # then the second instance started from the checkpoints the first one synced
    assert any(name.startswith("checkpoint-") for name in job.run.restored), job.run.restored
    assert 0 < (job.record.resumed_from_iteration or 0) < 100, job.record
    # and model.tar.gz is byte for byte the uninterrupted job's
    assert job.described["TrainingJobStatus"] == "Completed", job.described.get("FailureReason")
    assert (
        hashlib.sha256(job.tarball).hexdigest()
        == hashlib.sha256(emulated.whole.tarball).hexdigest()
    ), "sha256 of model.tar.gz must not depend on the interruption"
    assert _tar_digests(job.tarball) == emulated.local, "and equal a local uninterrupted run's"


@pytest.mark.slow  # three jobs, six training processes
def test_interrupted_job_bills_less_than_its_training_time(emulated: EmulatedJobs) -> None:
    described = emulated.interrupted.described
    training, billable = described["TrainingTimeInSeconds"], described["BillableTimeInSeconds"]
    assert billable < training, f"waiting for spot capacity is not billed ({billable}/{training})"
    record = emulated.interrupted.record
    assert record.spot_savings_percent == spot_savings_percent(training, billable), record
    assert record.spot_savings_percent > 0, record


@pytest.mark.slow  # three jobs, six training processes
def test_failing_entry_point_fails_the_job_with_its_reason(emulated: EmulatedJobs) -> None:
    job = emulated.failing
    reason = job.described.get("FailureReason", "")
    assert job.described["TrainingJobStatus"] == "Failed", job.described
    assert reason.startswith("AlgorithmError: ") and "no_such_column" in reason, reason
    assert job.error is not None and job.error.endswith(reason), "the launcher fails with it"
    assert job.tarball == b"", "no model.tar.gz"


@pytest.mark.slow  # three jobs, six training processes
def test_emulated_job_reads_and_writes_s3_as_its_execution_role(emulated: EmulatedJobs) -> None:
    role_name = emulated.training_role.rsplit("/", 1)[1]
    for job in (emulated.whole, emulated.interrupted, emulated.failing):
        assert job.run.caller_arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/SageMaker", (
            f"{job.run.name}: S3 calls as the job's RoleArn, not as the launcher (gh-build)"
        )


@pytest.mark.slow  # three jobs, six training processes
def test_train_sagemaker_cli_on_the_emulator_records_times_and_downloads_the_model(
    emulated: EmulatedJobs,
) -> None:
    record = emulated.cli_record
    assert emulated.cli_exit == 0, emulated.cli_output
    assert record["mode"] == "sagemaker" and record["status"] == "Completed", record
    assert record["training_time_seconds"] >= 1 and record["billable_time_seconds"] >= 1, record
    assert record["spot_savings_percent"] == 0.0, "uninterrupted: nothing saved, and known"
    assert record["reference_uri"].endswith("/reference/reference.csv"), "for drift monitoring"
    assert "spot savings 0.0%" in emulated.cli_output, emulated.cli_output
