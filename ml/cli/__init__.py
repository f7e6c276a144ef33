"""`mlops`: one Typer app, one sub-app per area of the release pipeline."""

from __future__ import annotations

import sys

import click
import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console

from ml.aws import describe_error
from ml.cli import (
    audit,
    canary,
    demo,
    drift,
    emulator,
    github,
    infra,
    keys,
    provenance,
    registry,
    release,
    serve,
    train,
    validate,
)
from ml.errors import MlopsError

app = typer.Typer(
    name="mlops",
    help="GitOps release system for ML models on AWS: infra graph, train, validate, "
    "sign, register, release, serve, audit.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(infra.app, name="infra")
app.command("train")(train.train)
app.command("validate")(validate.validate)
app.command("drift")(drift.drift)
app.add_typer(keys.app, name="keys")
app.command("sign")(provenance.sign)
app.command("verify")(provenance.verify)
app.command("register")(registry.register)
app.command("approve")(registry.approve)
app.command("reject")(registry.reject)
app.command("emulator")(emulator.emulator)
app.add_typer(release.app, name="release")
app.command("serve")(serve.serve)
app.command("canary")(canary.canary)
app.add_typer(github.app, name="github")
app.command("audit")(audit.audit)
app.command("demo")(demo.demo)

_stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; a user-facing failure is one line on stderr and a nonzero exit."""
    try:
        result = app(args=argv, standalone_mode=False)
    except click.exceptions.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.exceptions.Abort:
        _stderr.print("aborted")
        sys.exit(130)
    except MlopsError as error:
        _stderr.print(f"error: {error}", markup=False)
        sys.exit(error.exit_code)
    except (BotoCoreError, ClientError) as error:
        # Last resort for an AWS call no command wrapped in `aws_errors`: still one line.
        _stderr.print(f"error: AWS: {describe_error(error)}", markup=False)
        sys.exit(2)
    sys.exit(result if isinstance(result, int) else 0)
