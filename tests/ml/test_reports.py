"""The shared report layer: three files per report, strict JSON, self-contained HTML."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from ml.reports import html as h
from ml.reports import markdown as md
from ml.reports import plots, to_jsonable, write_reports


def test_write_reports_writes_markdown_json_and_html(tmp_path: Path) -> None:
    paths = write_reports(tmp_path / "out", "drift", markdown="# x", data={"a": 1}, html="<p>x</p>")
    assert (paths.markdown.name, paths.json.name, paths.html.name) == (
        "drift.md",
        "drift.json",
        "drift.html",
    )
    assert json.loads(paths.json.read_text()) == {"a": 1}, "the data as JSON"
    assert paths.markdown.read_text() == "# x\n", "markdown ends with a newline"


def test_json_is_strict_with_numpy_values_and_nan_as_null(tmp_path: Path) -> None:
    data = {
        "p": np.float64(0.5),
        "n": np.int64(3),
        "values": np.array([1.0, math.nan]),
        "inf": math.inf,
    }
    paths = write_reports(tmp_path, "r", markdown="", data=data, html="")
    text = paths.json.read_text()
    assert "NaN" not in text and "Infinity" not in text, "strict JSON"
    assert json.loads(text) == {"p": 0.5, "n": 3, "values": [1.0, None], "inf": None}, text


def test_to_jsonable_refuses_unknown_objects() -> None:
    with pytest.raises(TypeError, match="cannot write object"):
        to_jsonable(object())


def test_markdown_table_escapes_pipes_in_cells() -> None:
    table = md.table(["name", "value"], [[md.cell("a|b"), "1"]], "lr")
    assert table.splitlines() == ["| name | value |", "| :-- | --: |", "| a\\|b | 1 |"], table


def test_html_escapes_text_from_data() -> None:
    page = h.page("<title>", [h.table(["feature"], [["<script>alert(1)</script>"]])])
    assert "<script>" not in page and "&lt;script&gt;" in page, "user data must be escaped"


def test_plots_are_inline_svg_without_external_references() -> None:
    svg = plots.grouped_bars(["a", "b"], {"x": [1.0, 2.0], "y": [1.5, None]}, "title")
    assert svg.startswith("<svg") and svg.endswith("</svg>"), svg[:60]
    assert re.findall(r"""(?:src|href)=["'](?!#)""", svg) == [], "no external references"


def test_plots_are_deterministic() -> None:
    first = plots.histogram_overlay([0, 1, 2, 3], {"ref": [1, 2, 3], "cur": [3, 2, 1]}, "h")
    second = plots.histogram_overlay([0, 1, 2, 3], {"ref": [1, 2, 3], "cur": [3, 2, 1]}, "h")
    assert first == second, "the same numbers must render the same SVG"
