"""Markdown of an estimate, and of the difference a change to a stack file makes."""

from __future__ import annotations

from typing import Any

from ml.cost.estimate import CostLine, Estimate
from ml.reports import markdown as md


def _usd(value: float) -> str:
    return f"${value:,.2f}"


def _range(low: float, high: float) -> str:
    return _usd(low) if low == high else f"{_usd(low)} - {_usd(high)}"


def _signed(value: float) -> str:
    return f"{'+' if value > 0 else '-' if value < 0 else '±'}{_usd(abs(value))}"


def _footer(e: Estimate) -> list[str]:
    a = e.assumptions
    storage = ", ".join(f"{role} {gb:g} GB" for role, gb in a.storage_gb_per_bucket.items())
    return [
        f"Prices: {e.source}; as of {e.as_of.isoformat()} (check them before budgeting: "
        "docs/cost.md). Assumed usage: storage "
        f"{storage}; {a.cloudtrail_data_events_per_month:,} trail data events; "
        f"{a.training_hours_per_month:g} training hours on {a.training_instance_type} with a "
        f"{a.expected_spot_savings_percent:g}% spot saving. Not priced: requests, data "
        "transfer, log ingestion, ECR storage, blue/green's temporary extra capacity.",
    ]


def render_markdown(e: Estimate) -> str:
    rows = [
        [md.cell(line.item), md.cell(line.detail), _range(line.low, line.high)] for line in e.lines
    ]
    rows.append(["**total**", "", f"**{_range(e.low, e.high)}**"])
    return "\n".join(
        [
            f"## Monthly cost estimate: `{e.stack}` ({e.region})",
            "",
            md.table(["item", "detail", "per month"], rows, "llr"),
            "",
            *_footer(e),
            "",
        ]
    )


def render_diff(base: Estimate, proposed: Estimate) -> str:
    """What the change costs per month: one row per item that changes, and the total."""
    before = {line.item: line for line in base.lines}
    after = {line.item: line for line in proposed.lines}
    none = CostLine("", "(absent)", 0.0, 0.0)
    rows = []
    for item in [*before, *(i for i in after if i not in before)]:
        old, new = before.get(item, none), after.get(item, none)
        if (old.low, old.high, old.detail) == (new.low, new.high, new.detail):
            continue
        rows.append(
            [
                md.cell(item),
                md.cell(old.detail),
                md.cell(new.detail),
                _signed(new.low - old.low)
                if new.low - old.low == new.high - old.high
                else f"{_signed(new.low - old.low)} to {_signed(new.high - old.high)}",
            ]
        )
    low, high = round(proposed.low - base.low, 2), round(proposed.high - base.high, 2)
    total = _signed(low) if low == high else f"{_signed(low)} to {_signed(high)}"
    lines = [f"## Cost of this change: `{proposed.stack}` {total} per month", ""]
    if rows:
        lines += [md.table(["item", "before", "after", "per month"], rows, "lllr"), ""]
    else:
        lines += ["No priced resource changes.", ""]
    lines += [
        f"Before {_range(base.low, base.high)}, after {_range(proposed.low, proposed.high)} "
        "per month.",
        "",
        *_footer(proposed),
        "",
    ]
    return "\n".join(lines)


def diff_json(base: Estimate, proposed: Estimate) -> dict[str, Any]:
    return {
        "base": base.to_json(),
        "proposed": proposed.to_json(),
        "difference": {
            "low": round(proposed.low - base.low, 2),
            "high": round(proposed.high - base.high, 2),
        },
    }
