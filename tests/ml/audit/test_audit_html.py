"""The HTML report in a real browser: Debian's headless Chromium loads it, runs its script
and renders it; the screenshot is kept under build/ for people to look at."""

from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path

import pytest

from ml.audit.html import render_html
from ml.audit.report import build_report
from policies.pack import BY_NAME
from policies.waivers import DEFAULT_WAIVERS, WaiverSet, load_waivers
from tests.ml.browser_support import chromium


@pytest.fixture(scope="module")
def html_report(graph_of, tmp_path_factory) -> Path:
    """The dev report with one shipped waiver withdrawn: a failure, a waived finding, passes."""
    shipped = load_waivers(DEFAULT_WAIVERS, BY_NAME)
    kept = tuple(w for w in shipped.waivers if w.policy != "s3-bucket-access-logging-enabled")
    report = build_report(graph_of("dev"), WaiverSet(kept), today=date.today())
    assert report["summary"]["failed"] == 1 and report["summary"]["waived"] == 1, report["summary"]
    path = tmp_path_factory.mktemp("html") / "audit-dev.html"
    path.write_text(render_html(report), encoding="utf-8")
    return path


def test_html_report_is_self_contained(html_report):
    # Given the HTML report
    text = html_report.read_text(encoding="utf-8")
    # When its references are inspected
    # Then it loads nothing from the network (no CDN, no external script or style)
    for marker in ("http://", "https://", "<link", "src="):
        assert marker not in text, f"the report must be self-contained, found {marker!r}"


def test_html_report_lists_the_failing_policy_with_its_finding(html_report):
    # Given the dev report with the access-logging waiver withdrawn
    text = html_report.read_text(encoding="utf-8")
    # When its summary, policy table and controls are read
    start = text.index('id="failures">')
    failures = text[start : text.index("</ul>", start)]
    policy_row = re.search(
        r"<tr><td><code>s3-bucket-access-logging-enabled</code></td>.*?</tr>", text
    )
    failing = re.findall(r'<details class="control"[^>]*data-status="fail"[^>]*>', text)
    # Then the failure names the policy, the bucket and the fix, its markup escaped
    assert failures.count("<li>") == 1, failures
    assert (
        "<li>s3-bucket-access-logging-enabled: S3 bucket `mlops-dev-logs`: server access "
        "logging must be enabled (found no BucketLogging); add aws.s3.BucketLogging with "
        "target_bucket=&lt;the stack&#39;s log bucket&gt;"
    ) in failures, failures
    # And the policy table marks the policy FAIL, and its controls are open and failing
    assert policy_row and policy_row.group(0).endswith(
        '<td><span class="badge fail">FAIL</span></td></tr>'
    ), policy_row
    assert failing and all(" open" in tag for tag in failing), failing
    assert 'id="control-FSBP-S3.9"' in "".join(failing), failing


@pytest.fixture(scope="module")
def browser_dom(html_report, tmp_path_factory) -> str:
    """The report's DOM after Chromium loaded it and ran its script."""
    dom = chromium(tmp_path_factory.mktemp("dom"), "--dump-dom", html_report.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    return dom.stdout


@pytest.mark.slow
def test_html_report_renders_in_headless_chromium(html_report, browser_dom, tmp_path, repo_root):
    # Given the dev report opened in Debian's Chromium
    # When the browser loads it, runs its script, and takes a screenshot
    shot = tmp_path / "audit-dev.png"
    taken = chromium(
        tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", html_report.as_uri()
    )
    # Then the filter script ran, the summary is the first section, and the page rendered
    assert 'data-ready="1"' in browser_dom, "the report's script did not run in the browser"
    assert browser_dom.index('id="summary"') < browser_dom.index('id="controls"'), "summary first"
    assert taken.returncode == 0 and shot.exists(), taken.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, (
        f"not a real screenshot ({len(data)} B)"
    )
    kept = repo_root / "build" / "audit-report-screenshot.png"
    kept.parent.mkdir(exist_ok=True)
    shutil.copy(shot, kept)


@pytest.mark.slow
def test_html_report_expands_failing_controls_and_counts_shown(browser_dom):
    # Given the dev report's DOM in the browser
    # When the failing control's element is found
    start = browser_dom.index('data-status="fail"')
    element = browser_dom[browser_dom.rindex("<details", 0, start) : browser_dom.index(">", start)]
    # Then it is expanded by default, and the script counted the shown controls
    assert " open" in element, element
    assert 'id="visible-count">0<' not in browser_dom, "the filter must count the shown controls"
