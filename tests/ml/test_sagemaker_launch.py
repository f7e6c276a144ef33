"""`mlops train --sagemaker`: the CreateTrainingJob request that reaches the SageMaker API
(through the sagemaker SDK v3, against moto), and the training record.

The request is captured with a botocore `provide-client-params` hook on the boto3 session
the launcher is given, so every field is asserted as AWS would receive it.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ml.cli import main
from ml.errors import MlopsError
from ml.training.artifact import load_artifact
from ml.training.record import TrainingRecord, spot_savings_percent
from ml.training.sagemaker import (
    LaunchResult,
    SpotJobSpec,
    StackOutputs,
    describe_record,
    launch,
    upload_channels,
)
from tests.infra.helpers import allows, bucket_name, role_policy
from tests.ml.training_support import make_snapshot, small_params, train_in_process

REGION = "eu-west-1"
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


def _model_tarball(tmp_path: Path) -> bytes:
    """A real trained artifact as SageMaker would upload it (model.tar.gz)."""
    data = make_snapshot(tmp_path / "model-data").root
    model_dir = train_in_process(tmp_path / "model-work", data, small_params(num_boost_round=3))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path in sorted(model_dir.iterdir()):
            archive.add(path, arcname=path.name)
    return buffer.getvalue()


def test_train_sagemaker_cli_records_the_job_and_downloads_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # given the stack's outputs, the emulated AWS, and a job that leaves a model.tar.gz
    # (moto's jobs complete at once without running anything, so the test puts it there)
    _fake_credentials(monkeypatch)
    tarball = _model_tarball(tmp_path)
    with mock_aws():
        session = boto3.session.Session(region_name=REGION)
        stack = _stack(session)

        def job_output(params: dict[str, Any], **_: Any) -> None:
            bucket, _, prefix = params["OutputDataConfig"]["S3OutputPath"][5:].partition("/")
            key = f"{prefix}{params['TrainingJobName']}/output/model.tar.gz"
            session.client("s3").put_object(Bucket=bucket, Key=key, Body=tarball)

        session.events.register("provide-client-params.sagemaker.CreateTrainingJob", job_output)
        monkeypatch.setattr("ml.aws.session", lambda profile=None, region=None: session)
        outputs = tmp_path / "outputs.json"
        outputs.write_text(
            json.dumps(
                {
                    "artifactBucket": stack.artifact_bucket,
                    "dataBucket": stack.data_bucket,
                    "dataKeyArn": stack.data_key_arn,
                    "roles": {"training": ROLE},
                    "repositoryUrl": IMAGE.split(":")[0],
                    "environment": "dev",
                    "region": REGION,
                }
            )
        )
        # when `mlops train --sagemaker` runs
        with pytest.raises(SystemExit) as exited:
            main(
                [
                    "train",
                    "--sagemaker",
                    "--stack-outputs",
                    str(outputs),
                    "--image-tag",
                    "train-1",
                    "--out",
                    str(tmp_path / "out"),
                    "--poll-seconds",
                    "0",
                ]
            )
    # then it launched, waited, recorded the job and fetched the model for validation
    record = json.loads((tmp_path / "out" / "training.json").read_text())
    assert exited.value.code == 0, capsys.readouterr().err
    assert record["mode"] == "sagemaker" and record["status"] == "Completed", record
    assert record["checkpoint_uri"].startswith(f"s3://{stack.artifact_bucket}/checkpoints/"), record
    assert record["reference_uri"].endswith("/reference/reference.csv"), "reference for monitoring"
    assert load_artifact(tmp_path / "out" / "model").metadata.training["iterations"] == 3, "model"
    assert (tmp_path / "out" / "data" / "validation").is_dir(), "channels kept for `mlops validate`"


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
