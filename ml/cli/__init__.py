"""`mlops`: one Typer app, one sub-app per area of the release pipeline.

Commands are named here and imported when used (`ml.cli.usage.LazyCommands`): the help
of one command, or running it, imports that command's module only.
"""

import atexit
import gc

import typer

from ml.cli.usage import PROG, LazyGroup


class Root(LazyGroup):
    """`mlops`: every command and group, by name, as `module:attribute`, in help order."""

    targets = {
        "train": "ml.cli.train:train",
        "validate": "ml.cli.validate:validate",
        "drift": "ml.cli.drift:drift",
        "quality": "ml.cli.quality:quality",
        "sign": "ml.cli.provenance:sign",
        "verify": "ml.cli.provenance:verify",
        "register": "ml.cli.registry:register",
        "approve": "ml.cli.registry:approve",
        "reject": "ml.cli.registry:reject",
        "promote": "ml.cli.promote:promote",
        "emulator": "ml.cli.emulator:emulator",
        "serve": "ml.cli.serve:serve",
        "canary": "ml.cli.canary:canary",
        "audit": "ml.cli.audit:audit",
        "cost": "ml.cli.cost:cost",
        "demo": "ml.cli.demo:demo",
        "infra": "ml.cli.infra:app",
        "keys": "ml.cli.keys:app",
        "image": "ml.cli.image:app",
        "release": "ml.cli.release:app",
        "model": "ml.cli.model:app",
        "github": "ml.cli.github:app",
    }


def _root() -> None:
    """Nothing to do before a command: a callback makes typer build `Root` as a group."""


app = typer.Typer(
    name=PROG,
    cls=Root,
    callback=_root,
    help="GitOps release system for ML models on AWS: infra graph, train, validate, "
    "sign, register, release, serve, audit.",
    no_args_is_help=True,
    rich_markup_mode=None,  # plain help: see ml.cli.usage
    pretty_exceptions_enable=False,
    add_completion=False,
)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI (the `mlops` console script); always exits, a failure as one line.

    At interpreter exit what is left is frozen out of the cyclic collector first: its last
    passes over every live object were a fifth of `mlops infra render` (a million objects),
    and the OS takes the memory back all the same. At exit, not here, so tests calling
    `main` in-process keep collecting."""
    atexit.unregister(gc.freeze)  # once, however often main runs in a process
    atexit.register(gc.freeze)
    app(args=argv, prog_name=PROG)
