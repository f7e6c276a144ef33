"""`mlops serve`: the inference server (SageMaker's container contract), in the foreground."""

import os
from pathlib import Path
from typing import Annotated

import typer

from infra.contracts import Env
from ml.cli.usage import existing_path


def serve(
    model_dir: Annotated[
        Path | None,
        typer.Option(
            "--model-dir",
            callback=existing_path,
            help="Model artifact directory (model.txt, model.json, signature.dsse.json); "
            "default $SM_MODEL_DIR, else /opt/ml/model.",
        ),
    ] = None,
    host: Annotated[
        str | None, typer.Option("--host", help="Address to listen on; default 0.0.0.0.")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", help="Port; default $SAGEMAKER_BIND_TO_PORT, else 8080."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Worker processes; default $SAGEMAKER_MODEL_SERVER_WORKERS or "
            f"${Env.SERVE_WORKERS}, else one per usable CPU.",
        ),
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option(
            "--public-key",
            callback=existing_path,
            help=f"PEM public key to verify the signature offline; default "
            f"${Env.SIGNING_PUBLIC_KEY}.",
        ),
    ] = None,
    key_id: Annotated[
        str | None,
        typer.Option(
            "--key-id",
            help=f"KMS signing key id, ARN or alias to verify through KMS; default "
            f"${Env.SIGNING_KEY_ID}.",
        ),
    ] = None,
    require_signature: Annotated[
        bool | None,
        typer.Option(
            "--require-signature/--no-require-signature",
            help="Refuse to serve (503 on /ping) without a verified signature; default "
            f"${Env.REQUIRE_SIGNATURE}, else true. A configured key is always enforced.",
        ),
    ] = None,
    max_body_bytes: Annotated[
        int | None,
        typer.Option(
            "--max-body-bytes",
            help=f"Largest request body (413 above); default ${Env.MAX_BODY_BYTES}, else 6 MiB.",
        ),
    ] = None,
    access_log: Annotated[
        str | None,
        typer.Option(
            "--access-log",
            help="Per-request JSON log lines: all, errors (4xx/5xx) or off; default "
            f"${Env.ACCESS_LOG}, else all.",
        ),
    ] = None,
    fd: Annotated[
        int | None,
        typer.Option(
            "--fd",
            help="Serve on this inherited, already listening socket instead of host:port.",
        ),
    ] = None,
) -> None:
    """Serve /ping and /invocations; /ping is 200 only once the signature has verified."""
    from ml.serving.server import run  # imports uvicorn: only when serving
    from ml.serving.settings import settings_from_env

    settings = settings_from_env(
        os.environ,
        model_dir=model_dir,
        host=host,
        port=port,
        workers=workers,
        public_key=public_key,
        key_id=key_id,
        require_signature=require_signature,
        max_body_bytes=max_body_bytes,
        access_log=access_log,
        fd=fd,
    )
    run(settings)
