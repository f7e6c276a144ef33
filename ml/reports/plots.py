"""Plots as inline SVG text, written straight from the numbers (no plotting library).

Every function returns an `<svg ...>` element as `markupsafe.Markup` (HTML the report
templates insert as it is; labels inside are escaped here): a title, axes with
"nice" ticks (1, 2, 5 x 10^k) and grid lines, axis labels, a legend, and text kept as text
(searchable, selectable, scaled by the page). A drift report's fifty-feature charts take
milliseconds this way, where rendering each figure with matplotlib took about 0.4 s
(issue 18). Output is deterministic: the same numbers give the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

from markupsafe import Markup

COLORS = ("#0969da", "#bf3989", "#1a7f37", "#9a6700", "#8250df", "#cf222e")
THRESHOLD_COLOR = "#cf222e"
_TEXT = "#1f2328"
_MUTED = "#59636e"
_GRID = "#d0d7de"
_FONT = 'font-family="system-ui,-apple-system,Segoe UI,Roboto,sans-serif"'


def _fmt(value: float) -> str:
    """A coordinate: two decimals, no trailing zeros (small, stable output)."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _label(value: float) -> str:
    """A tick label: up to four significant digits, scientific only when tiny or huge."""
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        return f"{value:.2g}"
    return f"{value:.4g}"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About `count` round tick values covering [lo, hi] (steps of 1, 2 or 5 x 10^k)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    raw = (hi - lo) / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(lo / step + 1e-9) * step
    ticks, value = [], first
    while value < hi + step * 0.999:
        ticks.append(round(value, 12))
        value += step
    return ticks


class _Chart:
    """One SVG canvas with a plot area; data coordinates map linearly onto it."""

    def __init__(self, width: int, height: int, left: int, bottom: int, title: str):
        self.width, self.height = width, height
        self.left, self.right = left, width - 16
        self.top, self.bottom = (34 if title else 12), height - bottom
        self.parts: list[str] = []
        self.title = title
        self.x_range = (0.0, 1.0)
        self.y_range = (0.0, 1.0)

    def x(self, value: float) -> float:
        lo, hi = self.x_range
        return self.left + (value - lo) / (hi - lo) * (self.right - self.left)

    def y(self, value: float) -> float:
        lo, hi = self.y_range
        return self.bottom - (value - lo) / (hi - lo) * (self.bottom - self.top)

    def text(self, x: float, y: float, content: str, anchor: str = "middle", **attrs: str) -> None:
        extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
        self.parts.append(
            f'<text x="{_fmt(x)}" y="{_fmt(y)}" text-anchor="{anchor}"{extra}>'
            f"{escape(content)}</text>"
        )

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: str, **attrs: str) -> None:
        extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
        self.parts.append(
            f'<line x1="{_fmt(x1)}" y1="{_fmt(y1)}" x2="{_fmt(x2)}" y2="{_fmt(y2)}" '
            f'stroke="{stroke}"{extra}/>'
        )

    def rect(self, x: float, y: float, w: float, h: float, fill: str, tip: str = "") -> None:
        title = f"<title>{escape(tip)}</title>" if tip else ""
        self.parts.append(
            f'<rect x="{_fmt(x)}" y="{_fmt(y)}" width="{_fmt(max(w, 0))}" '
            f'height="{_fmt(max(h, 0))}" fill="{fill}">{title}</rect>'
        )

    def path(self, points: Sequence[tuple[float, float]], stroke: str, **attrs: str) -> None:
        extra = "".join(f' {k.replace("_", "-")}="{v}"' for k, v in attrs.items())
        d = " ".join(
            f"{'M' if i == 0 else 'L'}{_fmt(px)},{_fmt(py)}" for i, (px, py) in enumerate(points)
        )
        self.parts.append(f'<path d="{d}" stroke="{stroke}"{extra}/>')

    def x_axis(self, ticks: Sequence[float], label: str, grid: bool = True) -> None:
        lo, hi = sorted(self.x_range)
        slack = (hi - lo) * 1e-9
        for tick in (t for t in ticks if lo - slack <= t <= hi + slack):
            px = self.x(tick)
            if grid:
                self.line(px, self.top, px, self.bottom, _GRID, stroke_width="0.6")
            self.text(px, self.bottom + 13, _label(tick), fill=_MUTED)
        self.line(self.left, self.bottom, self.right, self.bottom, _MUTED)
        if label:
            self.text((self.left + self.right) / 2, self.height - 6, label)

    def y_axis(self, ticks: Sequence[float], label: str) -> None:
        lo, hi = sorted(self.y_range)
        slack = (hi - lo) * 1e-9
        for tick in (t for t in ticks if lo - slack <= t <= hi + slack):
            py = self.y(tick)
            self.line(self.left, py, self.right, py, _GRID, stroke_width="0.6")
            self.text(self.left - 5, py + 3.5, _label(tick), anchor="end", fill=_MUTED)
        self.line(self.left, self.top, self.left, self.bottom, _MUTED)
        if label:
            mid = (self.top + self.bottom) / 2
            self.text(12, mid, label, transform=f"rotate(-90 12 {_fmt(mid)})")

    def legend(self, entries: Sequence[tuple[str, str, str]], corner: str = "top") -> None:
        """Entries (label, colour, "box" | "line" | "dash") stacked at the right, at the
        "top" or "bottom" corner (where the data leaves room)."""
        y = self.top + 6 if corner == "top" else self.bottom - 14 * len(entries) + 2
        x = self.right - 8 - 6 * max((len(label) for label, _, _ in entries), default=0) - 22
        for label, color, kind in entries:
            if kind == "box":
                self.rect(x, y - 8, 14, 9, color)
            else:
                dash = {"stroke_dasharray": "4 3"} if kind == "dash" else {}
                self.line(x, y - 3.5, x + 14, y - 3.5, color, stroke_width="2", **dash)
            self.text(x + 19, y, label, anchor="start")
            y += 14

    def render(self) -> Markup:
        title = (
            f'<text x="{_fmt(self.width / 2)}" y="18" text-anchor="middle" font-weight="600" '
            f'font-size="12">{escape(self.title)}</text>'
            if self.title
            else ""
        )
        # Safe: numbers and colours from this module; every label went through `escape`.
        return Markup(  # noqa: S704
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" '
            f'height="{self.height}" viewBox="0 0 {self.width} {self.height}" {_FONT} '
            f'font-size="10" fill="{_TEXT}" role="img"><title>{escape(self.title)}</title>'
            f'<rect width="100%" height="100%" fill="#fff"/>{title}'
            + "".join(self.parts)
            + "</svg>"
        )


def _span(values: Sequence[float], include_zero: bool = True) -> tuple[float, float]:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    lo = min([*finite, 0.0] if include_zero else finite or [0.0])
    hi = max([*finite, 0.0] if include_zero else finite or [1.0])
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def grouped_bars(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    title: str,
    ylabel: str = "",
) -> Markup:
    """Side-by-side bars, one group per category and one colour per series (e.g. the
    candidate's and the production model's metrics); each bar is labelled with its value."""
    chart = _Chart(max(360, 90 * len(categories) + 120), 260, 56, 40, title)
    values = [v for vs in series.values() for v in vs if v is not None]
    lo, hi = _span(values)
    ticks = nice_ticks(lo, hi * 1.12 if hi > 0 else hi)
    chart.y_range = (min(ticks[0], lo), ticks[-1])
    chart.y_axis(ticks, ylabel)
    slot = (chart.right - chart.left) / max(1, len(categories))
    width = slot * 0.8 / max(1, len(series))
    for c, category in enumerate(categories):
        x0 = chart.left + slot * c + slot * 0.1
        for s, (name, heights) in enumerate(series.items()):
            value = heights[c] if c < len(heights) else None
            if value is None or not math.isfinite(value):
                continue
            top, base = chart.y(max(value, 0.0)), chart.y(min(value, 0.0))
            color = COLORS[s % len(COLORS)]
            chart.rect(x0 + s * width, top, width * 0.92, base - top, color, f"{name}: {value:g}")
            chart.text(x0 + (s + 0.46) * width, top - 3, _label(value), font_size="8")
        chart.text(x0 + slot * 0.4, chart.bottom + 13, str(category))
    chart.line(chart.left, chart.bottom, chart.right, chart.bottom, _MUTED)
    chart.legend([(name, COLORS[i % len(COLORS)], "box") for i, name in enumerate(series)])
    return chart.render()


def horizontal_bars(
    labels: Sequence[str],
    values: Sequence[float],
    title: str,
    xlabel: str = "",
    threshold: float | None = None,
    highlight: Sequence[bool] = (),
) -> Markup:
    """One bar per label (e.g. per feature), highlighted bars in red, an optional
    threshold line."""
    longest = max((len(str(label)) for label in labels), default=4)
    left = min(200, 12 + 6 * longest)
    chart = _Chart(520, 16 * len(labels) + 84, left, 36, title)
    lo, hi = _span([*values, *([threshold] if threshold is not None else [])])
    ticks = nice_ticks(lo, hi)
    chart.x_range = (min(ticks[0], lo), ticks[-1])
    chart.y_range = (len(labels), 0)
    chart.x_axis(ticks, xlabel)
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        hot = index < len(highlight) and highlight[index]
        color = THRESHOLD_COLOR if hot else COLORS[0]
        x0, x1 = chart.x(min(value, 0.0)), chart.x(max(value, 0.0))
        top = chart.y(index) + 2.5
        chart.rect(x0, top, x1 - x0, 11, color, f"{label}: {value:.4g}")
        chart.text(chart.left - 5, top + 9, str(label), anchor="end", font_size="9")
    chart.line(chart.left, chart.top, chart.left, chart.bottom, _MUTED)
    entries = [("drift", THRESHOLD_COLOR, "box")] if any(highlight) else []
    if threshold is not None:
        px = chart.x(threshold)
        chart.line(px, chart.top, px, chart.bottom, THRESHOLD_COLOR, stroke_dasharray="4 3")
        entries.append((f"threshold {threshold:g}", THRESHOLD_COLOR, "dash"))
    chart.legend(entries, "bottom")  # bars come sorted, largest first
    return chart.render()


def _steps(edges: Sequence[float], heights: Sequence[float]) -> list[tuple[float, float]]:
    points = [(edges[0], 0.0)]
    for index, height in enumerate(heights):
        points += [(edges[index], height), (edges[index + 1], height)]
    return [*points, (edges[-1], 0.0)]


def histogram_overlay(
    edges: Sequence[float], series: Mapping[str, Sequence[float]], title: str, xlabel: str = ""
) -> Markup:
    """Step histograms sharing `edges`, each normalised to a density so that samples of
    different sizes compare; the first series filled, the others outlined."""
    densities = {}
    for name, counts in series.items():
        total = float(sum(counts))
        densities[name] = [
            c / (total * (edges[i + 1] - edges[i])) if total > 0 and edges[i + 1] > edges[i] else 0
            for i, c in enumerate(counts)
        ]
    chart = _Chart(460, 280, 58, 40, title)
    chart.x_range = (edges[0], edges[-1]) if edges[-1] > edges[0] else (edges[0], edges[0] + 1)
    y_ticks = nice_ticks(0.0, max((max(d, default=0) for d in densities.values()), default=1))
    chart.y_range = (0.0, y_ticks[-1] or 1.0)
    chart.x_axis(nice_ticks(*chart.x_range), xlabel)
    chart.y_axis(y_ticks, "density")
    entries = []
    for index, (name, density) in enumerate(densities.items()):
        color = COLORS[index % len(COLORS)]
        points = [(chart.x(x), chart.y(y)) for x, y in _steps(edges, density)]
        if index == 0:
            chart.path(points, color, fill=color, fill_opacity="0.3", stroke_width="1.4")
        else:
            chart.path(points, color, fill="none", stroke_width="1.6")
        entries.append((name, color, "box" if index == 0 else "line"))
    chart.legend(entries)
    return chart.render()


def ecdf_overlay(
    edges: Sequence[float], series: Mapping[str, Sequence[float]], title: str, xlabel: str = ""
) -> Markup:
    """Empirical CDFs at the bin edges from binned counts (the KS statistic is the widest
    vertical gap between two such curves), one line per series."""
    chart = _Chart(460, 280, 58, 40, title)
    chart.x_range = (edges[0], edges[-1]) if edges[-1] > edges[0] else (edges[0], edges[0] + 1)
    chart.y_range = (0.0, 1.0)
    chart.x_axis(nice_ticks(*chart.x_range), xlabel)
    chart.y_axis([0.0, 0.25, 0.5, 0.75, 1.0], "cumulative share")
    entries = []
    for index, (name, counts) in enumerate(series.items()):
        total, running, cdf = float(sum(counts)) or 1.0, 0.0, [0.0]
        for count in counts:
            running += count
            cdf.append(running / total)
        color = COLORS[index % len(COLORS)]
        points = [(chart.x(x), chart.y(y)) for x, y in zip(edges, cdf, strict=True)]
        chart.path(points, color, fill="none", stroke_width="1.6")
        entries.append((name, color, "line"))
    chart.legend(entries, "bottom")
    return chart.render()


def category_bars(
    categories: Sequence[str], series: Mapping[str, Sequence[float]], title: str
) -> Markup:
    """Share of each category per series (counts are normalised to proportions)."""
    normalised = {}
    for name, counts in series.items():
        total = float(sum(counts))
        normalised[name] = [c / total if total > 0 else float(c) for c in counts]
    return grouped_bars(categories, normalised, title, ylabel="share")


def curves(
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    title: str,
    xlabel: str,
    ylabel: str,
    diagonal: bool = False,
) -> Markup:
    """Line plots of (x, y) pairs, e.g. ROC curves, with an optional chance diagonal."""
    chart = _Chart(420, 340, 56, 40, title)
    xs = [v for x, _ in series.values() for v in x]
    ys = [v for _, y in series.values() for v in y]
    x_ticks = nice_ticks(*_span(xs, include_zero=False))
    y_ticks = nice_ticks(*_span(ys, include_zero=False))
    chart.x_range, chart.y_range = (x_ticks[0], x_ticks[-1]), (y_ticks[0], y_ticks[-1])
    chart.x_axis(x_ticks, xlabel)
    chart.y_axis(y_ticks, ylabel)
    if diagonal:
        chart.line(
            chart.x(0), chart.y(0), chart.x(1), chart.y(1), "#8c959f", stroke_dasharray="2 3"
        )
    entries = []
    for index, (name, (x, y)) in enumerate(series.items()):
        color = COLORS[index % len(COLORS)]
        points = [(chart.x(a), chart.y(b)) for a, b in zip(x, y, strict=True)]
        chart.path(points, color, fill="none", stroke_width="1.5")
        entries.append((name, color, "line"))
    chart.legend(entries, "bottom")
    return chart.render()


_LOW, _HIGH, _NONE = (9, 105, 218), (207, 34, 46), "#8c959f"


def _shade(share: float | None) -> str:
    """Blue (0) to red (1) through purple; grey for no value."""
    if share is None or not math.isfinite(share):
        return _NONE
    t = min(1.0, max(0.0, share))
    r, g, b = (round(lo + (hi - lo) * t) for lo, hi in zip(_LOW, _HIGH, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def beeswarm(
    labels: Sequence[str],
    points: Sequence[Sequence[float]],
    shades: Sequence[Sequence[float | None]],
    title: str,
    xlabel: str = "",
) -> Markup:
    """One row of dots per label (e.g. each row's contribution of a feature), coloured
    from blue (low value) to red (high); dots at the same place stack up and down."""
    longest = max((len(str(label)) for label in labels), default=4)
    left = min(200, 12 + 6 * longest)
    chart = _Chart(560, 24 * len(labels) + 92, left, 36, title)
    lo, hi = _span([v for row in points for v in row])
    ticks = nice_ticks(lo, hi)
    chart.x_range = (min(ticks[0], lo), ticks[-1])
    chart.y_range = (len(labels), 0)
    chart.x_axis(ticks, xlabel)
    zero = chart.x(0.0)
    chart.line(zero, chart.top, zero, chart.bottom, _MUTED, stroke_dasharray="2 3")
    for index, label in enumerate(labels):
        middle = chart.y(index + 0.5)
        chart.text(chart.left - 5, middle + 3, str(label), anchor="end", font_size="9")
        taken: dict[int, int] = {}
        for value, share in zip(points[index], shades[index], strict=True):
            px = chart.x(value)
            slot = round(px / 2.5)
            count = taken.get(slot, 0)
            taken[slot] = count + 1
            offset = min(9.0, (count + 1) // 2 * 1.8) * (1 if count % 2 else -1)
            chart.parts.append(
                f'<circle cx="{_fmt(px)}" cy="{_fmt(middle + offset)}" r="1.7" '
                f'fill="{_shade(share)}" fill-opacity="0.8"/>'
            )
    chart.line(chart.left, chart.top, chart.left, chart.bottom, _MUTED)
    chart.legend(
        [
            ("low value", _shade(0.0), "box"),
            ("high value", _shade(1.0), "box"),
            ("missing", _NONE, "box"),
        ],
        "bottom",
    )
    return chart.render()
