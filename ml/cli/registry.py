"""`mlops register`, `mlops approve`, `mlops reject`: the SageMaker model registry."""

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from common.errors import MlopsError
from infra.contracts import SIGNATURE_FILE, Env
from ml.cli.usage import LazyConsole, RootOption, existing_path

console: Any = LazyConsole(highlight=False, soft_wrap=True)
DEFAULT_MODEL = "churn-classifier"

GroupOption = Annotated[
    str | None,
    typer.Option(
        "--group", "-g", help="Model package group; default mlops-<stack>-<model> from --stack."
    ),
]
StackOption = Annotated[
    str | None, typer.Option("--stack", "-s", help="Stack (dev, staging, prod) whose group to use.")
]
ModelOption = Annotated[str, typer.Option("--model", "-m", help="Model name within the stack.")]
VersionOption = Annotated[
    int, typer.Option("--version", "-v", min=1, help="Model package version.")
]
ReasonOption = Annotated[
    str, typer.Option("--reason", "-r", help="Why (recorded as the approval description).")
]


def register(
    artifact: Annotated[
        Path,
        typer.Option(
            "--artifact",
            "-a",
            callback=existing_path,
            help="Signed model artifact: directory or tarball.",
        ),
    ],
    image: Annotated[
        str,
        typer.Option(
            envvar=Env.INFERENCE_IMAGE, help="Inference image URI (ECR, by tag or digest)."
        ),
    ],
    bucket: Annotated[
        str,
        typer.Option(envvar=Env.ARTIFACT_BUCKET, help="The stack's artifact bucket."),
    ],
    kms_key_id: Annotated[
        str,
        typer.Option(
            envvar=Env.DATA_KEY_ID,
            help="The stack's data CMK (id, ARN or alias) for SSE-KMS on the uploads.",
        ),
    ],
    signing_key_id: Annotated[
        str,
        typer.Option(
            envvar=Env.SIGNING_KEY_ID,
            help="KMS signing key the signature must verify with before registering.",
        ),
    ],
    signature: Annotated[
        Path | None,
        typer.Option(
            "--signature",
            callback=existing_path,
            help=f"DSSE envelope (default: {SIGNATURE_FILE} in the artifact).",
        ),
    ] = None,
    group: GroupOption = None,
    stack: StackOption = None,
    model: ModelOption = DEFAULT_MODEL,
    root: RootOption = Path("."),
    owner: Annotated[
        str | None, typer.Option(help="Accountable team (default: the stack's owner).")
    ] = None,
    training_minutes: Annotated[
        float | None, typer.Option(min=0, help="Training wall-clock time in minutes.")
    ] = None,
    spot_savings_percent: Annotated[
        float | None, typer.Option(min=0, max=100, help="Managed spot savings in percent.")
    ] = None,
    training_record: Annotated[
        Path | None,
        typer.Option(
            callback=existing_path,
            help="training.json of `mlops train`: records its training and billable time "
            "and spot savings (explicit --training-minutes/--spot-savings-percent win).",
        ),
    ] = None,
    validation_report: Annotated[
        Path | None,
        typer.Option(
            callback=existing_path,
            help="Validation report JSON (top-level boolean 'passed'); stored beside the model.",
        ),
    ] = None,
    github_output: Annotated[
        bool,
        typer.Option(
            "--github-output",
            help="Write version-<stack>=<N> to $GITHUB_OUTPUT for the approval job.",
        ),
    ] = False,
) -> None:
    """Verify, upload (SSE-KMS) and register a signed artifact as PendingManualApproval,
    if its statement was signed for this model, stack, group and the version the registry
    assigns; records the caller as registered_by."""
    from ml import aws
    from ml.registry.publish import RegistryTarget, publish_and_register, read_validation_report
    from ml.training.record import TrainingRecord

    group_name, stack_owner = stack_group(group, stack, model, root)
    owner = owner or stack_owner
    if not owner:
        raise MlopsError("owner unknown: pass --owner, or --stack to use the stack's owner")
    report = None if validation_report is None else read_validation_report(validation_report)
    training: dict[str, float | None] = {}
    if training_record is not None:
        training = TrainingRecord.read(training_record).registry_values()
    if training_minutes is not None:
        training["training_minutes"] = training_minutes
    if spot_savings_percent is not None:
        training["spot_savings_percent"] = spot_savings_percent
    target = RegistryTarget(
        group_name,
        owner,
        image,
        bucket,
        kms_key_id,
        signing_key_id,
        model=model if stack else None,
        stack=stack,
    )
    published = publish_and_register(
        artifact,
        target,
        kms=aws.client("kms"),
        s3=aws.client("s3"),
        sagemaker=aws.client("sagemaker"),
        envelope=signature,
        validation=report,
        sts=aws.client("sts"),
        **training,
    )
    package, stored = published.package, published.stored
    if github_output:
        from ml.release.github import write_github_output

        write_github_output({f"version-{stack}" if stack else "version": str(package.version)})
    if stored is None:
        console.print(
            f"already registered: {group_name} version {package.version} "
            f"({package.approval_status}) holds artifact {published.artifact_digest[:16]}; "
            "nothing to do"
        )
        return
    verb = "registered" if published.created else "already registered"
    console.print(
        f"{verb}: {group_name} version {package.version} ({package.approval_status}) "
        f"{package.arn}; model data {stored.model_data.uri}, signature {stored.signature.uri}"
    )


def _status_command(status: Literal["APPROVED", "REJECTED"], summary: str) -> Callable[..., None]:
    """The `mlops approve` / `mlops reject` command: set a version's status, with a reason.

    `status` names the constant in `ml.registry.packages`, imported when the command runs."""

    def command(
        version: VersionOption,
        reason: ReasonOption,
        group: GroupOption = None,
        stack: StackOption = None,
        model: ModelOption = DEFAULT_MODEL,
        root: RootOption = Path("."),
    ) -> None:
        from ml import aws
        from ml.registry import packages
        from ml.registry.identity import caller_arn

        decision = getattr(packages, status)
        group_name, _ = stack_group(group, stack, model, root)
        package = packages.set_approval(
            aws.client("sagemaker"),
            group_name,
            version,
            decision,
            reason,
            decided_by=caller_arn(aws.client("sts")),
        )
        approved = decision == packages.APPROVED
        by = package.approved_by if approved else package.metadata.get("rejected_by")
        console.print(
            f"{group_name} version {package.version}: {package.approval_status} by {by} "
            f"({package.approval_description})"
        )

    command.__doc__ = summary
    return command


approve = _status_command(
    "APPROVED",
    "Approve a model package version for release, with a reason; records the caller as "
    "approved_by and refuses if the caller registered or signed it.",
)
reject = _status_command(
    "REJECTED", "Reject a model package version, with a reason; records the caller as rejected_by."
)


def stack_group(
    group: str | None, stack: str | None, model: str, root: Path
) -> tuple[str, str | None]:
    """(model package group, stack owner) from --group or --stack/--model."""
    if group and stack:
        raise MlopsError("pass either --group or --stack, not both")
    if group:
        return group, None
    if not stack:
        raise MlopsError("which model package group? pass --group or --stack (with --model)")
    from infra.config import load_stack

    cfg = load_stack(stack, root)
    if model not in cfg.models:
        known = ", ".join(sorted(cfg.models)) or "none"
        raise MlopsError(f"stack {stack} serves no model {model!r} (it has: {known})")
    return cfg.model_group(model), cfg.owner
