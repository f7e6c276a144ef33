"""`mlops sign` and `mlops verify`: KMS-signed artifacts, verified through KMS or offline."""

from __future__ import annotations

import getpass
import json
import os
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from ml.errors import MlopsError
from ml.provenance.check import VerificationResult, kms_verifier, offline_verifier, verify_artifact
from ml.provenance.envelope import write_envelope
from ml.provenance.kms import RAW_MESSAGE_LIMIT, KmsSigner
from ml.provenance.manifest import SIGNATURE_NAME, is_tarball, read_member
from ml.provenance.sign import read_model_card, sign_artifact
from ml.provenance.statement import Provenance

console = Console(highlight=False, soft_wrap=True)

ArtifactOption = Annotated[
    Path,
    typer.Option(
        "--artifact", "-a", help="Model artifact: a directory or a tarball (model.tar.gz)."
    ),
]
KEY_ID_ENV = "MLOPS_SIGNING_KEY_ID"
PUBLIC_KEY_ENV = "MLOPS_SIGNING_PUBLIC_KEY"


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
            f"{SIGNATURE_NAME}.",
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
        typer.Option(help="JSON object of metric name -> number (default: model.json)."),
    ] = None,
    hyperparameters: Annotated[
        Path | None,
        typer.Option(help="JSON object of hyperparameters (default: model.json 'params')."),
    ] = None,
    builder_id: Annotated[
        str | None,
        typer.Option(help="Who builds: default the GitHub workflow, else local:<user>@<host>."),
    ] = None,
) -> None:
    """Sign every file of an artifact with the KMS signing key (DSSE + in-toto + SLSA)."""
    from ml import aws

    _refuse_out_inside_artifact(artifact, out)
    card = read_model_card(artifact) if artifact.exists() else {}
    provenance = _provenance(
        card,
        git_commit=git_commit,
        repository=repository,
        training_job_name=training_job_name,
        training_data_hash=training_data_hash,
        metrics=metrics,
        hyperparameters=hyperparameters,
        builder_id=builder_id,
    )
    kms = aws.client("kms")
    signer = KmsSigner.for_key(kms, key_id)
    signed = sign_artifact(artifact, provenance, signer)
    write_envelope(signed.envelope, out)
    mode = "RAW" if signed.pae_size <= RAW_MESSAGE_LIMIT else "DIGEST"
    console.print(
        f"signed {len(signed.manifest.files)} file(s), {signed.manifest.total_size} bytes, of "
        f"{artifact} with KMS key {signer.key.arn} (keyid {signer.key.keyid[:16]}, {mode} over "
        f"{signed.pae_size} bytes) -> {out}"
    )


def verify(
    artifact: ArtifactOption,
    signature: Annotated[
        Path | None,
        typer.Option(
            "--signature",
            "-s",
            help=f"DSSE envelope (default: {SIGNATURE_NAME} inside the artifact, directory or "
            "tarball).",
        ),
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option(
            "--public-key",
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
    with tempfile.TemporaryDirectory(prefix="mlops-verify-") as tmp:
        envelope = signature or default_signature(artifact, Path(tmp))
        result = verify_artifact(artifact, envelope, _verifier(public_key, key_id))
    if as_json:
        typer.echo(json.dumps(result_document(result), indent=2, sort_keys=True))
    if not result.ok:
        raise MlopsError(result.reason, 2 if result.bad_input else 1)
    if not as_json:
        console.print(f"{artifact}: {result.reason}")
        if result.provenance is not None:
            p = result.provenance
            console.print(
                f"  git commit {p.git_commit}, training data {p.training_data_hash}, "
                f"job {p.training_job_name or '-'}, built by {p.builder_id}"
            )


def result_document(result: VerificationResult) -> dict[str, Any]:
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


def _verifier(public_key: Path | None, key_id: str | None) -> Any:
    if public_key is not None:
        try:
            pem = public_key.read_bytes()
        except OSError as error:
            raise MlopsError(f"public key {public_key}: cannot read ({error.strerror})") from None
        return offline_verifier(pem)
    if key_id:
        from ml import aws

        return kms_verifier(aws.client("kms"), key_id)
    raise MlopsError(
        f"no trusted key: pass --public-key PEM (offline) or --key-id (KMS), or set "
        f"{PUBLIC_KEY_ENV} / {KEY_ID_ENV}"
    )


def default_signature(artifact: Path, scratch: Path) -> Path:
    """The reserved signature inside a directory or a tarball (extracted to `scratch`)."""
    if artifact.is_dir() or not artifact.exists():
        return artifact / SIGNATURE_NAME
    inside = read_member(artifact, SIGNATURE_NAME) if is_tarball(artifact) else None
    if inside is None:
        raise MlopsError(f"artifact {artifact} holds no {SIGNATURE_NAME}: pass --signature")
    path = scratch / SIGNATURE_NAME
    path.write_bytes(inside)
    return path


def _refuse_out_inside_artifact(artifact: Path, out: Path) -> None:
    if not artifact.is_dir():
        return
    try:
        relative = out.resolve().relative_to(artifact.resolve())
    except ValueError:
        return
    if relative.as_posix() != SIGNATURE_NAME:
        raise MlopsError(
            f"--out {out} is inside the artifact, where it would become an unsigned file; "
            f"use {artifact / SIGNATURE_NAME} or a path outside it"
        )


def _provenance(card: dict[str, Any], **given: Any) -> Provenance:
    training = card.get("training") if isinstance(card.get("training"), dict) else {}
    values: dict[str, Any] = {
        "git_commit": given["git_commit"] or _git_head(),
        "repository": given["repository"] or _github_repository(),
        "training_job_name": given["training_job_name"] or training.get("job_name"),
        "training_data_hash": given["training_data_hash"] or card.get("training_data_hash"),
        "metrics": _json_object(given["metrics"], "metrics")
        if given["metrics"]
        else card.get("metrics", {}),
        "hyperparameters": _json_object(given["hyperparameters"], "hyperparameters")
        if given["hyperparameters"]
        else card.get("params", {}),
        "builder_id": given["builder_id"] or _builder_id(),
        "invocation_id": _github_run(),
    }
    if not values["training_data_hash"]:
        raise MlopsError(
            "training data hash unknown: pass --training-data-hash or add "
            "'training_data_hash' to the artifact's model.json"
        )
    if not values["git_commit"]:
        raise MlopsError("git commit unknown: pass --git-commit (not inside a git checkout)")
    metrics = values["metrics"]
    if isinstance(metrics, dict):  # keep the numbers; nested reports stay in model.json
        values["metrics"] = {
            k: v
            for k, v in metrics.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
    try:
        return Provenance.model_validate(values)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise MlopsError(f"provenance {where}: {first['msg']}") from None


def _json_object(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise MlopsError(f"{what} file {path}: cannot read ({error.strerror})") from None
    except ValueError:
        raise MlopsError(f"{what} file {path}: not valid JSON") from None
    if not isinstance(data, dict):
        raise MlopsError(f"{what} file {path}: expected a JSON object")
    return data


def _git_head() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _github_repository() -> str | None:
    server, repo = os.environ.get("GITHUB_SERVER_URL"), os.environ.get("GITHUB_REPOSITORY")
    return f"{server}/{repo}" if server and repo else None


def _github_run() -> str | None:
    server, repo = os.environ.get("GITHUB_SERVER_URL"), os.environ.get("GITHUB_REPOSITORY")
    run, attempt = os.environ.get("GITHUB_RUN_ID"), os.environ.get("GITHUB_RUN_ATTEMPT", "1")
    if server and repo and run:
        return f"{server}/{repo}/actions/runs/{run}/attempts/{attempt}"
    return None


def _builder_id() -> str:
    server, workflow = os.environ.get("GITHUB_SERVER_URL"), os.environ.get("GITHUB_WORKFLOW_REF")
    if server and workflow:
        return f"{server}/{workflow}"
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"local:{user}@{socket.gethostname()}"
