"""`mlops audit --stack prod`, cold, as a process, beside the render it starts with.

There is no offline alternative to race: the tool a Pulumi user would run instead,
`pulumi preview --policy-pack`, needs the Pulumi CLI and its engine (not installed here,
and it would run the same program plus the pack), and checkov or cfn-lint read Terraform
or CloudFormation, not a Pulumi resource graph. So the audit's absolute time is reported
beside `mlops infra render` of the same stack, each a fresh process: the difference is
what the policy pack, the IAM linter and the report cost on top of rendering the graph.

Printed and written to build/bench/audit.json: the median of `--repeats` runs of each,
their ratio and difference, the load average. Bar: the audit exits 0 on the shipped
stack (its findings are tests/policies' business, not this benchmark's).

Run alone: `python -m benchmarks.audit [--stack prod] [--repeats 3] [--strict]`.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import MLOPS, line, load_average, parser_for, publish, repeated


def run(stack: str, repeats: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mlops-bench-audit-") as directory:
        work = Path(directory)
        load_before = load_average()
        audit = repeated([MLOPS, "audit", "-s", stack, "-o", str(work / "audit.md")], repeats)
        graph = ["--out", str(work / "graph.json"), "--quiet"]
        render = repeated([MLOPS, "infra", "render", "-s", stack, *graph], repeats)
        load_after = load_average()
    report: dict[str, Any] = {
        "stack": stack,
        "repeats": repeats,
        "audit": audit,
        "render": render,
        "ratio_audit_to_render": round(audit["seconds"] / render["seconds"], 2),
        "policies_and_report_seconds": round(audit["seconds"] - render["seconds"], 3),
        "policies_and_report_cpu_seconds": round(audit["cpu_seconds"] - render["cpu_seconds"], 3),
        "load_average": [load_before, load_after],
    }
    report["bars"] = {"audit_exits_0": audit["exit_code"] == 0}
    report["bars"]["met"] = all(report["bars"].values())
    return report


def render(report: dict[str, Any]) -> str:
    bars = report["bars"]
    return "\n".join(
        [
            f"mlops audit --stack {report['stack']}, fresh processes, median of "
            f"{report['repeats']} (load average {report['load_average'][0]} -> "
            f"{report['load_average'][1]}); no offline alternative (see the docstring)",
            line("mlops audit", report["audit"]),
            line("mlops infra render (its first step)", report["render"]),
            f"  audit = {report['ratio_audit_to_render']:.2f}x render: policies, IAM lint and "
            f"report add {report['policies_and_report_seconds']:.2f} s wall, "
            f"{report['policies_and_report_cpu_seconds']:.2f} s CPU",
            "bars met" if bars["met"] else f"BARS NOT MET: {bars}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = parser_for("audit", __doc__.split("\n")[0])
    parser.add_argument("--stack", default="prod", help="Stack to audit.")
    parser.add_argument("--repeats", type=int, default=3, help="Cold runs of each (median).")
    args = parser.parse_args(argv)
    return publish(run(args.stack, args.repeats), render, args)


if __name__ == "__main__":
    sys.exit(main())
