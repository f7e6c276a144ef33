"""`mlops`: one Typer app, one sub-app per area of the release pipeline."""

import atexit
import gc

import typer

from ml.cli import (
    audit,
    canary,
    cost,
    demo,
    drift,
    emulator,
    github,
    image,
    infra,
    keys,
    model,
    promote,
    provenance,
    quality,
    registry,
    release,
    serve,
    train,
    validate,
)
from ml.cli.usage import PROG, OneLineErrors

app = typer.Typer(
    name=PROG,
    cls=OneLineErrors,
    help="GitOps release system for ML models on AWS: infra graph, train, validate, "
    "sign, register, release, serve, audit.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: see ml.cli.usage
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(infra.app, name="infra")
app.command("train")(train.train)
app.command("validate")(validate.validate)
app.command("drift")(drift.drift)
app.command("quality")(quality.quality)
app.add_typer(keys.app, name="keys")
app.add_typer(image.app, name="image")
app.command("sign")(provenance.sign)
app.command("verify")(provenance.verify)
app.command("register")(registry.register)
app.command("approve")(registry.approve)
app.command("reject")(registry.reject)
app.command("promote")(promote.promote)
app.command("emulator")(emulator.emulator)
app.add_typer(release.app, name="release")
app.command("serve")(serve.serve)
app.add_typer(model.app, name="model")
app.command("canary")(canary.canary)
app.add_typer(github.app, name="github")
app.command("audit")(audit.audit)
app.command("cost")(cost.cost)
app.command("demo")(demo.demo)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI (the `mlops` console script); always exits, a failure as one line.

    At interpreter exit what is left is frozen out of the cyclic collector first: its last
    passes over every live object were a fifth of `mlops infra render` (a million objects),
    and the OS takes the memory back all the same. At exit, not here, so tests calling
    `main` in-process keep collecting."""
    atexit.unregister(gc.freeze)  # once, however often main runs in a process
    atexit.register(gc.freeze)
    app(args=argv, prog_name=PROG)
