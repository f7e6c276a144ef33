"""Plots as inline SVG text, drawn with matplotlib's object API (no pyplot, no GUI).

Every function returns an `<svg ...>` string ready for `html.figure`. Output is
deterministic (fixed hash salt, no date metadata), so a report's HTML only changes when
its numbers do.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib import rc_context
from matplotlib.figure import Figure

_RC = {
    "svg.fonttype": "none",  # keep text as text: smaller, searchable, selectable
    "svg.hashsalt": "mlops-report",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
COLORS = ("#0969da", "#bf3989", "#1a7f37", "#9a6700", "#8250df", "#cf222e")
THRESHOLD_COLOR = "#cf222e"


def svg(fig: Figure) -> str:
    """The figure as an `<svg>` element (XML prolog and DOCTYPE dropped)."""
    buffer = io.StringIO()
    with rc_context(_RC):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text[text.find("<svg") :], flags=re.DOTALL)
    return text.rstrip()


def _figure(width: float, height: float) -> Figure:
    with rc_context(_RC):
        return Figure(figsize=(width, height), layout="constrained")


def grouped_bars(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    title: str,
    ylabel: str = "",
) -> str:
    """Side-by-side bars, one group per category and one colour per series (e.g. the
    candidate's and the production model's metrics)."""
    with rc_context(_RC):
        fig = _figure(max(4.0, 1.4 * len(categories) + 1.5), 3.0)
        ax = fig.add_subplot()
        width = 0.8 / max(1, len(series))
        x = np.arange(len(categories))
        for index, (name, values) in enumerate(series.items()):
            heights = [np.nan if v is None else v for v in values]
            bars = ax.bar(
                x + index * width - 0.4 + width / 2,
                heights,
                width,
                label=name,
                color=COLORS[index % len(COLORS)],
            )
            ax.bar_label(bars, fmt="%.4g", fontsize=7, padding=2)
        ax.set_xticks(x, list(categories))
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.legend(frameon=False, fontsize=8)
        ax.margins(y=0.15)
        return svg(fig)


def horizontal_bars(
    labels: Sequence[str],
    values: Sequence[float],
    title: str,
    xlabel: str = "",
    threshold: float | None = None,
    highlight: Sequence[bool] = (),
) -> str:
    """One bar per label (e.g. per feature), highlighted bars in red, an optional
    threshold line."""
    with rc_context(_RC):
        fig = _figure(5.2, max(2.0, 0.22 * len(labels) + 1.0))
        ax = fig.add_subplot()
        y = np.arange(len(labels))
        colors = [
            THRESHOLD_COLOR if index < len(highlight) and highlight[index] else COLORS[0]
            for index in range(len(labels))
        ]
        ax.barh(y, values, color=colors)
        ax.set_yticks(y, list(labels), fontsize=7)
        ax.invert_yaxis()
        if threshold is not None:
            ax.axvline(
                threshold,
                color=THRESHOLD_COLOR,
                linestyle="--",
                linewidth=1,
                label=f"threshold {threshold:g}",
            )
            ax.legend(frameon=False, fontsize=8, loc="lower right")
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        return svg(fig)


def histogram_overlay(
    edges: Sequence[float], series: Mapping[str, Sequence[float]], title: str, xlabel: str = ""
) -> str:
    """Step histograms sharing `edges`, each normalised to a density so that samples of
    different sizes compare."""
    edges_array = np.asarray(edges, dtype=float)
    widths = np.diff(edges_array)
    with rc_context(_RC):
        fig = _figure(4.6, 2.8)
        ax = fig.add_subplot()
        for index, (name, counts) in enumerate(series.items()):
            counts_array = np.asarray(counts, dtype=float)
            total = counts_array.sum()
            density = counts_array / (total * widths) if total > 0 else counts_array
            ax.stairs(
                density,
                edges_array,
                label=name,
                color=COLORS[index % len(COLORS)],
                fill=index == 0,
                alpha=0.35 if index == 0 else 1.0,
                linewidth=1.4,
            )
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("density")
        ax.legend(frameon=False, fontsize=8)
        return svg(fig)


def category_bars(
    categories: Sequence[str], series: Mapping[str, Sequence[float]], title: str
) -> str:
    """Share of each category per series (counts are normalised to proportions)."""
    normalised = {}
    for name, counts in series.items():
        array = np.asarray(counts, dtype=float)
        normalised[name] = list(array / array.sum() if array.sum() > 0 else array)
    return grouped_bars(categories, normalised, title, ylabel="share")


def curves(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    title: str,
    xlabel: str,
    ylabel: str,
    diagonal: bool = False,
) -> str:
    """Line plots of (x, y) pairs, e.g. ROC curves, with an optional chance diagonal."""
    with rc_context(_RC):
        fig = _figure(4.2, 3.4)
        ax = fig.add_subplot()
        for index, (name, (x, y)) in enumerate(series.items()):
            ax.plot(x, y, label=name, color=COLORS[index % len(COLORS)], linewidth=1.4)
        if diagonal:
            ax.plot([0, 1], [0, 1], color="#8c959f", linestyle=":", linewidth=1)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(frameon=False, fontsize=8, loc="lower right")
        return svg(fig)
