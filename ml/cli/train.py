"""`mlops train --local | --sagemaker`: train the model the params file describes."""

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from common.errors import MlopsError
from infra.contracts import (
    MAIN_SCOPE,
    PULL_REQUEST_SCOPE,
    checkpoints_prefix,
    training_output_prefix,
)
from ml.cli.usage import LazyConsole, existing_path
from ml.paths import DEFAULT_PARAMS

_PR_SCOPE = f"{PULL_REQUEST_SCOPE}/N"

if TYPE_CHECKING:
    from ml.params import Params
    from ml.training.sagemaker import SpotJobSpec, StackOutputs

console: Any = LazyConsole(highlight=False, soft_wrap=True)


def _tags(values: list[str]) -> dict[str, str]:
    tags = {}
    for value in values:
        key, sep, tag_value = value.partition("=")
        if not sep or not key:
            raise MlopsError(f"--tag {value!r}: expected key=value")
        tags[key] = tag_value
    return tags


def train(
    local: Annotated[
        bool, typer.Option("--local", help="Run the entry point here, as a process.")
    ] = False,
    sagemaker: Annotated[
        bool, typer.Option("--sagemaker", help="Launch a managed spot training job on SageMaker.")
    ] = False,
    params: Annotated[
        Path,
        typer.Option(
            "--params", callback=existing_path, help="Params file (hyperparameters, data)."
        ),
    ] = DEFAULT_PARAMS,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data",
            callback=existing_path,
            help="Existing data channels (train/, validation/); default: "
            "generate the params file's snapshot into <out>/data.",
        ),
    ] = None,
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Work directory: data, model, checkpoints, training.json."
        ),
    ] = Path("build/train"),
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Local: delete old checkpoints instead of resuming.")
    ] = False,
    stack_outputs: Annotated[
        Path | None,
        typer.Option(
            "--stack-outputs",
            callback=existing_path,
            help="SageMaker: `pulumi stack output --json` of the stack.",
        ),
    ] = None,
    artifact_bucket: Annotated[
        str | None, typer.Option(help="SageMaker: artifact bucket (checkpoints, model).")
    ] = None,
    data_bucket: Annotated[
        str | None, typer.Option(help="SageMaker: data bucket for the channels.")
    ] = None,
    kms_key: Annotated[
        str | None, typer.Option(help="SageMaker: the stack's data CMK ARN.")
    ] = None,
    role: Annotated[
        str | None, typer.Option(help="SageMaker: training execution role ARN.")
    ] = None,
    image: Annotated[str | None, typer.Option(help="SageMaker: training image URI.")] = None,
    image_tag: Annotated[
        str | None, typer.Option(help="SageMaker: image tag in the stack's ECR repository.")
    ] = None,
    instance_type: Annotated[str, typer.Option(help="SageMaker: instance type.")] = "ml.m5.large",
    max_run: Annotated[int, typer.Option(help="SageMaker: max training seconds.")] = 3600,
    max_wait: Annotated[
        int,
        typer.Option(help="SageMaker: max seconds incl. waiting for spot capacity (>= max-run)."),
    ] = 7200,
    network_isolation: Annotated[
        bool,
        typer.Option(
            "--network-isolation/--no-network-isolation",
            help="SageMaker: run the container without network access.",
        ),
    ] = True,
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", help="SageMaker: extra job tag key=value (repeatable)."),
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="SageMaker: wait for the job to end.")
    ] = True,
    poll_seconds: Annotated[
        float, typer.Option(help="SageMaker: seconds between status checks.")
    ] = 30.0,
    region: Annotated[
        str | None, typer.Option(help="SageMaker: AWS region (default: AWS_REGION).")
    ] = None,
    pull_request: Annotated[
        int | None,
        typer.Option(
            "--pull-request",
            min=1,
            help=f"SageMaker: train for pull request N: write under "
            f"{training_output_prefix(_PR_SCOPE)} and {checkpoints_prefix(_PR_SCOPE)} as the "
            "stack's training-pr role, "
            f"reading datasets a main build staged; default: a main build ({MAIN_SCOPE}/).",
        ),
    ] = None,
) -> None:
    """Train the model in the params file, locally or as a SageMaker managed spot job.

    Writes <out>/training.json with the training time and spot savings for the registry.
    Exit codes: 0 trained, 1 training failed or was interrupted, 2 bad input.
    """
    if local == sagemaker:
        raise MlopsError("choose exactly one of --local and --sagemaker")
    from ml.params import load_params

    settings = load_params(params)
    if local:
        from ml.training.local import run_local

        record = run_local(settings, out, data, fresh)
        console.print(
            f"trained {settings.model} in {record.training_time_seconds:.1f}s: {record.artifact} "
            f"(training data {record.training_data_hash})"
        )
        return
    from ml.training.sagemaker import SpotJobSpec, image_uri

    stack = _stack_outputs(
        stack_outputs,
        {
            "artifact_bucket": artifact_bucket,
            "data_bucket": data_bucket,
            "data_key_arn": kms_key,
            "training_role_arn": role,
        },
    )
    spec = SpotJobSpec(
        image_uri=image_uri(stack, image, image_tag),
        instance_type=instance_type,
        max_run_seconds=max_run,
        max_wait_seconds=max_wait,
        network_isolation=network_isolation,
        extra_tags=_tags(tag or []),
    )
    spec.check()
    if pull_request is not None and role:
        stack = replace(stack, training_pr_role_arn=role)  # --role names the scope's role
    _train_sagemaker(settings, out, data, stack, spec, wait, poll_seconds, region, pull_request)


_FLAGS = {
    "artifact_bucket": "--artifact-bucket",
    "data_bucket": "--data-bucket",
    "data_key_arn": "--kms-key",
    "training_role_arn": "--role",
}


def _stack_outputs(path: Path | None, overrides: dict[str, str | None]) -> "StackOutputs":
    """The stack's names: `--stack-outputs` with explicit options on top, or the options."""
    from ml.training.sagemaker import StackOutputs

    given = {key: value for key, value in overrides.items() if value}
    if path is not None:
        return replace(StackOutputs.from_pulumi_json(path), **given)
    missing = [_FLAGS[key] for key in _FLAGS if key not in given]
    if missing:
        raise MlopsError(f"--sagemaker needs --stack-outputs or {', '.join(missing)}")
    return StackOutputs(**given)


def _train_sagemaker(
    settings: "Params",
    out: Path,
    data: Path | None,
    stack: "StackOutputs",
    spec: "SpotJobSpec",
    wait: bool,
    poll_seconds: float,
    region: str | None,
    pull_request: int | None,
) -> None:
    from ml import aws
    from ml.data.io import snapshot_of
    from ml.training.sagemaker import train_on_sagemaker
    from ml.training.snapshot import prepare_snapshot

    snapshot = prepare_snapshot(settings.data, out / "data") if data is None else snapshot_of(data)
    train_on_sagemaker(
        boto_session=aws.session(region=region or stack.region),
        params=settings,
        spec=spec,
        stack=stack,
        snapshot=snapshot,
        out=out,
        wait=wait,
        poll_seconds=poll_seconds,
        pull_request=pull_request,
        say=console.print,
    )
