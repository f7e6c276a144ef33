"""`mlops model fetch`: the Kubernetes pod's init step, the signed model into the server's
model directory, verified the way the server verifies it."""

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from infra.contracts import Env
from ml.cli.usage import LazyConsole

console: Any = LazyConsole(highlight=False, soft_wrap=True)
app = typer.Typer(help="The model a server runs: fetch it, verified.", no_args_is_help=True)


@app.command()
def fetch(
    group: Annotated[
        str, typer.Option("--group", "-g", help="Model package group, mlops-<stack>-<model>.")
    ],
    to: Annotated[
        Path,
        typer.Option("--to", help="Directory to extract into (emptied first); the server's model."),
    ],
    version: Annotated[
        int | None,
        typer.Option(
            "--version",
            "-v",
            min=1,
            help=f"Package version; default ${Env.MODEL_VERSION}, the one the server serves.",
        ),
    ] = None,
) -> None:
    """Resolve the registry version, download model.tar.gz and its signature with this
    process's AWS identity, check the package (approved, gates, signature) and verify the
    extracted model as the server does (its key ${Env.SIGNING_PUBLIC_KEY}, model, stack
    and version from the environment). Exit 1 and an empty --to on any refusal."""
    from ml import aws
    from ml.release.fetch import fetch_for_server
    from ml.serving.settings import settings_from_env

    settings = settings_from_env(os.environ, model_version=version)
    session = aws.session()
    check = fetch_for_server(
        group,
        to,
        settings,
        sagemaker=aws.client("sagemaker", session),
        s3=aws.client("s3", session),
    )
    console.print(f"{check.reason}; extracted into {to}", markup=False)
