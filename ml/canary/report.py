"""The rehearsal's report: Markdown for the PR, JSON for machines, HTML with the plot.

Rendered with `ml.reports` (the shared report layer, `templates/canary.html`); the one
plot, traffic share, p99 latency and error rate over the rehearsal's time, is drawn here
with matplotlib's object API and embedded as inline SVG (three panels sharing a time axis
with a log scale: the one plot in the project that still needs a plotting library).
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup
from matplotlib import rc_context
from matplotlib.figure import Figure

from ml.canary.alarms import ERRORS, LATENCY
from ml.canary.rehearsal import CANDIDATE, PRODUCTION, Outcome
from ml.canary.schedule import Plan
from ml.reports import ReportPaths, write_reports
from ml.reports import markdown as md
from ml.reports.html import Badge, render
from ml.reports.plots import COLORS, THRESHOLD_COLOR

NAME = "canary"
_RC = {
    "svg.fonttype": "none",  # keep text as text: smaller, searchable, selectable
    "svg.hashsalt": "mlops-report",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
}


def svg(fig: Figure) -> Markup:
    """The figure as a deterministic `<svg>` element (XML prolog, DOCTYPE and date dropped);
    matplotlib escapes its text, so the page inserts it as it is."""
    buffer = io.StringIO()
    with rc_context(_RC):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text[text.find("<svg") :], flags=re.DOTALL)
    return Markup(text.rstrip())  # noqa: S704 (matplotlib wrote it, escaping its text)


@dataclass(frozen=True)
class Context:
    """What the rehearsal was run on, for the report's header."""

    stack: str
    production: str
    candidate: str
    production_sha256: str | None
    candidate_sha256: str | None
    rps: float
    concurrency: int
    drill: dict[str, float]
    logs: dict[str, str]


def summary(plan: Plan, outcome: Outcome, context: Context) -> dict[str, Any]:
    routing, alarms = plan.routing, plan.alarms
    counts = {
        name: sum(1 for s in outcome.samples if s.target == name)
        for name in (PRODUCTION, CANDIDATE)
    }
    failed = {
        name: sum(1 for s in outcome.samples if s.target == name and not s.ok)
        for name in (PRODUCTION, CANDIDATE)
    }
    return {
        "stack": context.stack,
        "decision": outcome.decision,
        "reason": outcome.reason,
        "alarm": outcome.alarm,
        "rolled_back_at_seconds": outcome.rolled_back_at,
        "rehearsal_seconds": round(outcome.duration, 3),
        "time_scale": plan.scale,
        "traffic_routing": routing.model_dump(by_alias=True),
        "alarms": alarms.model_dump(by_alias=True),
        "alarm_period_seconds": {"real": alarms.period_seconds, "rehearsal": plan.period},
        "steps": [
            {
                "label": s.label,
                "share": s.share,
                "real_seconds": s.seconds,
                "rehearsal_seconds": plan.compressed(s),
            }
            for s in plan.steps
        ],
        "step_starts": [{"at": at, "label": label} for at, label in outcome.step_starts],
        "shares": [{"at": at, "share": share} for at, share in outcome.shares],
        "models": {
            PRODUCTION: {"artifact": context.production, "model_sha256": context.production_sha256},
            CANDIDATE: {"artifact": context.candidate, "model_sha256": context.candidate_sha256},
        },
        "traffic": {
            "rps": context.rps,
            "concurrency": context.concurrency,
            "requests": counts,
            "failed_requests": failed,
        },
        "drill": context.drill,
        "logs": context.logs,
        "periods": [
            {
                "index": p.index,
                "start": round(p.start, 4),
                "end": round(p.end, 4),
                "share": p.share,
                "evaluated": p.evaluated,
                "production": vars(p.production),
                "candidate": vars(p.candidate),
                "breaches": p.breaches,
            }
            for p in outcome.periods
        ],
    }


def plot(plan: Plan, outcome: Outcome) -> Markup:
    """Three stacked panels over rehearsal time: share, p99 latency, error rate."""
    fig = Figure(figsize=(8.0, 6.4), layout="constrained")
    share_ax, latency_ax, error_ax = fig.subplots(3, 1, sharex=True)
    end = max(outcome.duration, 1e-3)
    times = [at for at, _ in outcome.shares] + [end]
    values = [share * 100 for _, share in outcome.shares]
    if values:
        share_ax.stairs(values, times, color=COLORS[4], linewidth=1.8, baseline=None)
    share_ax.set_ylabel("candidate share (%)")
    share_ax.set_ylim(-5, 105)
    share_ax.set_title("traffic share, p99 latency and error rate during the rehearsal")
    mids = [(p.start + p.end) / 2 for p in outcome.periods]
    for index, name in enumerate((PRODUCTION, CANDIDATE)):
        latency = [_nan(getattr(p, name).p99_ms) for p in outcome.periods]
        errors = [_nan(getattr(p, name).error_rate_percent) for p in outcome.periods]
        latency_ax.plot(mids, latency, marker=".", color=COLORS[index * 4], label=name)
        error_ax.plot(mids, errors, marker=".", color=COLORS[index * 4], label=name)
    latency_ax.axhline(
        plan.alarms.latency_p99_ms,
        color=THRESHOLD_COLOR,
        linestyle="--",
        linewidth=1,
        label="alarm threshold",
    )
    error_ax.axhline(
        plan.alarms.error_rate_percent,
        color=THRESHOLD_COLOR,
        linestyle="--",
        linewidth=1,
        label="alarm threshold",
    )
    latency_ax.set_yscale("log")
    latency_ax.set_ylabel("p99 latency (ms)")
    error_ax.set_ylabel("error rate (%)")
    error_ax.set_xlabel("rehearsal time (s)")
    for ax in (share_ax, latency_ax, error_ax):
        for at, _ in outcome.step_starts:
            ax.axvline(at, color="#8c959f", linestyle=":", linewidth=0.8)
        if outcome.rolled_back_at is not None:
            ax.axvline(outcome.rolled_back_at, color=THRESHOLD_COLOR, linewidth=1.2)
    latency_ax.legend(frameon=False, fontsize=8, loc="upper left")
    return svg(fig)


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


def markdown(data: dict[str, Any], html_path: Path) -> str:
    mark = "✅ promoted" if data["decision"] == "promoted" else "❌ rolled back"
    routing = data["traffic_routing"]
    alarms = data["alarms"]
    lines = [
        f"## Canary rehearsal: stack `{data['stack']}`: {mark}",
        "",
        f"**{data['reason']}**",
        "",
        f"Schedule {md.code(routing['type'])} from the stack file, rehearsed in "
        f"{data['rehearsal_seconds']:.1f} s (time scale 1:{_inverse(data['time_scale'])}); "
        f"alarms: p99 latency > {alarms['latencyP99Ms']:g} ms or error rate > "
        f"{alarms['errorRatePercent']:g}% for {alarms['evaluationPeriods']} consecutive "
        f"period(s) of {alarms['periodSeconds']} s.",
        "",
    ]
    traffic = data["traffic"]
    lines.append(
        md.table(
            ["", "production", "candidate"],
            [
                [
                    "artifact",
                    md.code(data["models"][PRODUCTION]["artifact"]),
                    md.code(data["models"][CANDIDATE]["artifact"]),
                ],
                ["requests", traffic["requests"][PRODUCTION], traffic["requests"][CANDIDATE]],
                [
                    "failed requests",
                    traffic["failed_requests"][PRODUCTION],
                    traffic["failed_requests"][CANDIDATE],
                ],
            ],
            "lrr",
        )
    )
    lines += [
        "",
        md.table(
            ["step", "share", "baking (real)", "baking (rehearsal)"],
            [
                [
                    s["label"],
                    f"{s['share'] * 100:g}%",
                    f"{s['real_seconds']:g} s",
                    f"{s['rehearsal_seconds']:.2f} s",
                ]
                for s in data["steps"]
            ],
            "lrrr",
        ),
    ]
    if data["drill"]:
        drill = ", ".join(f"{key}={value:g}" for key, value in data["drill"].items())
        lines += ["", f"Fault drill on the candidate: {md.code(drill)}."]
    lines += [
        "",
        md.details("periods", _periods_table(data["periods"])),
        "",
        f"Plot and details: `{html_path}`",
    ]
    return "\n".join(lines) + "\n"


def _periods_table(periods: Sequence[dict[str, Any]]) -> str:
    rows = []
    for p in periods:
        c, pr = p["candidate"], p["production"]
        alarm = ", ".join(name for name, hit in p["breaches"].items() if hit) or "none"
        rows.append(
            [
                p["index"],
                f"{p['start']:.2f}",
                f"{p['share'] * 100:g}%",
                pr["requests"],
                md.number(pr["p99_ms"], 2),
                c["requests"],
                md.number(c["p99_ms"], 2),
                md.number(c["error_rate_percent"], 1),
                alarm if p["evaluated"] else f"({alarm})",
            ]
        )
    return md.table(
        [
            "#",
            "start s",
            "share",
            "prod req",
            "prod p99 ms",
            "cand req",
            "cand p99 ms",
            "cand err %",
            "breaching",
        ],
        rows,
        "rrrrrrrrl",
    )


def html(data: dict[str, Any], figure_svg: Markup) -> str:
    ok = data["decision"] == "promoted"
    alarms = data["alarms"]
    outcome = {
        "decision": Badge(ok, data["decision"]),
        "reason": data["reason"],
        "stack": data["stack"],
        "traffic routing": f"{data['traffic_routing']['type']}",
        "time scale": f"1:{_inverse(data['time_scale'])} "
        f"({data['rehearsal_seconds']:.1f} s rehearsed)",
        "alarm thresholds": f"p99 > {alarms['latencyP99Ms']:g} ms, errors > "
        f"{alarms['errorRatePercent']:g}%, {alarms['evaluationPeriods']} period(s) of "
        f"{alarms['periodSeconds']} s",
        "traffic": f"{data['traffic']['rps']:g} req/s over "
        f"{data['traffic']['concurrency']} connections per server",
        "fault drill on the candidate": data["drill"] or "none",
    }
    models = [
        [
            name,
            data["models"][name]["artifact"],
            data["models"][name]["model_sha256"],
            data["traffic"]["requests"][name],
            data["traffic"]["failed_requests"][name],
        ]
        for name in (PRODUCTION, CANDIDATE)
    ]
    steps = [
        [s["label"], f"{s['share'] * 100:g}%", s["real_seconds"], s["rehearsal_seconds"]]
        for s in data["steps"]
    ]
    periods = [
        [
            p["index"],
            p["start"],
            f"{p['share'] * 100:g}%",
            p["production"]["requests"],
            p["production"]["p99_ms"],
            p["candidate"]["requests"],
            p["candidate"]["p99_ms"],
            p["candidate"]["error_rate_percent"],
            p["breaches"][LATENCY],
            p["breaches"][ERRORS],
        ]
        for p in data["periods"]
    ]
    return render(
        "canary.html",
        title=f"Canary rehearsal: {data['stack']}: {data['decision']}",
        subtitle="Production and candidate served by the real inference server on loopback, "
        "traffic shifted along the stack's schedule, judged by the endpoint's alarm thresholds.",
        outcome=outcome,
        plot=figure_svg,
        models=models,
        steps=steps,
        periods=periods,
        breached=[p["evaluated"] and any(p["breaches"].values()) for p in data["periods"]],
    )


def write(out: Path, plan: Plan, outcome: Outcome, context: Context) -> ReportPaths:
    data = summary(plan, outcome, context)
    page = html(data, plot(plan, outcome))
    return write_reports(
        out, NAME, markdown=markdown(data, out / f"{NAME}.html"), data=data, html=page
    )


def _inverse(scale: float) -> str:
    return f"{1 / scale:,.0f}" if scale > 0 else "n/a"
