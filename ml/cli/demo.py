"""`mlops demo`: the whole release on this machine, on the embedded AWS emulator."""

from pathlib import Path
from typing import Annotated, Any

import typer

from common.errors import MlopsError
from ml.cli.usage import LazyConsole, RootOption

console: Any = LazyConsole(highlight=False, soft_wrap=True)


def demo(
    stack: Annotated[
        str,
        typer.Option(
            "--stack",
            "-s",
            help="Stack whose release to rehearse (staging: canary; dev: all at once).",
        ),
    ] = "staging",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Report folder (default: a new build/demo/<timestamp>, linked as "
            "build/demo/latest).",
        ),
    ] = None,
    port: Annotated[
        int,
        typer.Option(
            "--port", "-p", min=0, max=65535, help="Loopback port of the emulator; 0: any free one."
        ),
    ] = 0,
    root: RootOption = Path("."),
    canary_seconds: Annotated[
        float,
        typer.Option(
            min=1, max=600, help="Length of each canary rehearsal (the baking time, compressed)."
        ),
    ] = 12.0,
    drill_deny: Annotated[
        str | None,
        typer.Option(
            "--drill-deny",
            metavar="ROLE:ACTION",
            help="Take one grant away from the emulated policies (e.g. gh-release:kms:Sign; "
            "ROLE a duty or role suffix) to rehearse the denial: the step that needs it fails.",
        ),
    ] = None,
    enforce_iam: Annotated[
        bool,
        typer.Option(
            "--enforce-iam/--no-enforce-iam",
            help="Authorise every call on its action, resource and conditions (default on).",
        ),
    ] = True,
) -> None:
    """Train (with a spot interruption), validate, sign, register, plan the release PR and
    rehearse the canary (promote, then a faulty candidate rolled back), all offline.

    Writes one report folder (index.html, summary.md, summary.json, every report) and
    prints its path. Exits 1 if a step fails, naming it; 2 on bad input.
    """
    from infra.config import load_stack
    from ml.demo.run import point_latest, report_folder, run_demo
    from ml.demo.steps import DemoSettings
    from ml.emulator.drill import Drill

    load_stack(stack, root)  # an unknown stack or a bad stack file: one line, before any work
    if drill_deny is not None:
        Drill.parse(drill_deny)  # a malformed drill: one line, before any work
        if not enforce_iam:
            raise MlopsError("--drill-deny needs IAM enforcement; drop --no-enforce-iam")
    folder = report_folder(out)
    settings = DemoSettings(
        stack=stack,
        out=folder,
        root=root,
        port=port,
        canary_seconds=canary_seconds,
        enforce_iam=enforce_iam,
        drill_deny=drill_deny,
    )
    summary = run_demo(settings)
    if out is None:
        point_latest(folder)
    console.print(summary.identity_line, markup=False)
    console.print(f"report: {folder / 'index.html'}", markup=False)
    failure = summary.failure
    if failure is not None:
        raise MlopsError(f"demo step '{failure.title}' failed: {failure.detail}", exit_code=1)
