"""`mlops audit`: the compliance audit of one stack, from its declared infrastructure."""

from pathlib import Path
from typing import Annotated, Any

import typer

from common.errors import MlopsError
from ml.cli.usage import LazyConsole, RootOption, existing_path

console: Any = LazyConsole(highlight=False, soft_wrap=True)


def audit(
    stack: Annotated[
        str,
        typer.Option(
            "--stack",
            "-s",
            help="Stack to audit: dev, staging or prod; or bootstrap (the per-account program).",
        ),
    ],
    format: Annotated[
        str, typer.Option("--format", "-f", help="Report format: md, json, sarif or html.")
    ] = "md",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Report file to write (default build/audit/<stack>.<format>)."
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
    """Run the policy pack and the IAM linter over the stack's offline graph; write the report.

    Exits 1 when a mandatory policy fails or a waiver expired, 2 on bad input.
    """
    from infra.config import load_stack
    from infra.graph import Graph
    from infra.offline import render_graph
    from ml.audit.engine import stack_configs
    from ml.audit.report import build_report
    from ml.audit.writers import FORMATS, write_report
    from policies.pack import BY_NAME
    from policies.waivers import waivers_for

    if format not in FORMATS:
        raise MlopsError(f"unknown format {format!r}: choose one of {', '.join(FORMATS)}")

    configs = None
    if stack == "bootstrap":
        from infra.bootstrap.offline import render_bootstrap_graph

        graph = render_bootstrap_graph(root)
    else:
        cfg = load_stack(stack, root)  # an unknown stack or a bad stack file fails here
        graph = render_graph(stack, root)
        configs = stack_configs(cfg.promoter_role_arns())
    waiver_set = waivers_for(root, waivers, BY_NAME)
    report = build_report(Graph.from_json(graph), waiver_set, configs=configs)
    target = out or root / "build" / "audit" / f"{stack}.{format}"
    write_report(report, format, target, root)
    summary = report["summary"]
    console.print(
        f"{stack}: audit {summary['status'].upper()} ({summary['passed']} passed, "
        f"{summary['failed']} failed, {summary['advisories']} advisory, {summary['waived']} "
        f"waived, {summary['expired_waivers']} expired waiver(s)); "
        f"wrote {format} report to {target}"
    )
    if summary["status"] != "pass":
        for failure in summary["failures"]:
            console.print(f"  FAIL {failure}", markup=False)
        raise MlopsError(
            f"audit of {stack} failed: {summary['failed']} mandatory policy failure(s), "
            f"{summary['expired_waivers']} expired waiver(s); see {target}",
            exit_code=1,
        )
