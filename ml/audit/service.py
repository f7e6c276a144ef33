"""`mlops audit` as functions: which graph to audit, and the audit of it.

`graph_to_audit` turns the command's choice (a stack rendered offline, a graph file or
state export, or what is deployed) into one graph; `audit_graph` runs the policy pack and
the IAM linter over it with the stack file's policy config and the waivers, writes the
report in each format asked for, and fails (`CheckFailed`, exit 1, carrying the
`AuditRun`) when a mandatory policy fails, a waiver expired or a resource is missing.
The command and the demo call the same two.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.errors import CheckFailed, MlopsError
from ml.audit.sources import Source


@dataclass(frozen=True)
class AuditRun:
    """One audit: the report document, what its graph was made from, where it went."""

    stack: str
    report: dict[str, Any]
    source: Source
    written: dict[str, Path]
    """Format -> the file it was written to."""

    @property
    def summary(self) -> dict[str, Any]:
        return self.report["summary"]

    @property
    def passed(self) -> bool:
        return self.summary["status"] == "pass"

    def describe(self) -> str:
        """One line: the verdict, the counts and where the report is."""
        s = self.summary
        formats = ", ".join(f"{fmt} report to {path}" for fmt, path in self.written.items())
        return (
            f"{self.stack}: audit {s['status'].upper()} of {self.source.kind} ({s['passed']} "
            f"passed, {s['failed']} failed, {s['advisories']} advisory, {s['waived']} waived, "
            f"{s['expired_waivers']} expired waiver(s)); wrote {formats}"
        )


def check_formats(formats: Iterable[str]) -> None:
    """Bad input before any work: a report format the writers do not know."""
    from ml.audit.writers import FORMATS

    for format in formats:
        if format not in FORMATS:
            raise MlopsError(f"unknown format {format!r}: choose one of {', '.join(FORMATS)}")


def graph_to_audit(
    stack: str | None, graph_file: Path | None, live: bool, outputs: Path | None, root: Path
) -> tuple[dict[str, Any], Source, str]:
    """The graph the options name, its source, and the report name's suffix."""
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


def audit_graph(
    graph: dict[str, Any],
    source: Source,
    targets: Mapping[str, Path],
    *,
    root: Path,
    waivers: Path | None = None,
) -> AuditRun:
    """Audit `graph` (a rendered graph document) and write the report to `targets`
    (format -> file); `root` holds the stack files, the default waivers and the sources
    SARIF points at."""
    from infra.graph import Graph
    from ml.audit.report import build_report
    from ml.audit.sources import policy_configs
    from ml.audit.writers import write_report
    from policies.pack import BY_NAME
    from policies.waivers import waivers_for

    check_formats(targets)
    name = graph["stack"]
    report = build_report(
        Graph.from_json(graph),
        waivers_for(root, waivers, BY_NAME),
        configs=policy_configs(name, root),
        source=source,
    )
    for format, target in targets.items():
        write_report(report, format, target, root)
    run = AuditRun(name, report, source, dict(targets))
    if not run.passed:
        s = run.summary
        first = next(iter(targets.values()), None)
        raise CheckFailed(
            f"audit of {name} failed: {s['failed']} mandatory policy failure(s), "
            f"{s['expired_waivers']} expired waiver(s), {len(source.missing)} missing "
            f"resource(s) in the {source.kind} graph" + (f"; see {first}" if first else ""),
            run,
        )
    return run
