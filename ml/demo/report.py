"""The demo's report folder front page: `index.html`, `summary.md` and `summary.json`.

Every report a step wrote is linked from the index by its path relative to the folder,
so the folder can be moved, zipped or uploaded as a CI artifact and still work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ml.demo.runner import StepResult
from ml.demo.steps import Identity, ReportLink
from ml.reports import markdown as md
from ml.reports.core import dumps, write_text_atomic
from ml.reports.html import Badge, render

REPORT_KIND = "mlops demo"
"""`summary.json`'s `report` value; also how a demo folder is recognised for reuse."""


@dataclass(frozen=True)
class Enforcement:
    """What IAM enforcement decided during the run (`ml.emulator.iam.LEDGER`)."""

    on: bool
    calls: int
    """Calls of the stack's roles the emulator authorised."""
    identities: int
    """Distinct roles those calls came from."""
    denied: str | None = None
    """The first denial's line, if any."""

    def line(self) -> str:
        state = "on" if self.on else "off"
        counts = f"authorised {self.calls} calls for {self.identities} identities"
        return f"{counts}, IAM enforcement: {state}"


def self_json(enforcement: Enforcement) -> dict[str, Any]:
    return {
        "on": enforcement.on,
        "authorised_calls": enforcement.calls,
        "identities": enforcement.identities,
        "first_denial": enforcement.denied,
    }


@dataclass(frozen=True)
class DemoSummary:
    stack: str
    out: Path
    started: datetime
    seconds: float
    results: list[StepResult]
    reports: list[ReportLink]
    facts: dict[str, Any]
    identities: list[Identity]
    enforcement: Enforcement

    @property
    def roles_used(self) -> int:
        return len({identity.role_arn for identity in self.identities})

    @property
    def identity_line(self) -> str:
        return self.enforcement.line()

    @property
    def passed(self) -> bool:
        return all(result.status == "passed" for result in self.results)

    @property
    def failure(self) -> StepResult | None:
        return next((r for r in self.results if r.status == "failed"), None)

    def relative(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.out.resolve()).as_posix()
        except ValueError:
            return str(path)


def write_summary(summary: DemoSummary) -> Path:
    """Write the three files; returns the index page."""
    write_text_atomic(summary.out / "summary.json", dumps(to_json(summary)))
    write_text_atomic(summary.out / "summary.md", markdown(summary))
    index = summary.out / "index.html"
    write_text_atomic(index, html(summary))
    return index


def to_json(summary: DemoSummary) -> dict[str, Any]:
    return {
        "report": REPORT_KIND,
        "stack": summary.stack,
        "passed": summary.passed,
        "started": summary.started.isoformat(timespec="seconds"),
        "seconds": round(summary.seconds, 2),
        "steps": [
            {
                "name": r.name,
                "title": r.title,
                "status": r.status,
                "seconds": r.seconds,
                "detail": r.detail,
            }
            for r in summary.results
        ],
        "outcomes": summary.facts,
        "identities": [identity.to_json() for identity in summary.identities],
        "roles_used": summary.roles_used,
        "iam_enforcement": self_json(summary.enforcement),
        "reports": [
            {"section": link.section, "title": link.title, "path": summary.relative(link.path)}
            for link in summary.reports
        ],
    }


def _verdict(summary: DemoSummary) -> str:
    if summary.passed:
        return f"every step passed in {summary.seconds:.0f}s; {summary.identity_line}"
    failure = summary.failure
    return f"failed at '{failure.title}': {failure.detail}" if failure else "failed"


IDENTITY_HEADERS = ["step", "action", "duty", "caller identity (sts:GetCallerIdentity)"]


def _identity_rows(summary: DemoSummary) -> list[list[str]]:
    return [[i.step, i.action, i.duty, i.caller_arn] for i in summary.identities]


def markdown(summary: DemoSummary) -> str:
    rows = [
        [
            md.status(r.status == "passed", "✅", "❌") if r.status != "skipped" else md.MISSING,
            md.cell(r.title),
            f"{r.seconds:.1f}s",
            md.cell(r.detail),
        ]
        for r in summary.results
    ]
    lines = [
        f"# mlops demo on `{summary.stack}`: {_verdict(summary)}",
        "",
        md.table(["", "step", "time", "result"], rows, "clrl"),
        "",
        "## Identities",
        "",
        f"{summary.identity_line}.",
        "",
        md.table(
            IDENTITY_HEADERS,
            [[md.cell(c) for c in row[:3]] + [md.code(row[3])] for row in _identity_rows(summary)],
        ),
        "",
        "## Reports",
    ]
    section = None
    for link in summary.reports:
        if link.section != section:
            section = link.section
            lines += ["", f"### {section}", ""]
        lines.append(f"- [{link.title}]({summary.relative(link.path)})")
    return "\n".join(lines) + "\n"


def html(summary: DemoSummary) -> str:
    steps = [
        [
            Badge(None if r.status == "skipped" else r.status == "passed", r.status),
            r.title,
            f"{r.seconds:.1f}s",
            r.detail,
        ]
        for r in summary.results
    ]
    by_section: dict[str, list[tuple[str, str]]] = {}
    for link in summary.reports:
        by_section.setdefault(link.section, []).append((link.title, summary.relative(link.path)))
    subtitle = (
        f"stack {summary.stack}, started {summary.started.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC, "
        "on the embedded AWS emulator"
    )
    return render(
        "demo_index.html",
        title="mlops demo: the whole release, offline",
        subtitle=subtitle,
        verdict=_verdict(summary),
        steps=steps,
        failed=[r.status == "failed" for r in summary.results],
        identity_line=summary.identity_line,
        identity_headers=IDENTITY_HEADERS,
        identities=_identity_rows(summary),
        reports=list(by_section.items()),
    )
