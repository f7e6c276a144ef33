"""`mlops audit`: the compliance audit of one stack, from its declared infrastructure."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from common.errors import MlopsError
from ml.cli.usage import LazyConsole, RootOption, existing_path

if TYPE_CHECKING:
    from ml.audit.sources import Source

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
    from infra.graph import Graph
    from ml.audit.report import build_report
    from ml.audit.sources import policy_configs
    from ml.audit.writers import FORMATS, write_report
    from policies.pack import BY_NAME
    from policies.waivers import waivers_for

    if format not in FORMATS:
        raise MlopsError(f"unknown format {format!r}: choose one of {', '.join(FORMATS)}")
    graph, source, suffix = _graph_to_audit(stack, graph_file, live, stack_outputs, root)
    name = graph["stack"]
    configs = policy_configs(name, root)
    waiver_set = waivers_for(root, waivers, BY_NAME)
    report = build_report(Graph.from_json(graph), waiver_set, configs=configs, source=source)
    target = out or root / "build" / "audit" / f"{name}{suffix}.{format}"
    write_report(report, format, target, root)
    summary = report["summary"]
    console.print(
        f"{name}: audit {summary['status'].upper()} of {source.kind} ({summary['passed']} "
        f"passed, {summary['failed']} failed, {summary['advisories']} advisory, "
        f"{summary['waived']} waived, {summary['expired_waivers']} expired waiver(s)); "
        f"wrote {format} report to {target}"
    )
    if summary["status"] != "pass":
        for failure in summary["failures"]:
            console.print(f"  FAIL {failure}", markup=False)
        raise MlopsError(
            f"audit of {name} failed: {summary['failed']} mandatory policy failure(s), "
            f"{summary['expired_waivers']} expired waiver(s), {len(source.missing)} missing "
            f"resource(s) in the {source.kind} graph; see {target}",
            exit_code=1,
        )


def _graph_to_audit(
    stack: str | None, graph_file: Path | None, live: bool, outputs: Path | None, root: Path
) -> "tuple[dict[str, Any], Source, str]":
    """The graph the options name, its source, and the report name's suffix."""
    from ml.audit.sources import Source

    if graph_file is not None:
        if stack is not None or live or outputs is not None:
            raise MlopsError(
                "--graph audits the file alone: drop --stack, --live and --stack-outputs"
            )
        from ml.audit.sources import load_graph

        graph, source = load_graph(graph_file)
        return graph, source, "-graph"
    if stack is None:
        raise MlopsError(
            "name what to audit: --stack S (add --live for what is deployed) or --graph FILE"
        )
    if live:
        from ml.audit.live import live_graph

        graph, source = live_graph(stack, root, outputs)
        return graph, source, "-live"
    if outputs is not None:
        raise MlopsError("--stack-outputs applies to --live only")
    if stack == "bootstrap":
        from infra.bootstrap.offline import render_bootstrap_graph

        return render_bootstrap_graph(root), Source("rendered"), ""
    from infra.config import load_stack
    from infra.offline import render_graph

    load_stack(stack, root)  # an unknown stack or a bad stack file fails here, in one line
    return render_graph(stack, root), Source("rendered"), ""
