"""`mlops audit`: the compliance audit of one stack, from its declared infrastructure."""

from pathlib import Path
from typing import Annotated, Any

import typer

from common.errors import CheckFailed
from ml.cli.usage import LazyConsole, RootOption, existing_path

console: Any = LazyConsole(highlight=False, soft_wrap=True)


def audit(
    stack: Annotated[
        str | None,
        typer.Option(
            "--stack",
            "-s",
            help="Stack to audit: dev, staging or prod; or bootstrap (the per-account program). "
            "Without --live: its stack file rendered offline.",
        ),
    ] = None,
    graph_file: Annotated[
        Path | None,
        typer.Option(
            "--graph",
            "-g",
            help="Audit this file instead: a resource graph (`mlops infra render --out`, "
            "`mlops infra import-state`) or a `pulumi stack export`.",
        ),
    ] = None,
    live: Annotated[
        bool,
        typer.Option(
            "--live",
            help="Audit what is deployed: read the stack's resources with read-only calls "
            "(run as the stack's auditor role); needs --stack-outputs.",
        ),
    ] = False,
    stack_outputs: Annotated[
        Path | None,
        typer.Option(
            "--stack-outputs",
            help="--live: `pulumi stack output --json` of the stack (the deployed names).",
        ),
    ] = None,
    format: Annotated[
        str, typer.Option("--format", "-f", help="Report format: md, json, sarif or html.")
    ] = "md",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Report file to write (default build/audit/<stack>[-graph|-live].<format>).",
        ),
    ] = None,
    waivers: Annotated[
        Path | None,
        typer.Option(
            "--waivers",
            callback=existing_path,
            help="Waiver file (YAML); default policies/waivers.yaml under --root when present.",
        ),
    ] = None,
    root: RootOption = Path("."),
) -> None:
    """Run the policy pack and the IAM linter over a stack's graph; write the report.

    The graph is the stack file rendered offline (default), a graph file or state export
    (--graph), or the deployed resources read live (--live). Exits 1 when a mandatory
    policy fails or a waiver expired, 2 on bad input.
    """
    from ml.audit.service import audit_graph, check_formats, graph_to_audit

    check_formats([format])
    graph, source, suffix = graph_to_audit(stack, graph_file, live, stack_outputs, root)
    target = out or root / "build" / "audit" / f"{graph['stack']}{suffix}.{format}"
    try:
        run = audit_graph(graph, source, {format: target}, root=root, waivers=waivers)
    except CheckFailed as failed:
        console.print(failed.result.describe())
        for failure in failed.result.summary["failures"]:
            console.print(f"  FAIL {failure}", markup=False)
        raise
    console.print(run.describe())
