"""`mlops train --sagemaker`: the entry point as a managed spot training job.

The job is launched with the `sagemaker` SDK's v3 API (`sagemaker.train.ModelTrainer`)
and always carries:

- managed spot training, with `MaxWaitTimeInSeconds` >= `MaxRuntimeInSeconds`;
- a scope: `main` (a release build) or `pull-requests/<n>` (`--pull-request n`); the
  model goes to `s3://<artifact bucket>/training-output/<scope>/<model>/` and checkpoints
  to `checkpoints/<scope>/<model>/<run id>/`, synced from `/opt/ml/checkpoints`, so
  SageMaker restarts an interrupted job where it stopped. The stack's IAM grants each
  scope's roles exactly these prefixes (infra/contracts.py holds the layout);
- the scope's execution role (`roles.training`, or `roles.trainingPr` for pull requests);
  a pull request reads datasets a main build staged and uploads none;
- the stack's data CMK on the training volume and on the output (`model.tar.gz`);
- network isolation (the entry point needs no network: SageMaker moves data, checkpoints
  and the model itself), inter-container traffic encryption, and the stack's private
  subnets and security group when the stack has a VPC: the CI roles may create a
  training job only under IAM conditions that demand all of them;
- tags naming the project, environment, model and the hashes of params and data.

Where the stack's names come from: `pulumi stack output --json > outputs.json` and
`--stack-outputs outputs.json` (keys `artifactBucket`, `dataBucket`, `dataKeyArn`,
`roles.training`, `roles.trainingPr`, `repositoryUrl`, `environment`, `region`, and with a VPC
`privateSubnetIds`, `trainingSecurityGroupId`), or the same values as explicit options.

Two SDK defaults are switched off on purpose. Telemetry: the SDK would report each call
to an AWS endpoint; a hardened pipeline (and the offline emulator) sends nothing it does
not need to. Client-side role validation: the SDK simulates its own generic, wildcard
policy set against the role with `iam:SimulatePrincipalPolicy`, which the least-privilege
CI role does not hold and the emulator does not implement; the stack's role is instead
checked by the policy pack, and SageMaker itself rejects a role that cannot run the job.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common.errors import MlopsError
from infra.contracts import (
    MODEL_ARTIFACT_FILE,
    Env,
    StackOutput,
    checkpoints_prefix,
    dataset_prefix,
    role_output_key,
    s3_uri,
    training_output_prefix,
    training_scope,
)
from ml.artifacts import S3Object, upload_file
from ml.aws import aws_errors, error_code
from ml.data.io import DataSnapshot
from ml.params import Params
from ml.provenance.manifest import build_manifest
from ml.training.checkpoint import RunIdentity
from ml.training.entry import RUN_FILE
from ml.training.record import TrainingRecord, spot_savings_percent, validation_metrics

CHECKPOINT_LOCAL_PATH = "/opt/ml/checkpoints"
MODEL_TARBALL = MODEL_ARTIFACT_FILE
OUTPUT_TARBALL = "output.tar.gz"
"""What SageMaker uploads to `<S3OutputPath><job>/output/`: the model directory and the
output data directory (`SM_OUTPUT_DATA_DIR`)."""
TERMINAL_STATUSES = ("Completed", "Failed", "Stopped")
METRICS = ("accuracy", "roc_auc", "log_loss")
_SDK_CONFIG = {
    "SchemaVersion": "1.0",
    "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}},
}


@dataclass(frozen=True)
class StackOutputs:
    """The names a training job needs from the stack (`pulumi stack output --json`)."""

    artifact_bucket: str
    data_bucket: str
    data_key_arn: str
    training_role_arn: str
    training_pr_role_arn: str | None = None
    """The execution role of pull-request jobs; absent where pull requests do not train."""
    repository_url: str | None = None
    environment: str | None = None
    region: str | None = None
    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()

    @classmethod
    def from_pulumi_json(cls, path: Path) -> StackOutputs:
        try:
            outputs = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise MlopsError(f"{path}: stack outputs file not found") from None
        except json.JSONDecodeError:
            raise MlopsError(
                f"{path}: not JSON (write it with `pulumi stack output --json`)"
            ) from None
        if not isinstance(outputs, dict):
            raise MlopsError(f"{path}: expected a JSON object of stack outputs")
        roles = outputs.get(StackOutput.ROLES)
        roles = roles if isinstance(roles, dict) else {}
        training, training_pr = role_output_key("training"), role_output_key("training-pr")
        names = {
            "artifact_bucket": StackOutput.ARTIFACT_BUCKET,
            "data_bucket": StackOutput.DATA_BUCKET,
            "data_key_arn": StackOutput.DATA_KEY_ARN,
            "training_role_arn": f"{StackOutput.ROLES}.{training}",
        }
        values = {
            field: roles.get(training) if field == "training_role_arn" else outputs.get(name)
            for field, name in names.items()
        }
        missing = [key for key, value in values.items() if not isinstance(value, str) or not value]
        if missing:
            raise MlopsError(
                f"{path}: missing stack output(s) {', '.join(names[m] for m in missing)}"
            )
        group = outputs.get(StackOutput.TRAINING_SECURITY_GROUP_ID)
        return cls(
            **values,
            training_pr_role_arn=roles.get(training_pr),
            repository_url=outputs.get(StackOutput.REPOSITORY_URL),
            environment=outputs.get(StackOutput.ENVIRONMENT),
            region=outputs.get(StackOutput.REGION),
            subnet_ids=tuple(outputs.get(StackOutput.PRIVATE_SUBNET_IDS) or ()),
            security_group_ids=(group,) if group else (),
        )


@dataclass(frozen=True)
class SpotJobSpec:
    """The job's shape; the defaults suit the churn model (seconds of CPU training)."""

    image_uri: str
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    volume_size_gb: int = 30
    max_run_seconds: int = 3600
    max_wait_seconds: int = 7200
    network_isolation: bool = True
    extra_tags: Mapping[str, str] = field(default_factory=dict)

    def check(self) -> None:
        if self.max_run_seconds < 1:
            raise MlopsError(f"max run {self.max_run_seconds}s must be positive")
        if self.max_wait_seconds < self.max_run_seconds:
            raise MlopsError(
                f"max wait ({self.max_wait_seconds}s) must be at least max run "
                f"({self.max_run_seconds}s): spot training waits for capacity within it"
            )
        if self.instance_count != 1:
            raise MlopsError("the LightGBM entry point trains on one instance (instance count 1)")


@dataclass(frozen=True)
class LaunchResult:
    job_name: str
    checkpoint_uri: str
    output_uri: str
    identity: RunIdentity
    reference_uri: str | None = None


def image_uri(stack: StackOutputs, image: str | None, image_tag: str | None) -> str:
    """An explicit `--image`, or the stack's ECR repository with `--image-tag`."""
    if image:
        return image
    if image_tag and stack.repository_url:
        return f"{stack.repository_url}:{image_tag}"
    raise MlopsError(
        "name the training image: --image <uri>, or --image-tag <tag> with the stack's "
        "repositoryUrl output"
    )


def upload_channels(
    s3: Any, snapshot: DataSnapshot, stack: StackOutputs, model: str, stage: bool = True
) -> dict[str, str]:
    """Upload the channels (SSE-KMS, under a prefix named by the training data's hash).

    `train` and `validation` become the job's input channels; `reference` (the production
    reference sample for drift monitoring) is stored beside them when the snapshot has it.
    With `stage=False` (pull requests, whose role reads datasets only) each file must
    already be there, staged by a main build under the same content hash.
    """
    uris = {}
    for channel in [c for c in ("train", "validation", "reference") if c in snapshot.channels]:
        prefix = channel_prefix(model, snapshot.training_data_hash, channel)
        for path in sorted(snapshot.channels[channel].iterdir()):
            if not path.is_file():
                continue
            target = S3Object(stack.data_bucket, f"{prefix}{path.name}")
            if stage:
                upload_file(s3, path, target, stack.data_key_arn)
            else:
                _require_staged(s3, target)
        uris[channel] = s3_uri(stack.data_bucket, prefix)
    return uris


def channel_prefix(model: str, training_data_hash: str, channel: str) -> str:
    """Where a channel lives in the data bucket, named by the training data's hash."""
    digest = training_data_hash.removeprefix("sha256:")[:16]
    return dataset_prefix(model, digest, channel)


def job_uris(
    stack: StackOutputs, model: str, run_id: str, pull_request: int | None = None
) -> tuple[str, str]:
    """(checkpoint URI, output URI) of a job: under its scope's prefixes, which are the
    only ones the scope's execution role may write."""
    scope = training_scope(pull_request)
    checkpoint = f"{checkpoints_prefix(scope)}{model}/{run_id}/"
    output = f"{training_output_prefix(scope)}{model}/"
    return s3_uri(stack.artifact_bucket, checkpoint), s3_uri(stack.artifact_bucket, output)


def _require_staged(s3: Any, target: S3Object) -> None:
    from botocore.exceptions import ClientError

    try:
        s3.head_object(Bucket=target.bucket, Key=target.key)
    except ClientError as error:
        if error_code(error) not in ("404", "NoSuchKey", "NotFound"):
            raise
        raise MlopsError(
            f"s3://{target.bucket}/{target.key} is not staged: pull-request training reads "
            "datasets a main build uploaded and may not upload them; train this data "
            "snapshot with --local, or merge it and let the main build stage it"
        ) from None


def job_tags(
    params: Params, stack: StackOutputs, identity: RunIdentity, extra: Mapping[str, str]
) -> dict[str, str]:
    tags = {
        "project": "mlops",
        "model": params.model,
        "params-hash": identity.params_hash,
        "training-data-hash": identity.data_hash,
    }
    if stack.environment:
        tags["environment"] = stack.environment
    if os.environ.get("GITHUB_SHA"):
        tags["git-commit"] = os.environ["GITHUB_SHA"]
    tags.update(extra)
    return tags


@contextmanager
def _sdk_role_validation_off() -> Iterator[None]:
    previous = os.environ.get("SAGEMAKER_VALIDATE_ROLE")
    os.environ["SAGEMAKER_VALIDATE_ROLE"] = "false"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("SAGEMAKER_VALIDATE_ROLE", None)
        else:
            os.environ["SAGEMAKER_VALIDATE_ROLE"] = previous


def build_trainer(
    *,
    boto_session: Any,
    params: Params,
    spec: SpotJobSpec,
    stack: StackOutputs,
    channels: Mapping[str, str],
    identity: RunIdentity,
    run_id: str,
    pull_request: int | None = None,
) -> tuple[Any, str, str]:
    """A configured `ModelTrainer`, its checkpoint URI and its output URI.

    `pull_request` None is a main build; a number writes under that pull request's prefixes
    and runs as the stack's pull-request execution role.
    """
    from sagemaker.core.helper.session_helper import Session
    from sagemaker.core.training.configs import (
        CheckpointConfig,
        Compute,
        InputData,
        MetricDefinition,
        Networking,
        OutputDataConfig,
        StoppingCondition,
        Tag,
    )
    from sagemaker.train import ModelTrainer

    spec.check()
    role = execution_role(stack, pull_request)
    checkpoint_uri, output_uri = job_uris(stack, params.model, run_id, pull_request)
    networking = Networking(
        enable_network_isolation=spec.network_isolation,
        enable_inter_container_traffic_encryption=True,
        subnets=list(stack.subnet_ids) or None,
        security_group_ids=list(stack.security_group_ids) or None,
    )
    session = Session(boto_session=boto_session, sagemaker_config=_SDK_CONFIG)
    tags = job_tags(params, stack, identity, spec.extra_tags)
    base = (
        f"mlops-{stack.environment}-{params.model}"
        if stack.environment
        else f"mlops-{params.model}"
    )
    with _sdk_role_validation_off():
        trainer = ModelTrainer(
            sagemaker_session=session,
            role=role,
            training_image=spec.image_uri,
            base_job_name=base[:48],
            compute=Compute(
                instance_type=spec.instance_type,
                instance_count=spec.instance_count,
                volume_size_in_gb=spec.volume_size_gb,
                volume_kms_key_id=stack.data_key_arn,
                enable_managed_spot_training=True,
            ),
            stopping_condition=StoppingCondition(
                max_runtime_in_seconds=spec.max_run_seconds,
                max_wait_time_in_seconds=spec.max_wait_seconds,
            ),
            networking=networking,
            output_data_config=OutputDataConfig(
                s3_output_path=output_uri, kms_key_id=stack.data_key_arn
            ),
            checkpoint_config=CheckpointConfig(
                s3_uri=checkpoint_uri, local_path=CHECKPOINT_LOCAL_PATH
            ),
            hyperparameters=params.train.as_hyperparameters(),
            input_data_config=[
                InputData(channel_name=name, data_source=channels[name], content_type="text/csv")
                for name in ("train", "validation")
            ],
            environment={Env.MODEL_NAME: params.model},
            tags=[Tag(key=key, value=value) for key, value in tags.items()],
        )
    trainer = trainer.with_metric_definitions(
        [
            MetricDefinition(name=f"validation:{m}", regex=f"validation:{m}=([0-9.eE+-]+)")
            for m in METRICS
        ]
    )
    return trainer, checkpoint_uri, output_uri


def execution_role(stack: StackOutputs, pull_request: int | None) -> str:
    """The role the job runs as: `training` for main builds, `training-pr` for PRs."""
    if pull_request is None:
        return stack.training_role_arn
    if not stack.training_pr_role_arn:
        raise MlopsError(
            "this stack has no pull-request training role (stack output roles.trainingPr): "
            "set mlops:github.trainOnPullRequests to true, or train without --pull-request"
        )
    return stack.training_pr_role_arn


def launch(
    *,
    boto_session: Any,
    params: Params,
    spec: SpotJobSpec,
    stack: StackOutputs,
    snapshot: DataSnapshot,
    pull_request: int | None = None,
) -> LaunchResult:
    """Upload the data channels and create the spot training job (does not wait).

    A pull request's job (`pull_request` set) uploads nothing: its datasets must be staged.
    """
    execution_role(stack, pull_request)  # refuse before touching S3
    identity = RunIdentity(params.train.params_hash(), snapshot.training_data_hash)
    run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
    with aws_errors(f"staging training data in s3://{stack.data_bucket}"):
        s3 = boto_session.client("s3")
        channels = upload_channels(s3, snapshot, stack, params.model, stage=pull_request is None)
    trainer, checkpoint_uri, output_uri = build_trainer(
        boto_session=boto_session,
        params=params,
        spec=spec,
        stack=stack,
        channels=channels,
        identity=identity,
        run_id=run_id,
        pull_request=pull_request,
    )
    with aws_errors("creating the SageMaker training job"):
        trainer.train(wait=False, logs=False)
    job = trainer._latest_training_job  # the SDK's documented handle on the created job
    if job is None:
        raise MlopsError("the SageMaker SDK created no training job")
    reference = channels.get("reference")
    return LaunchResult(
        job.training_job_name,
        checkpoint_uri,
        output_uri,
        identity,
        f"{reference}reference.csv" if reference else None,
    )


def describe_record(sagemaker: Any, launched: LaunchResult, model: str) -> TrainingRecord:
    """The job's `TrainingRecord` from `DescribeTrainingJob`: status, times, spot savings."""
    with aws_errors(f"describing training job {launched.job_name}"):
        job = sagemaker.describe_training_job(TrainingJobName=launched.job_name)
    training = job.get("TrainingTimeInSeconds")
    billable = job.get("BillableTimeInSeconds")
    return TrainingRecord(
        mode="sagemaker",
        model=model,
        status=job["TrainingJobStatus"],
        job_name=launched.job_name,
        artifact=(job.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
        or f"{launched.output_uri}{launched.job_name}/output/{MODEL_TARBALL}",
        checkpoint_uri=launched.checkpoint_uri,
        params_hash=launched.identity.params_hash,
        training_data_hash=launched.identity.data_hash,
        managed_spot=bool(job.get("EnableManagedSpotTraining")),
        training_time_seconds=training,
        billable_time_seconds=billable,
        spot_savings_percent=spot_savings_percent(training, billable),
        failure_reason=job.get("FailureReason"),
        reference_uri=launched.reference_uri,
    )


def fetch_model(s3: Any, record: TrainingRecord, out: Path) -> Path:
    """Download the job's `model.tar.gz` and extract it into `out` (replacing it), so the
    candidate can be validated and signed like a local one."""
    import shutil

    with tempfile.TemporaryDirectory(prefix="mlops-model-") as tmp:
        tarball = _download(s3, record.artifact, Path(tmp, "model.tar.gz"), "the trained model")
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        _extract(tarball, out, record.artifact)
    return out


def fetch_run_facts(s3: Any, record: TrainingRecord) -> dict[str, Any]:
    """The entry point's `training-run.json` from the job's `output.tar.gz` (SageMaker
    uploads `SM_OUTPUT_DATA_DIR` there): rounds resumed from, checkpoints written."""
    uri = record.artifact.removesuffix(MODEL_TARBALL) + OUTPUT_TARBALL
    with tempfile.TemporaryDirectory(prefix="mlops-output-") as tmp:
        tarball = _download(s3, uri, Path(tmp, OUTPUT_TARBALL), "the job's output data")
        _extract(tarball, Path(tmp, "output"), uri)
        path = Path(tmp, "output", RUN_FILE)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise MlopsError(f"{uri}: holds no readable {RUN_FILE}") from None


def _download(s3: Any, uri: str, destination: Path, what: str) -> Path:
    from ml.artifacts import download_file, parse_s3_uri

    with aws_errors(f"downloading {what} {uri}"):
        return download_file(s3, parse_s3_uri(uri), destination)


def _extract(tarball: Path, out: Path, uri: str) -> None:
    import tarfile

    try:
        with tarfile.open(tarball, "r:gz") as archive:
            archive.extractall(out, filter="data")  # no absolute paths, links out, devices
    except (tarfile.TarError, OSError) as error:
        raise MlopsError(f"{uri}: not a readable tar.gz ({error})") from None


def train_on_sagemaker(
    *,
    boto_session: Any,
    params: Params,
    spec: SpotJobSpec,
    stack: StackOutputs,
    snapshot: DataSnapshot,
    out: Path,
    wait: bool = True,
    poll_seconds: float = 30.0,
    pull_request: int | None = None,
    say: Callable[[str], None] = lambda line: None,
) -> TrainingRecord:
    """`mlops train --sagemaker`: launch, wait, download the model to `<out>/model`, and
    write `<out>/training.json` (times, spot savings, the round a spot-interrupted job
    resumed from). A Failed or Stopped job raises `MlopsError` (exit 1) with its reason,
    after its record is written."""
    from ml import aws

    launched = launch(
        boto_session=boto_session,
        params=params,
        spec=spec,
        stack=stack,
        snapshot=snapshot,
        pull_request=pull_request,
    )
    say(f"launched spot training job {launched.job_name}; checkpoints {launched.checkpoint_uri}")
    record = wait_for_job(
        aws.client("sagemaker", boto_session),
        launched,
        params.model,
        poll_seconds=poll_seconds,
        timeout_seconds=None if wait else 0,
        on_status=lambda status: say(f"job status: {status}"),
    )
    if record.status == "Completed":
        s3 = aws.client("s3", boto_session)
        fetch_model(s3, record, out / "model")
        facts = fetch_run_facts(s3, record)
        record = record.model_copy(
            update={"resumed_from_iteration": facts.get("resumed_from_iteration")}
        )
        say(f"downloaded the trained model to {out / 'model'}")
        metadata = json.loads((out / "model" / "model.json").read_text(encoding="utf-8"))
        record = record.model_copy(
            update={
                "hyperparameters": params.train.model_dump(mode="json"),
                "metrics": validation_metrics(metadata),
                "artifact_digest": build_manifest(out / "model").digest(),
            }
        )
        record.write(out)  # a tracking failure loses no training
        record = record.tracked()
        say(f"tracked as {record.tracking.describe() if record.tracking else 'nothing'}")
    path = record.write(out)
    savings = (
        "unknown" if record.spot_savings_percent is None else f"{record.spot_savings_percent:.1f}%"
    )
    say(
        f"{record.job_name}: {record.status}; training time "
        f"{_seconds(record.training_time_seconds)}, billable "
        f"{_seconds(record.billable_time_seconds)}, spot savings {savings}; record {path}"
    )
    if record.status in ("Failed", "Stopped"):
        reason = record.failure_reason or "no reason given"
        raise MlopsError(
            f"training job {record.job_name} {record.status.lower()}: {reason}", exit_code=1
        )
    return record


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g}s"


def wait_for_job(
    sagemaker: Any,
    launched: LaunchResult,
    model: str,
    poll_seconds: float = 30.0,
    timeout_seconds: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_status: Callable[[str], None] = lambda status: None,
) -> TrainingRecord:
    """Poll until the job is Completed, Failed or Stopped; returns its record."""
    waited = 0.0
    last = ""
    while True:
        record = describe_record(sagemaker, launched, model)
        if record.status != last:
            on_status(record.status)
            last = record.status
        if record.status in TERMINAL_STATUSES:
            return record
        if timeout_seconds is not None and waited >= timeout_seconds:
            return record  # still running: the record says so
        sleep(poll_seconds)
        waited += poll_seconds
