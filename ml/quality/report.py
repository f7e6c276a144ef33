"""Quality reports: `quality.md` (the issue body), `quality.json`, `quality.html` (plots)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ml.quality.evaluate import QualityResult
from ml.reports import ReportPaths, plots, write_reports
from ml.reports import markdown as md
from ml.reports.html import Badge, render


@dataclass(frozen=True)
class Window:
    since: datetime | None
    until: datetime | None

    def describe(self) -> str:
        start = self.since.isoformat() if self.since else "the first capture"
        end = self.until.isoformat() if self.until else "the last capture"
        return f"{start} to {end}"


def _verdict(result: QualityResult) -> str:
    bad = result.regressions
    if bad:
        return f"{len(bad)} metric(s) worse than tolerated: {', '.join(bad)}"
    return "no metric worse than tolerated"


def _rows(result: QualityResult, cell) -> list[list]:
    return [
        [
            c.name,
            cell(c.value),
            cell(c.baseline),
            md.signed(c.change) if c.change is not None else md.MISSING,
            cell(c.limit),
            "no baseline" if c.limit is None else md.status(not c.regressed),
        ]
        for c in result.checks
    ]


def _counts(result: QualityResult, window: Window) -> dict[str, object]:
    return {
        "window": window.describe(),
        "capture records read": result.records,
        "outside the window": result.outside_window,
        "multi-row records (not joinable)": result.multi_row,
        "records without a captured response": result.no_output,
        "labelled predictions scored": result.joined,
        "positives among them": result.positives,
        "predictions without a label yet": result.unlabelled,
        "labels matching no prediction in the window": result.labels_unmatched,
    }


def _tolerance_sentence(result: QualityResult) -> str:
    t = result.tolerances
    return (
        f"Tolerances, relative to the baseline: accuracy {t.accuracy:.0%} lower, ROC AUC "
        f"{t.roc_auc:.0%} lower, log loss {t.log_loss:.0%} higher."
    )


def write_quality_reports(
    out_dir: Path, result: QualityResult, window: Window, baseline_source: str, endpoint: str
) -> ReportPaths:
    title = f"Model quality of {endpoint}" if endpoint else "Model quality"
    markdown = "\n".join(
        [
            f"## {title} against ground truth",
            "",
            f"**{_verdict(result)}** over {result.joined:,} labelled predictions, "
            f"{window.describe()}; baseline `{baseline_source}`.",
            "",
            md.table(
                ["metric", "window", "baseline", "change", "worst accepted", ""],
                _rows(result, md.number),
                "lrrrrl",
            ),
            "",
            _tolerance_sentence(result),
            "",
            md.details(
                "Counts",
                md.table(["", ""], [[k, md.number(v)] for k, v in _counts(result, window).items()]),
            ),
        ]
    )
    data = {
        "endpoint": endpoint or None,
        "baseline": baseline_source,
        "window": {"since": window.since, "until": window.until},
        "regressions": result.regressions,
        "metrics": result.metrics.as_dict(),
        "checks": [
            {
                "metric": c.name,
                "value": c.value,
                "baseline": c.baseline,
                "limit": c.limit,
                "regressed": c.regressed,
            }
            for c in result.checks
        ],
        "tolerances": result.tolerances,
        "counts": {
            "records": result.records,
            "outside_window": result.outside_window,
            "multi_row": result.multi_row,
            "no_output": result.no_output,
            "joined": result.joined,
            "positives": result.positives,
            "unlabelled": result.unlabelled,
            "labels_unmatched": result.labels_unmatched,
        },
    }
    names = [c.name for c in result.checks]
    bars = plots.grouped_bars(
        names,
        {
            "baseline": [c.baseline for c in result.checks],
            "window": [c.value for c in result.checks],
            "worst accepted": [c.limit for c in result.checks],
        },
        "Window vs baseline",
    )
    roc = plots.curves(
        {"window": result.roc},
        "ROC curve of the window",
        "false positive rate",
        "true positive rate",
        diagonal=True,
    )
    html_rows = [
        [
            c.name,
            c.value,
            c.baseline,
            md.signed(c.change) if c.change is not None else None,
            c.limit,
            Badge(None if c.limit is None else not c.regressed),
        ]
        for c in result.checks
    ]
    page = render(
        "quality.html",
        title=title,
        subtitle=window.describe(),
        verdict=Badge(not result.regressions, _verdict(result)),
        baseline=f"Baseline: {baseline_source}. " + _tolerance_sentence(result),
        checks=html_rows,
        regressed=[c.regressed for c in result.checks],
        charts=[(bars, ""), (roc, f"AUC {result.metrics.roc_auc:.4f}")],
        counts=_counts(result, window),
    )
    return write_reports(out_dir, "quality", markdown=markdown, data=data, html=page)
