"""`mlops emulator`: the embedded AWS emulator in the foreground, optionally with a stack."""

import os
import shlex
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from infra.contracts import Env, StackOutput
from ml.emulator.server import DEFAULT_REGION

if TYPE_CHECKING:
    from ml.emulator.server import Emulator


def emulator(
    port: Annotated[
        int, typer.Option("--port", "-p", help="Loopback port to listen on; 0 picks a free one.")
    ] = 0,
    region: Annotated[
        str, typer.Option(help="Region the emulator's resources live in (a stack's own wins).")
    ] = DEFAULT_REGION,
    enforce_iam: Annotated[
        bool,
        typer.Option(
            "--enforce-iam/--no-enforce-iam",
            help="Authorise role sessions' calls on action, resource and conditions "
            "(default on); the administrator's credentials are never checked.",
        ),
    ] = True,
    stack: Annotated[
        str | None,
        typer.Option(
            help="Bootstrap this stack (keys, buckets, roles, registry) from its rendered "
            "graph, and print the exports that point the commands at it."
        ),
    ] = None,
    with_demo_models: Annotated[
        bool,
        typer.Option(
            "--with-demo-models",
            help="With --stack: also register and approve the demo's production model v1 "
            "(the version the stack file serves), as the demo's first steps do.",
        ),
    ] = False,
    root: Annotated[
        Path, typer.Option(help="Repository root holding the Pulumi.<stack>.yaml files.")
    ] = Path("."),
) -> None:
    """Run moto (S3, KMS, IAM, STS, SageMaker) on 127.0.0.1 with the project's fixes.

    Prints `AWS_ENDPOINT_URL=http://127.0.0.1:<port>` once it accepts requests, then,
    with `--stack`, the `export` lines (administrator credentials, the stack's outputs
    as `MLOPS_*`) that point `mlops` and boto3 at it, and serves until interrupted
    (Ctrl-C or SIGTERM). The administrator (`AWS_ACCESS_KEY_ID=emulator`) may do
    anything; sessions of roles (`sts:AssumeRole`) are held to their policies unless
    `--no-enforce-iam`.
    """
    from common.errors import MlopsError
    from ml.emulator.server import Emulator

    if with_demo_models and stack is None:
        raise MlopsError("--with-demo-models needs --stack: the models go into a stack's registry")
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in STOP_SIGNALS}
    try:
        with ExitStack() as exits:
            if stack is None:
                server = exits.enter_context(
                    Emulator(port=port, region=region, enforce_iam=enforce_iam)
                )
                exports: list[str] = []
            else:
                with _stdout_to_stderr():  # training's output must not precede the endpoint
                    server, exports = _start_stack(
                        exits, stack, root, port, enforce_iam, demo_models=with_demo_models
                    )
            sys.stdout.write(f"AWS_ENDPOINT_URL={server.endpoint_url}\n")
            if exports:
                sys.stdout.write(f"# stack {stack} bootstrapped; to use it from another shell:\n")
                sys.stdout.write("".join(f"{line}\n" for line in exports))
            sys.stdout.flush()
            while not stop.wait(0.5):
                pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """File descriptor 1 to 2 for the block: loggers bound to stdout follow too."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _start_stack(
    exits: ExitStack, stack: str, root: Path, port: int, enforce_iam: bool, *, demo_models: bool
) -> tuple["Emulator", list[str]]:
    """The demo's own first steps (render, start and bootstrap, optionally production v1),
    so the emulator holds the stack exactly as `mlops demo` sees it."""
    from ml.demo.runner import Progress
    from ml.demo.steps import DemoRun, DemoSettings

    scratch = Path(exits.enter_context(tempfile.TemporaryDirectory(prefix="mlops-emulator-")))
    settings = DemoSettings(stack=stack, out=scratch, root=root, port=port, enforce_iam=enforce_iam)
    run = DemoRun(settings, exits)
    quiet = Progress(lambda _: None)
    if demo_models:
        run.render(quiet)
    else:
        run.load_graph()  # a stack that serves no model yet can still be bootstrapped
    run.start_emulator(quiet)
    if demo_models:
        run.build_production(quiet)
    return run.emulator, export_lines(run.emulator.environment(), run.emulated.outputs())


STACK_ENV = {
    Env.ARTIFACT_BUCKET: StackOutput.ARTIFACT_BUCKET,
    Env.DATA_KEY_ID: StackOutput.DATA_KEY_ARN,
    Env.SIGNING_KEY_ID: StackOutput.SIGNING_KEY_ALIAS,
}
"""The variables the commands read -> the stack output that fills each (as CI sets them)."""


def export_lines(environment: dict[str, str], outputs: dict[str, str]) -> list[str]:
    """`export NAME=value` for the emulator's endpoint and administrator credentials,
    then each `MLOPS_*` variable from the stack's outputs."""
    values = {**environment}
    values.update({str(env): outputs[output] for env, output in STACK_ENV.items()})
    return [f"export {name}={shlex.quote(value)}" for name, value in values.items()]
