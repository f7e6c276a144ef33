"""`mlops promote`: copy an approved package of one stack into another stack's account."""

from pathlib import Path
from typing import Annotated, Any

import typer

from common.errors import MlopsError
from infra.contracts import Env
from ml.cli.usage import LazyConsole, RootOption

console: Any = LazyConsole(highlight=False, soft_wrap=True)


def promote(
    source: Annotated[
        str, typer.Option("--from", help="Stack to promote from (its approved package).")
    ],
    target: Annotated[
        str, typer.Option("--to", help="Stack to promote into (its mlops:promotion names --from).")
    ],
    bucket: Annotated[
        str,
        typer.Option(envvar=Env.ARTIFACT_BUCKET, help="The target stack's artifact bucket."),
    ],
    kms_key_id: Annotated[
        str,
        typer.Option(
            envvar=Env.DATA_KEY_ID,
            help="The target stack's data CMK (id, ARN or alias) for SSE-KMS on the copies.",
        ),
    ],
    model: Annotated[str, typer.Option("--model", "-m", help="Model name within the stacks.")] = (
        "churn-classifier"
    ),
    version: Annotated[
        int | None,
        typer.Option(
            "--version",
            "-v",
            min=1,
            help="Package version in the source stack (default: the version its stack file "
            "serves, i.e. what it was released and watched with).",
        ),
    ] = None,
    image: Annotated[
        str | None,
        typer.Option(
            envvar=Env.INFERENCE_IMAGE,
            help="Inference image URI for the target package (default: the source package's).",
        ),
    ] = None,
    root: RootOption = Path("."),
    github_output: Annotated[
        bool,
        typer.Option(
            "--github-output",
            help="Write version-<to>=<N> to $GITHUB_OUTPUT for the approval job.",
        ),
    ] = False,
) -> None:
    """Promote an approved, verified package of --from into --to (another AWS account):
    verify its signature with a key --to trusts, copy artifact, signature and validation
    report into --to's bucket (its CMK) and register it PendingManualApproval there, with
    the source package as its provenance. Runs as --to's promoting role (gh-promote)."""
    from ml import aws
    from ml.registry.promote import (
        PromotionTarget,
        promotion_source,
        promotion_stacks,
    )
    from ml.registry.promote import promote as promote_package

    source_cfg, target_cfg = promotion_stacks(source, target, model, root)
    version = version or source_cfg.served_models.get(model)
    if version is None:
        raise MlopsError(f"Pulumi.{source}.yaml serves no version of {model}: pass --version")
    result = promote_package(
        model,
        version,
        promotion_source(source_cfg, target_cfg, model),
        PromotionTarget(
            stack=target,
            group=target_cfg.model_group(model),
            bucket=bucket,
            kms_key_id=kms_key_id,
            owner=target_cfg.owner,
            image=image,
        ),
        kms=aws.client("kms"),
        s3=aws.client("s3"),
        sagemaker=aws.client("sagemaker"),
        sts=aws.client("sts"),
    )
    package = result.package
    if github_output:
        from ml.release.github import write_github_output

        write_github_output({f"version-{target}": str(package.version)})
    verb = "promoted" if result.created else "already promoted"
    console.print(
        f"{verb}: {result.source.group}/{result.source.version} -> {package.group} version "
        f"{package.version} ({package.approval_status}) {package.arn}; artifact "
        f"{result.artifact_digest[:16]}"
    )
