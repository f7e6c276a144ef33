"""The drift report's plots: written from the numbers in milliseconds, without matplotlib,
and readable in a real browser (every label inside its figure, no two labels on top of
each other); the screenshot is kept under build/ for people to look at."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from benchmarks.reports import drift_result
from ml.drift.detect import DriftResult, detect_drift
from ml.drift.report import write_drift_reports
from tests.conftest import fresh_python
from tests.ml.browser_support import chromium

# Run in the page by Chromium: the layout the browser computed for every SVG text.
_LAYOUT_PROBE = """<script>
const problems = [];
document.querySelectorAll("figure svg").forEach((svg, figure) => {
  const view = svg.viewBox.baseVal;
  const boxes = [];
  svg.querySelectorAll(":scope > text").forEach((text) => {
    if (text.hasAttribute("transform")) return;  // the rotated y-axis label
    const b = text.getBBox();
    if (b.x < -0.5 || b.y < -0.5 || b.x + b.width > view.width + 0.5
        || b.y + b.height > view.height + 0.5) {
      problems.push(`figure ${figure}: "${text.textContent}" outside the figure`);
    }
    for (const [other, o] of boxes) {
      if (b.x < o.x + o.width - 0.5 && o.x < b.x + b.width - 0.5
          && b.y < o.y + o.height - 0.5 && o.y < b.y + b.height - 0.5) {
        problems.push(`figure ${figure}: "${text.textContent}" overlaps "${other}"`);
      }
    }
    boxes.push([text.textContent, b]);
  });
});
document.body.dataset.figures = document.querySelectorAll("figure svg").length;
document.body.dataset.problems = JSON.stringify(problems);
</script>"""


@pytest.fixture(scope="module")
def result() -> DriftResult:
    """Fifty numeric features, every seventh shifted, and one categorical feature (the same
    statistics `make bench` times the report on)."""
    return drift_result()


def test_drift_report_for_fifty_features_is_written_in_under_a_third_of_a_second(
    result: DriftResult, tmp_path: Path
) -> None:
    # given the statistics of 50 features; when the three reports are written, plots included
    write_drift_reports(tmp_path / "warm", result, "ref.csv", "cur.csv")  # first-call costs
    started = time.perf_counter()
    paths = write_drift_reports(tmp_path / "timed", result, "ref.csv", "cur.csv")
    seconds = time.perf_counter() - started
    # then it takes under 0.3 s (issue 18) and the page holds the charts
    assert seconds < 0.3, f"writing the drift report took {seconds:.3f} s"
    assert paths.html.read_text().count("<svg") >= 10, "KS, PSI and distribution charts"


def test_drift_report_path_never_imports_matplotlib(tmp_path: Path, repo_root: Path) -> None:
    # given a fresh interpreter; when it computes drift and writes the report
    script = (
        "import sys, numpy as np; from pathlib import Path\n"
        "from ml.drift.detect import detect_drift\n"
        "from ml.drift.report import write_drift_reports\n"
        "r = detect_drift({'x': np.arange(100.0)}, {'x': np.arange(100.0) + 5})\n"
        f"write_drift_reports(Path({str(tmp_path)!r}), r, 'a', 'b')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))\n"
    )
    run = fresh_python(script, repo_root)
    # then matplotlib is not loaded (its import alone costs about a second)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "[]", f"matplotlib loaded: {run.stdout[:300]}"


def test_drift_page_names_each_drifted_feature_with_its_ks_statistic(tmp_path: Path) -> None:
    # given 100 reference values 0..99: `shifted` moved by 50 (KS statistic exactly 0.5,
    # half of one sample lies below the other), `<script>` by 30 (0.3), `steady` unchanged
    reference = {name: np.arange(100.0) for name in ("shifted", "<script>", "steady")}
    current = {
        "shifted": np.arange(100.0) + 50,
        "<script>": np.arange(100.0) + 30,
        "steady": np.arange(100.0),
    }
    result = detect_drift(reference, current)
    # when the drift report is written
    page = write_drift_reports(tmp_path, result, "ref.csv", "cur.csv").html.read_text()
    # then the verdict counts two of three, and each drifted feature's row shows its KS
    # statistic, a drift badge and the highlight; the steady feature is ok at 0
    rows = re.findall(r"<tr[^>]*><td>[^<]*</td>.*?</tr>", page)
    assert '<span class="badge fail">drift in 2 of 3 features</span>' in page, page[:3000]
    assert rows[0].startswith(
        '<tr class="bad"><td>shifted</td><td>numeric</td><td class="num">0.5000</td>'
    ), rows[0]
    assert rows[1].startswith(
        '<tr class="bad"><td>&lt;script&gt;</td><td>numeric</td><td class="num">0.3000</td>'
    ), rows[1]
    assert '<span class="badge fail">drift</span>' in rows[1], rows[1]
    assert rows[2].startswith('<tr><td>steady</td><td>numeric</td><td class="num">0.0000</td>')
    assert '<span class="badge ok">ok</span>' in rows[2], rows[2]
    # and the feature named `<script>` is text everywhere, in the table and the charts
    assert "<script" not in page, "a feature name must never become markup"
    assert "<title>&lt;script&gt;: 0.3</title>" in page, "the KS bar's tooltip, escaped"


@pytest.mark.slow
def test_drift_report_plots_are_readable_in_headless_chromium(
    result: DriftResult, tmp_path: Path, repo_root: Path
) -> None:
    # given the report of 50 features, opened in Debian's Chromium with a layout probe
    paths = write_drift_reports(tmp_path / "report", result, "ref.csv", "cur.csv")
    probed = tmp_path / "probed.html"
    probed.write_text(paths.html.read_text().replace("</body>", _LAYOUT_PROBE + "</body>"))
    # when the browser lays it out
    dom = chromium(tmp_path, "--dump-dom", probed.as_uri())
    shot = tmp_path / "drift.png"
    taken = chromium(
        tmp_path, f"--screenshot={shot}", "--window-size=1280,2600", paths.html.as_uri()
    )
    # then every chart rendered, with each label inside its figure and none on another
    assert dom.returncode == 0, dom.stderr[-2000:]
    figures = re.search(r'data-figures="(\d+)"', dom.stdout)
    problems = re.search(r'data-problems="([^"]*)"', dom.stdout)
    assert figures and int(figures.group(1)) >= 10, "the probe did not see the charts"
    assert problems, "the probe did not run"
    found = json.loads(problems.group(1).replace("&quot;", '"'))
    assert found == [], "\n".join(found[:20])
    assert taken.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", taken.stderr
    kept = repo_root / "build" / "drift-report-screenshot.png"
    kept.parent.mkdir(exist_ok=True)
    shutil.copy(shot, kept)
