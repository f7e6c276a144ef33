"""`mlops register`, `mlops approve`, `mlops reject`: the SageMaker model registry."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from ml.cli.provenance import default_signature
from ml.errors import MlopsError
from ml.provenance.manifest import SIGNATURE_NAME

console = Console(highlight=False, soft_wrap=True)
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
RootOption = Annotated[
    Path, typer.Option("--root", help="Repository root holding Pulumi.<stack>.yaml files.")
]
VersionOption = Annotated[
    int, typer.Option("--version", "-v", min=1, help="Model package version.")
]
ReasonOption = Annotated[
    str, typer.Option("--reason", "-r", help="Why (recorded as the approval description).")
]


def register(
    artifact: Annotated[
        Path, typer.Option("--artifact", "-a", help="Signed model artifact: directory or tarball.")
    ],
    image: Annotated[
        str,
        typer.Option(
            envvar="MLOPS_INFERENCE_IMAGE", help="Inference image URI (ECR, by tag or digest)."
        ),
    ],
    bucket: Annotated[
        str,
        typer.Option(envvar="MLOPS_ARTIFACT_BUCKET", help="The stack's artifact bucket."),
    ],
    kms_key_id: Annotated[
        str,
        typer.Option(
            envvar="MLOPS_DATA_KEY_ID",
            help="The stack's data CMK (id, ARN or alias) for SSE-KMS on the uploads.",
        ),
    ],
    signing_key_id: Annotated[
        str,
        typer.Option(
            envvar="MLOPS_SIGNING_KEY_ID",
            help="KMS signing key the signature must verify with before registering.",
        ),
    ],
    signature: Annotated[
        Path | None,
        typer.Option(
            "--signature", help=f"DSSE envelope (default: {SIGNATURE_NAME} in the artifact)."
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
    validation_report: Annotated[
        Path | None,
        typer.Option(
            help="Validation report JSON (top-level boolean 'passed'); stored beside the model."
        ),
    ] = None,
) -> None:
    """Verify, upload (SSE-KMS) and register a signed artifact as PendingManualApproval."""
    from ml import aws

    group_name, stack_owner = _group(group, stack, model, root)
    if not (owner or stack_owner):
        raise MlopsError("owner unknown: pass --owner, or --stack to use the stack's owner")
    gates = _validation(validation_report)
    kms, s3, sagemaker = aws.client("kms"), aws.client("s3"), aws.client("sagemaker")
    with tempfile.TemporaryDirectory(prefix="mlops-register-") as tmp:
        envelope = signature or default_signature(artifact, Path(tmp))
        _register(
            artifact,
            envelope,
            group_name,
            owner or stack_owner,
            gates,
            validation_report,
            image=image,
            bucket=bucket,
            kms_key_id=kms_key_id,
            signing_key_id=signing_key_id,
            training_minutes=training_minutes,
            spot_savings_percent=spot_savings_percent,
            clients=(kms, s3, sagemaker),
            workdir=Path(tmp),
        )


def _register(
    artifact: Path,
    envelope: Path,
    group_name: str,
    owner: str | None,
    gates: str | None,
    validation_report: Path | None,
    *,
    image: str,
    bucket: str,
    kms_key_id: str,
    signing_key_id: str,
    training_minutes: float | None,
    spot_savings_percent: float | None,
    clients: tuple[Any, Any, Any],
    workdir: Path,
) -> None:
    from ml import aws
    from ml.artifacts import S3Object, store_artifact, upload_file
    from ml.provenance.check import kms_verifier, verify_artifact
    from ml.registry.packages import Registration, find_by_artifact, register_model_package

    kms, s3, sagemaker = clients
    verifier = kms_verifier(kms, signing_key_id)
    result = verify_artifact(artifact, envelope, verifier)
    if not result.ok:
        raise MlopsError(f"refusing to register: {result.reason}", 2 if result.bad_input else 1)
    assert result.provenance is not None and result.artifact_digest is not None
    digest = result.artifact_digest

    existing = find_by_artifact(sagemaker, group_name, digest)
    if existing is not None:
        console.print(
            f"already registered: {group_name} version {existing.version} "
            f"({existing.approval_status}) holds artifact {digest[:16]}; nothing to do"
        )
        return

    with aws.aws_errors(f"KMS key {kms_key_id}"):
        data_key_arn = kms.describe_key(KeyId=kms_key_id)["KeyMetadata"]["Arn"]
    prefix = f"models/{group_name}/{digest}"
    stored = store_artifact(
        s3,
        artifact=artifact,
        envelope=envelope,
        bucket=bucket,
        prefix=prefix,
        kms_key_arn=data_key_arn,
        workdir=workdir,
    )
    report_uri = None
    if validation_report is not None:
        report_uri = upload_file(
            s3, validation_report, S3Object(bucket, f"{prefix}/validation.json"), data_key_arn
        ).uri
    try:
        registration = Registration(
            group=group_name,
            image_uri=image,
            model_data_url=stored.model_data.uri,
            artifact_digest=digest,
            signature_s3_uri=stored.signature.uri,
            signing_key_arn=verifier.key.arn,
            signing_keyid=verifier.keyid,
            provenance=result.provenance,
            owner=owner or "",
            training_minutes=training_minutes,
            spot_savings_percent=spot_savings_percent,
            validation_gates=gates,
            validation_report_s3_uri=report_uri,
        )
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise MlopsError(f"registration {where}: {first['msg']}") from None
    outcome = register_model_package(sagemaker, registration)
    package = outcome.package
    verb = "registered" if outcome.created else "already registered"
    console.print(
        f"{verb}: {group_name} version {package.version} ({package.approval_status}) "
        f"{package.arn}; model data {stored.model_data.uri}, signature {stored.signature.uri}"
    )


def approve(
    version: VersionOption,
    reason: ReasonOption,
    group: GroupOption = None,
    stack: StackOption = None,
    model: ModelOption = DEFAULT_MODEL,
    root: RootOption = Path("."),
) -> None:
    """Approve a model package version for release, with a reason."""
    _set_status("Approved", version, reason, group, stack, model, root)


def reject(
    version: VersionOption,
    reason: ReasonOption,
    group: GroupOption = None,
    stack: StackOption = None,
    model: ModelOption = DEFAULT_MODEL,
    root: RootOption = Path("."),
) -> None:
    """Reject a model package version, with a reason."""
    _set_status("Rejected", version, reason, group, stack, model, root)


def _set_status(
    status: str,
    version: int,
    reason: str,
    group: str | None,
    stack: str | None,
    model: str,
    root: Path,
) -> None:
    from ml import aws
    from ml.registry.packages import set_approval

    group_name, _ = _group(group, stack, model, root)
    package = set_approval(aws.client("sagemaker"), group_name, version, status, reason)
    console.print(
        f"{group_name} version {package.version}: {package.approval_status} "
        f"({package.approval_description})"
    )


def _group(group: str | None, stack: str | None, model: str, root: Path) -> tuple[str, str | None]:
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
    return f"{cfg.name_prefix}-{model}", cfg.owner


def _validation(report: Path | None) -> str | None:
    if report is None:
        return None
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
    except OSError as error:
        raise MlopsError(f"validation report {report}: cannot read ({error.strerror})") from None
    except ValueError:
        raise MlopsError(f"validation report {report}: not valid JSON") from None
    passed = data.get("passed") if isinstance(data, dict) else None
    if not isinstance(passed, bool):
        raise MlopsError(f"validation report {report}: no top-level boolean 'passed'")
    return "passed" if passed else "failed"
