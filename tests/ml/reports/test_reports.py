"""The shared report layer: three files per report, strict JSON, self-contained HTML pages
rendered from the Jinja2 templates shipped in the package."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jinja2
import numpy as np
import pytest

from ml.reports import markdown as md
from ml.reports import plots, to_jsonable, write_reports
from ml.reports.html import Badge, _bytecode_cache, environment, render
from tests.conftest import fresh_python


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


def _table(headers: list[str], rows: list[list[object]], bad: list[bool]) -> str:
    """The shared table macro alone, as every page calls it."""
    source = '{% from "macros.html" import table %}{{ table(headers, rows, bad) }}'
    return environment().from_string(source).render(headers=headers, rows=rows, bad=bad)


def test_table_cells_show_numbers_badges_and_dashes_and_escape_text() -> None:
    # given one row of every kind of cell, the row marked bad
    row = ["<script>alert(1)</script>", 1234, 0.5, math.nan, None, True, Badge(False, "drift")]
    # when the shared table macro renders it
    table = _table(["<b>name</b>"], [row], [True])
    # then text is escaped, numbers right-aligned as in the Markdown, NaN and None a dash
    assert "<script>" not in table and "<b>" not in table, f"data must be escaped: {table}"
    cells = re.findall(r"<td[^>]*>.*?</td>", table)
    assert cells == [
        "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>",
        '<td class="num">1,234</td>',
        '<td class="num">0.5000</td>',
        '<td class="num">\u2013</td>',
        "<td>\u2013</td>",
        "<td>yes</td>",
        '<td><span class="badge fail">drift</span></td>',
    ], cells
    assert '<tr class="bad">' in table and "<th>&lt;b&gt;name&lt;/b&gt;</th>" in table, table


def test_figures_are_inserted_as_svg_with_their_labels_escaped() -> None:
    # given a chart whose category label is markup
    svg = plots.grouped_bars(["<img src=x onerror=alert(1)>"], {"a": [1.0]}, "t")
    # when a page shows it as a figure
    source = '{% from "macros.html" import figure %}{{ figure(svg, "<i>caption</i>") }}'
    page = environment().from_string(source).render(svg=svg)
    # then the SVG is markup, the label inside it and the caption are text
    assert page.startswith("<figure><svg ") and "</svg><figcaption>" in page, page[:200]
    assert "<img" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page, page
    assert "<figcaption>&lt;i&gt;caption&lt;/i&gt;</figcaption>" in page, page[-200:]


def test_a_page_missing_a_value_is_an_error_not_a_blank() -> None:
    # given the drift page, when it is rendered without its drift numbers
    with pytest.raises(jinja2.UndefinedError, match="'drift' is undefined"):
        render("drift.html", title="Data drift report", subtitle="a vs b")


def test_compiled_templates_are_cached_only_in_a_folder_no_one_else_can_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the user's cache folder, private to them
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder = tmp_path / "mlops" / "templates"
    cache = _bytecode_cache()
    assert cache is not None and Path(cache.directory) == folder, "compiled once, then read"
    assert folder.stat().st_mode & 0o777 == 0o700, oct(folder.stat().st_mode)
    # when another user could write there (planted bytecode would run in mlops)
    folder.chmod(0o777)
    # then nothing is read from it: every process compiles the templates itself
    assert _bytecode_cache() is None, "a world-writable cache folder must not be used"
    # and where the folder cannot be made (a file in its place), pages still render
    folder.chmod(0o700)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "file"))
    (tmp_path / "file").write_text("")
    assert _bytecode_cache() is None


@pytest.mark.slow
def test_templates_ship_in_the_wheel_and_render_from_it(repo_root: Path, tmp_path: Path) -> None:
    # given a wheel built from a copy of the project (setuptools, as `pip install` would)
    source = tmp_path / "source"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in ("common", "infra", "ml", "policies"):
        shutil.copytree(repo_root / package, source / package, ignore=skip)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (repo_root / name).exists():
            shutil.copy(repo_root / name, source / name)
    build = "from setuptools import build_meta; build_meta.build_wheel('../dist')"
    built = subprocess.run(
        [sys.executable, "-c", build], cwd=source, capture_output=True, text=True, timeout=300
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    shipped = {n for n in zipfile.ZipFile(wheel).namelist() if "/templates/" in n}
    templates = repo_root / "ml" / "reports" / "templates"
    expected = {f"ml/reports/templates/{p.name}" for p in templates.iterdir()}
    # when it is installed (unpacked) and a fresh interpreter writes a drift page from it
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    script = (
        "import numpy as np, ml.reports\n"
        "from ml.drift.detect import detect_drift\n"
        "from ml.drift.report import html_context\n"
        "from ml.reports.html import render\n"
        "print(ml.reports.__file__)\n"
        "drift = html_context(detect_drift({'x': np.arange(100.0)}, {'x': np.arange(100.0)}))\n"
        "print(render('drift.html', title='t', subtitle='s', drift=drift))\n"
    )
    run = fresh_python(script, tmp_path, importable=site)
    # then every template, stylesheet and script is in the wheel, and the page renders
    # from the installed package, not from the repository
    assert shipped == expected, f"missing from the wheel: {sorted(expected - shipped)}"
    assert run.returncode == 0, run.stderr[-2000:]
    where, page = run.stdout.split("\n", 1)
    assert where.startswith(str(site)), f"ml.reports came from {where}, not the wheel"
    assert "font-variant-numeric:tabular-nums" in page, "the shared stylesheet is in the page"
    assert '<span class="badge ok">no drift in 1 features</span>' in page, page[-800:]


def test_plots_are_inline_svg_without_external_references() -> None:
    svg = plots.grouped_bars(["a", "b"], {"x": [1.0, 2.0], "y": [1.5, None]}, "title")
    assert svg.startswith("<svg") and svg.endswith("</svg>"), svg[:60]
    assert re.findall(r"""(?:src|href)=["'](?!#)""", svg) == [], "no external references"


def test_plots_are_deterministic() -> None:
    first = plots.histogram_overlay([0, 1, 2, 3], {"ref": [1, 2, 3], "cur": [3, 2, 1]}, "h")
    second = plots.histogram_overlay([0, 1, 2, 3], {"ref": [1, 2, 3], "cur": [3, 2, 1]}, "h")
    assert first == second, "the same numbers must render the same SVG"
