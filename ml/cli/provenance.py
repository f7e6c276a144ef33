"""`mlops sign` and `mlops verify`: KMS-signed artifacts, verified through KMS or offline."""

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from common.errors import CheckFailed, MlopsError
from infra.contracts import SIGNATURE_FILE, Env
from ml.cli.registry import DEFAULT_MODEL, stack_group
from ml.cli.usage import LazyConsole, existing_path

if TYPE_CHECKING:
    from ml.provenance.check import VerificationResult

console: Any = LazyConsole(highlight=False, soft_wrap=True)

ArtifactOption = Annotated[
    Path,
    typer.Option(
        "--artifact",
        "-a",
        callback=existing_path,
        help="Model artifact: a directory or a tarball (model.tar.gz).",
    ),
]
KEY_ID_ENV = Env.SIGNING_KEY_ID
PUBLIC_KEY_ENV = Env.SIGNING_PUBLIC_KEY


def sign(
    artifact: ArtifactOption,
    key_id: Annotated[
        str,
        typer.Option(
            "--key-id",
            "-k",
            envvar=KEY_ID_ENV,
            help="KMS signing key: key id, key ARN, alias (alias/...) or alias ARN.",
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help=f"Where to write the DSSE envelope; inside a directory artifact use "
            f"{SIGNATURE_FILE}.",
        ),
    ],
    git_commit: Annotated[
        str | None,
        typer.Option(help="Commit that trained the model (default: `git rev-parse HEAD`)."),
    ] = None,
    repository: Annotated[
        str | None,
        typer.Option(help="Source repository URI (default: from GitHub Actions, if set)."),
    ] = None,
    training_job_name: Annotated[
        str | None, typer.Option(help="SageMaker training job (or local run) name.")
    ] = None,
    training_data_hash: Annotated[
        str | None,
        typer.Option(help="sha256:<hex> of the training data (default: model.json)."),
    ] = None,
    metrics: Annotated[
        Path | None,
        typer.Option(
            callback=existing_path,
            help="JSON object of metric name -> number (default: model.json).",
        ),
    ] = None,
    hyperparameters: Annotated[
        Path | None,
        typer.Option(
            callback=existing_path,
            help="JSON object of hyperparameters (default: model.json 'params').",
        ),
    ] = None,
    builder_id: Annotated[
        str | None,
        typer.Option(help="Who builds: default the GitHub workflow, else local:<user>@<host>."),
    ] = None,
    stack: Annotated[
        str | None,
        typer.Option(
            "--stack",
            "-s",
            help="Stack (dev, staging, prod) the model is released to; required: the "
            "statement names it, and register and the server refuse any other.",
        ),
    ] = None,
    model: Annotated[
        str, typer.Option("--model", "-m", help="Model name under the stack's mlops:models.")
    ] = DEFAULT_MODEL,
    version: Annotated[
        int | None,
        typer.Option(
            "--version",
            min=1,
            help="Model package version this artifact becomes (default: the group's next "
            "version, asked from the registry); register refuses if the registry assigns "
            "another.",
        ),
    ] = None,
    root: Annotated[
        Path, typer.Option("--root", help="Repository root holding Pulumi.<stack>.yaml files.")
    ] = Path("."),
) -> None:
    """Sign every file of an artifact with the KMS signing key (DSSE + in-toto + SLSA),
    for one model, stack and package version, recording who signed."""
    from ml import aws
    from ml.provenance.builder import build_provenance
    from ml.provenance.kms import RAW_MESSAGE_LIMIT, KmsSigner
    from ml.provenance.sign import read_model_card, refuse_out_inside_artifact, sign_to_file
    from ml.registry.identity import caller_arn

    refuse_out_inside_artifact(artifact, out)  # a bad --out fails before git or KMS is asked
    if not stack:
        raise MlopsError(
            "pass --stack (and --model): the signed statement names the stack, model and "
            "version it is for, and nothing else will register or serve it"
        )
    group, _ = stack_group(None, stack, model, root)
    if version is None:
        version = _next_version(aws.client("sagemaker"), group)
    provenance = build_provenance(
        read_model_card(artifact) if artifact.exists() else {},
        git_commit=git_commit,
        repository=repository,
        training_job_name=training_job_name,
        training_data_hash=training_data_hash,
        metrics=_object_file(metrics, "metrics"),
        hyperparameters=_object_file(hyperparameters, "hyperparameters"),
        builder_id=builder_id,
        model=model,
        stack=stack,
        model_package_group=group,
        version=version,
        signed_by=caller_arn(aws.client("sts")),
    )
    signer = KmsSigner.for_key(aws.client("kms"), key_id)
    signed = sign_to_file(artifact, signer, out, provenance)
    mode = "RAW" if signed.pae_size <= RAW_MESSAGE_LIMIT else "DIGEST"
    console.print(
        f"signed {len(signed.manifest.files)} file(s), {signed.manifest.total_size} bytes, of "
        f"{artifact} for {group} version {version} as {provenance.signed_by} with KMS key "
        f"{signer.key.arn} (keyid {signer.key.keyid[:16]}, {mode} over {signed.pae_size} "
        f"bytes) -> {out}"
    )


def _next_version(sagemaker: Any, group: str) -> int:
    """The group's next version from the registry, or a one-line error asking for --version."""
    from ml.registry.packages import next_version

    try:
        return next_version(sagemaker, group)
    except MlopsError as error:
        raise MlopsError(
            f"cannot ask the registry for {group}'s next version ({error}); pass --version N"
        ) from None


def verify(
    artifact: ArtifactOption,
    signature: Annotated[
        Path | None,
        typer.Option(
            "--signature",
            "-s",
            callback=existing_path,
            help=f"DSSE envelope (default: {SIGNATURE_FILE} inside the artifact, directory or "
            "tarball).",
        ),
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option(
            "--public-key",
            callback=existing_path,
            envvar=PUBLIC_KEY_ENV,
            help="Verify offline with this PEM public key only (no AWS); wins over --key-id.",
        ),
    ] = None,
    key_id: Annotated[
        str | None,
        typer.Option(
            "--key-id",
            "-k",
            envvar=KEY_ID_ENV,
            help="Verify through the KMS Verify API with this key (id, ARN or alias).",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the result as JSON on stdout.")
    ] = False,
) -> None:
    """Check that an artifact is exactly what the trusted key signed, file by file."""
    from ml.provenance.service import verify_signed_artifact

    try:
        result = verify_signed_artifact(
            artifact, signature=signature, public_key=public_key, key_id=key_id
        )
    except CheckFailed as failed:
        if as_json:
            typer.echo(json.dumps(result_document(failed.result), indent=2, sort_keys=True))
        raise
    if as_json:
        typer.echo(json.dumps(result_document(result), indent=2, sort_keys=True))
        return
    # plain echo: rich would cost more to import than the check
    typer.echo(f"{artifact}: {result.reason}")
    if result.provenance is not None:
        p = result.provenance
        typer.echo(
            f"  git commit {p.git_commit}, training data {p.training_data_hash}, "
            f"job {p.training_job_name or '-'}, built by {p.builder_id}"
        )
        typer.echo(
            f"  for model {p.model or '-'} in stack {p.stack or '-'} "
            f"({p.model_package_group or '-'} version {p.version or '-'}), "
            f"signed by {p.signed_by or '-'}"
        )


def result_document(result: "VerificationResult") -> dict[str, Any]:
    provenance = result.provenance
    return {
        "ok": result.ok,
        "reason": result.reason,
        "check": result.check,
        "file": result.file,
        "keyid": result.keyid,
        "artifact_digest": result.artifact_digest,
        "problems": list(result.problems),
        "provenance": provenance.model_dump(mode="json") if provenance else None,
    }


def _object_file(path: Path | None, what: str) -> dict[str, Any] | None:
    from ml.provenance.builder import read_json_object

    return None if path is None else read_json_object(path, what)
