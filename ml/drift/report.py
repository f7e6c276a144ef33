"""Drift reports: `drift.md` (a PR or issue comment), `drift.json`, `drift.html`.

The Markdown and HTML sections are also used inside the validation report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ml.drift.detect import CategoricalDrift, DriftResult, NumericDrift
from ml.reports import ReportPaths, plots, write_reports
from ml.reports import markdown as md
from ml.reports.html import Badge, environment, render

TOP_DISTRIBUTIONS = 4


def thresholds_sentence(result: DriftResult) -> str:
    t = result.thresholds
    corrected = (
        f" (Bonferroni: {t.ks_pvalue:g} / {len(result.features)} tests)"
        if t.correction == "bonferroni"
        else ""
    )
    return (
        f"A feature drifts when KS p-value < {result.ks_pvalue_threshold:.3g}{corrected} or "
        f"KS statistic > {t.ks_statistic:g} (numeric), chi-square p-value < "
        f"{result.chi2_pvalue_threshold:.3g} (categorical), or PSI > {t.psi:g}."
    )


def _row(f: NumericDrift | CategoricalDrift) -> list[str]:
    if isinstance(f, NumericDrift):
        tests = [md.number(f.ks.statistic), md.number(f.ks.pvalue), md.MISSING]
    else:
        tests = [md.MISSING, md.MISSING, md.number(f.chi2.pvalue)]
    return [
        md.code(f.name),
        f.kind,
        *tests,
        md.number(f.psi),
        "❌ drift" if f.drifted else "✅",
        md.cell("; ".join(f.reasons)) if f.reasons else "",
    ]


HEADERS = ["feature", "kind", "KS statistic", "KS p-value", "χ² p-value", "PSI", "", "why"]


def markdown_section(result: DriftResult, heading: str = "###") -> str:
    drifted = result.drifted
    n = len(result.features)
    verdict = (
        f"❌ drift in {len(drifted)} of {n} features" if drifted else f"✅ no drift in {n} features"
    )
    lines = [
        f"{heading} Drift: {verdict}",
        "",
        f"Reference: {result.reference_rows:,} rows; current: {result.current_rows:,} rows. "
        + thresholds_sentence(result),
        "",
    ]
    ranked = result.ranked()
    if drifted:
        lines += [md.table(HEADERS, [_row(f) for f in ranked if f.drifted], "llrrrrcl"), ""]
    lines.append(
        md.details(f"All {n} features", md.table(HEADERS, [_row(f) for f in ranked], "llrrrrcl"))
    )
    if result.ignored_columns:
        lines += ["", f"Not compared (not in the reference): {', '.join(result.ignored_columns)}"]
    return "\n".join(lines)


def html_context(result: DriftResult) -> dict[str, Any]:
    """What `drift_sections.html` shows: verdict, charts, distributions and the table."""
    ranked = result.ranked()
    numeric = [f for f in ranked if isinstance(f, NumericDrift)]
    charts = []
    if numeric:
        charts.append(
            plots.horizontal_bars(
                [f.name for f in numeric],
                [f.ks.statistic for f in numeric],
                "KS statistic per numeric feature",
                "KS statistic",
                threshold=result.thresholds.ks_statistic,
                highlight=[f.drifted for f in numeric],
            )
        )
    charts.append(
        plots.horizontal_bars(
            [f.name for f in ranked],
            [f.psi for f in ranked],
            "PSI per feature",
            "PSI",
            threshold=result.thresholds.psi,
            highlight=[f.drifted for f in ranked],
        )
    )
    distributions = []
    for f in ranked[:TOP_DISTRIBUTIONS]:
        caption = "drifted" if f.drifted else "most changed, no drift"
        if isinstance(f, NumericDrift):
            counts = {"reference": f.histogram.reference, "current": f.histogram.current}
            edges = f.histogram.edges
            distributions.append((plots.histogram_overlay(edges, counts, f.name, f.name), caption))
            distributions.append(
                (
                    plots.ecdf_overlay(edges, counts, f"{f.name}: cumulative", f.name),
                    f"KS statistic {f.ks.statistic:.4f} (central 99% of values shown)",
                )
            )
        else:
            counts = {"reference": f.chi2.reference, "current": f.chi2.current}
            distributions.append((plots.category_bars(f.chi2.categories, counts, f.name), caption))
    rows = []
    for f in ranked:
        if isinstance(f, NumericDrift):
            tests: list[Any] = [f.ks.statistic, f.ks.pvalue, None]
        else:
            tests = [None, None, f.chi2.pvalue]
        badge = Badge(not f.drifted, "drift" if f.drifted else "ok")
        rows.append([f.name, f.kind, *tests, f.psi, badge, "; ".join(f.reasons)])
    n = len(result.features)
    verdict = Badge(
        not result.drifted,
        f"drift in {len(result.drifted)} of {n} features"
        if result.drifted
        else f"no drift in {n} features",
    )
    return {
        "verdict": verdict,
        "summary": f"Reference: {result.reference_rows:,} rows; current: "
        f"{result.current_rows:,} rows. " + thresholds_sentence(result),
        "charts": charts,
        "distributions": distributions,
        "headers": HEADERS,
        "rows": rows,
        "bad": [f.drifted for f in ranked],
    }


PAGE = "drift.html"


def prepare_page() -> None:
    """Load jinja2 and the page's compiled template now (about 0.1 s of one core), e.g.
    while polars is still reading the data, instead of after the comparison."""
    environment().get_template(PAGE)


def write_drift_reports(
    out_dir: Path, result: DriftResult, reference: str, current: str, name: str = "drift"
) -> ReportPaths:
    markdown = "\n".join(
        [
            "## Data drift report",
            "",
            f"Reference `{reference}` vs current `{current}`.",
            "",
            markdown_section(result),
        ]
    )
    data = {"reference": reference, "current": current, **result.to_json()}
    page = render(
        PAGE,
        title="Data drift report",
        subtitle=f"{reference} vs {current}",
        drift=html_context(result),
    )
    return write_reports(out_dir, name, markdown=markdown, data=data, html=page)
